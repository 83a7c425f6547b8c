//! Builds `builtin-components/` for wasm32-wasip2 with a nested cargo and embeds the
//! resulting components. The nested build uses its own target directory so that it
//! never waits on the lock of the outer build.

use std::path::PathBuf;

#[path = "wasm_build.rs"]
mod wasm_build;
use wasm_build::{nested_build, watch};

/// (world, components): each world is one nested cargo run, so that the guest SDK is
/// built with exactly that world's feature.
const WORLDS: &[(&str, &[&str])] = &[
    ("provisioner", &["shell", "file"]),
    (
        "post-processor",
        &["checksum", "compress", "manifest", "artifice"],
    ),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.join("../..").canonicalize().unwrap();
    let components = root.join("builtin-components");
    for watched in ["builtin-components", "guest-sdk", "wit"] {
        watch(&root.join(watched));
    }
    let target_dir = root.join("target/builtin-wasm");
    for (_, names) in WORLDS {
        let packages: Vec<String> = names.iter().map(|n| format!("kiln-builtin-{n}")).collect();
        nested_build(&components.join("Cargo.toml"), &target_dir, &packages);
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut table = String::from(
        "/// Every builtin component: (world, name, component bytes).\npub static EMBEDDED: &[(&str, &str, &[u8])] = &[\n",
    );
    for (world, name) in WORLDS
        .iter()
        .flat_map(|(w, names)| names.iter().map(move |n| (w, n)))
    {
        let wasm = target_dir.join(format!("wasm32-wasip2/release/kiln_builtin_{name}.wasm"));
        let dest = out.join(format!("{name}.wasm"));
        std::fs::copy(&wasm, &dest).unwrap_or_else(|e| panic!("copying {}: {e}", wasm.display()));
        table.push_str(&format!(
            "    ({world:?}, {name:?}, include_bytes!({:?})),\n",
            dest.display().to_string()
        ));
    }
    table.push_str("];\n");
    std::fs::write(out.join("embedded.rs"), table).unwrap();
}
