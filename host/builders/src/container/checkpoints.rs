//! Checkpoints of a container build (`-checkpoint`, `-resume`): after each provisioner
//! whose result can be keyed, the container is stopped, what the step changed (the
//! overlay's upper directory) is packed as a layer into the blob store and moved,
//! unpacked, into the checkpoint store under the step's key, and the container starts
//! again with it as the uppermost read-only layer. A resumed build stacks the trees of
//! the longest run of steps whose checkpoints exist and starts after them.
//!
//! With checkpoints the committed image has one layer per checkpointed step (as a
//! Dockerfile's instructions do), then one for the steps after them; a resumed build and
//! a full one with `-checkpoint` commit the same layers. Each restart ends what the
//! steps left running in the container: checkpoints are taken only when asked for.

use std::path::PathBuf;

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};

use kiln_core::artifact::hex;
use kiln_core::checkpoint::CheckpointMode;
use kiln_core::steps::Step;
use kiln_core::BuildError;
use kiln_registry::checkpoint::{Checkpoint, CheckpointStore};

use super::{failed, source_date_epoch, start_container, Flavour, State};
use crate::checkpoint::{keyed_prefix, now, provision_keyed, step_name, Snapshots};
use crate::machine::Reached as _;

/// The key of the first step's checkpoint chains from this: everything the container
/// starts as, and every builder setting a step's result can depend on.
async fn base_key(state: &State<'_>) -> Result<String, BuildError> {
    let base = state.base.clone().expect("resolved");
    let store = state.store.clone();
    let epoch = source_date_epoch();
    let cancel = Some(state.cx.cancel.clone());
    let dir_layers = tokio::task::spawn_blocking(move || {
        super::base::base_layers(&base, &store, epoch, &cancel).map(|l| (base, l))
    })
    .await
    .map_err(|e| BuildError::Failed(e.to_string()))?
    .map_err(failed("reading the base for the checkpoints' keys"))?;
    let (base, dir_layers) = dir_layers;
    let b = state.builder;
    let described = serde_json::json!({
        "layers": base.layers.iter().map(|l| l.digest.to_string()).collect::<Vec<_>>(),
        "directory_layers": dir_layers.iter().map(|(l, _)| l.digest.to_string()).collect::<Vec<_>>(),
        "config": base.config,
        "flavour": match b.flavour { Flavour::Kiln => "container", Flavour::Docker => "docker" },
        "env": b.env,
        "hostname": b.hostname,
        "host_network": b.host_network,
        "caps": b.caps,
        "exec_user": b.exec_user,
        "run_user": b.run_user,
        "fix_upload_owner": b.fix_upload_owner,
        "platform": b.platform.as_ref().map(|p| p.to_string()),
        "epoch": epoch,
    });
    let mut h = Sha256::new();
    h.update(b"kiln-container-base/1\0");
    h.update(serde_json::to_vec(&described).expect("plain data"));
    Ok(hex(&h.finalize()))
}

/// Runs the provisioners, with checkpoints when the run asks for them.
pub(super) struct ProvisionSteps;

#[async_trait]
impl<'a> Step<State<'a>> for ProvisionSteps {
    fn name(&self) -> &'static str {
        kiln_core::steps::PROVISION_STEP
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let hook = state.hook;
        let mode = hook.checkpoint_mode();
        let count = hook.step_count();
        if mode == CheckpointMode::Off || count == 0 {
            let (communicator, connection) = state.machine();
            return hook.provision(communicator, connection).await;
        }
        let ui = state.cx.ui.clone();
        if !state.builder.mounts.is_empty() {
            ui.say(
                "No checkpoints are taken: the container mounts host paths, whose content \
                 no checkpoint key covers.",
            );
            let (communicator, connection) = state.machine();
            return hook.provision(communicator, connection).await;
        }
        let types = hook.step_types();
        let what = |i: usize| step_name(i, &types);
        let identities = hook.step_identities().await;
        let keys = keyed_prefix(base_key(state).await?, &identities, &types, &*ui);
        let store = checkpoints(state);
        let share = hook.checkpoint_share();
        let mut done = 0;
        if mode == CheckpointMode::Resume {
            let mut found: Vec<Checkpoint> = Vec::new();
            for key in &keys {
                let mut entry = store.get(key, &state.store);
                if let (None, Some(from)) = (&entry, &share.from) {
                    entry = pull(state, &store, key, from).await?;
                }
                match entry {
                    Some(e) => found.push(e),
                    None => break,
                }
            }
            done = found.len();
            if done == 0 && !keys.is_empty() {
                ui.say(
                    "No checkpoint matches the first provisioner: the build runs from the start.",
                );
            } else if done > 0 {
                let last = &found[done - 1];
                restore(state, &store, found.clone()).await?;
                ui.say(&format!(
                    "Resuming after {} from checkpoint {}: provisioners 1 to {done} of {count} \
                     do not run again.",
                    what(done - 1),
                    &last.key[..12]
                ));
            }
        }
        provision_keyed(state, &keys, done).await
    }

    async fn cleanup(&self, state: &mut State<'a>) {
        // Cancelled while a layer was packed: its writer stops at its next write and
        // removes its partial blob; wait for that.
        if let Some(task) = state.packing.take() {
            let _ = task.await;
        }
    }
}

/// The label of a shared checkpoint's image config that holds its entry.
const LABEL: &str = "org.kiln.checkpoint";

/// `repository:key`, the checkpoint `key`'s name in the repository `repository`.
fn shared_name(repository: &str, key: &str) -> Result<kiln_registry::Reference, BuildError> {
    format!("{repository}:{key}")
        .parse()
        .map_err(|e| BuildError::Failed(format!("checkpoint repository {repository:?}: {e}")))
}

/// Pushes `entry` to `repository` as a one-layer image tagged with its key, the entry in
/// its config's labels.
async fn push(state: &State<'_>, entry: &Checkpoint, repository: &str) -> Result<(), BuildError> {
    let reference = shared_name(repository, &entry.key)?;
    let config = kiln_registry::ImageConfig {
        os: "linux".into(),
        architecture: kiln_registry::Platform::host().architecture,
        config: Some(kiln_registry::ContainerConfig {
            labels: Some(
                [(
                    LABEL.to_owned(),
                    serde_json::to_string(entry).expect("plain data"),
                )]
                .into(),
            ),
            ..Default::default()
        }),
        rootfs: kiln_registry::RootFs {
            diff_ids: vec![entry.diff_id.clone()],
            ..Default::default()
        },
        ..Default::default()
    };
    let image = kiln_registry::store_image(&state.store, vec![entry.layer.clone()], config)
        .map_err(failed("storing the checkpoint's image"))?;
    // The login Docker (or `kiln component login`) stored for the registry, as a pull
    // uses it.
    let login = kiln_registry::credentials_for(reference.registry())
        .map_err(|e| BuildError::Failed(format!("pushing the checkpoint to {reference}: {e}")))?;
    let pushed = kiln_registry::push(&reference, login.as_ref(), &state.store, &image)
        .await
        .map_err(|e| BuildError::Failed(format!("pushing the checkpoint to {reference}: {e}")))?;
    state.cx.ui.say(&format!(
        "Pushed checkpoint {} to {reference}@{pushed}",
        &entry.key[..12]
    ));
    Ok(())
}

/// Pulls the checkpoint `key` from `repository` into the store: `None` when the
/// repository does not have it. Its blobs are checked against their digests as they
/// arrive, its layer's content against its diff_id as it is unpacked, and its entry
/// against the key and the layer; a mismatch fails the build, naming both digests.
async fn pull(
    state: &State<'_>,
    store: &CheckpointStore,
    key: &str,
    repository: &str,
) -> Result<Option<Checkpoint>, BuildError> {
    let reference = shared_name(repository, key)?;
    let image = match kiln_registry::pull(
        &reference,
        None,
        &kiln_registry::Platform::host(),
        &state.store,
    )
    .await
    {
        Ok(image) => image,
        Err(kiln_registry::Error::NotFound { .. }) => return Ok(None),
        Err(e) => {
            return Err(BuildError::Failed(format!(
                "pulling checkpoint {reference}: {e}"
            )))
        }
    };
    let refused =
        |why: String| BuildError::Failed(format!("checkpoint {reference} refused: {why}"));
    let label = image
        .config
        .config
        .as_ref()
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(LABEL))
        .ok_or_else(|| refused(format!("its config has no {LABEL} label")))?;
    let entry: Checkpoint =
        serde_json::from_str(label).map_err(|e| refused(format!("its {LABEL} label: {e}")))?;
    if entry.key != key {
        return Err(refused(format!("it is checkpoint {}", entry.key)));
    }
    match (
        image.manifest.layers.as_slice(),
        image.config.rootfs.diff_ids.as_slice(),
    ) {
        ([layer], [diff_id]) if layer.digest == entry.layer.digest && *diff_id == entry.diff_id => {
        }
        _ => {
            return Err(refused(format!(
                "its layers are not the one its entry names ({})",
                entry.layer.digest
            )))
        }
    }
    let (blobs, into, pulled) = (state.store.clone(), store.clone(), entry.clone());
    tokio::task::spawn_blocking(move || into.put_unpacked(&pulled, &blobs))
        .await
        .map_err(|e| BuildError::Failed(e.to_string()))?
        .map_err(|e| refused(e.to_string()))?;
    state.cx.ui.say(&format!(
        "Pulled checkpoint {} (provisioner {}) from {reference}",
        &key[..12],
        entry.step
    ));
    Ok(Some(entry))
}

/// Starts the container again on the trees of `found` (in order), with an empty upper
/// directory.
async fn restore(
    state: &mut State<'_>,
    store: &CheckpointStore,
    found: Vec<Checkpoint>,
) -> Result<(), BuildError> {
    if let Some(c) = state.container.take() {
        c.stop().await;
    }
    state.lowers = found.iter().rev().map(|c| store.tree(&c.key)).collect();
    state.step_layers = found;
    start_container(state, false).await
}

#[async_trait]
impl Snapshots for State<'_> {
    /// The container is always started again: the commit or export after the last
    /// step needs it running.
    async fn snapshot(&mut self, index: usize, key: &str, _more: bool) -> Result<(), BuildError> {
        snapshot(self, key, index).await?;
        if let Some(to) = &self.hook.checkpoint_share().to {
            let entry = self.step_layers.last().expect("just taken").clone();
            push(self, &entry, to).await?;
        }
        Ok(())
    }

    fn kept_up_to(&self) -> usize {
        self.step_layers.last().map_or(0, |c| c.step)
    }
}

/// The checkpoint store in the build's cache.
fn checkpoints(state: &State<'_>) -> CheckpointStore {
    CheckpointStore::new(state.cache.join("checkpoints"))
}

/// Stops the container, keeps what step `index` changed as its checkpoint under `key`,
/// and starts the container again on top of it.
async fn snapshot(state: &mut State<'_>, key: &str, index: usize) -> Result<(), BuildError> {
    let store = checkpoints(state);
    let step_type = state
        .hook
        .step_types()
        .get(index)
        .cloned()
        .unwrap_or_default();
    state.cx.ui.say(&format!(
        "Taking a checkpoint after provisioner {}...",
        index + 1
    ));
    if let Some(c) = state.container.take() {
        c.stop().await;
    }
    let dir = state.dir.clone().expect("created");
    let upper = dir.join("upper");
    let options = kiln_registry::LayerOptions {
        epoch: source_date_epoch(),
        overlay_upper: true,
        exclude: state.created.clone(),
        cancel: Some(state.cx.cancel.clone()),
    };
    let blobs = state.store.clone();
    let packed = upper.clone();
    let task =
        tokio::task::spawn_blocking(move || kiln_registry::write_layer(&packed, &options, &blobs));
    let task = state.packing.insert(task);
    let layer = task.await;
    state.packing = None;
    let layer = layer.map_err(|e| BuildError::Failed(e.to_string()))?;
    let layer = match layer {
        Ok(l) => l,
        Err(_) if state.cx.cancel.is_cancelled() => return Err(BuildError::Cancelled),
        Err(e) => return Err(failed("packing the checkpoint's layer")(e)),
    };
    let entry = Checkpoint {
        key: key.to_owned(),
        build: state.cx.build_name.clone(),
        step: index + 1,
        step_type,
        layer: layer.descriptor(),
        diff_id: layer.diff_id.clone(),
        created: now(),
    };
    store
        .put(&entry, &upper, &state.store)
        .map_err(failed("storing the checkpoint"))?;
    state.cx.ui.say(&format!(
        "Checkpoint {} after provisioner {}: layer {} ({} bytes)",
        &key[..12],
        index + 1,
        entry.layer.digest,
        entry.layer.size
    ));
    state.lowers.insert(0, store.tree(key));
    state.step_layers.push(entry);
    fresh_upper(state, &dir)?;
    start_container(state, false).await
}

/// A new empty upper directory (with the mount points the run needs) and work directory.
fn fresh_upper(state: &State<'_>, dir: &std::path::Path) -> Result<(), BuildError> {
    let work = dir.join("work");
    let _ = std::fs::remove_dir_all(&work);
    let upper = dir.join("upper");
    let made: std::io::Result<()> = (|| {
        std::fs::create_dir_all(&work)?;
        std::fs::create_dir_all(&upper)?;
        for m in &state.created {
            let lower_has = state.lowers.iter().any(|l| l.join(m).exists());
            if !lower_has {
                std::fs::create_dir_all(upper.join(m))?;
            }
        }
        Ok(())
    })();
    made.map_err(|e| failed("making the next step's upper directory")(e.to_string()))
}

/// The checkpoint trees a build stacks, uppermost first (for the overlay).
pub(super) fn lowers(state: &State<'_>) -> Vec<PathBuf> {
    let base = state.base.as_ref().expect("resolved");
    state
        .lowers
        .iter()
        .cloned()
        .chain([base.rootfs.clone()])
        .collect()
}
