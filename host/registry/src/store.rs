//! The content-addressed blob store every image lives in: `<root>/sha256/<hex>`.
//!
//! A blob is first written to a temporary file in `<root>`, hashed while it streams in,
//! synced and only then renamed to its digest, so a crash never leaves a partial blob under
//! a digest name and a blob's name is always the hash of its content.

use std::fs::{self, File, Permissions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::digest::HashingWriter;
use crate::error::io_err;
use crate::{Digest, Error};

/// The name prefix of a blob being written.
pub const INCOMING: &str = ".incoming-";

/// A directory of blobs named by their sha256.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    /// A store rooted at `root`; directories are created on the first write.
    pub fn new(root: PathBuf) -> Self {
        BlobStore { root }
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `d` is (or would be) stored.
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.root.join("sha256").join(d.hex())
    }

    /// Whether the blob `d` is in the store.
    pub fn contains(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    /// Starts writing a blob; see [`BlobWriter::finish`].
    pub fn writer(&self) -> Result<BlobWriter, Error> {
        let what = format!("creating a temporary blob in {}", self.root.display());
        fs::create_dir_all(self.root.join("sha256")).map_err(io_err(&what))?;
        let temp = NamedTempFile::with_prefix_in(INCOMING, &self.root).map_err(io_err(&what))?;
        // Held while it is written: a sweep (`kiln cache prune`) removes only the partial
        // blobs of runs that died.
        kiln_core::lease::lock(temp.as_file()).map_err(io_err(what))?;
        let out = HashingWriter::new(BufWriter::new(temp));
        Ok(BlobWriter {
            store: self.clone(),
            out,
        })
    }

    /// Copies `reader` into the store, hashing it as it streams; returns its digest and size.
    /// If `expected` is given and differs, nothing is stored and the error names both.
    pub fn put_reader(
        &self,
        mut reader: impl Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), Error> {
        let mut w = self.writer()?;
        io::copy(&mut reader, &mut w).map_err(io_err("copying a blob into the store"))?;
        w.finish(expected)
    }

    /// Stores `bytes` and returns their digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, Error> {
        let d = Digest::of(bytes);
        if !self.contains(&d) {
            self.put_reader(bytes, Some(&d))?;
        }
        Ok(d)
    }

    /// Removes the partial blobs of runs that died (see `kiln_core::lease`).
    pub fn sweep(&self) -> Vec<kiln_core::lease::Swept> {
        kiln_core::lease::sweep(&self.root, INCOMING)
    }

    /// Reads a whole blob; meant for manifests and configs, not layers.
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>, Error> {
        fs::read(self.path(d)).map_err(|e| self.missing_or(d, e))
    }

    /// Opens a blob for streaming.
    pub fn open(&self, d: &Digest) -> Result<File, Error> {
        File::open(self.path(d)).map_err(|e| self.missing_or(d, e))
    }

    fn missing_or(&self, d: &Digest, e: io::Error) -> Error {
        if e.kind() == io::ErrorKind::NotFound {
            Error::MissingBlob {
                digest: d.clone(),
                store: self.root.clone(),
            }
        } else {
            io_err(format!("reading {}", self.path(d).display()))(e)
        }
    }
}

/// A blob being written; dropped without [`finish`](Self::finish), it leaves nothing behind.
pub struct BlobWriter {
    store: BlobStore,
    out: HashingWriter<BufWriter<NamedTempFile>>,
}

impl BlobWriter {
    /// Syncs the blob and renames it to its digest. With `expected` given and different,
    /// the blob is discarded and the error names both digests.
    pub fn finish(self, expected: Option<&Digest>) -> Result<(Digest, u64), Error> {
        let (buffered, digest, size) = self.out.finish();
        let temp = buffered
            .into_inner()
            .map_err(|e| io_err("writing a blob")(e.into_error()))?;
        if let Some(expected) = expected.filter(|e| **e != digest) {
            return Err(Error::DigestMismatch {
                what: format!("blob {expected}"),
                expected: expected.clone(),
                actual: digest,
            });
        }
        let dest = self.store.path(&digest);
        commit(temp, &dest).map_err(io_err(format!("storing blob {}", dest.display())))?;
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes a file through a temporary file beside it, so `path` is either whole or absent.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), Error> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let written = NamedTempFile::with_prefix_in(".kiln-", parent.unwrap_or(Path::new(".")))
        .and_then(|mut temp| write(temp.as_file_mut()).and_then(|()| commit(temp, path)));
    written.map_err(io_err(format!("writing {}", path.display())))
}

/// Makes a finished temporary file readable by all, syncs it and renames it to `path`.
fn commit(temp: NamedTempFile, path: &Path) -> io::Result<()> {
    temp.as_file()
        .set_permissions(Permissions::from_mode(0o644))?;
    temp.as_file().sync_all()?;
    temp.persist(path).map(drop).map_err(|e| e.error)
}
