//! Temporary things on disk that a running kiln owns (a blob being written, a container's
//! scratch directory), told apart from what a kiln that died left behind.
//!
//! The owner holds an exclusive advisory lock (`flock`) on the file itself, or on a
//! [`LEASE`] file inside the directory, for as long as it uses it; the kernel releases
//! the lock when the process ends, however it ends (SIGKILL included). So a sweep can
//! remove exactly the leftovers of dead runs, while other builds run in parallel: what
//! it can lock is nobody's. Entries younger than [`MIN_AGE`] are left alone, so that a
//! sweep never races an owner between creating an entry and locking it.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The lock file inside a leased directory.
pub const LEASE: &str = ".kiln-lease";

/// How old an entry must be before a sweep looks at it.
pub const MIN_AGE: Duration = Duration::from_secs(60);

/// Takes the lease of an open file: an exclusive lock held until the file is closed.
pub fn lock(file: &File) -> io::Result<()> {
    file.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => {
            io::Error::new(io::ErrorKind::WouldBlock, "held by another process")
        }
        std::fs::TryLockError::Error(e) => e,
    })
}

/// Creates the lease file of the directory `dir` and takes it; keep the file for as long
/// as the directory is in use.
pub fn lease_dir(dir: &Path) -> io::Result<File> {
    let file = File::create(dir.join(LEASE))?;
    lock(&file)?;
    Ok(file)
}

/// What a sweep removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swept {
    /// The file or directory.
    pub path: PathBuf,
    /// Its size on disk, bytes.
    pub bytes: u64,
}

/// Whether `path` is free: older than [`MIN_AGE`] and its lease (the file itself, or
/// [`LEASE`] inside a directory) taken by no live process. A directory without a lease
/// file is free once older than an hour (it was never leased, or its run died before).
fn free(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    let age = meta
        .modified()
        .ok()
        .and_then(|m| m.elapsed().ok())
        .unwrap_or_default();
    if age < MIN_AGE {
        return false;
    }
    let lease = if meta.is_dir() {
        path.join(LEASE)
    } else {
        path.to_owned()
    };
    match File::open(&lease) {
        Ok(f) => lock(&f).is_ok(),
        Err(e) if e.kind() == io::ErrorKind::NotFound && meta.is_dir() => {
            age > Duration::from_secs(3600)
        }
        Err(_) => false,
    }
}

/// Bytes on disk under `path` (a file, or a directory walked without following links).
pub fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.blocks() * 512;
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| disk_usage(&e.path())).sum())
        .unwrap_or(0)
}

/// Removes the entries of `dir` whose names start with `prefix` and that no live
/// process holds (see [`free`]); returns what it removed.
pub fn sweep(dir: &Path, prefix: &str) -> Vec<Swept> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut swept = Vec::new();
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let path = entry.path();
        if !free(&path) {
            continue;
        }
        let bytes = disk_usage(&path);
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match removed {
            Ok(()) => swept.push(Swept { path, bytes }),
            Err(e) => tracing::debug!(path = %path.display(), error = %e, "could not sweep"),
        }
    }
    swept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(path: &Path, secs: u64) {
        let old = std::time::SystemTime::now() - Duration::from_secs(secs);
        File::open(path).unwrap().set_modified(old).unwrap();
    }

    #[test]
    fn a_sweep_removes_what_no_live_run_holds() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        // A dead run's partial file, and a live one's (held by this process's handle).
        std::fs::write(d.join(".incoming-dead"), b"partial").unwrap();
        age(&d.join(".incoming-dead"), 120);
        let live = File::create(d.join(".incoming-live")).unwrap();
        lock(&live).unwrap();
        age(&d.join(".incoming-live"), 120);
        // A fresh one nobody holds yet: too young to judge.
        std::fs::write(d.join(".incoming-new"), b"partial").unwrap();
        // A dead run's directory, and a live one's.
        std::fs::create_dir(d.join("kiln-container-dead")).unwrap();
        drop(lease_dir(&d.join("kiln-container-dead")).unwrap());
        std::fs::write(d.join("kiln-container-dead/big"), vec![0u8; 8192]).unwrap();
        age(&d.join("kiln-container-dead"), 120);
        std::fs::create_dir(d.join("kiln-container-live")).unwrap();
        let _held = lease_dir(&d.join("kiln-container-live")).unwrap();
        age(&d.join("kiln-container-live"), 120);

        let swept = sweep(d, ".incoming-");
        assert_eq!(
            swept.iter().map(|s| s.path.clone()).collect::<Vec<_>>(),
            [d.join(".incoming-dead")]
        );
        let swept = sweep(d, "kiln-container-");
        assert_eq!(swept.len(), 1, "{swept:?}");
        assert_eq!(swept[0].path, d.join("kiln-container-dead"));
        assert!(swept[0].bytes >= 8192);
        assert!(d.join(".incoming-live").exists() && d.join(".incoming-new").exists());
        assert!(d.join("kiln-container-live").exists());
    }
}
