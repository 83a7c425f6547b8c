//! Unpacks an image's layers into a root file system, applying OCI whiteouts.
//!
//! Entries are unpacked with the `tar` crate's `unpack_in`, which refuses paths with `..`
//! and parents that resolve (through symbolic links) outside the destination. Our own
//! removals (whiteouts, replacing a file by another kind) resolve paths the same way.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, Permissions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use flate2::read::MultiGzDecoder;
use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps, CWD};
use tar::{EntryType, Header};

use crate::error::io_err;
use crate::spec::unsupported;
use crate::{BlobStore, Descriptor, Error, Image};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

/// Extracts the layers of `image`, bottom first, into `dest` (created if missing; meant to
/// be new and empty), keeping modes, numeric owners, links, devices and mtimes.
///
/// `.wh.<name>` removes `<name>` left by lower layers and `.wh..wh..opq` empties its
/// directory of what lower layers put there. Setting owners and making devices needs root.
#[tracing::instrument(skip(store, image), fields(manifest = %image.manifest_digest))]
pub fn extract_layers(store: &BlobStore, image: &Image, dest: &Path) -> Result<(), Error> {
    let what = format!("creating {}", dest.display());
    fs::create_dir_all(dest).map_err(io_err(&what))?;
    let root = dest.canonicalize().map_err(io_err(what))?;
    let mut dir_mtimes = BTreeMap::new();
    for layer in &image.manifest.layers {
        extract_layer(store, layer, &root, &mut dir_mtimes, None)?;
    }
    // Unpacking children changed their directories' mtimes; set them last, deepest first.
    // A directory a later layer removed is simply gone.
    for (rel, mtime) in dir_mtimes.iter().rev() {
        if let Ok(Some(path)) = locate(&root, rel) {
            match set_mtime(&path, *mtime) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(io_err(format!("setting the mtime of {}", path.display()))(
                        e,
                    ))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Unpacks the one layer `layer` into `dest` (new) as an overlayfs upper directory is
/// laid out: `.wh.<name>` becomes a 0:0 character device and `.wh..wh..opq` the
/// `trusted.overlay.opaque` attribute of its directory, so that `dest` can serve as a
/// lower layer of an overlay. The uncompressed stream must have the digest `diff_id`.
/// Making the devices and the attribute needs root.
pub fn extract_overlay_tree(
    store: &BlobStore,
    layer: &Descriptor,
    diff_id: &crate::Digest,
    dest: &Path,
) -> Result<(), Error> {
    let what = format!("creating {}", dest.display());
    fs::create_dir_all(dest).map_err(io_err(&what))?;
    let root = dest.canonicalize().map_err(io_err(what))?;
    let mut dir_mtimes = BTreeMap::new();
    extract_layer(store, layer, &root, &mut dir_mtimes, Some(diff_id))?;
    for (rel, mtime) in dir_mtimes.iter().rev() {
        if let Ok(Some(path)) = locate(&root, rel) {
            set_mtime(&path, *mtime)
                .map_err(io_err(format!("setting the mtime of {}", path.display())))?;
        }
    }
    Ok(())
}

/// Passes reads on while hashing them.
struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use sha2::Digest as _;
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Unpacks one layer into `root`: applying its whiteouts to what lower layers left, or,
/// with `overlay` (the layer's diff_id, checked), keeping them as overlayfs marks them.
fn extract_layer(
    store: &BlobStore,
    layer: &Descriptor,
    root: &Path,
    dir_mtimes: &mut BTreeMap<PathBuf, i64>,
    overlay: Option<&crate::Digest>,
) -> Result<(), Error> {
    tracing::debug!(digest = %layer.digest, "extracting layer");
    if layer.media_type.contains("zstd") {
        return Err(unsupported(
            &format!("layer {}", layer.digest),
            &layer.media_type,
        ));
    }
    let what = format!("reading layer {}", layer.digest);
    let mut file = BufReader::new(store.open(&layer.digest)?);
    let gzipped = file
        .fill_buf()
        .map_err(io_err(&what))?
        .starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gzipped {
        Box::new(MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let reader = HashingReader {
        inner: reader,
        hasher: sha2::Digest::new(),
    };
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    let escape = |path: &Path| Error::UnsafePath {
        layer: layer.digest.clone(),
        path: path.display().to_string(),
    };
    // What this layer has put in place so far; an opaque marker keeps it.
    let mut written = HashSet::new();
    for entry in archive.entries().map_err(io_err(&what))? {
        let mut entry = entry.map_err(io_err(&what))?;
        let raw = entry.path().map_err(io_err(&what))?.into_owned();
        let mut rel = PathBuf::new();
        for c in raw.components() {
            match c {
                Component::Normal(c) => rel.push(c),
                Component::ParentDir => return Err(escape(&raw)),
                _ => {}
            }
        }
        let (Some(name), Some(parent)) = (rel.file_name(), rel.parent()) else {
            continue;
        };
        let what = format!("extracting {} from layer {}", raw.display(), layer.digest);
        if overlay.is_some() {
            if name.as_bytes() == OPAQUE_MARKER {
                let dir = locate(root, parent).map_err(|()| escape(&raw))?;
                let dir = dir.ok_or_else(|| escape(&raw))?;
                fs::create_dir_all(&dir).map_err(io_err(&what))?;
                rustix::fs::setxattr(
                    &dir,
                    "trusted.overlay.opaque",
                    b"y",
                    rustix::fs::XattrFlags::empty(),
                )
                .map_err(|e| io_err(&what)(e.into()))?;
                continue;
            }
            if let Some(hidden) = name.as_bytes().strip_prefix(WHITEOUT_PREFIX) {
                let hidden = parent.join(std::ffi::OsStr::from_bytes(hidden));
                let path = locate(root, &hidden)
                    .map_err(|()| escape(&raw))?
                    .ok_or_else(|| escape(&raw))?;
                rustix::fs::mknodat(
                    CWD,
                    &path,
                    FileType::CharacterDevice,
                    Mode::empty(),
                    rustix::fs::makedev(0, 0),
                )
                .map_err(|e| io_err(&what)(e.into()))?;
                continue;
            }
        }
        if name.as_bytes() == OPAQUE_MARKER {
            let dir = locate(root, parent).map_err(|()| escape(&raw))?;
            let dir = dir.filter(|d| d.symlink_metadata().is_ok_and(|m| m.is_dir()));
            for child in dir.and_then(|d| fs::read_dir(d).ok()).into_iter().flatten() {
                let child = child.map_err(io_err(&what))?;
                if !written.contains(&parent.join(child.file_name())) {
                    remove(&child.path()).map_err(io_err(&what))?;
                }
            }
            continue;
        }
        if let Some(hidden) = name.as_bytes().strip_prefix(WHITEOUT_PREFIX) {
            let hidden = parent.join(std::ffi::OsStr::from_bytes(hidden));
            if let Some(path) = locate(root, &hidden).map_err(|()| escape(&raw))? {
                remove(&path).map_err(io_err(&what))?;
            }
            continue;
        }
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        // Whatever a lower layer left here goes, unless both are directories.
        if let Some(path) = locate(root, &rel).map_err(|()| escape(&raw))? {
            if !(kind.is_dir() && path.symlink_metadata().is_ok_and(|m| m.is_dir())) {
                remove(&path).map_err(io_err(&what))?;
            }
        }
        if !entry.unpack_in(root).map_err(io_err(&what))? {
            return Err(escape(&raw));
        }
        if matches!(kind, EntryType::Char | EntryType::Block | EntryType::Fifo) {
            // `tar` writes these as empty files; swap in the real node.
            let path = locate(root, &rel)
                .ok()
                .flatten()
                .ok_or_else(|| escape(&raw))?;
            make_node(&path, kind, entry.header()).map_err(io_err(&what))?;
        }
        if kind.is_dir() {
            dir_mtimes.insert(rel.clone(), entry.header().mtime().unwrap_or(0) as i64);
        }
        written.insert(rel);
    }
    if let Some(expected) = overlay {
        // The end of the archive (its padding) counts in the digest too.
        let mut rest = archive.into_inner();
        io::copy(&mut rest, &mut io::sink()).map_err(io_err(&what))?;
        let actual = crate::Digest::from_sha256(sha2::Digest::finalize(rest.hasher).as_slice());
        if &actual != expected {
            return Err(Error::DigestMismatch {
                what: format!("the uncompressed layer {}", layer.digest),
                expected: expected.clone(),
                actual,
            });
        }
    }
    Ok(())
}

/// Where `rel` is below `root`, resolving its parent's symbolic links: `None` if the parent
/// does not exist, `Err` if it resolves outside `root`.
fn locate(root: &Path, rel: &Path) -> Result<Option<PathBuf>, ()> {
    let (Some(name), Some(parent)) = (rel.file_name(), rel.parent()) else {
        return Ok(Some(root.into()));
    };
    match root.join(parent).canonicalize() {
        Ok(dir) if dir.starts_with(root) => Ok(Some(dir.join(name))),
        Ok(_) => Err(()),
        Err(_) => Ok(None),
    }
}

/// Removes a file, link or whole directory; a missing path is fine.
fn remove(path: &Path) -> io::Result<()> {
    match path.symlink_metadata() {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn make_node(path: &Path, kind: EntryType, h: &Header) -> io::Result<()> {
    let file_type = match kind {
        EntryType::Char => FileType::CharacterDevice,
        EntryType::Block => FileType::BlockDevice,
        _ => FileType::Fifo,
    };
    let mode = h.mode()? & 0o7777;
    // Some writers leave the device fields of fifos empty.
    let number = |n: io::Result<Option<u32>>| n.ok().flatten().unwrap_or(0);
    let dev = rustix::fs::makedev(number(h.device_major()), number(h.device_minor()));
    fs::remove_file(path)?;
    rustix::fs::mknodat(CWD, path, file_type, Mode::from_raw_mode(mode), dev)?;
    std::os::unix::fs::lchown(path, Some(h.uid()? as u32), Some(h.gid()? as u32))?;
    fs::set_permissions(path, Permissions::from_mode(mode))?;
    set_mtime(path, h.mtime()? as i64)
}

fn set_mtime(path: &Path, mtime: i64) -> io::Result<()> {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: t,
        last_modification: t,
    };
    Ok(rustix::fs::utimensat(
        CWD,
        path,
        &times,
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}
