//! The devices beyond the disk and the ISO: the floppy and CD made from `floppy_*` and
//! `cd_*`, the disks of `disk_additional_size`, and the virtual TPM (`vtpm`, swtpm).

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

use kiln_core::steps::Step;
use kiln_core::BuildError;

use super::{disk, failed, media, State};

/// What the devices step made, for QEMU's command line.
#[derive(Default)]
pub(super) struct Devices {
    /// Holds the floppy and CD images and the TPM's state; removed with the state.
    pub(super) scratch: Option<tempfile::TempDir>,
    pub(super) floppy: Option<PathBuf>,
    pub(super) cd: Option<PathBuf>,
    /// `disk_additional_size`'s disks, in the output directory.
    pub(super) additional: Vec<PathBuf>,
    /// swtpm's control socket, while it runs.
    pub(super) tpm_socket: Option<PathBuf>,
    pub(super) swtpm: Option<tokio::process::Child>,
}

impl Devices {
    fn scratch(&mut self) -> Result<PathBuf, BuildError> {
        if self.scratch.is_none() {
            let dir = tempfile::Builder::new()
                .prefix("kiln-qemu-devices-")
                .tempdir()
                .map_err(|e| failed("creating a scratch directory")(e.to_string()))?;
            self.scratch = Some(dir);
        }
        Ok(self.scratch.as_ref().expect("made").path().to_owned())
    }
}

/// Makes the floppy, the CD and the additional disks; starts swtpm.
pub(super) struct MakeDevices;

#[async_trait]
impl<'a> Step<State<'a>> for MakeDevices {
    fn name(&self) -> &'static str {
        "devices"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let b = state.b;
        if !b.floppy.is_empty() {
            let image = state.devices.scratch()?.join("floppy.img");
            state.cx.ui.say("Creating the floppy disk...");
            media::floppy(&b.floppy, &b.cwd, &image)
                .await
                .map_err(failed("creating the floppy disk"))?;
            state.devices.floppy = Some(image);
        }
        if !b.cd.is_empty() {
            let image = state.devices.scratch()?.join("cd.iso");
            state.cx.ui.say("Creating the CD...");
            media::cd(&b.cd, &b.cwd, &image)
                .await
                .map_err(failed("creating the CD"))?;
            state.devices.cd = Some(image);
        }
        for (i, size) in b.additional_disks.iter().enumerate() {
            let path = b.output_directory.join(format!("{}-{}", b.vm_name, i + 1));
            state.cx.ui.say(&format!(
                "Creating additional {} disk {} ({size})...",
                b.format,
                path.display()
            ));
            disk::create_sized(b, &path, size)
                .await
                .map_err(failed("creating an additional disk"))?;
            state.devices.additional.push(path);
        }
        if let Some(tpm) = &b.vtpm {
            let dir = state.devices.scratch()?.join("tpm");
            std::fs::create_dir_all(&dir)
                .map_err(|e| failed("creating the TPM's state directory")(e.to_string()))?;
            let socket = dir.join("swtpm.sock");
            let mut cmd = tokio::process::Command::new("swtpm");
            cmd.arg("socket")
                .arg("--tpmstate")
                .arg(format!("dir={}", dir.display()))
                .arg("--ctrl")
                .arg(format!("type=unixio,path={}", socket.display()))
                .arg("--terminate")
                .kill_on_drop(true)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            if !tpm.tpm1 {
                cmd.arg("--tpm2");
            }
            // Like QEMU, swtpm must not outlive Kiln, even one killed by SIGKILL.
            crate::process::die_with_parent(&mut cmd);
            let child = cmd.spawn().map_err(|e| {
                failed("vtpm")(format!("swtpm: {e} (install Debian's swtpm package)"))
            })?;
            state.devices.swtpm = Some(child);
            // swtpm makes its socket at once; QEMU must find it there.
            let mut waited = Duration::ZERO;
            while !socket.exists() && waited < Duration::from_secs(5) {
                tokio::time::sleep(Duration::from_millis(20)).await;
                waited += Duration::from_millis(20);
            }
            if !socket.exists() {
                return Err(failed("vtpm")("swtpm did not make its socket".to_owned()));
            }
            state.cx.ui.say("Started the virtual TPM (swtpm)");
            state.devices.tpm_socket = Some(socket);
        }
        Ok(())
    }

    async fn cleanup(&self, state: &mut State<'a>) {
        if let Some(mut child) = state.devices.swtpm.take() {
            let _ = child.kill().await;
        }
        state.devices.scratch.take();
    }
}

/// QEMU's arguments for these devices.
pub(super) fn arguments(state: &State<'_>, out: &mut Vec<(&'static str, String)>) {
    let b = state.b;
    let d = &state.devices;
    let cdrom_if = b
        .cdrom_interface
        .as_deref()
        .map(|i| format!(",if={i}"))
        .unwrap_or_default();
    if let Some(f) = &d.floppy {
        // As Packer's -fda, with the format named (QEMU warns about a guessed raw).
        out.push((
            "-drive",
            format!("file={},if=floppy,index=0,format=raw", f.display()),
        ));
    }
    if let Some(cd) = &d.cd {
        out.push((
            "-drive",
            format!("file={},media=cdrom{cdrom_if}", cd.display()),
        ));
    }
    for disk in &d.additional {
        out.push((
            "-drive",
            format!(
                "file={},if={},cache={},discard={},format={}",
                disk.display(),
                if b.disk_interface == "virtio-scsi" || b.disk_interface == "sata" {
                    "virtio"
                } else {
                    b.disk_interface.as_str()
                },
                b.disk_cache,
                b.disk_discard,
                b.format,
            ),
        ));
    }
    if let (Some(socket), Some(tpm)) = (&d.tpm_socket, &b.vtpm) {
        out.push((
            "-chardev",
            format!("socket,id=vtpm,path={}", socket.display()),
        ));
        out.push(("-tpmdev", "emulator,id=tpm0,chardev=vtpm".into()));
        out.push(("-device", format!("{},tpmdev=tpm0", tpm.device)));
    }
}
