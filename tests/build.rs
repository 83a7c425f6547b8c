//! Builds the test components of `tests/components/` and the example component of
//! `examples/components/motd` for wasm32-wasip2 with a nested cargo, and tells the tests
//! where they are (`HOSTILE_POST_PROCESSOR_WASM`, `HOSTILE_PROVISIONER_WASM`,
//! `MOTD_WASM`). The nested build uses its own target directory so that it
//! never waits on the lock of the outer build. A failed nested build fails this build: a
//! sandbox test that silently skips proves nothing.

use std::path::PathBuf;

#[path = "../host/builtins/wasm_build.rs"]
mod wasm_build;
use wasm_build::{nested_build, watch};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.join("..").canonicalize().unwrap();
    let components = manifest_dir.join("components");
    println!("cargo:rerun-if-changed=build.rs");
    let motd = root.join("examples/components/motd");
    for watched in [
        components.clone(),
        motd.join("src"),
        root.join("guest-sdk"),
        root.join("wit"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
        watch(&watched);
    }
    let target_dir = root.join("target/test-components");
    // (crate, variable): one nested cargo run per crate, so that the guest SDK is built
    // with exactly that crate's world feature (it refuses two at once).
    const COMPONENTS: &[(&str, &str)] = &[
        ("hostile-post-processor", "HOSTILE_POST_PROCESSOR_WASM"),
        ("hostile-provisioner", "HOSTILE_PROVISIONER_WASM"),
    ];
    for (krate, variable) in COMPONENTS {
        nested_build(
            &components.join("Cargo.toml"),
            &target_dir,
            &[krate.to_string()],
        );
        let wasm = target_dir.join(format!(
            "wasm32-wasip2/release/{}.wasm",
            krate.replace('-', "_")
        ));
        if !wasm.is_file() {
            panic!(
                "the nested build succeeded but `{}` is missing",
                wasm.display()
            );
        }
        println!("cargo:rustc-env={variable}={}", wasm.display());
    }
    // The example component, a crate of its own (as `kiln component new` makes one).
    println!(
        "cargo:rerun-if-changed={}",
        motd.join("Cargo.toml").display()
    );
    nested_build(&motd.join("Cargo.toml"), &target_dir, &[]);
    let wasm = target_dir.join("wasm32-wasip2/release/motd.wasm");
    if !wasm.is_file() {
        panic!(
            "the nested build succeeded but `{}` is missing",
            wasm.display()
        );
    }
    println!("cargo:rustc-env=MOTD_WASM={}", wasm.display());
}
