//! The host side of `artifact-files`: a post-processor's reads of its input artifact
//! and writes to its output directory, every path resolved through the step's grant.
//! Hashing and archiving stream the files on a blocking thread; their bytes never
//! enter the sandbox.

use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use kiln_artifacts::{ArchiveFormat, Entry, HashAlgorithm};

use crate::bindings::post_processor::kiln::plugin::artifact_files as af;
use crate::bindings::provisioner::kiln::plugin::types::{Error as WitError, ErrorKind};
use crate::grants::{Access, GrantError, GrantedPaths, Resolved};
use crate::host::{err, grant_err, io_err, path_err, HostError, StepState};

/// A file a step wrote and its sha256, computed while it was written, so that neither
/// measuring the artifact nor a later `hash-file` (in this step or a later one) reads it
/// again. It stands only while the file is the same: same inode, size and modification
/// time.
#[derive(Debug, Clone)]
pub struct KnownDigest {
    pub path: PathBuf,
    pub ino: u64,
    pub size: u64,
    pub modified: Option<std::time::SystemTime>,
    pub sha256: String,
}

impl KnownDigest {
    pub(crate) fn of(path: PathBuf, meta: &std::fs::Metadata, sha256: String) -> Self {
        use std::os::unix::fs::MetadataExt;
        KnownDigest {
            path,
            ino: meta.ino(),
            size: meta.len(),
            modified: meta.modified().ok(),
            sha256,
        }
    }

    /// The digest of `path` (absolute, normalized) as it is now, if known.
    pub fn lookup<'a>(
        known: &'a [KnownDigest],
        path: &Path,
        meta: &std::fs::Metadata,
    ) -> Option<&'a str> {
        use std::os::unix::fs::MetadataExt;
        known
            .iter()
            .rev()
            .find(|k| {
                k.path == path
                    && k.ino == meta.ino()
                    && k.size == meta.len()
                    && k.modified == meta.modified().ok()
            })
            .map(|k| k.sha256.as_str())
    }
}

/// The largest file `read-file` hands to a component.
const READ_FILE_LIMIT: u64 = 16 << 20;

fn algorithm(a: af::HashAlgorithm) -> HashAlgorithm {
    match a {
        af::HashAlgorithm::Md5 => HashAlgorithm::Md5,
        af::HashAlgorithm::Sha1 => HashAlgorithm::Sha1,
        af::HashAlgorithm::Sha224 => HashAlgorithm::Sha224,
        af::HashAlgorithm::Sha256 => HashAlgorithm::Sha256,
        af::HashAlgorithm::Sha384 => HashAlgorithm::Sha384,
        af::HashAlgorithm::Sha512 => HashAlgorithm::Sha512,
    }
}

fn format(f: af::ArchiveFormat) -> ArchiveFormat {
    match f {
        af::ArchiveFormat::Tar => ArchiveFormat::Tar,
        af::ArchiveFormat::TarGz => ArchiveFormat::TarGz,
        af::ArchiveFormat::TarZst => ArchiveFormat::TarZst,
        af::ArchiveFormat::TarXz => ArchiveFormat::TarXz,
        af::ArchiveFormat::Zip => ArchiveFormat::Zip,
        af::ArchiveFormat::Gz => ArchiveFormat::Gz,
        af::ArchiveFormat::Zst => ArchiveFormat::Zst,
        af::ArchiveFormat::Xz => ArchiveFormat::Xz,
    }
}

/// Runs `work` on a blocking thread: file work must not stall the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, WitError> + Send + 'static,
) -> Result<T, WitError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(err(ErrorKind::Other, format!("host task failed: {e}"))))
}

impl StepState {
    /// Opens `path` for reading: the input artifact (read grant) or, for what the step
    /// wrote itself, its output directory (write grant).
    pub(crate) fn open_readable(
        &self,
        path: &str,
    ) -> Result<(std::fs::File, std::fs::Metadata), WitError> {
        let resolved = self.paths.resolve_readable(path).map_err(|e| match e {
            GrantError::NotGranted { .. } => err(
                ErrorKind::PermissionDenied,
                format!(
                    "access to `{path}` is not granted to this step (it may read its \
                     input artifact's files and write its output directory)"
                ),
            ),
            e => grant_err(e),
        })?;
        let file = resolved
            .dir
            .open(resolved.rel_or_dot())
            .map_err(path_err(path))?;
        let file = file.into_std();
        let meta = file.metadata().map_err(io_err)?;
        if meta.is_dir() {
            return Err(err(ErrorKind::Invalid, format!("`{path}` is a directory")));
        }
        Ok((file, meta))
    }

    /// The step wrote `size` bytes to the file `dest` (now `meta`; `sha256`, its digest
    /// when taken on the way): counted against its disk budget, its digest kept for the
    /// next step, and removed unless the step finishes.
    pub(crate) fn wrote(
        &mut self,
        dest: &str,
        size: u64,
        meta: &std::fs::Metadata,
        sha256: Option<String>,
    ) {
        self.disk.written += size;
        let path = crate::normalize(&self.paths.cwd().join(dest));
        self.made.file(path.clone());
        if let Some(sha256) = sha256 {
            self.written.push(KnownDigest::of(path, meta, sha256));
        }
    }

    /// Resolves `dest` for writing a new file: its directory (created) and name.
    pub(crate) fn writable(&mut self, dest: &str) -> Result<(Dir, PathBuf), WitError> {
        // The directories made for `dest` (the granted one, and those below it) are the
        // step's, removed with what it wrote there if it does not finish.
        let at = crate::normalize(&self.paths.cwd().join(dest));
        let absent: Vec<PathBuf> = at
            .ancestors()
            .skip(1)
            .take_while(|a| std::fs::symlink_metadata(a).is_err())
            .map(Path::to_path_buf)
            .collect();
        let Resolved { dir, rel } = self.paths.resolve(dest, Access::Write).map_err(grant_err)?;
        if rel.as_os_str().is_empty() {
            return Err(err(ErrorKind::Invalid, format!("`{dest}` is a directory")));
        }
        let io = path_err(dest);
        let parent = rel.parent().unwrap_or(Path::new(""));
        let dir = if parent.as_os_str().is_empty() {
            dir
        } else {
            dir.create_dir_all(parent).map_err(&io)?;
            dir.open_dir(parent).map_err(&io)?
        };
        self.made
            .dirs
            .extend(absent.into_iter().rev().filter(|a| a.is_dir()));
        let name = PathBuf::from(rel.file_name().unwrap_or_default());
        Ok((dir, name))
    }
}

/// What a step made on the host: the files it wrote and the directories made for them.
/// Unless the step finishes ([`Made::keep`]), they are removed when the step's state
/// is dropped (a failure, a trap, a cancelled build): a step that does not finish
/// leaves no partial output behind.
#[derive(Debug, Default)]
pub(crate) struct Made {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    kept: bool,
}

impl Made {
    /// The step wrote `path` (absolute).
    pub(crate) fn file(&mut self, path: PathBuf) {
        self.files.push(path);
    }

    /// The step removed `path` itself.
    fn removed(&mut self, path: &Path) {
        self.files.retain(|f| f != path);
    }

    /// The step finished: what it made stays.
    pub(crate) fn keep(&mut self) {
        self.kept = true;
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        for f in self.files.iter().rev() {
            if std::fs::remove_file(f).is_ok() {
                tracing::debug!(path = %f.display(), "removed what an unfinished step wrote");
            }
        }
        // Innermost first; a directory that holds anything else stays.
        for d in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Opens the host file `source` for reading through the step's grant, as an archive
/// entry's turn comes.
fn open_granted(paths: &GrantedPaths, source: &str) -> std::io::Result<std::fs::File> {
    let resolved = paths
        .resolve_readable(source)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::PermissionDenied, e.to_string()))?;
    Ok(resolved.dir.open(resolved.rel_or_dot())?.into_std())
}

impl StepState {
    /// The trap that ends a post-processor which would write past its disk limit; what
    /// it was writing is removed.
    pub(crate) fn disk_full(&self, dest: &str) -> wasmtime::Error {
        crate::budget::limit_hit(
            "disk",
            format!("{} bytes", self.disk.limit),
            &format!(
                "writing `{dest}` would take the step past it ({} bytes written before); \
                 nothing of `{dest}` was left",
                self.disk.written
            ),
        )
    }
}

/// Writes `dest` in `dir` through a temporary name, renamed into place only once
/// `write` succeeded: a failed or interrupted step never leaves a partial file under
/// the real name.
///
/// A file already at the real name (an earlier build's output) is removed first, as
/// Packer truncates it: its space is free for the new one, which matters for multi-GiB
/// images, and the rename does not replace a file, which on ext4 would start writing
/// the whole new file back to disk then and there.
/// The files some step holds with `lock-file`, by absolute path: shared by every step
/// of the process (parallel builds).
static FILE_LOCKS: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<PathBuf, std::sync::Arc<tokio::sync::Mutex<()>>>>,
> = std::sync::LazyLock::new(Default::default);

pub(crate) fn write_atomically<T>(
    dir: &Dir,
    name: &Path,
    write: impl FnOnce(std::fs::File) -> std::io::Result<T>,
) -> std::io::Result<(T, std::fs::Metadata)> {
    match dir.symlink_metadata(name) {
        Ok(meta) if !meta.is_dir() => match dir.remove_file(name) {
            // Another step's write may have replaced it meanwhile.
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        },
        _ => {}
    }
    // A name of its own per write: two steps (parallel builds' manifests) may write the
    // same file at once, and neither may rename the other's partial file away.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = PathBuf::from(format!(
        ".{}.{}-{n}.kiln-partial",
        name.display(),
        std::process::id()
    ));
    let file = dir.create(&tmp)?.into_std();
    let handle = file.try_clone()?;
    match write(file) {
        Ok(v) => {
            dir.rename(&tmp, dir, name)?;
            Ok((v, handle.metadata()?))
        }
        Err(e) => {
            let _ = dir.remove_file(&tmp);
            Err(e)
        }
    }
}

fn mtime(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

impl af::Host for StepState {
    #[tracing::instrument(skip_all, fields(path = %path))]
    async fn hash_file(
        &mut self,
        path: String,
        algorithms: Vec<af::HashAlgorithm>,
    ) -> Result<Vec<String>, HostError> {
        let (file, meta) = self.open_readable(&path)?;
        let algorithms: Vec<HashAlgorithm> = algorithms.into_iter().map(algorithm).collect();
        // The sha256 the host took when a step wrote the file, unchanged since: the
        // usual `compress` then `checksum` chain reads the archive once, not twice.
        if algorithms == [HashAlgorithm::Sha256] {
            let abs = crate::grants::normalize(&self.paths.cwd().join(&path));
            if let Some(known) = KnownDigest::lookup(&self.written, &abs, &meta) {
                return Ok(vec![known.to_owned()]);
            }
        }
        let digests =
            blocking(move || kiln_artifacts::hash_reader(file, &algorithms).map_err(io_err))
                .await?;
        Ok(digests)
    }

    #[tracing::instrument(skip_all, fields(dest = %dest, entries = entries.len()))]
    async fn write_archive(
        &mut self,
        entries: Vec<af::ArchiveEntry>,
        dest: String,
        archive_format: af::ArchiveFormat,
        level: Option<i32>,
    ) -> Result<u64, HostError> {
        let listed: usize = entries.iter().map(|e| e.name.len() + e.source.len()).sum();
        self.check_message(listed, "a write-archive entry list")?;
        // Each source is checked and measured now, and opened again only when its turn
        // comes, through the grant: the archive holds one of them open at a time, however
        // many entries it lists.
        let paths = std::sync::Arc::new(self.paths.clone());
        let mut later = Vec::with_capacity(entries.len());
        let mut total = 0u64;
        for e in entries {
            let (_, meta) = self.open_readable(&e.source)?;
            use std::os::unix::fs::PermissionsExt;
            total += meta.len();
            let paths = paths.clone();
            let source = e.source;
            later.push(Entry::opened_later(
                e.name,
                meta.permissions().mode() & 0o7777,
                mtime(&meta),
                move || open_granted(&paths, &source),
            ));
        }
        let (dir, name) = self.writable(&dest)?;
        let epoch = self.archive_epoch;
        let fmt = format(archive_format);
        let left = self.disk.left();
        let bar = self
            .ui
            .progress(&format!("Compressing into {dest}"), Some(total));
        let done = tokio::task::spawn_blocking(move || {
            write_atomically(&dir, &name, |out| {
                let progress = |n| bar.advance(n);
                kiln_artifacts::write_archive_reporting(
                    later, out, fmt, level, epoch, left, &progress,
                )
            })
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(format!("host task failed: {e}"))));
        match done {
            Ok((written, meta)) => {
                self.wrote(&dest, written.size, &meta, written.sha256);
                Ok(written.size)
            }
            Err(e) if kiln_artifacts::too_large(&e).is_some() => Err(self.disk_full(&dest).into()),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                Err(err(ErrorKind::Invalid, e.to_string()).into())
            }
            Err(e) => Err(io_err(e).into()),
        }
    }

    #[tracing::instrument(skip_all, fields(dest = %dest, len = data.len()))]
    async fn write_file(&mut self, dest: String, data: Vec<u8>) -> Result<(), HostError> {
        self.check_message(data.len(), "a write-file buffer")?;
        if data.len() as u64 > self.disk.left() {
            return Err(self.disk_full(&dest).into());
        }
        let (dir, name) = self.writable(&dest)?;
        let sha256 = kiln_artifacts::hash_reader(&data[..], &[HashAlgorithm::Sha256])
            .map(|mut d| d.remove(0))
            .ok();
        let done = blocking(move || {
            write_atomically(&dir, &name, |mut out| {
                use std::io::Write;
                if data.is_empty() {
                    // Nothing to keep through a crash (an output's placeholder, which
                    // a host command fills): no flush, which costs a journal commit.
                    return Ok(());
                }
                out.write_all(&data)?;
                out.sync_all()
            })
            .map_err(io_err)
        })
        .await;
        let ((), meta) = done?;
        self.wrote(&dest, meta.len(), &meta, sha256);
        Ok(())
    }

    async fn lock_file(&mut self, path: String) -> Result<(), HostError> {
        self.writable(&path)?;
        let key = crate::normalize(&self.paths.cwd().join(&path));
        if self.locks.contains_key(&key) {
            return Ok(());
        }
        let lock = {
            let mut all = FILE_LOCKS.lock().unwrap_or_else(|e| e.into_inner());
            // Locks nobody holds or waits for are dropped as they are passed.
            all.retain(|_, l| std::sync::Arc::strong_count(l) > 1);
            all.entry(key.clone()).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        self.locks.insert(key, guard);
        Ok(())
    }

    async fn unlock_file(&mut self, path: String) -> wasmtime::Result<()> {
        let key = crate::normalize(&self.paths.cwd().join(&path));
        self.locks.remove(&key);
        Ok(())
    }

    async fn read_file(&mut self, path: String) -> Result<Vec<u8>, HostError> {
        let (file, meta) = self.open_readable(&path)?;
        self.check_message(
            usize::try_from(meta.len().min(READ_FILE_LIMIT)).unwrap_or(usize::MAX),
            "a read-file result",
        )?;
        if meta.len() > READ_FILE_LIMIT {
            return Err(err(
                ErrorKind::Limit,
                format!(
                    "`{path}` is {} bytes; read-file hands over at most {READ_FILE_LIMIT} \
                     (use hash-file or write-archive, which stream)",
                    meta.len()
                ),
            )
            .into());
        }
        let data = blocking(move || {
            use std::io::Read;
            let mut data = Vec::with_capacity(meta.len() as usize);
            file.take(READ_FILE_LIMIT)
                .read_to_end(&mut data)
                .map_err(io_err)?;
            Ok(data)
        })
        .await?;
        Ok(data)
    }

    async fn file_size(&mut self, path: String) -> Result<u64, HostError> {
        let (_, meta) = self.open_readable(&path)?;
        Ok(meta.len())
    }

    async fn remove_file(&mut self, path: String) -> Result<(), HostError> {
        let (dir, name) = self.writable(&path)?;
        let full = crate::normalize(&self.paths.cwd().join(&path));
        if !self.written.iter().any(|k| k.path == full) {
            return Err(err(
                ErrorKind::PermissionDenied,
                format!("`{path}` was not written by this step: a step removes only its own files"),
            )
            .into());
        }
        blocking(move || dir.remove_file(&name).map_err(io_err)).await?;
        self.made.removed(&full);
        self.written.retain(|k| k.path != full);
        Ok(())
    }
}
