//! The machine being built, through the host's communicator.
//!
//! Every call blocks until the host has done the work. Files named by host path are
//! opened by the host through the step's grant and streamed by the host: their bytes
//! never pass through the component.

use crate::bindings::kiln::plugin::communicator as comm;
use crate::Error;

pub use comm::{ExitStatus, Output, OutputStream, Process};

/// Runs `command` with the remote shell; its output streams to the build's UI as it
/// arrives. Returns how it ended.
pub fn run(command: &str) -> Result<ExitStatus, Error> {
    comm::run(command)
}

/// Runs `command` and fails unless it exits with one of `valid_codes` (Packer's
/// `valid_exit_codes`; an empty slice means `[0]`).
pub fn run_checked(command: &str, valid_codes: &[i32]) -> Result<(), String> {
    let valid: &[i32] = if valid_codes.is_empty() {
        &[0]
    } else {
        valid_codes
    };
    match run(command).map_err(|e| e.message)? {
        ExitStatus::Exited(code) if valid.contains(&code) => Ok(()),
        ExitStatus::Exited(code) => Err(format!(
            "script exited with non-zero exit status: {code}. Allowed exit codes are: {valid:?}"
        )),
        ExitStatus::Killed(sig) => Err(format!("remote command was killed by signal {sig}")),
        ExitStatus::Disconnected => Err("the connection dropped while the command ran".into()),
    }
}

/// Starts `command` and returns a handle whose output the component reads itself.
pub fn start(command: &str) -> Result<Process, Error> {
    comm::start(command)
}

/// Runs `command` and collects its standard output (standard error goes to nothing);
/// fails unless it exits 0.
pub fn output(command: &str) -> Result<Vec<u8>, String> {
    let process = start(command).map_err(|e| e.message)?;
    let mut stdout = Vec::new();
    while let Some(chunk) = process.read_output() {
        if chunk.source == OutputStream::Stdout {
            stdout.extend_from_slice(&chunk.data);
        }
    }
    match process.wait().map_err(|e| e.message)? {
        ExitStatus::Exited(0) => Ok(stdout),
        other => Err(format!("`{command}` failed: {other:?}")),
    }
}

/// Writes `data` to the remote file `dest`.
pub fn upload_bytes(data: &[u8], dest: &str, mode: Option<u32>) -> Result<(), Error> {
    comm::upload_bytes(data, dest, mode)
}

/// Copies the granted host file `src` to the remote file `dest`.
pub fn upload_file(src: &str, dest: &str, mode: Option<u32>) -> Result<(), Error> {
    comm::upload_file(src, dest, mode)
}

/// Copies the contents of the granted host directory `src` into the remote directory
/// `dest`.
pub fn upload_dir(src: &str, dest: &str) -> Result<(), Error> {
    comm::upload_dir(src, dest)
}

/// Copies the remote file `src` to the host file `dest` (which needs a write grant).
pub fn download_file(src: &str, dest: &str) -> Result<(), Error> {
    comm::download_file(src, dest)
}

/// Copies the contents of the remote directory `src` into the host directory `dest`
/// (which needs a write grant).
pub fn download_dir(src: &str, dest: &str) -> Result<(), Error> {
    comm::download_dir(src, dest)
}

pub use comm::SshLogin;

/// Where and as whom a program on the host that connects to the machine itself over
/// SSH logs in: the build's SSH communicator's login, or Kiln's SSH adapter in front of
/// any other communicator; `None` unless the step may run host commands and the build
/// has a communicator.
pub fn ssh_endpoint() -> Option<SshLogin> {
    comm::ssh_endpoint()
}

/// Kiln's SSH adapter in front of the build's communicator, whatever it is (see
/// [`ssh_endpoint`]).
pub fn ssh_adapter() -> Option<SshLogin> {
    comm::ssh_adapter()
}

/// `text` as one word of a POSIX shell command line (single-quoted).
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Runs `command` (its output streams to the UI) and returns its exit code; a command
/// killed by a signal or cut off by a dropped connection is an error saying so.
pub fn run_code(command: &str) -> Result<i32, String> {
    match run(command).map_err(|e| e.message)? {
        ExitStatus::Exited(code) => Ok(code),
        ExitStatus::Killed(sig) => Err(format!("the command was killed by signal {sig}")),
        ExitStatus::Disconnected => Err("the connection dropped while the command ran".into()),
    }
}
