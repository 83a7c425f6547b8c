//! What the template tests share (each test file uses some of it).
#![allow(dead_code)]

use std::path::PathBuf;

use kiln_core::Diagnostic;

/// Writes `text` as the template `name` in a fresh directory; the directory lives as long
/// as the returned guard.
pub fn template(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("writing the template");
    (dir, path)
}

/// The diagnostics as `kiln` prints them, one a line.
pub fn shown(errors: &[Diagnostic]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `file:line:col: summary` of each diagnostic, the file by its name.
pub fn places(errors: &[Diagnostic]) -> Vec<String> {
    errors
        .iter()
        .map(|d| match &d.location {
            Some(l) => format!(
                "{}:{}:{}: {}",
                l.file.file_name().unwrap_or_default().to_string_lossy(),
                l.line,
                l.col,
                d.summary
            ),
            None => d.summary.clone(),
        })
        .collect()
}
