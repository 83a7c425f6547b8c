//! The host side of `images`: a post-processor's work on the container image its input
//! artifact stands for, in Kiln's image store (the cache, an OCI layout).
//!
//! A step names no image: it works on the current one, which the host took from the
//! input artifact (`Artifact::image`, set only by the host) or made with `import`. A
//! push reaches only a registry in the step's network grant, or one that a name the
//! image was given in this chain was granted with (`ImageRef::pushable`: the builtin
//! `docker-tag` needs the network of its own `repository`). The user's stored registry
//! logins (Docker's config file and credential helpers) go to Kiln's builtins only; any
//! other component brings its own `login`.

use std::io::Write;

use kiln_core::ImageRef;
use kiln_registry::docker;
use kiln_registry::Platform;
use kiln_registry::{BlobStore, Digest, Image, Reference, RegistryAuth};
use sha2::Digest as _;

use crate::bindings::post_processor::kiln::plugin::images as wit;
use crate::bindings::provisioner::kiln::plugin::types::{Error as WitError, ErrorKind};
use crate::host::{err, io_err, HostError, StepState};

/// What a step did with images, for the artifact it returns.
#[derive(Debug, Default)]
pub(crate) struct ImageWork {
    /// The current image.
    pub(crate) image: Option<ImageRef>,
    /// Whether the step called `images` at all: only then does its artifact stand for
    /// the current image.
    pub(crate) used: bool,
    /// Whether the user's stored registry logins may be used (Kiln's builtins).
    pub(crate) stored_logins: bool,
    /// The `host:port` entries of the step's network grant.
    pub(crate) network: Vec<String>,
}

/// The image store: `blobs/` of the cache directory.
fn store() -> Result<BlobStore, WitError> {
    let cache = kiln_core::default_cache_dir().ok_or_else(|| {
        err(
            ErrorKind::Other,
            "no cache directory for the image store: set KILN_CACHE_DIR or HOME",
        )
    })?;
    Ok(BlobStore::new(cache.join("blobs")))
}

fn registry_err(e: kiln_registry::Error) -> WitError {
    use kiln_registry::Error as E;
    let kind = match &e {
        E::InvalidReference { .. } | E::InvalidDigest(_) => ErrorKind::Invalid,
        E::NotFound { .. } => ErrorKind::NotFound,
        E::Unauthorized { .. } => ErrorKind::PermissionDenied,
        E::Unreachable { .. } | E::Registry { .. } => ErrorKind::Connection,
        E::Io { source, .. } => io_err(std::io::Error::from(source.kind())).kind,
        _ => ErrorKind::Other,
    };
    err(kind, e.to_string())
}

use crate::artifact_files::blocking;

/// The `host` and port a registry (`host[:port]`, `[v6]:port`) is reached at: 443, or
/// 80 for a loopback registry without a port (spoken to over plain http).
fn endpoint(reference: &Reference) -> (String, u16) {
    let registry = reference.registry();
    let (host, port) = match registry.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, p.parse().ok()),
        _ => (registry, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let default = if reference.is_loopback() { 80 } else { 443 };
    (host.to_ascii_lowercase(), port.unwrap_or(default))
}

/// Whether `network` (`host:port`, `host:*` entries) covers `host` and `port`.
pub(crate) fn covers(network: &[String], host: &str, port: u16) -> bool {
    network.iter().any(|entry| {
        let Some((h, p)) = entry.rsplit_once(':') else {
            return false;
        };
        let h = h.trim_start_matches('[').trim_end_matches(']');
        h.eq_ignore_ascii_case(host) && (p == "*" || p.parse() == Ok(port))
    })
}

impl ImageWork {
    /// The current image, or the error of a step that has none.
    fn current(&self) -> Result<&ImageRef, WitError> {
        self.image.as_ref().ok_or_else(|| {
            err(
                ErrorKind::NotFound,
                "the input artifact is not a container image (it comes from no docker or \
                 container commit, docker-import or docker-tag)",
            )
        })
    }

    /// Whether the step's own grant reaches `reference`'s registry.
    fn granted(&self, reference: &Reference) -> bool {
        let (host, port) = endpoint(reference);
        covers(&self.network, &host, port)
    }
}

/// `names` as Docker completes them (tag `latest`); an error names the first invalid one.
fn full_names(names: &[String]) -> Result<Vec<String>, WitError> {
    names
        .iter()
        .map(|n| docker::image_name(n).map_err(registry_err))
        .collect()
}

/// The current image as loaded from the store.
fn load(store: &BlobStore, image: &ImageRef) -> Result<Image, WitError> {
    let digest: Digest = image.digest.parse().map_err(registry_err)?;
    kiln_registry::load_image(store, &digest).map_err(registry_err)
}

fn to_wit(image: &Image, names: &[String]) -> wit::Image {
    wit::Image {
        digest: image.manifest_digest.to_string(),
        id: image.manifest.config.digest.to_string(),
        names: names.to_vec(),
    }
}

/// A writer that hashes what it passes on and stops at `limit` bytes (the step's disk
/// budget).
struct Measured<W> {
    inner: W,
    hash: sha2::Sha256,
    written: u64,
    limit: u64,
}

impl<W: Write> Write for Measured<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written + buf.len() as u64 > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "disk limit",
            ));
        }
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl wit::Host for StepState {
    async fn current(&mut self) -> wasmtime::Result<Option<wit::Image>> {
        let Some(image) = self.images.image.clone() else {
            return Ok(None);
        };
        self.images.used = true;
        let loaded = match store().and_then(|s| load(&s, &image)) {
            Ok(loaded) => loaded,
            // The store lost the image (`kiln cache prune`): the calls that need it say so.
            Err(_) => return Ok(None),
        };
        Ok(Some(to_wit(&loaded, &image.pushable)))
    }

    async fn tag(&mut self, names: Vec<String>) -> Result<(), HostError> {
        let listed: usize = names.iter().map(String::len).sum();
        self.check_message(listed, "a tag list")?;
        let image = self.images.current()?.clone();
        let full = full_names(&names)?;
        let store = store()?;
        let loaded = load(&store, &image)?;
        let named = full.clone();
        blocking(move || docker::name_image(&store, &loaded, &named).map_err(registry_err)).await?;
        let mut current = image;
        for name in full {
            let granted = name
                .parse()
                .is_ok_and(|r: Reference| self.images.granted(&r));
            if granted && !current.pushable.contains(&name) {
                current.pushable.push(name);
            }
        }
        self.images.image = Some(current);
        self.images.used = true;
        Ok(())
    }

    async fn push(&mut self, name: String, login: Option<wit::Login>) -> Result<String, HostError> {
        let image = self.images.current()?.clone();
        let full = docker::image_name(&name).map_err(registry_err)?;
        let reference: Reference = full.parse().map_err(registry_err)?;
        if !self.images.granted(&reference) && !image.pushable.contains(&full) {
            let (host, port) = endpoint(&reference);
            return Err(err(
                ErrorKind::PermissionDenied,
                format!(
                    "pushing to {host}:{port} is not granted to this step: neither its \
                     grant's network nor the image's names (a docker-tag in the same \
                     chain) reach that registry; add grant {{ network = [\"{host}:{port}\"] }}"
                ),
            )
            .into());
        }
        self.images.used = true;
        let auth = match login {
            Some(l) => Some(RegistryAuth {
                username: l.username,
                password: l.password,
            }),
            None if self.images.stored_logins => {
                kiln_registry::credentials_for(reference.registry()).map_err(registry_err)?
            }
            None => None,
        };
        let store = store()?;
        let loaded = load(&store, &image)?;
        let pushed = kiln_registry::push(&reference, auth.as_ref(), &store, &loaded).await;
        let digest = pushed.map_err(|e| {
            let mut e = registry_err(e);
            e.message = format!("pushing {full}: {}", e.message);
            e
        })?;
        Ok(digest.to_string())
    }

    async fn save(&mut self, names: Vec<String>, dest: String) -> Result<u64, HostError> {
        let listed: usize = names.iter().map(String::len).sum();
        self.check_message(listed, "a tag list")?;
        let image = self.images.current()?.clone();
        let full = full_names(&names)?;
        let (dir, file_name) = self.writable(&dest)?;
        let store = store()?;
        let loaded = load(&store, &image)?;
        self.images.used = true;
        let limit = self.disk.left();
        let done = tokio::task::spawn_blocking(move || {
            crate::artifact_files::write_atomically(&dir, &file_name, |file| {
                let mut out = Measured {
                    inner: std::io::BufWriter::with_capacity(1 << 20, file),
                    hash: sha2::Sha256::new(),
                    written: 0,
                    limit,
                };
                docker::write_docker_archive(&store, &loaded, &full, &mut out)
                    .map_err(std::io::Error::other)?;
                out.flush()?;
                out.inner.get_ref().sync_all()?;
                Ok((out.written, kiln_core::artifact::hex(&out.hash.finalize())))
            })
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(format!("host task failed: {e}"))));
        match done {
            Ok(((size, sha256), meta)) => {
                self.wrote(&dest, size, &meta, Some(sha256));
                Ok(size)
            }
            Err(e) if disk_limit(&e) => Err(self.disk_full(&dest).into()),
            Err(e) => Err(err(ErrorKind::Other, format!("saving to `{dest}`: {e}")).into()),
        }
    }

    async fn import(
        &mut self,
        tarball: String,
        changes: Vec<String>,
        platform: Option<String>,
    ) -> Result<wit::Image, HostError> {
        let listed: usize = changes.iter().map(String::len).sum();
        self.check_message(listed, "a list of changes")?;
        let mut parsed = Vec::with_capacity(changes.len());
        for line in &changes {
            let change = kiln_registry::changes::parse(line)
                .map_err(|e| err(ErrorKind::Invalid, format!("changes: {e}")))?;
            parsed.push(change);
        }
        let platform: Option<Platform> = platform
            .map(|p| p.parse().map_err(|e: String| err(ErrorKind::Invalid, e)))
            .transpose()?;
        let (file, _) = self.open_readable(&tarball)?;
        let store = store()?;
        let epoch = i64::try_from(self.archive_epoch).unwrap_or(i64::MAX);
        let image = blocking(move || {
            docker::import_rootfs(&store, file, &parsed, platform.as_ref(), epoch)
                .map_err(registry_err)
        })
        .await?;
        self.images.image = Some(ImageRef {
            digest: image.manifest_digest.to_string(),
            pushable: vec![],
        });
        self.images.used = true;
        Ok(to_wit(&image, &[]))
    }
}

/// Whether `e` is the disk budget of [`Measured`] running out.
fn disk_limit(e: &std::io::Error) -> bool {
    if e.kind() == std::io::ErrorKind::StorageFull {
        return true;
    }
    // Through the registry's error, the kind is one level down.
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<kiln_registry::Error>())
        .is_some_and(|r| matches!(r, kiln_registry::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_grant_covers_a_registry_by_host_and_port() {
        let granted = vec![
            "127.0.0.1:5000".to_string(),
            "registry.example:*".to_string(),
        ];
        let r = |s: &str| -> Reference { s.parse().unwrap() };
        assert_eq!(
            endpoint(&r("127.0.0.1:5000/app:1")),
            ("127.0.0.1".into(), 5000)
        );
        assert_eq!(endpoint(&r("localhost/app")), ("localhost".into(), 80));
        assert_eq!(endpoint(&r("app")), ("docker.io".into(), 443));
        assert!(covers(&granted, "127.0.0.1", 5000));
        assert!(!covers(&granted, "127.0.0.1", 5001));
        assert!(covers(&granted, "REGISTRY.example", 443));
        assert!(!covers(&granted, "docker.io", 443));
    }
}
