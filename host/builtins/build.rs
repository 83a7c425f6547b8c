//! Builds `builtin-components/` for wasm32-wasip2 with one nested cargo run (the guest
//! SDK compiles every kind of step into every component) and embeds the resulting
//! components. The nested build uses its own target directory so that it never waits
//! on the lock of the outer build.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

#[path = "wasm_build.rs"]
mod wasm_build;
use wasm_build::{nested_build, watch};

/// Every builtin: its name and the kinds of step it is.
const BUILTINS: &[(&str, &[&str])] = &[
    ("shell", &["provisioner"]),
    ("file", &["provisioner"]),
    ("ansible", &["provisioner"]),
    ("ansible-local", &["provisioner"]),
    ("puppet-masterless", &["provisioner"]),
    ("salt-masterless", &["provisioner"]),
    ("shell-local", &["provisioner", "post-processor"]),
    ("checksum", &["post-processor"]),
    ("compress", &["post-processor"]),
    ("manifest", &["post-processor"]),
    ("artifice", &["post-processor"]),
    ("docker-tag", &["post-processor"]),
    ("docker-push", &["post-processor"]),
    ("docker-save", &["post-processor"]),
    ("docker-import", &["post-processor"]),
    ("disk-convert", &["post-processor"]),
    ("vagrant", &["post-processor"]),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.join("../..").canonicalize().unwrap();
    let components = root.join("builtin-components");
    for watched in ["builtin-components", "guest-sdk", "wit", "host/decode"] {
        watch(&root.join(watched));
    }
    let target_dir = root.join("target/builtin-wasm");
    nested_build(&components.join("Cargo.toml"), &target_dir, &[]);
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut table = String::from(
        "/// Every builtin component: (name, kinds of step, component bytes, their SHA-256).\n\
         pub static EMBEDDED: &[(&str, &[&str], &[u8], &str)] = &[\n",
    );
    for (name, kinds) in BUILTINS {
        let file = name.replace('-', "_");
        let wasm = target_dir.join(format!("wasm32-wasip2/release/kiln_builtin_{file}.wasm"));
        let dest = out.join(format!("{name}.wasm"));
        std::fs::copy(&wasm, &dest).unwrap_or_else(|e| panic!("copying {}: {e}", wasm.display()));
        let bytes =
            std::fs::read(&dest).unwrap_or_else(|e| panic!("reading {}: {e}", dest.display()));
        let sha256: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        table.push_str(&format!(
            "    ({name:?}, &{kinds:?}, include_bytes!({:?}), {sha256:?}),\n",
            dest.display().to_string()
        ));
    }
    table.push_str("];\n");
    std::fs::write(out.join("embedded.rs"), table).unwrap();
}
