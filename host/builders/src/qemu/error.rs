//! What can go wrong running QEMU and `qemu-img` for the qemu builder.

use std::path::PathBuf;
use std::process::ExitStatus;

use kiln_core::BuildError;

use super::bootcmd::BootCommandError;

/// Why the VM's disk, the QEMU process or its control socket failed. Each message says
/// what Kiln was doing and, where there is one, what to install or set.
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    /// `qemu-img` could not be started (usually: it is not installed).
    #[error("qemu-img: {source} (install Debian's qemu-utils package)")]
    QemuImgSpawn {
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// `qemu-img` ran and failed.
    #[error("qemu-img {subcommand} failed ({status}): {stderr}")]
    QemuImgFailed {
        /// The subcommand (`create`, `convert`, `resize`, `info`).
        subcommand: String,
        /// How it exited.
        status: ExitStatus,
        /// What it printed on stderr, trimmed.
        stderr: String,
    },
    /// `qemu-img info --output=json` printed something that is not JSON.
    #[error("qemu-img info: {source}")]
    QemuImgInfo {
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A `disk_size` that is not a size in bytes Kiln can compute.
    #[error("disk_size {size:?}")]
    DiskSize {
        /// The value as written.
        size: String,
    },
    /// Renaming the converted disk over the original failed.
    #[error("renaming {} to {}: {source}", from.display(), to.display())]
    Rename {
        /// The converted disk.
        from: PathBuf,
        /// The disk it replaces.
        to: PathBuf,
        /// Why the rename failed.
        #[source]
        source: std::io::Error,
    },
    /// Every port of a range is taken.
    #[error("no free port between {min} and {max}")]
    NoFreePort {
        /// The range's first port.
        min: u16,
        /// The range's last port.
        max: u16,
    },
    /// A VNC port that is no VNC display.
    #[error("VNC port {port} is below 5900, where QEMU's VNC displays start")]
    VncPort {
        /// The port.
        port: u16,
    },
    /// A `qemuargs` value whose template variables do not render.
    #[error("qemuargs: {source}")]
    QemuArgs {
        /// What is wrong with the value.
        #[source]
        source: BootCommandError,
    },
    /// The temporary directory for QEMU's control socket could not be created.
    #[error("creating the control directory: {source}")]
    ControlDir {
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The QEMU binary could not be started.
    #[error("{binary}: {source} (install Debian's qemu-system-x86 package, or set qemu_binary)")]
    QemuSpawn {
        /// `qemu_binary`.
        binary: String,
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// QEMU exited before its control socket answered.
    #[error("QEMU exited at once: {exit}")]
    ExitedAtOnce {
        /// QEMU's exit status and last output lines.
        exit: String,
    },
    /// QEMU exited while Kiln waited.
    #[error("the virtual machine stopped: {exit}")]
    Stopped {
        /// QEMU's exit status and last output lines.
        exit: String,
    },
    /// The control socket did not appear in time.
    #[error("QEMU's control socket {}: {source}", path.display())]
    ControlSocket {
        /// The socket's path.
        path: PathBuf,
        /// The last connection error.
        #[source]
        source: std::io::Error,
    },
    /// There is no connected control socket.
    #[error("QEMU's control socket is not connected")]
    NotConnected,
    /// Sending a QMP command failed.
    #[error("QMP {command}: {source}")]
    QmpSend {
        /// The command.
        command: String,
        /// The write error.
        #[source]
        source: std::io::Error,
    },
    /// QEMU answered a QMP command with an error.
    #[error("QMP {command}: {desc}")]
    QmpCommand {
        /// The command.
        command: String,
        /// QEMU's error description.
        desc: String,
    },
    /// QEMU closed the control socket before answering.
    #[error("QMP {command}: QEMU closed the control socket")]
    QmpClosed {
        /// The command.
        command: String,
    },
}

impl From<QemuError> for BuildError {
    fn from(e: QemuError) -> BuildError {
        BuildError::Failed(e.to_string())
    }
}
