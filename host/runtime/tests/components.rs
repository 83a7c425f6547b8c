//! Compiled components are cached on disk (the first compile is not repeated by the next
//! runtime), and a component file describes itself (world, imports, exports).

use std::os::unix::fs::MetadataExt;

use kiln_runtime::{Runtime, StepRequest, World};

/// A runtime with its compile cache in `cache` and its state (the cache's seal key) in
/// `state`.
fn runtime_in(cache: &std::path::Path, state: &std::path::Path) -> Runtime {
    Runtime::with_state_dir(Some(cache.to_owned()), Some(state.to_owned())).unwrap()
}

fn compiled(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(dir.join("compiled")) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test]
async fn the_first_compile_is_cached_on_disk_and_not_repeated() {
    let cache = tempfile::tempdir().unwrap();
    let wasm = kiln_builtins::component("shell").unwrap();
    assert!(compiled(cache.path()).is_empty());

    Runtime::new(Some(cache.path().to_owned()))
        .unwrap()
        .prepare("shell", wasm, World::Provisioner)
        .unwrap();
    let files = compiled(cache.path());
    assert_eq!(files.len(), 1, "one compiled entry: {files:?}");
    let before = std::fs::metadata(&files[0]).unwrap();
    assert!(before.len() > 0);

    // The next runtime loads it: the entry is neither rewritten nor joined by another.
    let next = Runtime::new(Some(cache.path().to_owned())).unwrap();
    let prepared = next.prepare("shell", wasm, World::Provisioner).unwrap();
    assert_eq!(compiled(cache.path()), files);
    let after = std::fs::metadata(&files[0]).unwrap();
    assert_eq!(
        (after.ino(), after.mtime_nsec(), after.mtime()),
        (before.ino(), before.mtime_nsec(), before.mtime())
    );

    // And what it loaded runs.
    let req = StepRequest::new("{}");
    next.instantiate_only(&prepared, &req).await.unwrap();
}

/// What a warm-up loads: a component whose compiled form is cached, and nothing else.
/// It never compiles or writes, and what it meets is said when the component is
/// prepared, once.
#[test]
fn prepare_cached_loads_only_what_the_cache_holds_and_writes_nothing() {
    let cache = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let runtime = || runtime_in(cache.path(), state.path());
    let shell = kiln_builtins::component("shell").unwrap();
    let cold = runtime();
    let missed = cold
        .prepare_cached("shell", shell, World::Provisioner)
        .unwrap();
    assert!(missed.is_none());
    assert!(
        compiled(cache.path()).is_empty(),
        "nothing compiled or written"
    );
    // The same runtime then prepares it as before: compiled and cached.
    cold.prepare("shell", shell, World::Provisioner).unwrap();
    let files = compiled(cache.path());
    assert_eq!(files.len(), 1, "{files:?}");

    let warm = runtime();
    let loaded = warm
        .prepare_cached("shell", shell, World::Provisioner)
        .unwrap();
    let loaded = loaded.expect("the cached entry is loaded");
    let hex: String = {
        use sha2::Digest;
        sha2::Sha256::digest(shell)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(loaded.sha256(), hex);
    // A component of another world is refused as `prepare` refuses it.
    assert!(warm
        .prepare_cached("shell", shell, World::PostProcessor)
        .is_err());

    // An entry that is not provably Kiln's: no notice from the warm-up, one from the
    // prepare that compiles it again.
    std::fs::write(&files[0], b"not a compiled component").unwrap();
    let next = runtime();
    assert!(next
        .prepare_cached("shell", shell, World::Provisioner)
        .unwrap()
        .is_none());
    assert!(next.take_notices().is_empty());
    assert_eq!(
        std::fs::read(&files[0]).unwrap(),
        b"not a compiled component"
    );
    next.prepare("shell", shell, World::Provisioner).unwrap();
    assert_eq!(next.take_notices().len(), 1);
}

#[tokio::test]
async fn a_corrupt_cache_entry_is_compiled_again() {
    let cache = tempfile::tempdir().unwrap();
    let wasm = kiln_builtins::component("shell").unwrap();
    Runtime::new(Some(cache.path().to_owned()))
        .unwrap()
        .prepare("shell", wasm, World::Provisioner)
        .unwrap();
    let files = compiled(cache.path());
    std::fs::write(&files[0], b"not a compiled component").unwrap();
    Runtime::new(Some(cache.path().to_owned()))
        .unwrap()
        .prepare("shell", wasm, World::Provisioner)
        .expect("a corrupt entry is a miss, not an error");
    assert!(
        std::fs::metadata(&files[0]).unwrap().len() > 100,
        "the entry was rewritten"
    );
}

#[test]
fn component_info_names_the_world_imports_and_exports() {
    let shell = kiln_runtime::component_info(kiln_builtins::component("shell").unwrap()).unwrap();
    assert_eq!(shell.kinds, [World::Provisioner]);
    assert!(
        shell
            .exports
            .iter()
            .any(|e| e == "kiln:plugin/provisioning@0.2.0"),
        "{:?}",
        shell.exports
    );
    assert!(shell
        .exports
        .iter()
        .any(|e| e == "kiln:plugin/configure@0.2.0"));
    assert!(
        shell
            .imports
            .iter()
            .any(|i| i.starts_with("kiln:plugin/communicator@")),
        "{:?}",
        shell.imports
    );
    assert!(shell.imports.iter().any(|i| i.starts_with("wasi:")));
    let checksum =
        kiln_runtime::component_info(kiln_builtins::post_processor("checksum").unwrap()).unwrap();
    assert_eq!(checksum.kinds, [World::PostProcessor]);
    let both = kiln_runtime::component_info(kiln_builtins::post_processor("shell-local").unwrap())
        .unwrap();
    assert_eq!(both.kinds, [World::Provisioner, World::PostProcessor]);
    assert!(checksum
        .imports
        .iter()
        .any(|i| i.starts_with("kiln:plugin/artifact-files@")));
    let module = b"\0asm\x01\0\0\0";
    let err = kiln_runtime::component_info(module).unwrap_err();
    assert!(err.contains("core WebAssembly module"), "{err}");
    assert!(kiln_runtime::component_info(b"not wasm").is_err());
}

/// A request that validates or instantiates without a machine.
fn bare_request(config: &str) -> StepRequest {
    StepRequest::new(config)
}

/// Regression: copying one component's compiled entry over another's made the foreign
/// native code run under the trusted name. An entry is loaded only when its seal proves
/// Kiln compiled it from exactly these wasm bytes; anything else is compiled again,
/// reported once naming the entry, and replaced.
#[tokio::test]
async fn a_compiled_entry_swapped_for_another_components_is_not_loaded() {
    let cache = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let runtime = || runtime_in(cache.path(), state.path());
    let shell = kiln_builtins::component("shell").unwrap();
    let file = kiln_builtins::component("file").unwrap();
    let first = runtime();
    first.prepare("shell", shell, World::Provisioner).unwrap();
    let shell_entry = compiled(cache.path()).pop().unwrap();
    first.prepare("file", file, World::Provisioner).unwrap();
    let file_entry = compiled(cache.path())
        .into_iter()
        .find(|p| *p != shell_entry)
        .unwrap();
    assert!(first.take_notices().is_empty());

    // The attack: the file provisioner's compiled code under the shell's name.
    std::fs::copy(&file_entry, &shell_entry).unwrap();
    let next = runtime();
    let prepared = next.prepare("shell", shell, World::Provisioner).unwrap();
    let notices = next.take_notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].contains(&shell_entry.display().to_string())
            && notices[0].contains("its seal does not verify")
            && notices[0].contains("component `shell`"),
        "{notices:?}"
    );
    // What runs is the shell: it accepts a shell configuration, which the file
    // provisioner would refuse.
    let answer = next
        .validate_all(&prepared, &[bare_request(r#"{"inline": ["true"]}"#)])
        .await
        .pop()
        .unwrap()
        .unwrap();
    assert!(answer.is_empty(), "{answer:?}");
    // The entry was replaced by a sealed one: the next runtime loads it silently.
    let again = runtime();
    again.prepare("shell", shell, World::Provisioner).unwrap();
    assert!(again.take_notices().is_empty());

    // A crafted file with a seal of the right length is refused the same way.
    let mut crafted = std::fs::read(&file_entry).unwrap();
    crafted.truncate(crafted.len() - 32);
    crafted.extend_from_slice(&[0u8; 32]);
    std::fs::write(&shell_entry, &crafted).unwrap();
    let last = runtime();
    last.prepare("shell", shell, World::Provisioner).unwrap();
    assert_eq!(last.take_notices().len(), 1);

    // Entries sealed under another key (a cache restored from another machine) too.
    let other_state = tempfile::tempdir().unwrap();
    let foreign = runtime_in(cache.path(), other_state.path());
    foreign.prepare("shell", shell, World::Provisioner).unwrap();
    let notices = foreign.take_notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
}
