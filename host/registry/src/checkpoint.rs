//! The checkpoint store: `<root>/<key>/` holds one step's checkpoint, `checkpoint.json`
//! (what it is) and `tree/` (what the step changed, unpacked: an overlay upper
//! directory, used as a read-only lower one when a build resumes after it). The layer
//! the tree was packed into is a blob of the build's blob store.
//!
//! An entry is assembled under a `.incoming-` name and renamed to its key only once
//! whole, so an interrupted write never leaves an entry that looks complete; a sweep
//! removes what interrupted writes left.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::io_err;
use crate::{BlobStore, Descriptor, Digest, Error};

/// The name prefix of an entry being written.
pub const INCOMING: &str = ".incoming-";
/// An entry's description, in its directory.
const ENTRY: &str = "checkpoint.json";
/// An entry's unpacked tree, in its directory.
const TREE: &str = "tree";

/// One step's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The step's key (64 hex digits).
    pub key: String,
    /// The build that took it.
    pub build: String,
    /// The step's place among the build's provisioners, from 1.
    pub step: usize,
    /// The step's type (`shell`).
    pub step_type: String,
    /// The layer of what the step changed (gzip), in the blob store.
    pub layer: Descriptor,
    /// The layer's uncompressed digest.
    pub diff_id: Digest,
    /// When it was taken (seconds since the Unix epoch).
    pub created: u64,
}

/// One step's checkpoint of a virtual machine's disk: `disk.qcow2` in its entry, a qcow2
/// overlay whose backing file is the previous step's (or, for the first, the whole disk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskCheckpoint {
    /// The step's key (64 hex digits).
    pub key: String,
    /// The build that took it.
    pub build: String,
    /// The step's place among the build's provisioners, from 1.
    pub step: usize,
    /// The step's type (`shell`).
    pub step_type: String,
    /// When it was taken (seconds since the Unix epoch).
    pub created: u64,
}

/// What `kiln cache list` shows of an entry of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The step's key.
    pub key: String,
    /// The build that took it.
    pub build: String,
    /// The step's place, from 1.
    pub step: usize,
    /// The step's type.
    pub step_type: String,
    /// When it was taken.
    pub created: u64,
    /// `layer` or `disk`.
    pub kind: &'static str,
}

/// A disk checkpoint's description, in its directory.
const DISK_ENTRY: &str = "disk.json";
/// A disk checkpoint's overlay, in its directory.
const DISK: &str = "disk.qcow2";

/// A directory of checkpoints by key.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    root: PathBuf,
}

/// Whether `key` can name an entry: 64 lowercase hex digits, nothing else.
fn valid_key(key: &str) -> bool {
    key.len() == 64
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl CheckpointStore {
    /// A store at `root` (created on the first write).
    pub fn new(root: PathBuf) -> Self {
        CheckpointStore { root }
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The unpacked tree of the checkpoint `key`.
    pub fn tree(&self, key: &str) -> PathBuf {
        self.root.join(key).join(TREE)
    }

    /// The checkpoint `key`, when it is whole: its entry reads, its tree is there and
    /// its layer is in `blobs`.
    pub fn get(&self, key: &str, blobs: &BlobStore) -> Option<Checkpoint> {
        if !valid_key(key) {
            return None;
        }
        let text = std::fs::read(self.root.join(key).join(ENTRY)).ok()?;
        let entry: Checkpoint = serde_json::from_slice(&text).ok()?;
        let whole =
            entry.key == key && self.tree(key).is_dir() && blobs.contains(&entry.layer.digest);
        whole.then_some(entry)
    }

    /// Stores `entry` with the tree `tree`, which is moved (renamed) into the store; from
    /// another file system, the tree is made again from the entry's layer in `blobs`
    /// and `tree` removed. An entry already there under the same key is replaced.
    pub fn put(&self, entry: &Checkpoint, tree: &Path, blobs: &BlobStore) -> Result<(), Error> {
        self.assemble(entry, |dest| match std::fs::rename(tree, dest) {
            Err(e) if e.raw_os_error() == Some(18) => {
                crate::extract_overlay_tree(blobs, &entry.layer, &entry.diff_id, dest)?;
                std::fs::remove_dir_all(tree)
                    .map_err(io_err(format!("removing {}", tree.display())))
            }
            moved => moved.map_err(io_err(format!("moving {} into the store", tree.display()))),
        })
    }

    /// Stores `entry`, its tree unpacked from its layer in `blobs` (checked against the
    /// entry's diff_id).
    pub fn put_unpacked(&self, entry: &Checkpoint, blobs: &BlobStore) -> Result<(), Error> {
        self.assemble(entry, |dest| {
            crate::extract_overlay_tree(blobs, &entry.layer, &entry.diff_id, dest)
        })
    }

    /// Assembles the layer entry `entry` under an incoming name, its tree made by `tree`
    /// at the path it is given.
    fn assemble(
        &self,
        entry: &Checkpoint,
        tree: impl FnOnce(&Path) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let what = format!(
            "storing checkpoint {} in {}",
            entry.key,
            self.root.display()
        );
        let json = serde_json::to_vec_pretty(entry).expect("plain data");
        self.assemble_entry(&entry.key, |dir| {
            tree(&dir.join(TREE))?;
            std::fs::write(dir.join(ENTRY), json).map_err(io_err(&what))
        })
    }

    /// Makes the entry `key`: `fill` writes its files into a directory of the store under
    /// an incoming name (held by a lease meanwhile), which is then renamed to the key,
    /// replacing an entry already there. Nothing is left when `fill` fails.
    fn assemble_entry(
        &self,
        key: &str,
        fill: impl FnOnce(&Path) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if !valid_key(key) {
            return Err(Error::Io {
                what: format!("storing checkpoint {key:?}"),
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a checkpoint key"),
            });
        }
        let what = format!("storing checkpoint {key} in {}", self.root.display());
        std::fs::create_dir_all(&self.root).map_err(io_err(&what))?;
        let incoming = tempfile::Builder::new()
            .prefix(&format!("{INCOMING}{}-", &key[..12]))
            .tempdir_in(&self.root)
            .map_err(io_err(&what))?;
        // Held while the entry is assembled: a sweep leaves it alone.
        let lease = kiln_core::lease::lease_dir(incoming.path()).map_err(io_err(&what))?;
        fill(incoming.path())?;
        std::fs::remove_file(incoming.path().join(kiln_core::lease::LEASE))
            .map_err(io_err(&what))?;
        let dest = self.root.join(key);
        if dest.exists() {
            std::fs::remove_dir_all(&dest).map_err(io_err(&what))?;
        }
        let dir = incoming.keep();
        let renamed = std::fs::rename(&dir, &dest);
        drop(lease);
        renamed.map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            io_err(what)(e)
        })
    }

    /// The overlay of the disk checkpoint `key`.
    pub fn disk(&self, key: &str) -> PathBuf {
        self.root.join(key).join(DISK)
    }

    /// The disk checkpoint `key`, when it is whole.
    pub fn get_disk(&self, key: &str) -> Option<DiskCheckpoint> {
        if !valid_key(key) {
            return None;
        }
        let text = std::fs::read(self.root.join(key).join(DISK_ENTRY)).ok()?;
        let entry: DiskCheckpoint = serde_json::from_slice(&text).ok()?;
        (entry.key == key && self.disk(key).is_file()).then_some(entry)
    }

    /// Stores `entry` with the disk overlay `disk`, moved into the store (copied from
    /// another file system, then removed).
    pub fn put_disk(&self, entry: &DiskCheckpoint, disk: &Path) -> Result<(), Error> {
        let what = format!(
            "storing checkpoint {} in {}",
            entry.key,
            self.root.display()
        );
        let json = serde_json::to_vec_pretty(entry).expect("plain data");
        self.assemble_entry(&entry.key, |dir| {
            let into = dir.join(DISK);
            match std::fs::rename(disk, &into) {
                Err(e) if e.raw_os_error() == Some(18) => {
                    std::fs::copy(disk, &into).map_err(io_err(&what))?;
                    std::fs::remove_file(disk).map_err(io_err(&what))?;
                }
                moved => moved.map_err(io_err(&what))?,
            }
            std::fs::write(dir.join(DISK_ENTRY), json).map_err(io_err(&what))
        })
    }

    /// Every whole entry, of either kind, with the bytes it holds on disk (a layer's
    /// tree and blob, a disk's overlay), oldest first.
    pub fn list(&self, blobs: &BlobStore) -> Vec<(Listed, u64)> {
        let Ok(dirs) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut out: Vec<(Listed, u64)> = dirs
            .flatten()
            .filter_map(|d| {
                let key = d.file_name().into_string().ok()?;
                let on_disk = kiln_core::lease::disk_usage(&d.path());
                let (build, step, step_type, created, kind, bytes) = match self.get(&key, blobs) {
                    Some(c) => (
                        c.build,
                        c.step,
                        c.step_type,
                        c.created,
                        "layer",
                        on_disk + c.layer.size,
                    ),
                    None => {
                        let c = self.get_disk(&key)?;
                        (c.build, c.step, c.step_type, c.created, "disk", on_disk)
                    }
                };
                let listed = Listed {
                    key,
                    build,
                    step,
                    step_type,
                    created,
                    kind,
                };
                Some((listed, bytes))
            })
            .collect();
        out.sort_by(|a, b| (a.0.created, &a.0.key).cmp(&(b.0.created, &b.0.key)));
        out
    }

    /// Removes the entry `key` and its layer blob; returns the bytes freed.
    pub fn remove(&self, key: &str, blobs: &BlobStore) -> u64 {
        if !valid_key(key) {
            return 0;
        }
        let dir = self.root.join(key);
        let mut freed = 0;
        if let Some(entry) = self.get(key, blobs) {
            let blob = blobs.path(&entry.layer.digest);
            freed += entry.layer.size;
            let _ = std::fs::remove_file(blob);
        }
        freed += kiln_core::lease::disk_usage(&dir);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => freed,
            Err(_) => 0,
        }
    }

    /// Removes what interrupted writes left (entries no live run is assembling).
    pub fn sweep(&self) -> Vec<kiln_core::lease::Swept> {
        kiln_core::lease::sweep(&self.root, INCOMING)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, layer: Digest) -> Checkpoint {
        Checkpoint {
            key: key.into(),
            build: "container.x".into(),
            step: 1,
            step_type: "shell".into(),
            layer: Descriptor::new("application/vnd.oci.image.layer.v1.tar+gzip", layer, 3),
            diff_id: Digest::of(b"tar"),
            created: 1,
        }
    }

    #[test]
    fn an_entry_is_whole_or_absent_and_keys_name_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::new(dir.path().join("blobs"));
        let store = CheckpointStore::new(dir.path().join("checkpoints"));
        let key = "a".repeat(64);
        let tree = dir.path().join("upper");
        std::fs::create_dir_all(tree.join("etc")).unwrap();
        std::fs::write(tree.join("etc/x"), "x").unwrap();
        let layer = blobs.put_bytes(b"gz!").unwrap();
        store
            .put(&entry(&key, layer.clone()), &tree, &blobs)
            .unwrap();
        assert!(!tree.exists(), "the tree is moved, not copied");
        let got = store.get(&key, &blobs).expect("whole");
        assert_eq!(got.layer.digest, layer);
        assert_eq!(
            std::fs::read_to_string(store.tree(&key).join("etc/x")).unwrap(),
            "x"
        );
        assert_eq!(store.list(&blobs).len(), 1);
        // No lease file and no incoming directory are left.
        assert!(!store
            .tree(&key)
            .parent()
            .unwrap()
            .join(kiln_core::lease::LEASE)
            .exists());
        let names: Vec<_> = std::fs::read_dir(store.root()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
        // Its layer gone, the entry is not whole.
        std::fs::remove_file(blobs.path(&layer)).unwrap();
        assert!(store.get(&key, &blobs).is_none());
        // A key that could leave the store names nothing.
        assert!(store.get("../../etc", &blobs).is_none());
        assert!(store
            .put(&entry("../x", layer), dir.path(), &blobs)
            .is_err());
    }
}
