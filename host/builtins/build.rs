//! Builds `builtin-components/` for wasm32-wasip2 with a nested cargo and embeds the
//! resulting components. The nested build uses its own target directory so that it
//! never waits on the lock of the outer build.

use std::path::{Path, PathBuf};
use std::process::Command;

const COMPONENTS: &[&str] = &["shell", "file"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.join("../..").canonicalize().unwrap();
    let components = root.join("builtin-components");
    for watched in ["builtin-components", "guest-sdk", "wit"] {
        watch(&root.join(watched));
    }
    let target_dir = root.join("target/builtin-wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--manifest-path",
    ])
    .arg(components.join("Cargo.toml"))
    .arg("--target-dir")
    .arg(&target_dir);
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
        .expect("running cargo for the builtin components");
    if !status.success() {
        panic!(
            "building the builtin components for wasm32-wasip2 failed (is the target installed? \
             `rustup target add wasm32-wasip2`)"
        );
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut table = String::from("/// Every builtin component: (name, component bytes).\npub static EMBEDDED: &[(&str, &[u8])] = &[\n");
    for name in COMPONENTS {
        let wasm = target_dir.join(format!("wasm32-wasip2/release/kiln_builtin_{name}.wasm"));
        let dest = out.join(format!("{name}.wasm"));
        std::fs::copy(&wasm, &dest).unwrap_or_else(|e| panic!("copying {}: {e}", wasm.display()));
        table.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            dest.display().to_string()
        ));
    }
    table.push_str("];\n");
    std::fs::write(out.join("embedded.rs"), table).unwrap();
}

fn watch(dir: &Path) {
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
