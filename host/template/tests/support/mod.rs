//! What the template tests share.

use std::path::PathBuf;

/// Writes `text` as the template `name` in a fresh directory; the directory lives as long
/// as the returned guard.
pub fn template(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("writing the template");
    (dir, path)
}
