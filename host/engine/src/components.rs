//! The components a template requires beyond the builtins (`packer {
//! required_components { NAME = { source = "..." } } }`), and where their bytes come from.
//!
//! - A file source is read when the template loads; it is not locked (it is the author's
//!   own work in progress).
//! - An OCI reference is resolved by `kiln init`, which pulls the component into the
//!   content-addressed cache (`<cache>/components`, blobs named by sha256, each verified
//!   while it streams) and writes the lock file next to the template with the exact
//!   manifest and layer digests. `kiln init -upgrade` resolves the tags again.
//! - `kiln build` uses only the locked digests: it reads the layer from the cache and
//!   checks its sha256; a missing or altered cache entry is fetched again by the locked
//!   manifest digest, and bytes that do not match the lock are refused, naming the
//!   component and both digests. With the cache filled, no registry is contacted.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use kiln_core::plan::{ComponentSource, Plan, RequiredComponent};
use kiln_core::Diagnostic;
use kiln_registry::{Access, BlobStore, Digest, Reference};
use serde::{Deserialize, Serialize};

/// The lock file's format version.
const LOCK_VERSION: u32 = 1;

/// The lock file: for each OCI source, the digests `kiln init` found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Always [`LOCK_VERSION`].
    pub version: u32,
    /// By source reference, as written in the template.
    pub components: BTreeMap<String, Locked>,
}

/// One locked component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locked {
    /// The manifest digest.
    pub manifest: String,
    /// The digest of the component's bytes (the one layer).
    pub layer: String,
    /// Its size in bytes.
    pub size: u64,
}

impl Lock {
    /// Reads the lock file at `path`; `None` when there is none.
    pub fn read(path: &Path) -> Result<Option<Lock>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("reading the lock file {}: {e}", path.display())),
        };
        let lock: Lock = serde_json::from_str(&text).map_err(|e| {
            format!(
                "the lock file {} is not valid ({e}); delete it and run `kiln init` again",
                path.display()
            )
        })?;
        if lock.version != LOCK_VERSION {
            return Err(format!(
                "the lock file {} has version {}, this Kiln writes version {LOCK_VERSION}; run \
                 `kiln init -upgrade`",
                path.display(),
                lock.version
            ));
        }
        Ok(Some(lock))
    }

    /// Writes the lock file (sorted, one trailing newline) through a temporary file.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let mut text = serde_json::to_string_pretty(self).expect("a lock serializes");
        text.push('\n');
        replace_file(path, |tmp| std::fs::write(tmp, text))
            .map_err(|e| format!("writing the lock file {}: {e}", path.display()))
    }
}

/// Writes `path` through a temporary file beside it (`fill` makes the temporary file),
/// so that `path` is either whole or as it was.
pub fn replace_file(
    path: &Path,
    fill: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir
        .unwrap_or(Path::new("."))
        .join(format!(".kiln-{}-{name}", std::process::id()));
    let result = fill(&tmp).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The cache of pulled components: `<cache>/components`, blobs named by sha256.
pub fn store() -> Result<BlobStore, String> {
    let dir =
        kiln_core::default_cache_dir().ok_or("no cache directory: set KILN_CACHE_DIR or HOME")?;
    Ok(BlobStore::new(dir.join("components")))
}

/// Registries named in `KILN_INSECURE_REGISTRIES` (comma-separated `host[:port]`) are
/// spoken to over plain HTTP, as loopback registries always are.
pub fn insecure(registry: &str) -> bool {
    std::env::var("KILN_INSECURE_REGISTRIES")
        .unwrap_or_default()
        .split(',')
        .any(|r| r.trim() == registry)
}

/// How to reach the registry of `reference`: credentials from the Docker config file
/// (or `kiln component login`), and plain HTTP when marked insecure.
pub fn access(reference: &Reference, insecure_flag: bool) -> Result<Access, String> {
    let auth = kiln_registry::credentials_for(reference.registry()).map_err(|e| e.to_string())?;
    Ok(Access {
        auth,
        insecure: insecure_flag || insecure(reference.registry()),
    })
}

/// The components a build uses, by step type: their bytes and where they came from.
#[derive(Debug, Default)]
pub struct Resolved {
    by_name: HashMap<String, (Vec<u8>, String)>,
}

impl Resolved {
    /// The bytes of the component that step type `name` runs, if the template requires
    /// one by that name.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.by_name.get(name).map(|(b, _)| b.as_slice())
    }

    /// Where the component `name` came from (for messages).
    pub fn source(&self, name: &str) -> Option<&str> {
        self.by_name.get(name).map(|(_, s)| s.as_str())
    }
}

/// Step types Kiln ships; a required component may not take one of these names.
fn builtin(name: &str) -> bool {
    use kiln_builtins::{names, Kind};
    names(Kind::Provisioner)
        .chain(names(Kind::PostProcessor))
        .any(|n| n == name)
}

fn at(component: &RequiredComponent, summary: impl Into<String>) -> Diagnostic {
    Diagnostic::error(summary, Some(component.location.clone()))
}

/// Reads every component `plan` requires, for `kiln build` and `kiln validate` of the
/// template at `template`: files as they are, OCI references by their locked digests.
pub async fn resolve(plan: &Plan, template: &Path) -> Result<Resolved, Vec<Diagnostic>> {
    let mut resolved = Resolved::default();
    if plan.components.is_empty() {
        return Ok(resolved);
    }
    let lock_path = kiln_template::lock_path(template);
    let lock = Lock::read(&lock_path).map_err(|e| vec![Diagnostic::error(e, None)])?;
    let store = store().map_err(|e| vec![Diagnostic::error(e, None)])?;
    let mut errors = Vec::new();
    for c in &plan.components {
        if builtin(&c.name) {
            errors.push(named_like_a_builtin(c));
            continue;
        }
        let bytes = match &c.source {
            ComponentSource::File(path) => read_file(c, path),
            ComponentSource::Oci(source) => {
                let locked = lock.as_ref().and_then(|l| l.components.get(source));
                match locked {
                    Some(locked) => locked_bytes(c, source, locked, &store).await,
                    None => Err(at(
                        c,
                        format!(
                            "component \"{}\" ({source}) is not in the lock file",
                            c.name
                        ),
                    )
                    .with_hint(format!(
                        "Run `kiln init {}` to pull it and record its digest in {}.",
                        template.display(),
                        lock_path.display()
                    ))),
                }
            }
        };
        match bytes {
            Ok(b) => {
                resolved
                    .by_name
                    .insert(c.name.clone(), (b, c.source.to_string()));
            }
            Err(d) => errors.push(d),
        }
    }
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

fn named_like_a_builtin(c: &RequiredComponent) -> Diagnostic {
    at(
        c,
        format!("component \"{}\" has the name of a builtin step", c.name),
    )
    .with_hint("Choose another name in required_components, and use it in the build's blocks.")
}

fn read_file(c: &RequiredComponent, path: &Path) -> Result<Vec<u8>, Diagnostic> {
    std::fs::read(path).map_err(|e| {
        at(
            c,
            format!(
                "reading component \"{}\" from {}: {e}",
                c.name,
                path.display()
            ),
        )
        .with_hint("A source ending in .wasm or starting with ./, ../ or / is a file, relative to the template's directory.")
    })
}

/// `reference` pinned to `manifest`.
fn pinned(reference: &Reference, manifest: &str) -> Result<Reference, String> {
    format!(
        "{}/{}@{manifest}",
        reference.registry(),
        reference.repository()
    )
    .parse()
    .map_err(|e: kiln_registry::Error| e.to_string())
}

/// The bytes of the locked component: from the cache when they match the lock, else
/// fetched again by the locked manifest digest and checked against the lock.
async fn locked_bytes(
    c: &RequiredComponent,
    source: &str,
    locked: &Locked,
    store: &BlobStore,
) -> Result<Vec<u8>, Diagnostic> {
    let fail = |summary: String| at(c, summary);
    let layer: Digest = locked.layer.parse().map_err(|_| {
        fail(format!(
            "the lock entry of {source} has an invalid layer digest {:?}; run `kiln init -upgrade`",
            locked.layer
        ))
    })?;
    if let Some(bytes) = cached(store, &layer) {
        return Ok(bytes);
    }
    tracing::info!(component = %c.name, layer = %layer, "fetching the locked component again");
    let reference: Reference = source
        .parse()
        .map_err(|e: kiln_registry::Error| fail(e.to_string()))?;
    let by_digest = pinned(&reference, &locked.manifest).map_err(fail)?;
    let access = access(&reference, false).map_err(fail)?;
    let pulled = kiln_registry::pull_component(&by_digest, &access, store)
        .await
        .map_err(|e| refused(c, source, locked, e))?;
    if pulled.layer != layer {
        return Err(fail(format!(
            "refusing to run component \"{}\" ({source}): the registry's manifest {} names \
             component bytes {}, but the lock file says {}",
            c.name, locked.manifest, pulled.layer, layer
        ))
        .with_hint(
            "The registry no longer serves what was locked. If you trust the new bytes, run \
             `kiln init -upgrade` to lock them.",
        ));
    }
    cached(store, &layer).ok_or_else(|| {
        fail(format!(
            "component \"{}\" ({source}) was fetched, but the cache entry {} does not match it",
            c.name,
            store.path(&layer).display()
        ))
    })
}

/// A failed fetch of a locked component, in the template's terms.
fn refused(
    c: &RequiredComponent,
    source: &str,
    locked: &Locked,
    e: kiln_registry::Error,
) -> Diagnostic {
    match e {
        kiln_registry::Error::DigestMismatch {
            expected, actual, ..
        } => at(
            c,
            format!(
                "refusing to run component \"{}\" ({source}): the registry served bytes with \
                 digest {actual}, but the lock file says {expected}",
                c.name
            ),
        )
        .with_hint(format!(
            "The registry's content changed or was tampered with (locked manifest {}). Kiln runs \
             only the bytes `kiln init` locked.",
            locked.manifest
        )),
        other => at(
            c,
            format!(
                "component \"{}\" ({source}) is not in the cache, and fetching it failed: {other}",
                c.name
            ),
        )
        .with_hint(
            "Run `kiln init` where the registry is reachable; after that builds work offline.",
        ),
    }
}

/// The cached blob `layer`, if present and still matching its digest; an altered entry
/// is removed (so that it is fetched again).
fn cached(store: &BlobStore, layer: &Digest) -> Option<Vec<u8>> {
    let path = store.path(layer);
    let bytes = std::fs::read(&path).ok()?;
    if Digest::of(&bytes) == *layer {
        return Some(bytes);
    }
    tracing::warn!(path = %path.display(), "a cached component does not match its digest; fetching it again");
    let _ = std::fs::remove_file(&path);
    None
}

/// `kiln init`: resolves every OCI source of the template at `template`, pulls what is
/// not cached, and writes the lock file. Locked sources keep their digests unless
/// `upgrade`. Returns one line per component.
pub async fn init(template: &Path, upgrade: bool) -> Result<Vec<String>, Vec<Diagnostic>> {
    let required = kiln_template::required_components(template)?;
    let lock_path = kiln_template::lock_path(template);
    let old = Lock::read(&lock_path)
        .map_err(|e| vec![Diagnostic::error(e, None)])?
        .unwrap_or_default();
    let store = store().map_err(|e| vec![Diagnostic::error(e, None)])?;
    let mut lock = Lock {
        version: LOCK_VERSION,
        components: BTreeMap::new(),
    };
    let (mut lines, mut errors) = (Vec::new(), Vec::new());
    for c in &required {
        if builtin(&c.name) {
            errors.push(named_like_a_builtin(c));
            continue;
        }
        match &c.source {
            ComponentSource::File(path) => match read_file(c, path) {
                Ok(bytes) => lines.push(format!(
                    "{}: local file {} ({}, {} bytes; files are not locked)",
                    c.name,
                    path.display(),
                    Digest::of(&bytes),
                    bytes.len()
                )),
                Err(d) => errors.push(d),
            },
            ComponentSource::Oci(source) => {
                let kept = old.components.get(source).filter(|_| !upgrade);
                let result = match kept {
                    Some(locked) => locked_bytes(c, source, locked, &store)
                        .await
                        .map(|_| (locked.clone(), "locked")),
                    None => pull(c, source, &store).await.map(|l| (l, "pulled")),
                };
                match result {
                    Ok((locked, how)) => {
                        let changed = old
                            .components
                            .get(source)
                            .is_some_and(|o| o.manifest != locked.manifest);
                        lines.push(format!(
                            "{}: {how} {source}{} (manifest {}, component {}, {} bytes)",
                            c.name,
                            if changed { ", lock moved forward" } else { "" },
                            locked.manifest,
                            locked.layer,
                            locked.size
                        ));
                        lock.components.insert(source.clone(), locked);
                    }
                    Err(d) => errors.push(d),
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let has_oci = required
        .iter()
        .any(|c| matches!(c.source, ComponentSource::Oci(_)));
    if has_oci || lock_path.exists() {
        lock.write(&lock_path)
            .map_err(|e| vec![Diagnostic::error(e, None)])?;
    }
    Ok(lines)
}

async fn pull(
    c: &RequiredComponent,
    source: &str,
    store: &BlobStore,
) -> Result<Locked, Diagnostic> {
    let fail = |summary: String| at(c, summary);
    let reference: Reference = source
        .parse()
        .map_err(|e: kiln_registry::Error| fail(e.to_string()))?;
    let access = access(&reference, false).map_err(fail)?;
    let pulled = kiln_registry::pull_component(&reference, &access, store)
        .await
        .map_err(|e| {
            fail(format!(
                "pulling component \"{}\" from {source}: {e}",
                c.name
            ))
        })?;
    Ok(Locked {
        manifest: pulled.manifest.to_string(),
        layer: pulled.layer.to_string(),
        size: pulled.size,
    })
}

/// Where a component pulled by `kiln component pull` goes by default: the repository's
/// last segment, `.wasm`, in the working directory.
pub fn default_output(reference: &Reference) -> PathBuf {
    let name = reference
        .repository()
        .rsplit('/')
        .next()
        .unwrap_or("component");
    PathBuf::from(format!("{name}.wasm"))
}
