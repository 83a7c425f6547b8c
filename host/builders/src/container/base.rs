//! Where a container build starts from, and how that base gets into the cache.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use kiln_core::artifact::hex;
use kiln_core::Ui;
use kiln_registry::{
    BlobStore, Descriptor, Digest, Image, ImageConfig, Platform, Reference, RegistryAuth,
};

use super::ContainerError;

/// The base named by the template.
#[derive(Debug, Clone)]
pub enum BaseSource {
    /// `image = "scratch"`: an empty filesystem.
    Scratch,
    /// `image = "registry.example/repo:tag"` (or `docker://...`).
    Registry { reference: Reference, pull: bool },
    /// `image = "oci:path[:ref]"`.
    Layout {
        dir: PathBuf,
        reference: Option<String>,
    },
    /// `image = "oci-archive:path[:ref]"`.
    Archive {
        path: PathBuf,
        reference: Option<String>,
    },
    /// `rootfs = "dir"`.
    Rootfs(PathBuf),
    /// `bootstrap { ... }`.
    Bootstrap(Bootstrap),
}

/// A `bootstrap` block: a Debian or Ubuntu base made by `debootstrap`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bootstrap {
    /// The release (`bookworm`, `noble`).
    #[serde(default = "default_suite")]
    pub suite: String,
    /// debootstrap's `--variant` (`minbase`, `buildd`, or `default` for none).
    #[serde(default = "default_variant")]
    pub variant: String,
    /// The package mirror.
    #[serde(default = "default_mirror")]
    pub mirror: String,
    /// Extra packages (`--include`).
    #[serde(default)]
    pub include: Vec<String>,
    /// Archive components (`--components`), e.g. `main`, `universe`.
    #[serde(default)]
    pub components: Vec<String>,
}

fn default_suite() -> String {
    "bookworm".into()
}
fn default_variant() -> String {
    "minbase".into()
}
fn default_mirror() -> String {
    "http://deb.debian.org/debian".into()
}

impl Bootstrap {
    /// Checks values that would otherwise reach debootstrap's command line.
    pub fn check(&self) -> Result<(), ContainerError> {
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-+._".contains(c))
        };
        if !plain(&self.suite) {
            return Err(ContainerError::BadSuite {
                suite: self.suite.clone(),
            });
        }
        if !matches!(
            self.variant.as_str(),
            "minbase" | "buildd" | "fakechroot" | "default"
        ) {
            return Err(ContainerError::BadVariant {
                variant: self.variant.clone(),
            });
        }
        if !(self.mirror.starts_with("http://")
            || self.mirror.starts_with("https://")
            || self.mirror.starts_with("file:/"))
        {
            return Err(ContainerError::BadMirror {
                mirror: self.mirror.clone(),
            });
        }
        if let Some(bad) = self
            .include
            .iter()
            .chain(&self.components)
            .find(|p| !plain(p))
        {
            return Err(ContainerError::BadName { name: bad.clone() });
        }
        Ok(())
    }

    /// The cache key: every input that changes the result.
    fn key(&self) -> String {
        hex(&sha2::Sha256::digest(
            serde_json::to_vec(self).expect("plain data"),
        ))
    }
}

impl BaseSource {
    /// Parses the `image` option.
    pub fn parse_image(image: &str, cwd: &Path, pull: bool) -> Result<BaseSource, ContainerError> {
        let split_ref = |rest: &str| -> (PathBuf, Option<String>) {
            match rest.rsplit_once(':') {
                Some((path, r)) if !r.contains('/') && !path.is_empty() => {
                    (cwd.join(path), Some(r.to_owned()))
                }
                _ => (cwd.join(rest), None),
            }
        };
        if image == "scratch" {
            return Ok(BaseSource::Scratch);
        }
        if let Some(rest) = image.strip_prefix("oci-archive:") {
            let (path, reference) = split_ref(rest);
            if !path.is_file() {
                return Err(ContainerError::NoArchive { path });
            }
            return Ok(BaseSource::Archive { path, reference });
        }
        if let Some(rest) = image.strip_prefix("oci:") {
            let (dir, reference) = split_ref(rest);
            if !dir.join("index.json").is_file() {
                return Err(ContainerError::NotALayout { dir });
            }
            return Ok(BaseSource::Layout { dir, reference });
        }
        let name = image.strip_prefix("docker://").unwrap_or(image);
        let reference =
            name.parse::<Reference>()
                .map_err(|source| ContainerError::BadReference {
                    image: image.to_owned(),
                    source,
                })?;
        Ok(BaseSource::Registry { reference, pull })
    }
}

/// A base ready to use: unpacked in the cache.
#[derive(Debug, Clone)]
pub struct Base {
    /// The unpacked root filesystem (read-only lower layer of the overlay).
    pub rootfs: PathBuf,
    /// The base image's layers, if it is an image.
    pub layers: Vec<Descriptor>,
    /// The base image's configuration (a plain linux/amd64 one otherwise).
    pub config: ImageConfig,
    /// For people: what the base is.
    pub description: String,
    /// A directory base that becomes the image's first layer on commit, and where that
    /// layer's digests are cached.
    layer_dir: Option<(PathBuf, Option<PathBuf>)>,
}

/// The configuration of an image made from a directory: linux/amd64 with the usual
/// `PATH`.
fn plain_config() -> ImageConfig {
    ImageConfig {
        os: "linux".into(),
        architecture: "amd64".into(),
        config: Some(kiln_registry::ContainerConfig {
            env: Some(vec![format!("PATH={}", super::DEFAULT_PATH)]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Brings `source` into the cache and unpacks it; an image index gives its manifest for
/// `platform`.
pub async fn resolve(
    source: &BaseSource,
    platform: &Platform,
    auth: Option<&RegistryAuth>,
    store: &BlobStore,
    cache: &Path,
    ui: &dyn Ui,
) -> Result<Base, ContainerError> {
    let image = match source {
        BaseSource::Scratch => {
            let rootfs = cache.join("rootfs/scratch");
            create_dir_all(&rootfs)?;
            return Ok(Base {
                rootfs,
                layers: vec![],
                config: plain_config(),
                description: "scratch".into(),
                layer_dir: None,
            });
        }
        BaseSource::Rootfs(dir) => {
            return Ok(Base {
                rootfs: dir.clone(),
                layers: vec![],
                config: plain_config(),
                description: format!("the root filesystem {}", dir.display()),
                layer_dir: Some((dir.clone(), None)),
            })
        }
        BaseSource::Bootstrap(b) => return bootstrap(b, cache, ui).await,
        BaseSource::Registry { reference, pull } => {
            // The host's platform keeps the key it had before platforms were chosen.
            let mut key = reference.to_string();
            if *platform != Platform::host() {
                key = format!("{key} {platform}");
            }
            let pinned = cache.join("refs").join(hex(&sha2::Sha256::digest(key)));
            let cached = if *pull {
                None
            } else {
                cached_image(store, &pinned)
            };
            match cached {
                Some(image) => image,
                None => {
                    ui.say(&format!("Pulling {reference}..."));
                    let image = kiln_registry::pull(reference, auth, platform, store)
                        .await
                        .map_err(|source| ContainerError::Pull {
                            reference: reference.clone(),
                            source,
                        })?;
                    write_atomic(&pinned, image.manifest_digest.to_string().as_bytes())?;
                    image
                }
            }
        }
        BaseSource::Layout { dir, reference } => {
            let (dir, r, store2, p) = (
                dir.clone(),
                reference.clone(),
                store.clone(),
                platform.clone(),
            );
            blocking(move || {
                Ok(kiln_registry::read_oci_layout(
                    &dir,
                    r.as_deref(),
                    &p,
                    &store2,
                )?)
            })
            .await?
        }
        BaseSource::Archive { path, reference } => {
            let (path, r, store2, p) = (
                path.clone(),
                reference.clone(),
                store.clone(),
                platform.clone(),
            );
            blocking(move || {
                Ok(kiln_registry::read_oci_archive(
                    &path,
                    r.as_deref(),
                    &p,
                    &store2,
                )?)
            })
            .await?
        }
    };
    let digest = image.manifest_digest.clone();
    let rootfs = cache.join("rootfs").join(digest.hex());
    if !rootfs.is_dir() {
        ui.say(&format!("Unpacking base image {digest}..."));
        let (store2, image2, dest) = (store.clone(), image.clone(), rootfs.clone());
        blocking(move || {
            into_place(&dest, |tmp| {
                Ok(kiln_registry::extract_layers(&store2, &image2, tmp)?)
            })
        })
        .await?;
    }
    Ok(Base {
        rootfs,
        layers: image.manifest.layers.clone(),
        config: image.config.clone(),
        description: format!("base image {digest}"),
        layer_dir: None,
    })
}

/// The image last pulled for a reference, if all of it is still in the store.
fn cached_image(store: &BlobStore, pinned: &Path) -> Option<Image> {
    let text = std::fs::read_to_string(pinned).ok()?;
    let digest: Digest = text.trim().parse().ok()?;
    kiln_registry::load_image(store, &digest).ok()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ContainerError> + Send + 'static,
) -> Result<T, ContainerError> {
    tokio::task::spawn_blocking(f).await?
}

/// An I/O error about `path`.
pub(super) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ContainerError + '_ {
    move |source| ContainerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn create_dir_all(dir: &Path) -> Result<(), ContainerError> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))
}

/// Fills a fresh temporary directory next to `dest` with `fill`, then renames it into
/// place, so that an interrupted run never leaves a half-made cache entry.
/// A name for a temporary entry no other build of any Kiln process picks: the process
/// id and a counter (builds of one run unpack the same base at the same time).
fn unique(kind: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{kind}-{}-{n}", std::process::id())
}

fn into_place(
    dest: &Path,
    fill: impl FnOnce(&Path) -> Result<(), ContainerError>,
) -> Result<(), ContainerError> {
    let tmp = dest.with_extension(unique("partial"));
    let _ = std::fs::remove_dir_all(&tmp);
    create_dir_all(&tmp)?;
    let result = fill(&tmp).and_then(|()| match std::fs::rename(&tmp, dest) {
        Ok(()) => Ok(()),
        // Another build put the same entry in place first: it is the same content.
        Err(_) if dest.is_dir() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(e) => Err(io_error(dest)(e)),
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ContainerError> {
    create_dir_all(path.parent().expect("inside the cache"))?;
    let tmp = path.with_extension(unique("tmp"));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(io_error(path))
}

/// Runs debootstrap (once per set of inputs) into the cache.
async fn bootstrap(b: &Bootstrap, cache: &Path, ui: &dyn Ui) -> Result<Base, ContainerError> {
    let dir = cache.join("bootstrap").join(b.key());
    let rootfs = dir.join("rootfs");
    if !rootfs.is_dir() {
        create_dir_all(&dir)?;
        let tmp = dir.join(format!("rootfs.{}", unique("partial")));
        let _ = std::fs::remove_dir_all(&tmp);
        ui.say(&format!(
            "Bootstrapping {} ({}) from {} with debootstrap...",
            b.suite, b.variant, b.mirror
        ));
        let mut guard = RemoveOnDrop(Some(tmp.clone()));
        run_debootstrap(b, &tmp, ui).await?;
        std::fs::rename(&tmp, &rootfs).map_err(|source| ContainerError::BootstrapRename {
            from: tmp.clone(),
            to: rootfs.clone(),
            source,
        })?;
        guard.0 = None;
    }
    Ok(Base {
        rootfs: rootfs.clone(),
        layers: vec![],
        config: plain_config(),
        description: format!("{} bootstrapped by debootstrap", b.suite),
        layer_dir: Some((rootfs, Some(dir))),
    })
}

/// Removes a half-made directory when the work is abandoned (an error or Ctrl-C).
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

async fn run_debootstrap(b: &Bootstrap, target: &Path, ui: &dyn Ui) -> Result<(), ContainerError> {
    use tokio::io::AsyncBufReadExt;
    // In a mount namespace of its own, so that the /proc and /sys debootstrap mounts in
    // the target vanish with it even when it is killed midway.
    if !Path::new("/usr/sbin/debootstrap").exists() {
        return Err(ContainerError::NoDebootstrap);
    }
    let mut cmd = tokio::process::Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "--fork",
        "--kill-child",
        "--",
        "debootstrap",
    ]);
    if b.variant != "default" {
        cmd.arg(format!("--variant={}", b.variant));
    }
    if !b.include.is_empty() {
        cmd.arg(format!("--include={}", b.include.join(",")));
    }
    if !b.components.is_empty() {
        cmd.arg(format!("--components={}", b.components.join(",")));
    }
    cmd.arg(&b.suite).arg(target).arg(&b.mirror);
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ContainerError::DebootstrapSpawn { source })?;
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().expect("piped")).lines();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut last = Vec::new();
    let (mut out_done, mut err_done) = (false, false);
    while !(out_done && err_done) {
        let line = tokio::select! {
            l = stdout.next_line(), if !out_done => l.map_err(debootstrap_io)?.or_else(|| { out_done = true; None }),
            l = stderr.next_line(), if !err_done => l.map_err(debootstrap_io)?.or_else(|| { err_done = true; None }),
        };
        if let Some(line) = line {
            ui.message(&line);
            last.push(line);
            if last.len() > 5 {
                last.remove(0);
            }
        }
    }
    let status = child.wait().await.map_err(debootstrap_io)?;
    if !status.success() {
        return Err(ContainerError::DebootstrapFailed {
            status,
            last_lines: last,
        });
    }
    Ok(())
}

fn debootstrap_io(source: std::io::Error) -> ContainerError {
    ContainerError::DebootstrapIo { source }
}

#[derive(Serialize, Deserialize)]
struct CachedLayer {
    descriptor: Descriptor,
    diff_id: Digest,
}

/// The layers a directory base contributes to a committed image (none for image bases,
/// whose layers are already in the manifest).
pub fn base_layers(
    base: &Base,
    store: &BlobStore,
    epoch: i64,
    cancel: &Option<tokio_util::sync::CancellationToken>,
) -> Result<Vec<(Descriptor, Digest)>, ContainerError> {
    let Some((dir, cache)) = &base.layer_dir else {
        return Ok(vec![]);
    };
    let record = cache
        .as_ref()
        .map(|c| c.join(format!("layer-{epoch}.json")));
    if let Some(r) = &record {
        if let Ok(text) = std::fs::read(r) {
            if let Ok(c) = serde_json::from_slice::<CachedLayer>(&text) {
                if store.contains(&c.descriptor.digest) {
                    return Ok(vec![(c.descriptor, c.diff_id)]);
                }
            }
        }
    }
    let options = kiln_registry::LayerOptions {
        epoch,
        overlay_upper: false,
        exclude: vec![],
        cancel: cancel.clone(),
    };
    let layer = kiln_registry::write_layer(dir, &options, store).map_err(|source| {
        ContainerError::BaseLayer {
            dir: dir.clone(),
            source,
        }
    })?;
    let cached = CachedLayer {
        descriptor: layer.descriptor(),
        diff_id: layer.diff_id.clone(),
    };
    if let Some(r) = &record {
        write_atomic(r, &serde_json::to_vec(&cached).expect("plain data"))?;
    }
    Ok(vec![(cached.descriptor, cached.diff_id)])
}
