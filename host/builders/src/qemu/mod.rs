//! The `qemu` builder: boots a virtual machine from an ISO or a disk image with
//! `qemu-system-*`, provisions it over SSH and converts its disk into the artifact.
//!
//! Option names and defaults are Packer's. Where Packer sleeps, Kiln watches: the
//! guest's power-off comes from QEMU's exit (and its QMP `SHUTDOWN` event), SSH is polled
//! at short intervals, and `boot_wait` is only spent when there is a boot command to type.

pub mod accel;
pub mod bootcmd;
mod checkpoints;
mod config;
mod devices;
mod disk;
mod error;
mod media;
pub mod qmp;
mod vm;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use kiln_core::steps::Step;
use kiln_core::{
    Artifact, ArtifactFile, BuildContext, BuildError, Builder, Communicator, ConnectionInfo,
    ProvisionHook,
};

pub use config::QemuBuilder;
pub use error::QemuError;

use crate::download;
use crate::http::{HttpServer, HttpSource};
use crate::machine::{Connect, Reached, SshLink};
use vm::Vm;

/// The address the guest reaches the host at through QEMU's user-mode network.
const HOST_FROM_GUEST: [u8; 4] = [10, 0, 2, 2];

/// What the qemu builder's steps share.
struct State<'a> {
    b: &'a QemuBuilder,
    cx: &'a BuildContext,
    hook: &'a dyn ProvisionHook,
    /// The output directory exists and is ours to remove if the build does not finish.
    created_output: bool,
    accelerator: String,
    /// The downloaded (or local) ISO or base disk image.
    source_file: Option<PathBuf>,
    http: Option<HttpServer>,
    ssh_host_port: u16,
    vnc_port: Option<u16>,
    vm: Option<Vm>,
    ssh: SshLink,
    artifact: Option<Artifact>,
    devices: devices::Devices,
    /// The ISO's own directory when `iso_skip_cache` keeps it out of the cache.
    iso_scratch: Option<tempfile::TempDir>,
    /// The checkpoint keys of the provisioners that can be keyed, in order (none when
    /// the run takes no checkpoints).
    keys: Vec<String>,
    /// How many provisioners a resumed build skips.
    resumed: usize,
    /// The checkpoints taken or resumed from, in order.
    taken: usize,
    /// The disk is an overlay on checkpoints: the artifact must be made standalone.
    chained: bool,
}

impl State<'_> {
    fn disk_path(&self) -> PathBuf {
        self.b.output_directory.join(&self.b.vm_name)
    }

    fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.http
            .as_ref()
            .map(|h| std::net::SocketAddr::from((HOST_FROM_GUEST, h.port())))
    }

    /// Packer's template variables for boot_command and qemuargs.
    fn template_vars(&self) -> Vec<(&'static str, String)> {
        let http = self.http_addr();
        vec![
            (
                "HTTPIP",
                http.map(|a| a.ip().to_string()).unwrap_or_default(),
            ),
            (
                "HTTPPort",
                http.map(|a| a.port().to_string()).unwrap_or_default(),
            ),
            ("Name", self.b.vm_name.clone()),
            ("OutputDir", self.b.output_directory.display().to_string()),
            ("SSHHostPort", self.ssh_host_port.to_string()),
        ]
    }
}

/// A step's failure: what it was doing, then why.
fn failed<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> BuildError + '_ {
    move |e| BuildError::Failed(format!("{what}: {e}"))
}

/// Creates the output directory; removes it again unless the build produced its artifact.
struct OutputDir;

#[async_trait]
impl<'a> Step<State<'a>> for OutputDir {
    fn name(&self) -> &'static str {
        "output-directory"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let dir = &state.b.output_directory;
        if dir.exists() {
            if !state.cx.force {
                return Err(BuildError::Failed(format!(
                    "output directory {} already exists: remove it, or run with -force to delete it before building",
                    dir.display()
                )));
            }
            state.cx.ui.say(&format!(
                "Deleting previous output directory {}...",
                dir.display()
            ));
            tokio::fs::remove_dir_all(dir)
                .await
                .map_err(|e| failed("deleting the output directory")(e.to_string()))?;
        }
        tokio::fs::create_dir_all(dir).await.map_err(|e| {
            failed("creating the output directory")(format!("{}: {e}", dir.display()))
        })?;
        state.created_output = true;
        Ok(())
    }

    async fn cleanup(&self, state: &mut State<'a>) {
        if state.created_output && state.artifact.is_none() {
            let dir = &state.b.output_directory;
            state
                .cx
                .ui
                .say(&format!("Deleting output directory {}...", dir.display()));
            crate::machine::remove_dir_telling(&*state.cx.ui, dir).await;
        }
    }
}

/// Settles the accelerator and fetches the ISO or base image.
struct Prepare;

#[async_trait]
impl<'a> Step<State<'a>> for Prepare {
    fn name(&self) -> &'static str {
        "prepare"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let b = state.b;
        let iso_scratch = if b.iso_skip_cache {
            Some(
                tempfile::Builder::new()
                    .prefix("kiln-iso-")
                    .tempdir()
                    .map_err(|e| failed("creating a directory for the ISO")(e.to_string()))?,
            )
        } else {
            None
        };
        let fetch = async {
            let checksum = download::resolve_checksum(&b.iso_checksum, &b.iso_urls, &b.cwd)
                .await
                .map_err(failed("iso_checksum"))?;
            let cache = match &iso_scratch {
                // iso_skip_cache: fetched for this build only.
                Some(dir) => dir.path().to_owned(),
                None => kiln_core::default_cache_dir()
                    .ok_or_else(|| {
                        BuildError::Failed("no cache directory: set KILN_CACHE_DIR or HOME".into())
                    })?
                    .join("iso"),
            };
            download::fetch(
                &b.iso_urls,
                &checksum,
                &cache,
                &b.cwd,
                &*state.cx.ui,
                &state.cx.cancel,
            )
            .await
            .map_err(failed(if b.disk_image {
                "fetching the disk image"
            } else {
                "fetching the ISO"
            }))
        };
        let accelerator = async {
            match &b.accelerator {
                Some(a) => a.clone(),
                None => {
                    let probe = accel::default_accelerator(&b.qemu_binary).await;
                    state.cx.ui.say(&format!(
                        "Using accelerator {}: {}",
                        probe.accelerator, probe.reason
                    ));
                    probe.accelerator.to_owned()
                }
            }
        };
        let (file, accelerator) = tokio::join!(fetch, accelerator);
        let file = file?;
        state.iso_scratch = iso_scratch;
        state.accelerator = accelerator;
        if let Some(target) = &b.iso_target {
            // iso_target_path: the fetched file is also kept there.
            if let Some(dir) = target.parent() {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| failed("iso_target_path")(format!("{}: {e}", dir.display())))?;
            }
            if !target.exists() {
                tokio::fs::copy(&file, target)
                    .await
                    .map_err(|e| failed("iso_target_path")(format!("{}: {e}", target.display())))?;
            }
            state.source_file = Some(target.clone());
        } else {
            state.source_file = Some(file);
        }
        Ok(())
    }
}

/// Serves `http_directory` / `http_content` to the guest.
struct Http;

#[async_trait]
impl<'a> Step<State<'a>> for Http {
    fn name(&self) -> &'static str {
        "http-server"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let b = state.b;
        let source = match (&b.http_directory, &b.http_content) {
            (Some(dir), _) => HttpSource::Directory(dir.clone()),
            (None, content) if !content.is_empty() => HttpSource::Content(content.clone()),
            _ => return Ok(()),
        };
        let server = HttpServer::start(
            b.http_bind_address,
            b.http_port_min,
            b.http_port_max,
            source,
        )
        .await
        .map_err(|e| failed("starting the HTTP server")(e.to_string()))?;
        state.cx.ui.say(&format!(
            "Starting HTTP server on port {} (the guest reaches it at {})",
            server.port(),
            std::net::SocketAddr::from((HOST_FROM_GUEST, server.port()))
        ));
        state.http = Some(server);
        Ok(())
    }

    async fn cleanup(&self, state: &mut State<'a>) {
        if let Some(server) = state.http.take() {
            server.stop().await;
        }
    }
}

/// Creates the VM's disk in the output directory.
struct CreateDisk;

#[async_trait]
impl<'a> Step<State<'a>> for CreateDisk {
    fn name(&self) -> &'static str {
        "create-disk"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let b = state.b;
        let path = state.disk_path();
        let source = state.source_file.clone().expect("prepared");
        if state.resumed > 0 {
            // The disk is already an overlay on the last kept checkpoint.
            Ok(())
        } else if b.disk_image {
            disk::from_image(b, &source, &path, &*state.cx.ui).await
        } else {
            state
                .cx
                .ui
                .say(&format!("Creating {} disk {}...", b.format, path.display()));
            disk::create(b, &path).await
        }
        .map_err(failed("creating the disk"))?;
        if let Some(vars) = &b.efi_firmware_vars {
            let copy = b.output_directory.join("efivars.fd");
            tokio::fs::copy(vars, &copy).await.map_err(|e| {
                failed("copying the EFI variables")(format!("{}: {e}", vars.display()))
            })?;
        }
        Ok(())
    }
}

/// Starts QEMU; its cleanup makes sure QEMU is gone.
struct Run;

#[async_trait]
impl<'a> Step<State<'a>> for Run {
    fn name(&self) -> &'static str {
        "run"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let b = state.b;
        state.ssh_host_port = vm::free_port(b.host_port_min, b.host_port_max)
            .map_err(failed("choosing the SSH forwarding port"))?;
        if !b.disable_vnc && (b.vnc_port_min.is_some() || b.vnc_bind_address.is_some()) {
            let port = vm::free_port(
                b.vnc_port_min.unwrap_or(5900),
                b.vnc_port_max.unwrap_or(6000),
            )
            .map_err(failed("choosing the VNC port"))?;
            state.vnc_port = Some(port);
        }
        start_vm(state).await
    }

    async fn cleanup(&self, state: &mut State<'a>) {
        if let Some(vm) = state.vm.take() {
            if !vm.has_exited() {
                state.cx.ui.say("Stopping the virtual machine...");
            }
            vm.stop(Duration::from_secs(5)).await;
        }
    }
}

/// Starts QEMU on the VM's disk, with the ports already chosen.
async fn start_vm(state: &mut State<'_>) -> Result<(), BuildError> {
    let b = state.b;
    let args = vm::arguments(state)?;
    state.cx.ui.say("Starting the virtual machine...");
    tracing::debug!(binary = %b.qemu_binary, ?args, "starting QEMU");
    let vm = Vm::start(&b.qemu_binary, &args, &b.cwd)
        .await
        .map_err(failed("starting QEMU"))?;
    if let Some(port) = state.vnc_port {
        let bind = b.vnc_bind_address.as_deref().unwrap_or("127.0.0.1");
        state
            .cx
            .ui
            .say(&format!("The VM's screen is on VNC at {bind}:{port}"));
    }
    state.vm = Some(vm);
    Ok(())
}

/// A boot step's description, or one of its key actions.
enum BootAction {
    Say(String),
    Keys(bootcmd::Action),
    /// The end of a line (a group of keys): `boot_keygroup_interval` is waited here.
    LineDone,
}

/// Waits `boot_wait`, then types `boot_command`.
struct BootCommand;

#[async_trait]
impl<'a> Step<State<'a>> for BootCommand {
    fn name(&self) -> &'static str {
        "boot-command"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let b = state.b;
        if b.boot_command.is_empty() {
            return Ok(());
        }
        let vars = state.template_vars();
        // Each line's actions, after its description (boot_steps).
        let mut lines = Vec::new();
        for step in &b.boot_command {
            let rendered = bootcmd::render(&step.keys, &vars).map_err(failed("boot_command"))?;
            let actions = bootcmd::parse(&rendered).map_err(failed("boot_command"))?;
            lines.push((step.description.as_deref(), actions));
        }
        let vm = state.vm.as_mut().expect("running");
        if !b.boot_wait.is_zero() {
            state
                .cx
                .ui
                .say(&format!("Waiting {:?} for boot...", b.boot_wait));
            vm.sleep(b.boot_wait).await?;
        }
        state.cx.ui.say("Typing the boot command...");
        let actions = lines.into_iter().flat_map(|(description, actions)| {
            description
                .map(|d| BootAction::Say(d.to_owned()))
                .into_iter()
                .chain(actions.into_iter().map(BootAction::Keys))
                .chain([BootAction::LineDone])
        });
        for action in actions {
            let action = match action {
                BootAction::Say(d) => {
                    state.cx.ui.say(&format!("Boot step: {d}"));
                    continue;
                }
                BootAction::LineDone => {
                    if let Some(pause) = b.boot_keygroup_interval {
                        vm.sleep(pause).await?;
                    }
                    continue;
                }
                BootAction::Keys(a) => a,
            };
            match action {
                bootcmd::Action::Tap { key, shift } => {
                    if shift {
                        vm.key("shift", true).await?;
                    }
                    vm.key(key, true).await?;
                    vm.key(key, false).await?;
                    if shift {
                        vm.key("shift", false).await?;
                    }
                    vm.sleep(b.boot_key_interval).await?;
                }
                bootcmd::Action::Hold { key, down } => {
                    vm.key(key, down).await?;
                    vm.sleep(b.boot_key_interval).await?;
                }
                bootcmd::Action::Wait(d) => vm.sleep(d).await?,
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Reached for State<'_> {
    fn hook(&self) -> &dyn ProvisionHook {
        self.hook
    }

    fn ui(&self) -> &dyn kiln_core::Ui {
        &*self.cx.ui
    }

    /// Connects over SSH through the forwarded port, failing at once if QEMU exits.
    async fn connect(&mut self) -> Result<(), BuildError> {
        let Some(ssh) = &self.b.ssh else {
            return Ok(());
        };
        if !self.b.pause_before_connecting.is_zero() {
            let vm = self.vm.as_mut().expect("running");
            vm.sleep(self.b.pause_before_connecting).await?;
        }
        let mut ssh = ssh.clone();
        ssh.port = self.ssh_host_port;
        let vm = self.vm.as_mut().expect("running");
        let gone = async {
            BuildError::Failed(format!(
                "the virtual machine stopped before SSH was available: {}",
                vm.exited().await
            ))
        };
        self.ssh.connect(ssh, self.cx, gone).await
    }

    async fn disconnect(&mut self) {
        self.ssh.disconnect().await;
    }

    fn machine(&self) -> (Option<Arc<dyn Communicator>>, ConnectionInfo) {
        let http = self.http_addr();
        let connection = match &self.b.ssh {
            Some(ssh) => ConnectionInfo {
                port: self.ssh_host_port,
                http,
                ..ssh.connection_info()
            },
            None => ConnectionInfo {
                http,
                ..crate::machine::unreached()
            },
        };
        (self.ssh.communicator(), connection)
    }
}

/// Shuts the guest down: `shutdown_command` and a wait for QEMU to exit, or a forced
/// stop when there is no command.
struct Shutdown;

#[async_trait]
impl<'a> Step<State<'a>> for Shutdown {
    fn name(&self) -> &'static str {
        "shutdown"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        if state.vm.is_none() {
            // Powered off already, for the last provisioner's checkpoint.
            return Ok(());
        }
        shut_down(state).await
    }
}

/// `shutdown_command` and a wait for QEMU to exit, or a forced stop without one.
async fn shut_down(state: &mut State<'_>) -> Result<(), BuildError> {
    let b = state.b;
    let (Some(command), Some(comm)) = (&b.shutdown_command, state.ssh.get()) else {
        state.cx.ui.say("Halting the virtual machine...");
        let vm = state.vm.take().expect("running");
        vm.stop(Duration::from_secs(5)).await;
        return Ok(());
    };
    state.cx.ui.say("Gracefully halting the virtual machine...");
    let mut process = comm
        .start(command)
        .await
        .map_err(|e| failed("running shutdown_command")(e.to_string()))?;
    // The command's session ends with the machine; its output is only logged.
    let drain = async move {
        while let Some(out) = process.next_output().await {
            tracing::debug!(?out, "shutdown_command output");
        }
    };
    let vm = state.vm.as_mut().expect("running");
    let exited = tokio::select! {
        why = vm.exited() => Some(why),
        _ = async { drain.await; std::future::pending::<()>().await } => None,
        _ = tokio::time::sleep(b.shutdown_timeout) => None,
    };
    match exited {
        Some(why) => {
            state.cx.ui.say(&format!("The machine powered off: {why}"));
            state.vm.take();
            Ok(())
        }
        None => {
            let vm = state.vm.take().expect("running");
            vm.stop(Duration::from_secs(5)).await;
            Err(BuildError::Failed(format!(
                "the machine did not power off within shutdown_timeout ({:?}) after shutdown_command; it was stopped forcibly",
                b.shutdown_timeout
            )))
        }
    }
}

/// Compacts (and optionally compresses) the disk with `qemu-img convert`, then
/// describes the artifact.
struct Finish;

#[async_trait]
impl<'a> Step<State<'a>> for Finish {
    fn name(&self) -> &'static str {
        "finish"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let b = state.b;
        let path = state.disk_path();
        // A disk on checkpoints is an overlay on files in the cache: the artifact is
        // made standalone.
        if disk::wants_conversion(b) || state.chained {
            state.cx.ui.say(&format!(
                "Converting the disk{}...",
                match &b.output_format {
                    Some(f) => format!(" to {f}"),
                    None if b.disk_compression => " (compressed)".to_owned(),
                    None => String::new(),
                }
            ));
            disk::convert_in_place(b, &path, &*state.cx.ui)
                .await
                .map_err(failed("converting the disk"))?;
        }
        let mut files = Vec::new();
        let mut entries = std::fs::read_dir(&b.output_directory)
            .map_err(|e| failed("listing the output directory")(e.to_string()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect::<Vec<_>>();
        entries.sort();
        for p in entries {
            let (size, sha256) = crate::file::digest(&p)
                .await
                .map_err(|e| failed("reading the output")(format!("{}: {e}", p.display())))?;
            files.push(ArtifactFile {
                path: p,
                size,
                sha256,
            });
        }
        let mut metadata = std::collections::BTreeMap::new();
        metadata.insert("diskName".into(), b.vm_name.clone());
        metadata.insert(
            "diskType".into(),
            b.output_format.clone().unwrap_or_else(|| b.format.clone()),
        );
        metadata.insert(
            "diskSize".into(),
            b.disk_size
                .clone()
                .unwrap_or_else(|| disk::DEFAULT_SIZE.into()),
        );
        metadata.insert("domainType".into(), state.accelerator.clone());
        // What an appliance descriptor (OVF) or a Vagrant box made from this disk
        // describes: the machine's processors, memory and firmware, and the disk's
        // virtual size.
        // `-smp` is `N` or `cpus=N,sockets=...`.
        let first = b.smp.split(',').next().unwrap_or("1");
        let cpus = first.strip_prefix("cpus=").unwrap_or(first).to_owned();
        metadata.insert("cpus".into(), cpus);
        metadata.insert("memory".into(), b.memory.to_string());
        metadata.insert(
            "firmware".into(),
            if b.efi_firmware_code.is_some() {
                "efi"
            } else {
                "bios"
            }
            .into(),
        );
        if let Ok((_, size)) = disk::info(&path).await {
            metadata.insert("diskVirtualSize".into(), size.to_string());
        }
        state.artifact = Some(Artifact {
            builder_id: "transcend.qemu".into(),
            id: "VM".into(),
            files,
            metadata,
            image: None,
            description: format!("VM files in directory: {}", b.output_directory.display()),
        });
        Ok(())
    }
}

#[async_trait]
impl Builder for QemuBuilder {
    async fn run(
        &self,
        cx: &BuildContext,
        hook: &dyn ProvisionHook,
    ) -> Result<Artifact, BuildError> {
        let steps: Vec<Box<dyn Step<State<'_>>>> = vec![
            Box::new(OutputDir),
            Box::new(Prepare),
            Box::new(Http),
            Box::new(checkpoints::ResumeDisk),
            Box::new(CreateDisk),
            Box::new(devices::MakeDevices),
            Box::new(Run),
            Box::new(BootCommand),
            Box::new(Connect),
            Box::new(checkpoints::ProvisionSteps),
            Box::new(Shutdown),
            Box::new(Finish),
        ];
        let mut state = State {
            b: self,
            cx,
            hook,
            created_output: false,
            accelerator: String::new(),
            source_file: None,
            http: None,
            ssh_host_port: 0,
            vnc_port: None,
            vm: None,
            ssh: SshLink::default(),
            artifact: None,
            devices: Default::default(),
            iso_scratch: None,
            keys: Vec::new(),
            resumed: 0,
            taken: 0,
            chained: false,
        };
        cx.run_steps(&steps, &mut state).await?;
        Ok(state
            .artifact
            .take()
            .expect("the last step describes the artifact"))
    }
}
