//! Shared by the build scripts that build components: a nested cargo run for
//! wasm32-wasip2 in a target directory of its own (so it never waits on the outer
//! build's lock), and change tracking of the sources it reads.

use std::path::Path;
use std::process::Command;

/// Builds `packages` (all of the workspace when empty) of the workspace at `manifest`
/// for wasm32-wasip2 in release mode. A failure fails the outer build.
pub fn nested_build(manifest: &Path, target_dir: &Path, packages: &[String]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--manifest-path",
    ])
    .arg(manifest)
    .arg("--target-dir")
    .arg(target_dir);
    for p in packages {
        cmd.arg("-p").arg(p);
    }
    // The outer build's settings must not leak into a build for another target.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_") && key != "CARGO_HOME"
            || key.starts_with("RUSTC")
            || key == "RUSTFLAGS"
            || key.ends_with("MAKEFLAGS")
            || key == "RUSTDOCFLAGS"
        {
            cmd.env_remove(&key);
        }
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("running cargo for {}: {e}", manifest.display()));
    if !status.success() {
        panic!(
            "building {} for wasm32-wasip2 failed: {status} (is the target installed? \
             `rustup target add wasm32-wasip2`)",
            manifest.display()
        );
    }
}

/// Asks cargo to rerun the build script when any file under `dir` changes.
pub fn watch(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            watch(&path);
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
