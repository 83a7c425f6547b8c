//! Checkpoints of a qemu build (`-checkpoint`, `-resume`). After each provisioner whose
//! result can be keyed, the guest is shut down with `shutdown_command` (its file
//! systems unmounted and its disk flushed, as at the end of a build), the VM's disk file
//! is moved into the checkpoint store under the step's key, a new qcow2 overlay backed by
//! it takes its place, and the guest boots again from the overlay. The first checkpoint
//! holds the whole disk; each later one holds only the clusters its step changed.
//!
//! A resumed build puts an overlay on the longest run of kept checkpoints in place of
//! the new disk before the VM first boots, and starts after them. The artifact is then
//! made standalone by `qemu-img convert`, as compaction does.
//!
//! Checkpoints need a qcow2 disk, an SSH communicator and `shutdown_command`; a build
//! with `use_backing_file` (whose artifact is an overlay of the base image) takes none.

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};

use kiln_core::artifact::hex;
use kiln_core::checkpoint::CheckpointMode;
use kiln_core::steps::Step;
use kiln_core::BuildError;
use kiln_registry::checkpoint::{CheckpointStore, DiskCheckpoint};

use super::{disk, failed, shut_down, start_vm, QemuBuilder, State};
use crate::checkpoint::{keyed_prefix, now, provision_keyed, step_name, Snapshots};
use crate::machine::Reached as _;

/// Why the build `b` can take no checkpoints, if it cannot.
fn cannot(b: &QemuBuilder) -> Option<String> {
    if b.format != "qcow2" {
        return Some(format!(
            "the disk's format is {}, and checkpoints are qcow2 overlays",
            b.format
        ));
    }
    if b.efi_firmware_vars.is_some() {
        return Some(
            "the UEFI variable store (efi_firmware_vars) is not kept with a checkpoint".into(),
        );
    }
    if b.use_backing_file {
        return Some("use_backing_file keeps the artifact an overlay of the base image".into());
    }
    if b.ssh.is_none() || b.shutdown_command.is_none() {
        return Some(
            "the guest is shut down between steps with shutdown_command over SSH, and the \
             build has no SSH communicator or no shutdown_command"
                .into(),
        );
    }
    None
}

/// The key the first step's chains from: what the disk starts as (the base image or
/// ISO, by its checksum, and how the disk is made) and how the machine is run.
fn base_key(b: &QemuBuilder) -> String {
    let described = format!(
        "{:?}",
        (
            (
                &b.iso_urls,
                &b.iso_checksum,
                b.disk_image,
                &b.disk_size,
                &b.format
            ),
            (
                &b.disk_interface,
                &b.machine_type,
                b.memory,
                &b.smp,
                &b.cpu_model
            ),
            (
                &b.qemuargs,
                &b.qemu_binary,
                &b.efi_firmware_code,
                &b.efi_firmware_vars
            ),
            (
                &b.boot_command,
                &b.http_directory,
                &b.http_content,
                &b.net_device
            ),
            (&b.floppy, &b.cd, &b.additional_disks, &b.firmware),
        )
    );
    let mut h = Sha256::new();
    h.update(b"kiln-qemu-base/1\0");
    h.update(described.as_bytes());
    hex(&h.finalize())
}

fn store() -> Result<CheckpointStore, BuildError> {
    let cache = kiln_core::default_cache_dir().ok_or_else(|| {
        BuildError::Failed("no cache directory: set KILN_CACHE_DIR or HOME".into())
    })?;
    Ok(CheckpointStore::new(cache.join("checkpoints")))
}

/// A qcow2 overlay at `path` backed by `backing`.
async fn overlay(path: &std::path::Path, backing: &std::path::Path) -> Result<(), BuildError> {
    disk::qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-F",
        "qcow2",
        "-b",
        disk::text(backing),
        disk::text(path),
    ])
    .await
    .map(|_| ())
    .map_err(failed("creating the disk's overlay on its checkpoint"))
}

/// Works out the checkpoint keys and, resuming, makes the VM's disk an overlay on the
/// longest run of kept checkpoints (instead of a copy of the base) before it first boots.
pub(super) struct ResumeDisk;

#[async_trait]
impl<'a> Step<State<'a>> for ResumeDisk {
    fn name(&self) -> &'static str {
        "checkpoints"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let hook = state.hook;
        let mode = hook.checkpoint_mode();
        if mode == CheckpointMode::Off || hook.step_count() == 0 {
            return Ok(());
        }
        let ui = state.cx.ui.clone();
        if let Some(why) = cannot(state.b) {
            ui.say(&format!("No checkpoints are taken: {why}."));
            return Ok(());
        }
        let types = hook.step_types();
        let identities = hook.step_identities().await;
        state.keys = keyed_prefix(base_key(state.b), &identities, &types, &*ui);
        if mode != CheckpointMode::Resume || state.keys.is_empty() {
            return Ok(());
        }
        let store = store()?;
        let done = state
            .keys
            .iter()
            .take_while(|k| store.get_disk(k).is_some())
            .count();
        if done == 0 {
            ui.say("No checkpoint matches the first provisioner: the build runs from the start.");
            return Ok(());
        }
        let key = &state.keys[done - 1];
        overlay(&state.disk_path(), &store.disk(key)).await?;
        state.resumed = done;
        state.taken = done;
        state.chained = true;
        ui.say(&format!(
            "Resuming after {} from checkpoint {}: the machine boots from it, and \
             provisioners 1 to {done} of {} do not run again.",
            step_name(done - 1, &types),
            &key[..12],
            types.len()
        ));
        Ok(())
    }
}

/// Runs the provisioners, with a checkpoint after each one that can be keyed.
pub(super) struct ProvisionSteps;

#[async_trait]
impl<'a> Step<State<'a>> for ProvisionSteps {
    fn name(&self) -> &'static str {
        kiln_core::steps::PROVISION_STEP
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        if state.keys.is_empty() {
            let (communicator, connection) = state.machine();
            return state.hook.provision(communicator, connection).await;
        }
        let keys = state.keys.clone();
        let from = state.resumed;
        provision_keyed(state, &keys, from).await
    }
}

#[async_trait]
impl Snapshots for State<'_> {
    async fn snapshot(&mut self, index: usize, key: &str, more: bool) -> Result<(), BuildError> {
        snapshot(self, index, key, more).await
    }

    fn kept_up_to(&self) -> usize {
        self.taken
    }
}

/// Shuts the guest down, keeps its disk as the checkpoint of step `index` under `key`,
/// puts an overlay on it in its place and, when more steps follow (`boot`), boots again.
async fn snapshot(
    state: &mut State<'_>,
    index: usize,
    key: &str,
    boot: bool,
) -> Result<(), BuildError> {
    let key = key.to_owned();
    let step_type = state
        .hook
        .step_types()
        .get(index)
        .cloned()
        .unwrap_or_default();
    state.cx.ui.say(&format!(
        "Taking a checkpoint after provisioner {}: shutting the guest down...",
        index + 1
    ));
    shut_down(state).await?;
    state.disconnect().await;
    let store = store()?;
    let path = state.disk_path();
    let entry = DiskCheckpoint {
        key: key.clone(),
        build: state.cx.build_name.clone(),
        step: index + 1,
        step_type,
        created: now(),
    };
    let (into, moved, what) = (store.clone(), path.clone(), entry.clone());
    tokio::task::spawn_blocking(move || into.put_disk(&what, &moved))
        .await
        .map_err(|e| BuildError::Failed(e.to_string()))?
        .map_err(failed("storing the checkpoint"))?;
    let kept = store.disk(&key);
    overlay(&path, &kept).await?;
    state.chained = true;
    state.taken = index + 1;
    let bytes = std::fs::metadata(&kept).map_or(0, |m| m.len());
    state.cx.ui.say(&format!(
        "Checkpoint {} after provisioner {}: {bytes} bytes",
        &key[..12],
        index + 1
    ));
    if boot {
        start_vm(state).await?;
        state.connect().await?;
    }
    Ok(())
}
