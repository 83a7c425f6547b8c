//! The `container` builder: an OCI image built in Linux namespaces, with no daemon.
//!
//! The base (a registry image, an OCI layout or archive on disk, a root filesystem
//! directory, a debootstrap run, or nothing) is unpacked once into the cache and used as
//! the read-only lower layer of an overlay; everything the provisioners change lands in
//! the overlay's upper directory, which becomes the committed image's one new layer.

mod base;
pub mod checkpoints;
mod error;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use kiln_container::emulation::{self, Runs};
use kiln_container::{Container, InitConfig};
use kiln_core::steps::Step;

use crate::machine::Reached;
use kiln_core::{
    Artifact, ArtifactFile, BuildContext, BuildError, Builder, Communicator, ConnectionInfo,
    ProvisionHook,
};
use kiln_registry::{changes, BlobStore, Platform};

use base::Base;
mod config;
mod docker;

pub use self::config::*;
pub use self::error::ContainerError;

/// The `PATH` a command gets when the image does not set one (the one container engines
/// use).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Packer's docker builder's artifact ids: an exported or discarded container, and a
/// committed image (Packer names it after the docker-import post-processor).
const DOCKER_BUILDER_ID: &str = "packer.docker";
const DOCKER_IMPORT_ID: &str = "packer.post-processor.docker-import";

/// Mount points the container needs; created for the run when the base lacks them and
/// left out of the committed layer.
const MOUNT_POINTS: &[&str] = &["proc", "dev", "tmp"];

/// What the steps share.
struct State<'a> {
    builder: &'a ContainerBuilder,
    cx: &'a BuildContext,
    hook: &'a dyn ProvisionHook,
    store: BlobStore,
    cache: PathBuf,
    base: Option<Base>,
    /// The build's scratch directory: overlay upper, work and mount point.
    dir: Option<PathBuf>,
    /// Held while the scratch directory is in use (see `kiln_core::lease`).
    lease: Option<std::fs::File>,
    /// Mount points created in the upper directory for the run.
    created: Vec<PathBuf>,
    /// The trees of the checkpoints the container runs on, uppermost first.
    lowers: Vec<PathBuf>,
    /// The checkpoints taken or resumed from, in order: their layers go into the image.
    step_layers: Vec<kiln_registry::checkpoint::Checkpoint>,
    /// A checkpoint's layer being packed on its blocking thread: a cancelled build's
    /// cleanup waits for it to remove its partial blob.
    packing:
        Option<tokio::task::JoinHandle<Result<kiln_registry::LayerInfo, kiln_registry::Error>>>,
    container: Option<Container>,
    artifact: Option<Artifact>,
    /// The commit's work on its blocking thread, while it runs: a cancelled build's
    /// cleanup waits for it, so that it has removed its partial blob before kiln exits.
    commit: Option<tokio::task::JoinHandle<Result<Committed, ContainerError>>>,
}

/// A commit's image and the size of its last layer (none when every step was
/// checkpointed and nothing changed after them).
type Committed = (kiln_registry::Image, Option<u64>);

/// A step's failure: what it was doing, then why.
fn failed<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> BuildError + '_ {
    move |e| BuildError::Failed(format!("{what}: {e}"))
}

/// Brings the base into the cache.
struct ResolveBase;

#[async_trait]
impl<'a> Step<State<'a>> for ResolveBase {
    fn name(&self) -> &'static str {
        "base"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let host = Platform::host();
        let wanted = state.builder.platform.as_ref().unwrap_or(&host);
        let base = base::resolve(
            &state.builder.base,
            wanted,
            state.builder.auth.as_ref(),
            &state.store,
            &state.cache,
            &*state.cx.ui,
        )
        .await
        .map_err(|e| BuildError::Failed(e.to_string()))?;
        // An image's config says what it is for; a base with none (a root filesystem,
        // scratch) is taken to be the host's.
        let config = &base.config;
        if !config.architecture.is_empty() {
            let have = Platform {
                os: if config.os.is_empty() {
                    "linux".into()
                } else {
                    config.os.clone()
                },
                architecture: config.architecture.clone(),
                variant: config.variant.clone(),
            };
            if state.builder.platform.is_some() && !have.satisfies(wanted) {
                return Err(BuildError::Failed(format!(
                    "the image {} is for {have}, which does not match the platform {wanted} \
                     asked for (name an image that has a {wanted} variant)",
                    base.description
                )));
            }
            let arch = have.normalized().architecture;
            match emulation::how_runs(&arch, &host.architecture, emulation::BINFMT_MISC.as_ref()) {
                Runs::Natively => {}
                Runs::Through(emulator) => state.cx.ui.say(&format!(
                    "The image is for {have}: its programs run through the emulator {emulator}"
                )),
                Runs::Not(why) => state.cx.ui.error(&format!(
                    "The image is for {have}, whose programs this {} host cannot run: {why}. \
                     Commands in the container will fail.",
                    host.architecture
                )),
            }
        }
        state.base = Some(base);
        Ok(())
    }
}

/// The name prefix of a container build's scratch directory in `$TMPDIR`.
pub const SCRATCH_PREFIX: &str = "kiln-container-";

/// Removes what container builds of runs that died left behind: their scratch
/// directories and partial blobs in `cache`'s blob store.
pub fn sweep(cache: &std::path::Path) -> Vec<kiln_core::lease::Swept> {
    let mut swept = kiln_core::lease::sweep(&std::env::temp_dir(), SCRATCH_PREFIX);
    swept.extend(BlobStore::new(cache.join("blobs")).sweep());
    swept
        .extend(kiln_registry::checkpoint::CheckpointStore::new(cache.join("checkpoints")).sweep());
    swept
}

/// Creates the scratch directory (removed by cleanup, whatever happened).
struct Workdir;

#[async_trait]
impl<'a> Step<State<'a>> for Workdir {
    fn name(&self) -> &'static str {
        "workdir"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let dir = std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}", random_suffix()));
        state.dir = Some(dir.clone());
        let lower = &state.base.as_ref().expect("resolved").rootfs;
        let upper = dir.join("upper");
        for d in ["upper", "work", "root"] {
            std::fs::create_dir_all(dir.join(d))
                .map_err(|e| failed("creating the work directory")(e.to_string()))?;
        }
        state.lease = Some(
            kiln_core::lease::lease_dir(&dir)
                .map_err(|e| failed("creating the work directory")(e.to_string()))?,
        );
        for m in MOUNT_POINTS {
            if std::fs::symlink_metadata(lower.join(m)).is_err() {
                std::fs::create_dir(upper.join(m))
                    .map_err(|e| failed("creating mount points")(e.to_string()))?;
                state.created.push(PathBuf::from(m));
            }
        }
        Ok(())
    }

    async fn cleanup(&self, state: &mut State<'a>) {
        state.lease = None;
        if let Some(dir) = state.dir.take() {
            crate::machine::remove_dir_telling(&*state.cx.ui, &dir).await;
        }
    }
}

/// Starts the container; its cleanup stops it if it is still running.
struct Start;

#[async_trait]
impl<'a> Step<State<'a>> for Start {
    fn name(&self) -> &'static str {
        "start"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        start_container(state, true).await
    }

    async fn cleanup(&self, state: &mut State<'a>) {
        if let Some(c) = state.container.take() {
            c.stop().await;
        }
    }
}

/// Starts the container on the base and the checkpoints' trees, saying so when `say`.
async fn start_container(state: &mut State<'_>, say: bool) -> Result<(), BuildError> {
    let dir = state.dir.clone().expect("created");
    let base = state.base.as_ref().expect("resolved");
    let config = InitConfig {
        root: dir.join("root"),
        lower: checkpoints::lowers(state),
        upper: dir.join("upper"),
        work: dir.join("work"),
        hostname: state.builder.hostname.clone(),
        host_network: state.builder.host_network,
        mounts: state.builder.mounts.clone(),
    };
    if say {
        state.cx.ui.say(&format!(
            "Starting a container on {} ({} network)...",
            base.description,
            if config.host_network { "host" } else { "no" }
        ));
    }
    let container = Container::start(&config)
        .await
        .map_err(|e| BuildError::Failed(e.to_string()))?;
    state.container = Some(container);
    Ok(())
}

#[async_trait]
impl Reached for State<'_> {
    fn hook(&self) -> &dyn ProvisionHook {
        self.hook
    }

    fn ui(&self) -> &dyn kiln_core::Ui {
        &*self.cx.ui
    }

    /// The provisioners run inside the container, with the image's environment and
    /// working directory.
    fn machine(&self) -> (Option<Arc<dyn Communicator>>, ConnectionInfo) {
        let base = self.base.as_ref().expect("resolved");
        let image_config = base.config.config.clone().unwrap_or_default();
        let mut env: BTreeMap<String, String> = image_config
            .env
            .iter()
            .flatten()
            .filter_map(|e| e.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        env.entry("PATH".into())
            .or_insert_with(|| DEFAULT_PATH.into());
        env.insert("HOSTNAME".into(), self.builder.hostname.clone());
        env.entry("HOME".into()).or_insert_with(|| "/root".into());
        env.extend(self.builder.env.clone());
        let workdir = image_config
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into());
        // As `docker exec` and Packer's docker builder: the container's user is the one
        // it was started as (`-u`), else the image's; commands run as it unless
        // exec_user says otherwise, and fix_upload_owner gives uploads to it. Kiln's own
        // container builder runs everything as root.
        let container_user = match self.builder.flavour {
            Flavour::Docker => self
                .builder
                .run_user
                .clone()
                .or_else(|| image_config.user.clone())
                .filter(|u| !u.is_empty() && !is_root(u)),
            Flavour::Kiln => None,
        };
        let exec_user = match (&self.builder.exec_user, &container_user) {
            (u, _) if !u.is_empty() => u.clone(),
            (_, Some(u)) => u.clone(),
            _ => String::new(),
        };
        let upload_owner = container_user.filter(|_| self.builder.fix_upload_owner);
        let container = self.container.as_ref().expect("started");
        let comm = Arc::new(
            container
                .communicator(env.into_iter().collect(), workdir)
                .with_caps(self.builder.caps.clone())
                .with_user(exec_user)
                .with_upload_owner(upload_owner),
        );
        let connection = ConnectionInfo {
            conn_type: "container".into(),
            host: self.builder.hostname.clone(),
            port: 0,
            user: "root".into(),
            ..Default::default()
        };
        (Some(comm as Arc<dyn Communicator>), connection)
    }
}

/// Whether `user` is root alone (giving files to it changes nothing).
fn is_root(user: &str) -> bool {
    matches!(user, "root" | "0" | "root:root" | "0:0")
}

/// `export_path`: a tarball of the container's root filesystem, taken while it runs.
struct Export;

#[async_trait]
impl<'a> Step<State<'a>> for Export {
    fn name(&self) -> &'static str {
        "export"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let Output::Export(path) = &state.builder.output else {
            return Ok(());
        };
        state.cx.ui.say(&format!(
            "Exporting the container's filesystem to {}...",
            path.display()
        ));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                failed("exporting the filesystem")(format!("{}: {e}", parent.display()))
            })?;
        }
        let container = state.container.as_ref().expect("started");
        // What is mounted in is not the container's: left out, as /proc, /dev and /tmp.
        let mounted: Vec<&str> = state
            .builder
            .mounts
            .iter()
            .map(|m| m.target.trim_start_matches('/'))
            .collect();
        let exclude: Vec<&str> = MOUNT_POINTS.iter().copied().chain(mounted).collect();
        let (size, sha256) = container
            .export(path, source_date_epoch(), &exclude)
            .await
            .map_err(|e| failed("exporting the filesystem")(e.to_string()))?;
        let file = ArtifactFile {
            path: path.clone(),
            size,
            sha256,
        };
        let shown = file.path.display().to_string();
        state.artifact = Some(match state.builder.flavour {
            Flavour::Kiln => Artifact {
                builder_id: "kiln.container".into(),
                id: shown.clone(),
                description: format!("Exported root filesystem: {shown}"),
                files: vec![file],
                metadata: Default::default(),
                image: None,
            },
            Flavour::Docker => Artifact {
                builder_id: DOCKER_BUILDER_ID.into(),
                id: "Container".into(),
                description: format!("Exported Docker file: {shown}"),
                files: vec![file],
                metadata: Default::default(),
                image: None,
            },
        });
        Ok(())
    }
}

/// Stops the container so that its upper directory is final.
struct Stop;

#[async_trait]
impl<'a> Step<State<'a>> for Stop {
    fn name(&self) -> &'static str {
        "stop"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        if let Some(c) = state.container.take() {
            c.stop().await;
        }
        Ok(())
    }
}

/// `commit`: the changes as one new layer over the base, written and pushed.
struct Commit;

#[async_trait]
impl<'a> Step<State<'a>> for Commit {
    fn name(&self) -> &'static str {
        "commit"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let Output::Commit { path, tag, push } = &state.builder.output else {
            return Ok(());
        };
        state
            .cx
            .ui
            .say("Committing the container's changes as a new layer...");
        let base = state.base.take().expect("resolved");
        let upper = state.dir.as_ref().expect("created").join("upper");
        let store = state.store.clone();
        let options = kiln_registry::LayerOptions {
            epoch: source_date_epoch(),
            overlay_upper: true,
            exclude: state.created.clone(),
            cancel: Some(state.cx.cancel.clone()),
        };
        let author = state.builder.author.clone();
        let message = state.builder.message.clone();
        let changes = state.builder.changes.clone();
        let (path2, tag2) = (path.clone(), tag.clone());
        let build_name = state.cx.build_name.clone();
        let steps = state.step_layers.clone();
        let created_points = state.created.clone();
        let task = tokio::task::spawn_blocking(move || -> Result<_, ContainerError> {
            let mut layers = base.layers.clone();
            let mut config = base.config.clone();
            let base_layers = base::base_layers(&base, &store, options.epoch, &options.cancel)?;
            for (descriptor, diff_id) in base_layers {
                layers.push(descriptor);
                config.rootfs.diff_ids.push(diff_id);
            }
            let created = kiln_core::rfc3339(options.epoch.max(0) as u64);
            // The checkpointed steps' layers, each as its step left it.
            for step in &steps {
                layers.push(step.layer.clone());
                config.rootfs.diff_ids.push(step.diff_id.clone());
                config.history.push(kiln_registry::History {
                    created: Some(created.clone()),
                    created_by: Some(format!(
                        "kiln build {build_name}: provisioner {} \"{}\"",
                        step.step, step.step_type
                    )),
                    author: author.clone(),
                    comment: None,
                    empty_layer: None,
                });
            }
            // After checkpoints, the upper directory holds what the steps after them
            // changed: nothing, when every step was checkpointed.
            let rest = steps.is_empty() || !upper_is_empty(&upper, &created_points);
            let layer = if rest {
                let layer = kiln_registry::write_layer(&upper, &options, &store)?;
                layers.push(layer.descriptor());
                config.rootfs.diff_ids.push(layer.diff_id.clone());
                Some(layer)
            } else {
                None
            };
            config.created = Some(created.clone());
            if author.is_some() {
                config.author = author.clone();
            }
            config.history.push(kiln_registry::History {
                created: Some(created),
                created_by: Some(format!("kiln build {build_name}")),
                author,
                comment: message,
                empty_layer: layer.is_none().then_some(true),
            });
            let mut cc = config.config.take().unwrap_or_default();
            for change in &changes {
                if let changes::Change::Maintainer(m) = change {
                    config.author = Some(m.clone());
                }
                changes::apply(change, &mut cc);
            }
            config.config = Some(cc);
            if config.os.is_empty() {
                config.os = "linux".into();
            }
            if config.architecture.is_empty() {
                config.architecture = "amd64".into();
            }
            let image = kiln_registry::store_image(&store, layers, config)?;
            if let Some(parent) = path2.parent() {
                std::fs::create_dir_all(parent).map_err(base::io_error(parent))?;
            }
            let written = if path2.extension().is_some_and(|e| e == "tar") {
                kiln_registry::write_oci_archive(&path2, &store, &image, &tag2)
            } else {
                kiln_registry::write_oci_layout(&path2, &store, &image, &tag2)
            };
            written?;
            Ok((image, layer.map(|l| l.size)))
        });
        let task = state.commit.insert(task);
        let done = task.await;
        state.commit = None;
        let (image, layer_size) = done
            .map_err(|e| BuildError::Failed(e.to_string()))?
            .map_err(failed("committing the image"))?;
        let digest = image.manifest_digest.to_string();
        let layers = match (state.step_layers.len(), layer_size) {
            (0, size) => format!("new layer {} bytes", size.unwrap_or(0)),
            (n, None) => format!("{n} checkpointed step layers"),
            (n, Some(size)) => {
                format!("{n} checkpointed step layers, then a new layer of {size} bytes")
            }
        };
        state.cx.ui.say(&format!(
            "Committed image {digest} ({layers}) to {}",
            path.display()
        ));
        let mut metadata = BTreeMap::from([
            ("image_digest".to_owned(), digest.clone()),
            ("image_tag".to_owned(), tag.clone()),
        ]);
        if let Some(reference) = push {
            state
                .cx
                .ui
                .say(&format!("Pushing the image to {reference}..."));
            let pushed =
                kiln_registry::push(reference, state.builder.auth.as_ref(), &state.store, &image)
                    .await
                    .map_err(|e| BuildError::Failed(format!("pushing to {reference}: {e}")))?;
            state.cx.ui.say(&format!("Pushed {reference}@{pushed}"));
            metadata.insert("pushed".into(), format!("{reference}@{pushed}"));
        }
        let files = if path.is_file() {
            let (size, sha256) = crate::file::digest(path)
                .await
                .map_err(|e| failed("reading back the image")(e.to_string()))?;
            vec![ArtifactFile {
                path: path.clone(),
                size,
                sha256,
            }]
        } else {
            vec![]
        };
        let image_ref = kiln_core::ImageRef {
            digest: digest.clone(),
            pushable: vec![],
        };
        state.artifact = Some(match state.builder.flavour {
            Flavour::Kiln => Artifact {
                builder_id: "kiln.container".into(),
                id: digest.clone(),
                description: format!("Imported Docker image: {digest} in {}", path.display()),
                files,
                metadata,
                image: Some(image_ref.clone()),
            },
            // Packer's artifact of a commit is the image by its id: its config's digest.
            Flavour::Docker => {
                let id = image.manifest.config.digest.to_string();
                metadata.insert("image_id".into(), id.clone());
                Artifact {
                    builder_id: DOCKER_IMPORT_ID.into(),
                    description: format!("Imported Docker image: {id} in {}", path.display()),
                    id,
                    files,
                    metadata,
                    image: Some(image_ref),
                }
            }
        });
        Ok(())
    }

    async fn cleanup(&self, state: &mut State<'a>) {
        // Cancelled mid-commit: the layer's writer stops at its next write and removes its
        // partial blob; wait for that.
        if let Some(task) = state.commit.take() {
            let _ = task.await;
        }
    }
}

/// Whether the upper directory `upper` holds nothing but the mount points `created`.
fn upper_is_empty(upper: &std::path::Path, created: &[PathBuf]) -> bool {
    std::fs::read_dir(upper).is_ok_and(|entries| {
        entries
            .flatten()
            .all(|e| created.iter().any(|c| c.as_os_str() == e.file_name()))
    })
}

/// `SOURCE_DATE_EPOCH`, or 0: timestamps in committed layers never depend on when the
/// build ran.
pub fn source_date_epoch() -> i64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

#[async_trait]
impl Builder for ContainerBuilder {
    async fn run(
        &self,
        cx: &BuildContext,
        hook: &dyn ProvisionHook,
    ) -> Result<Artifact, BuildError> {
        let cache = kiln_core::default_cache_dir().ok_or_else(|| {
            BuildError::Failed("no cache directory: set KILN_CACHE_DIR or HOME".into())
        })?;
        let steps: Vec<Box<dyn Step<State<'_>>>> = vec![
            Box::new(ResolveBase),
            Box::new(Workdir),
            Box::new(Start),
            Box::new(checkpoints::ProvisionSteps),
            Box::new(Export),
            Box::new(Stop),
            Box::new(Commit),
        ];
        let mut state = State {
            commit: None,
            lease: None,
            builder: self,
            cx,
            hook,
            store: BlobStore::new(cache.join("blobs")),
            cache,
            base: None,
            dir: None,
            created: vec![],
            lowers: vec![],
            step_layers: vec![],
            packing: None,
            container: None,
            artifact: None,
        };
        cx.run_steps(&steps, &mut state).await?;
        Ok(state.artifact.take().unwrap_or_else(|| match self.flavour {
            Flavour::Kiln => Artifact {
                builder_id: "kiln.container".into(),
                id: "discarded".into(),
                files: vec![],
                metadata: Default::default(),
                image: None,
                description: "The container was discarded".into(),
            },
            Flavour::Docker => Artifact {
                builder_id: DOCKER_BUILDER_ID.into(),
                id: "Container".into(),
                files: vec![],
                metadata: Default::default(),
                image: None,
                description: "Exported Docker file: ".into(),
            },
        }))
    }
}
