//! Deterministic tar+gzip layers made from a directory tree.
//!
//! The same tree always gives the same bytes: entries in a fixed order, mtimes clamped to
//! `SOURCE_DATE_EPOCH`, no user or group names, no xattrs, gzip without a timestamp. The
//! tar streams through a hasher (the diff id), gzip and a second hasher (the blob digest)
//! into the store, so a layer is never held in memory.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use flate2::{Compression, GzBuilder};
use tar::{EntryType, Header};

use crate::digest::HashingWriter;
use crate::error::io_err;
use crate::spec::MEDIA_TYPE_OCI_LAYER_GZIP;
use crate::{BlobStore, Descriptor, Digest, Error};

/// A layer written by [`write_layer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// Digest of the gzip blob, as named in the manifest.
    pub digest: Digest,
    /// Digest of the uncompressed tar, as named in the config's `rootfs.diff_ids`.
    pub diff_id: Digest,
    /// Size of the gzip blob in bytes.
    pub size: u64,
}

impl LayerInfo {
    /// The manifest descriptor for this layer (OCI tar+gzip).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(MEDIA_TYPE_OCI_LAYER_GZIP, self.digest.clone(), self.size)
    }
}

/// How [`write_layer`] reads the tree.
#[derive(Debug, Clone, Default)]
pub struct LayerOptions {
    /// `SOURCE_DATE_EPOCH`: mtimes later than this are clamped to it.
    pub epoch: i64,
    /// The tree is an overlayfs upper directory: convert its whiteouts to OCI ones.
    pub overlay_upper: bool,
    /// Paths relative to the tree (e.g. `proc`) left out with everything below them.
    pub exclude: Vec<PathBuf>,
    /// Stops the writing when cancelled (the build was): the layer's partial blob is
    /// removed and the result is an error.
    pub cancel: Option<tokio_util::sync::CancellationToken>,
}

/// A writer that fails once `cancel` is cancelled, so that a long tar stops between two
/// of its writes.
struct Stoppable<W> {
    inner: W,
    cancel: Option<tokio_util::sync::CancellationToken>,
}

impl<W: Write> Write for Stoppable<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
            // Not `Interrupted`, which `write_all` would retry for ever.
            return Err(io::Error::other("the build was cancelled"));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

const OPAQUE_MARKER: &str = ".wh..wh..opq";
const OPAQUE_XATTRS: [&str; 2] = ["trusted.overlay.opaque", "user.overlay.opaque"];

/// Makes a deterministic tar+gzip layer of the tree at `dir` and puts it into `store`.
///
/// Entries come depth first, each directory's children sorted by name bytes; paths are
/// relative, directories end in `/`; numeric uid/gid as on disk; GNU long-name entries only
/// where a path needs one. Hard links (same device and inode) become link entries to the
/// first path; sockets are skipped. With `overlay_upper`, a 0:0 character device becomes a
/// `.wh.<name>` whiteout and an opaque directory is followed by `<dir>/.wh..wh..opq`.
#[tracing::instrument(skip_all, fields(dir = %dir.display()))]
pub fn write_layer(dir: &Path, opts: &LayerOptions, store: &BlobStore) -> Result<LayerInfo, Error> {
    let gzip = GzBuilder::new().write(store.writer()?, Compression::new(6));
    let out = Stoppable {
        inner: gzip,
        cancel: opts.cancel.clone(),
    };
    let (out, diff_id) = tar_into(dir, opts, out)?;
    let what = format!("writing a layer of {}", dir.display());
    let (digest, size) = out.inner.finish().map_err(io_err(what))?.finish(None)?;
    tracing::debug!(%digest, %diff_id, size, "layer written");
    Ok(LayerInfo {
        digest,
        diff_id,
        size,
    })
}

/// The same tar as [`write_layer`] makes, uncompressed, into `out` (e.g. a root
/// filesystem tarball); returns its digest.
pub fn write_tar<W: Write>(dir: &Path, opts: &LayerOptions, out: W) -> Result<Digest, Error> {
    let out = Stoppable {
        inner: out,
        cancel: opts.cancel.clone(),
    };
    let (mut out, digest) = tar_into(dir, opts, out)?;
    out.flush()
        .map_err(io_err(format!("writing a tar of {}", dir.display())))?;
    Ok(digest)
}

/// Writes the tar of `dir` into `out`; returns `out` and the tar's digest.
fn tar_into<W: Write>(dir: &Path, opts: &LayerOptions, out: W) -> Result<(W, Digest), Error> {
    let mut walk = Walk {
        root: dir,
        opts,
        exclude: opts.exclude.iter().map(|p| normalize(p)).collect(),
        tar: tar::Builder::new(HashingWriter::new(out)),
        first_links: HashMap::new(),
    };
    walk.dir(Path::new(""))?;
    let what = format!("writing a tar of {}", dir.display());
    let (out, digest, _) = walk.tar.into_inner().map_err(io_err(what))?.finish();
    Ok((out, digest))
}

struct Walk<'a, W: Write> {
    root: &'a Path,
    opts: &'a LayerOptions,
    exclude: Vec<PathBuf>,
    tar: tar::Builder<HashingWriter<W>>,
    /// The first path seen of each multiply linked file, by (device, inode).
    first_links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> Walk<'_, W> {
    fn dir(&mut self, rel: &Path) -> Result<(), Error> {
        let abs = self.root.join(rel);
        let read = |e: io::Error| io_err(format!("reading directory {}", abs.display()))(e);
        let mut children = Vec::new();
        for entry in fs::read_dir(&abs).map_err(read)? {
            let entry = entry.map_err(read)?;
            let meta = fs::symlink_metadata(entry.path())
                .map_err(io_err(format!("reading {}", entry.path().display())))?;
            let whiteout =
                self.opts.overlay_upper && meta.file_type().is_char_device() && meta.rdev() == 0;
            let mut name = entry.file_name();
            if whiteout {
                name = OsString::from(".wh.");
                name.push(entry.file_name());
            }
            children.push((name, entry.file_name(), meta, whiteout));
        }
        children.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (name, on_disk, meta, whiteout) in children {
            let rel_on_disk = rel.join(&on_disk);
            if self.exclude.contains(&rel_on_disk) {
                continue;
            }
            self.entry(
                &rel.join(&name),
                &self.root.join(&rel_on_disk),
                &meta,
                whiteout,
            )?;
            if meta.is_dir() {
                self.dir(&rel_on_disk)?;
            }
        }
        Ok(())
    }

    fn entry(
        &mut self,
        rel: &Path,
        abs: &Path,
        meta: &Metadata,
        whiteout: bool,
    ) -> Result<(), Error> {
        let mut h = Header::new_gnu();
        h.set_mode(meta.mode() & 0o7777);
        h.set_uid(meta.uid().into());
        h.set_gid(meta.gid().into());
        h.set_mtime(meta.mtime().clamp(0, self.opts.epoch.max(0)) as u64);
        h.set_size(0);
        let what = || format!("adding {} to a layer", abs.display());
        let t = meta.file_type();
        let result = if whiteout {
            h.set_entry_type(EntryType::Regular);
            self.tar.append_data(&mut h, rel, io::empty())
        } else if t.is_dir() {
            h.set_entry_type(EntryType::Directory);
            let opaque = self.opts.overlay_upper && is_opaque(abs);
            self.tar
                .append_data(&mut h, rel.join(""), io::empty())
                .and_then(|()| {
                    if !opaque {
                        return Ok(());
                    }
                    h.set_entry_type(EntryType::Regular);
                    h.set_mode(0o644);
                    self.tar
                        .append_data(&mut h, rel.join(OPAQUE_MARKER), io::empty())
                })
        } else if t.is_file() {
            let key = (meta.dev(), meta.ino());
            match self.first_links.get(&key) {
                Some(first) if meta.nlink() > 1 => {
                    h.set_entry_type(EntryType::Link);
                    self.tar.append_link(&mut h, rel, first)
                }
                _ => {
                    if meta.nlink() > 1 {
                        self.first_links.insert(key, rel.to_path_buf());
                    }
                    h.set_entry_type(EntryType::Regular);
                    h.set_size(meta.len());
                    let file = File::open(abs).map_err(io_err(what()))?;
                    self.tar.append_data(&mut h, rel, file.take(meta.len()))
                }
            }
        } else if t.is_symlink() {
            h.set_entry_type(EntryType::Symlink);
            let target = fs::read_link(abs).map_err(io_err(what()))?;
            self.tar.append_link(&mut h, rel, target)
        } else if t.is_char_device() || t.is_block_device() {
            let kind = if t.is_char_device() {
                EntryType::Char
            } else {
                EntryType::Block
            };
            h.set_entry_type(kind);
            let dev = meta.rdev();
            h.set_device_major(rustix::fs::major(dev))
                .map_err(io_err(what()))?;
            h.set_device_minor(rustix::fs::minor(dev))
                .map_err(io_err(what()))?;
            self.tar.append_data(&mut h, rel, io::empty())
        } else if t.is_fifo() {
            h.set_entry_type(EntryType::Fifo);
            self.tar.append_data(&mut h, rel, io::empty())
        } else {
            tracing::debug!(path = %abs.display(), "skipping a socket");
            Ok(())
        };
        result.map_err(io_err(what()))
    }
}

fn is_opaque(dir: &Path) -> bool {
    OPAQUE_XATTRS.iter().any(|name| {
        let mut buf = [0u8; 4];
        matches!(rustix::fs::lgetxattr(dir, *name, &mut buf[..]), Ok(n) if &buf[..n] == b"y")
    })
}

/// `./a/b`, `/a/b` and `a/b` all name `a/b`.
fn normalize(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}
