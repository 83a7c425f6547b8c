//! The on-disk cache of compiled components, and why Kiln may trust what it finds there.
//!
//! A compiled component (`.cwasm`) is native code: loading one runs it inside Kiln. The
//! cache directory, though, may come from anywhere (a CI cache restored from another
//! job, a shared home), and its file names only say which wasm they claim to come from.
//! So every entry Kiln writes is sealed: an HMAC-SHA256, keyed by a secret that never
//! lives in the cache, over the sha256 of the wasm it was compiled from, the engine's
//! compatibility fingerprint and the compiled bytes themselves. An entry is loaded only
//! when its seal verifies, from the very bytes that were verified (no second read of the
//! file). Anything else (a file copied over from another component, a crafted file, one
//! sealed under another machine's key) is compiled again from the wasm, reported once
//! naming the entry, and replaced.
//!
//! The key is 32 random bytes in `cache-key` in Kiln's state directory
//! (`$KILN_STATE_DIR`, else `$XDG_STATE_HOME/kiln`, else `~/.local/state/kiln`), mode
//! 0600 in a directory of mode 0700, made on first use. A state directory inside the
//! cache directory would put the key where the attacker is, so it is not used: the key
//! then lives in memory for this run only.

use std::hash::Hash;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The length of the seal appended to each compiled component.
const SEAL_LEN: usize = 32;

/// What the seal covers besides the code, so that a seal of one format is never read
/// as another's.
const SEAL_CONTEXT: &[u8] = b"kiln compiled component v1\0";

/// The secret that seals the cache, and where it came from.
pub struct CacheKey {
    key: [u8; 32],
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheKey(..)")
    }
}

/// Kiln's state directory: `$KILN_STATE_DIR`, else `$XDG_STATE_HOME/kiln`, else
/// `~/.local/state/kiln`.
pub fn default_state_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("KILN_STATE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        return Some(Path::new(&d).join("kiln"));
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state/kiln"))
}

fn random_key() -> std::io::Result<[u8; 32]> {
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    Ok(key)
}

impl CacheKey {
    /// The key kept in `state_dir` (made when missing or unusable), or, when there is
    /// none or it lies inside `cache_dir`, a key for this run only. What happened that a
    /// person should know goes to `notices`.
    pub fn load(state_dir: Option<&Path>, cache_dir: &Path, notices: &mut Vec<String>) -> CacheKey {
        let ephemeral = |notices: &mut Vec<String>, why: String| {
            notices.push(format!(
                "{why}; compiled components are sealed with a key for this run only, so each \
                 run compiles them again"
            ));
            CacheKey {
                key: random_key().unwrap_or_else(|_| {
                    // /dev/urandom missing: still a key nobody else knows in advance.
                    let mut h = Sha256::new();
                    h.update(format!(
                        "{:?}{}",
                        std::time::SystemTime::now(),
                        std::process::id()
                    ));
                    h.finalize().into()
                }),
            }
        };
        let Some(dir) = state_dir else {
            return ephemeral(
                notices,
                "Kiln has no state directory (HOME is not set)".into(),
            );
        };
        let abs = |p: &Path| crate::normalize(&std::env::current_dir().unwrap_or_default().join(p));
        if abs(dir).starts_with(abs(cache_dir)) {
            return ephemeral(
                notices,
                format!(
                    "the state directory {} lies inside the cache directory {}, where the \
                     cache's key must not be",
                    dir.display(),
                    cache_dir.display()
                ),
            );
        }
        match read_or_make_key(dir, notices) {
            Ok(key) => CacheKey { key },
            Err(e) => ephemeral(
                notices,
                format!("the cache key in {} cannot be used ({e})", dir.display()),
            ),
        }
    }

    /// A key for this process only.
    #[cfg(test)]
    fn ephemeral() -> CacheKey {
        CacheKey::load(None, Path::new("/"), &mut Vec::new())
    }

    /// The MAC of `code` compiled from the wasm named by `wasm_sha256` with `engine`.
    fn mac(&self, wasm_sha256: &str, engine: &str, code: &[u8]) -> HmacSha256 {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key).expect("any key length");
        for part in [
            SEAL_CONTEXT,
            wasm_sha256.as_bytes(),
            b"\0",
            engine.as_bytes(),
            b"\0",
            code,
        ] {
            mac.update(part);
        }
        mac
    }

    fn seal(&self, wasm_sha256: &str, engine: &str, code: &[u8]) -> [u8; SEAL_LEN] {
        self.mac(wasm_sha256, engine, code)
            .finalize()
            .into_bytes()
            .into()
    }

    fn verify(&self, wasm_sha256: &str, engine: &str, code: &[u8], seal: &[u8]) -> bool {
        self.mac(wasm_sha256, engine, code)
            .verify_slice(seal)
            .is_ok()
    }
}

/// Reads the key file in `dir`, or makes it (mode 0600, in a directory of mode 0700).
/// A key file that others may read or write, or of the wrong size, is replaced.
fn read_or_make_key(dir: &Path, notices: &mut Vec<String>) -> std::io::Result<[u8; 32]> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let dir_meta = std::fs::metadata(dir)?;
    if dir_meta.mode() & 0o022 != 0 {
        return Err(std::io::Error::other(format!(
            "{} may be written by others (mode {:o})",
            dir.display(),
            dir_meta.mode() & 0o7777
        )));
    }
    let path = dir.join("cache-key");
    for _ in 0..3 {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) => {
                let sound = meta.is_file() && meta.mode() & 0o077 == 0 && meta.len() == 32;
                if sound {
                    let mut key = [0u8; 32];
                    std::fs::File::open(&path)?.read_exact(&mut key)?;
                    return Ok(key);
                }
                notices.push(format!(
                    "the cache key {} is not a private 32-byte file (mode {:o}); a new one \
                     replaces it, and compiled components are compiled again",
                    path.display(),
                    meta.mode() & 0o7777
                ));
                std::fs::remove_file(&path)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // Written whole under a temporary name, then linked into place: a concurrent
        // kiln reads either no key or the whole key, and one key wins.
        let tmp = dir.join(format!(".cache-key-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let key = random_key()?;
        {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&key)?;
            f.sync_all()?;
        }
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => return Ok(key),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("another process keeps replacing it"))
}

/// The engine's compatibility fingerprint: what makes compiled code usable by it.
fn engine_fingerprint(engine: &Engine) -> String {
    struct ToSha(Sha256);
    impl std::hash::Hasher for ToSha {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = ToSha(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    kiln_core::artifact::hex(&h.0.finalize())
}

/// Loads the compiled form of the component whose bytes hash to `sha256` from
/// `cache_dir`, when its seal proves Kiln made it from exactly these bytes with this
/// engine, or, when `compile`, compiles `wasm` and stores the result there, sealed
/// (without it, `None`). An entry that is there but not provably Kiln's is reported in
/// `notices`, naming it.
pub fn load_or_compile(
    engine: &Engine,
    cache: Option<(&Path, &CacheKey)>,
    sha256: &str,
    wasm: &[u8],
    compile: bool,
    notices: &mut Vec<String>,
) -> wasmtime::Result<Option<Component>> {
    let Some((dir, key)) = cache else {
        return compile.then(|| Component::new(engine, wasm)).transpose();
    };
    let fingerprint = engine_fingerprint(engine);
    let path = dir
        .join("compiled")
        .join(format!("{sha256}-{}.cwasm", &fingerprint[..16]));
    match std::fs::read(&path) {
        Ok(bytes) => {
            let sealed = bytes.len() > SEAL_LEN && {
                let (code, seal) = bytes.split_at(bytes.len() - SEAL_LEN);
                key.verify(sha256, &fingerprint, code, seal)
            };
            if sealed {
                let code = &bytes[..bytes.len() - SEAL_LEN];
                // SAFETY: these bytes carry a seal only Kiln can make (its key never
                // lives in the cache), over exactly these bytes, the wasm's digest and
                // this engine's fingerprint: Kiln serialized them from this component
                // with this engine. They are deserialized from memory, after the check,
                // so the file cannot change in between.
                #[allow(unsafe_code)]
                let loaded = unsafe { Component::deserialize(engine, code) };
                match loaded {
                    Ok(c) => {
                        tracing::debug!(path = %path.display(), "compiled component from cache");
                        return Ok(Some(c));
                    }
                    Err(e) => notices.push(format!(
                        "the compiled component {} could not be loaded ({e:#}); it is compiled again",
                        path.display()
                    )),
                }
            } else {
                notices.push(format!(
                    "the compiled component {} was not made by this Kiln from the component \
                     it is named after (its seal does not verify); it is compiled again from \
                     the component and replaced",
                    path.display()
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::debug!(path = %path.display(), error = %e, "cache entry unreadable"),
    }
    if !compile {
        return Ok(None);
    }
    let component = Component::new(engine, wasm)?;
    let mut bytes = component.serialize()?;
    let seal = key.seal(sha256, &fingerprint, &bytes);
    bytes.extend_from_slice(&seal);
    if let Err(e) = write_atomically(&path, &bytes) {
        tracing::warn!(path = %path.display(), error = %e, "could not cache the compiled component");
    }
    Ok(Some(component))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_private_and_then_reused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        let mut notices = Vec::new();
        let a = CacheKey::load(Some(&state), &tmp.path().join("cache"), &mut notices);
        let b = CacheKey::load(Some(&state), &tmp.path().join("cache"), &mut notices);
        assert_eq!(a.key, b.key);
        assert!(notices.is_empty(), "{notices:?}");
        let mode = std::fs::metadata(state.join("cache-key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);

        // A key others can read is not a secret: it is replaced, and that is said.
        std::fs::set_permissions(
            state.join("cache-key"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let c = CacheKey::load(Some(&state), &tmp.path().join("cache"), &mut notices);
        assert_ne!(a.key, c.key);
        assert!(
            notices[0].contains("not a private 32-byte file"),
            "{notices:?}"
        );
    }

    #[test]
    fn a_key_inside_the_cache_is_not_used() {
        let tmp = tempfile::tempdir().unwrap();
        let mut notices = Vec::new();
        let _ = CacheKey::load(Some(&tmp.path().join("state")), tmp.path(), &mut notices);
        assert!(!tmp.path().join("state/cache-key").exists());
        assert!(
            notices[0].contains("inside the cache directory"),
            "{notices:?}"
        );
    }

    #[test]
    fn seals_bind_the_code_the_wasm_and_the_engine() {
        let key = CacheKey::ephemeral();
        let seal = key.seal("aa", "e1", b"code");
        assert!(key.verify("aa", "e1", b"code", &seal));
        assert!(!key.verify("bb", "e1", b"code", &seal));
        assert!(!key.verify("aa", "e2", b"code", &seal));
        assert!(!key.verify("aa", "e1", b"codf", &seal));
        assert!(!CacheKey::ephemeral().verify("aa", "e1", b"code", &seal));
    }
}
