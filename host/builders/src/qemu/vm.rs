//! The QEMU process: its command line, its control socket, and making sure it is gone.

use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{oneshot, watch};

use super::qmp::Qmp;
use super::{QemuError, State};

/// How many of QEMU's last stderr lines an error quotes.
const STDERR_LINES: usize = 20;

/// A port in `min..=max` that nothing listens on right now, picked at random as Packer
/// does (so parallel builds rarely collide).
pub(super) fn free_port(min: u16, max: u16) -> Result<u16, QemuError> {
    for port in crate::ports_from_random_start(min, max) {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(QemuError::NoFreePort { min, max })
}

/// QEMU's command line: Packer's defaults, with every flag that `qemuargs` also gives
/// left to `qemuargs`, plus the control socket.
pub(super) fn arguments(state: &State<'_>) -> Result<Vec<String>, QemuError> {
    let b = state.b;
    let disk = state.disk_path();
    let mut defaults: Vec<(&'static str, String)> = vec![("-name", b.vm_name.clone())];
    let machine = match state.accelerator.as_str() {
        "none" => format!("type={}", b.machine_type),
        accel => format!("type={},accel={accel}", b.machine_type),
    };
    defaults.push(("-machine", machine));
    defaults.push((
        "-netdev",
        format!(
            "user,id=user.0,hostfwd=tcp:127.0.0.1:{}-:{}",
            state.ssh_host_port, b.guest_ssh_port
        ),
    ));
    defaults.push(("-device", format!("{},netdev=user.0", b.net_device)));
    let mut drive = format!(
        "file={},cache={},discard={},format={}",
        disk.display(),
        b.disk_cache,
        b.disk_discard,
        b.format
    );
    if b.disk_detect_zeroes != "off" {
        drive.push_str(&format!(",detect-zeroes={}", b.disk_detect_zeroes));
    }
    match b.disk_interface.as_str() {
        "virtio-scsi" => {
            defaults.push(("-device", "virtio-scsi-pci,id=scsi0".into()));
            defaults.push(("-device", "scsi-hd,bus=scsi0.0,drive=drive0".into()));
            defaults.push(("-drive", format!("if=none,id=drive0,{drive}")));
        }
        "sata" => {
            defaults.push(("-device", "ahci,id=ahci0".into()));
            defaults.push(("-device", "ide-hd,bus=ahci0.0,drive=drive0".into()));
            defaults.push(("-drive", format!("if=none,id=drive0,{drive}")));
        }
        iface => defaults.push(("-drive", format!("{drive},if={iface}"))),
    }
    if b.disk_image {
        defaults.push(("-boot", "c".into()));
    } else {
        let iso = state.source_file.as_ref().expect("prepared");
        let cdrom_if = b
            .cdrom_interface
            .as_deref()
            .map(|i| format!(",if={i}"))
            .unwrap_or_default();
        defaults.push((
            "-drive",
            format!("file={},media=cdrom{cdrom_if}", iso.display()),
        ));
        defaults.push(("-boot", "once=d".into()));
    }
    super::devices::arguments(state, &mut defaults);
    match &b.firmware {
        Some((path, false)) => defaults.push(("-bios", path.display().to_string())),
        Some((path, true)) => defaults.push((
            "-drive",
            format!("file={},if=pflash,format=raw,readonly=on", path.display()),
        )),
        None => {}
    }
    if let Some(socket) = &b.qmp_socket {
        defaults.push((
            "-qmp",
            format!("unix:{},server=on,wait=off", socket.display()),
        ));
    }
    if let (Some(code), None) = (&b.efi_firmware_code, &b.efi_firmware_vars) {
        // efi_drop_efivars: the firmware alone.
        defaults.push((
            "-drive",
            format!(
                "file={},if=pflash,unit=0,format=raw,readonly=on",
                code.display()
            ),
        ));
    }
    if let (Some(code), Some(_)) = (&b.efi_firmware_code, &b.efi_firmware_vars) {
        defaults.push((
            "-drive",
            format!(
                "file={},if=pflash,unit=0,format=raw,readonly=on",
                code.display()
            ),
        ));
        defaults.push((
            "-drive",
            format!(
                "file={},if=pflash,unit=1,format=raw",
                b.output_directory.join("efivars.fd").display()
            ),
        ));
    }
    defaults.push(("-m", format!("{}M", b.memory)));
    defaults.push(("-smp", b.smp.clone()));
    if let Some(model) = &b.cpu_model {
        defaults.push(("-cpu", model.clone()));
    }
    if let Some(display) = &b.display {
        defaults.push(("-display", display.clone()));
    }
    if let Some(port) = state.vnc_port {
        let bind = b.vnc_bind_address.as_deref().unwrap_or("127.0.0.1");
        let display = port.checked_sub(5900).ok_or(QemuError::VncPort { port })?;
        defaults.push(("-vnc", format!("{bind}:{display}")));
    }

    let vars = state.template_vars();
    let mut user: Vec<Vec<String>> = Vec::new();
    for group in &b.qemuargs {
        let mut rendered = Vec::new();
        for a in group {
            rendered.push(
                super::bootcmd::render(a, &vars)
                    .map_err(|source| QemuError::QemuArgs { source })?,
            );
        }
        user.push(rendered);
    }
    let overridden: HashSet<&str> = user
        .iter()
        .filter_map(|g| g.first().map(String::as_str))
        .collect();
    let mut args = Vec::new();
    for (flag, value) in defaults {
        if !overridden.contains(flag) {
            args.push(flag.to_owned());
            args.push(value);
        }
    }
    for group in user {
        args.extend(group);
    }
    Ok(args)
}

/// A running QEMU. Dropping it kills QEMU.
pub(super) struct Vm {
    qmp: Option<Qmp>,
    /// QEMU's `SHUTDOWN` event: why the machine stopped (`guest-shutdown` when the
    /// guest powered itself off).
    shutdown: Option<watch::Receiver<Option<String>>>,
    exited: watch::Receiver<Option<String>>,
    kill: Option<oneshot::Sender<()>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    _control: tempfile::TempDir,
}

impl Vm {
    /// Starts QEMU with `args` (plus its control socket) in `cwd`, and connects to it.
    pub(super) async fn start(binary: &str, args: &[String], cwd: &Path) -> Result<Vm, QemuError> {
        let control = tempfile::Builder::new()
            .prefix("kiln-qemu")
            .tempdir()
            .map_err(|source| QemuError::ControlDir { source })?;
        let socket = control.path().join("qmp.sock");
        let mut command = tokio::process::Command::new(binary);
        command
            .args(args)
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", socket.display()))
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        crate::process::die_with_parent(&mut command);
        let mut child = command.spawn().map_err(|source| QemuError::QemuSpawn {
            binary: binary.to_owned(),
            source,
        })?;
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let keep = stderr.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::debug!(target: "kiln::qemu", "{line}");
                    let mut keep = keep.lock().expect("stderr buffer");
                    if keep.len() == STDERR_LINES {
                        keep.pop_front();
                    }
                    keep.push_back(line);
                }
            });
        }
        let (kill, kill_rx) = oneshot::channel::<()>();
        let (exit_tx, exited) = watch::channel(None);
        tokio::spawn(async move {
            let status = tokio::select! {
                s = child.wait() => s,
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let text = match status {
                Ok(s) => s.to_string(),
                Err(e) => e.to_string(),
            };
            exit_tx.send_replace(Some(text));
        });
        let mut vm = Vm {
            qmp: None,
            shutdown: None,
            exited,
            kill: Some(kill),
            stderr,
            _control: control,
        };
        let connect = Qmp::connect(&socket, Duration::from_secs(30));
        let qmp = tokio::select! {
            r = connect => r,
            exit = vm.exited() => Err(QemuError::ExitedAtOnce { exit }),
        };
        match qmp {
            Ok(q) => {
                vm.shutdown = Some(q.shutdown_events());
                vm.qmp = Some(q);
                Ok(vm)
            }
            Err(e) => {
                vm.stop(Duration::ZERO).await;
                Err(e)
            }
        }
    }

    /// Whether QEMU has exited.
    pub(super) fn has_exited(&self) -> bool {
        self.exited.borrow().is_some()
    }

    /// Resolves when QEMU exits, with its exit status and last output lines.
    pub(super) async fn exited(&self) -> String {
        let mut rx = self.exited.clone();
        let status = match rx.wait_for(Option::is_some).await {
            Ok(s) => s.clone().unwrap_or_default(),
            Err(_) => "unknown status".into(),
        };
        let reason = self
            .shutdown
            .as_ref()
            .and_then(|r| r.borrow().clone())
            .map(|r| format!("{r}, "))
            .unwrap_or_default();
        let lines: Vec<String> = self
            .stderr
            .lock()
            .expect("stderr buffer")
            .iter()
            .cloned()
            .collect();
        if lines.is_empty() {
            format!("QEMU exited ({reason}{status})")
        } else {
            format!("QEMU exited ({reason}{status}):\n{}", lines.join("\n"))
        }
    }

    /// Sleeps for `d`, failing early if QEMU exits meanwhile.
    pub(super) async fn sleep(&mut self, d: Duration) -> Result<(), QemuError> {
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            exit = self.exited() => Err(QemuError::Stopped { exit }),
        }
    }

    /// Presses or releases a key.
    pub(super) async fn key(&mut self, qcode: &str, down: bool) -> Result<(), QemuError> {
        match &mut self.qmp {
            Some(q) => q.key(qcode, down).await,
            None => Err(QemuError::NotConnected),
        }
    }

    /// Stops QEMU: asks it to quit, waits up to `grace`, then kills it. Returns once the
    /// process is gone.
    pub(super) async fn stop(mut self, grace: Duration) {
        if let (false, false, Some(qmp)) = (self.has_exited(), grace.is_zero(), &mut self.qmp) {
            let quit = tokio::time::timeout(grace, qmp.execute("quit", None)).await;
            if quit.is_ok() {
                let _ = tokio::time::timeout(grace, self.exited()).await;
            }
        }
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        let _ = self.exited().await;
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }
}
