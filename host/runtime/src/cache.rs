//! The on-disk cache of compiled components, keyed by the component's sha256 and the
//! engine's compatibility hash (so a new wasmtime or other CPU features recompile).

use std::hash::{Hash, Hasher};
use std::path::Path;

use wasmtime::component::Component;
use wasmtime::Engine;

/// Loads the compiled form of the component whose bytes hash to `sha256` from
/// `cache_dir`, or compiles `wasm` and stores the result there.
pub fn load_or_compile(
    engine: &Engine,
    cache_dir: Option<&Path>,
    sha256: &str,
    wasm: &[u8],
) -> wasmtime::Result<Component> {
    let Some(dir) = cache_dir else {
        return Component::new(engine, wasm);
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let path = dir
        .join("compiled")
        .join(format!("{sha256}-{:016x}.cwasm", h.finish()));
    if path.exists() {
        // SAFETY-relevant: the file is only ever written by this function from
        // `Component::serialize`, into a directory owned by the user; wasmtime checks
        // the header and compatibility before using it. A corrupt or foreign file is
        // treated as a miss.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine, &path) };
        match loaded {
            Ok(c) => {
                tracing::debug!(path = %path.display(), "compiled component from cache");
                return Ok(c);
            }
            Err(e) => tracing::debug!(error = %e, "discarding unusable cache entry"),
        }
    }
    let component = Component::new(engine, wasm)?;
    let bytes = component.serialize()?;
    if let Err(e) = write_atomically(&path, &bytes) {
        tracing::warn!(path = %path.display(), error = %e, "could not cache the compiled component");
    }
    Ok(component)
}

/// Writes through a temporary file and a rename, so that a concurrent reader never sees
/// half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("cache path has a parent");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
