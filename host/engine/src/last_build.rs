//! The builder's artifact of a build's last successful run, kept so that its
//! post-processors can run again alone (`kiln build -post-processors-only`) without the
//! build: recorded when the run takes checkpoints (`-checkpoint`, `-resume`), before
//! any post-processor runs (they may remove the files they replace).
//!
//! `<cache>/artifacts/<id>/` holds `artifact.json` (the artifact, each file with its
//! SHA-256) and `files/` (each file hard-linked, or copied when it is on another file
//! system). `<id>` is a digest of the template's directory and the build's name. An
//! entry is assembled under an `.incoming-` name and renamed into place whole.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use kiln_core::artifact::hex;
use kiln_core::{Artifact, BuildError};

/// The name prefix of an entry being written.
const INCOMING: &str = ".incoming-";

/// Where the artifacts of the build `name` of the template in `cwd` are kept.
fn entry_dir(cache: &Path, cwd: &Path, name: &str) -> PathBuf {
    let mut h = Sha256::new();
    h.update(cwd.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(name.as_bytes());
    cache.join("artifacts").join(hex(&h.finalize()))
}

/// The SHA-256 (hex) of the file at `path`.
fn file_sha256(path: &Path) -> std::io::Result<String> {
    let digests = kiln_artifacts::hash_reader(
        std::fs::File::open(path)?,
        &[kiln_artifacts::HashAlgorithm::Sha256],
    )?;
    Ok(digests.into_iter().next().unwrap_or_default())
}

/// Whether `a` and `b` are the same file (one hard-linked to the other).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// `from` at `to`: a hard link, or a copy across file systems.
fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(18) => std::fs::copy(from, to).map(|_| ()),
        Err(e) => Err(e),
    }
}

/// Keeps `artifact` (resolved against `cwd`) as the last successful one of build `name`.
pub(crate) fn record(
    cache: &Path,
    cwd: &Path,
    name: &str,
    artifact: &Artifact,
) -> Result<(), String> {
    let dest = entry_dir(cache, cwd, name);
    let parent = dest.parent().expect("under artifacts");
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let incoming = tempfile::Builder::new()
        .prefix(INCOMING)
        .tempdir_in(parent)
        .map_err(|e| format!("{}: {e}", parent.display()))?;
    let files = incoming.path().join("files");
    std::fs::create_dir(&files).map_err(|e| e.to_string())?;
    let mut kept = artifact.clone();
    for (i, f) in kept.files.iter_mut().enumerate() {
        let path = cwd.join(&f.path);
        if f.sha256.is_empty() {
            f.sha256 = file_sha256(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let copy = files.join(i.to_string());
        link_or_copy(&path, &copy).map_err(|e| format!("keeping {}: {e}", path.display()))?;
    }
    let json = serde_json::to_vec_pretty(&kept).expect("plain data");
    std::fs::write(incoming.path().join("artifact.json"), json).map_err(|e| e.to_string())?;
    if dest.exists() {
        std::fs::remove_dir_all(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    let dir = incoming.keep();
    std::fs::rename(&dir, &dest).map_err(|e| {
        let _ = std::fs::remove_dir_all(&dir);
        format!("{}: {e}", dest.display())
    })
}

/// The last successful artifact of build `name`, its files put back where they were
/// (from the kept copies, checked against their digests) when they are gone or changed.
pub(crate) fn restore(cache: &Path, cwd: &Path, name: &str) -> Result<Artifact, BuildError> {
    let dir = entry_dir(cache, cwd, name);
    let text = std::fs::read(dir.join("artifact.json")).map_err(|_| {
        BuildError::Failed(format!(
            "no artifact of build '{name}' is kept: -post-processors-only needs a successful \
             run of the build with -checkpoint or -resume first"
        ))
    })?;
    let artifact: Artifact = serde_json::from_slice(&text)
        .map_err(|e| BuildError::Failed(format!("{}: {e}", dir.display())))?;
    for (i, f) in artifact.files.iter().enumerate() {
        let copy = dir.join("files").join(i.to_string());
        let path = cwd.join(&f.path);
        let kept = file_sha256(&copy)
            .map_err(|e| BuildError::Failed(format!("the kept copy of {}: {e}", path.display())))?;
        if kept != f.sha256 {
            return Err(BuildError::Failed(format!(
                "the kept copy of {} was changed: its sha256 is {kept}, the build recorded {}; \
                 build again with -checkpoint",
                path.display(),
                f.sha256
            )));
        }
        // Still the kept copy itself (no post-processor removed it): checked above.
        if same_file(&copy, &path) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| BuildError::Failed(format!("{}: {e}", parent.display())))?;
        }
        let _ = std::fs::remove_file(&path);
        link_or_copy(&copy, &path)
            .map_err(|e| BuildError::Failed(format!("restoring {}: {e}", path.display())))?;
    }
    Ok(artifact)
}

/// Removes what interrupted records left.
pub fn sweep(cache: &Path) -> Vec<kiln_core::lease::Swept> {
    kiln_core::lease::sweep(&cache.join("artifacts"), INCOMING)
}
