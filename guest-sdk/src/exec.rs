//! Commands on this host, for a step granted `exec_host` (which only the template can
//! grant, to a builtin such as `shell-local` as to any other component). Without the
//! grant every call is refused.

use crate::bindings::kiln::plugin::host_exec;
use crate::Error;

pub use host_exec::{HostCommand, TempContent};

use crate::remote::ExitStatus;

/// Runs `argv` on the host with Kiln's environment plus the variables `env`, in `cwd`
/// (relative to the template's directory; the template's directory when `None`); its
/// output streams to the build's UI. Returns how it ended.
pub fn run(
    argv: &[String],
    env: &[(String, String)],
    cwd: Option<&str>,
) -> Result<ExitStatus, Error> {
    host_exec::run(&HostCommand {
        argv: argv.to_vec(),
        env: env.to_vec(),
        cwd: cwd.map(str::to_owned),
    })
}

/// Runs `argv` as [`run`] does, confined where the host allows it: the command sees
/// the host's system directories read-only, its own installation, the paths of
/// `visible` (`(path, writable)`; `~/` is the home of the person running Kiln), the
/// step's temporary files and a private home and `/tmp`. A component that calls this
/// and never [`run`] is shown by `kiln inspect` as running its host commands confined.
pub fn run_confined(
    argv: &[String],
    env: &[(String, String)],
    cwd: Option<&str>,
    visible: &[(String, bool)],
) -> Result<ExitStatus, Error> {
    host_exec::run_confined(
        &HostCommand {
            argv: argv.to_vec(),
            env: env.to_vec(),
            cwd: cwd.map(str::to_owned),
        },
        &visible_paths(visible),
    )
}

/// Runs `commands` at once, each confined as [`run_confined`] runs one (each seeing
/// `visible`), and waits for them all: their exit statuses, in order. At most 16.
pub fn run_confined_each(
    commands: &[HostCommand],
    visible: &[(String, bool)],
) -> Result<Vec<ExitStatus>, Error> {
    host_exec::run_confined_each(commands, &visible_paths(visible))
}

fn visible_paths(visible: &[(String, bool)]) -> Vec<host_exec::VisiblePath> {
    visible
        .iter()
        .map(|(path, writable)| host_exec::VisiblePath {
            path: path.clone(),
            writable: *writable,
        })
        .collect()
}

/// A temporary file on the host holding `content` with permission bits `mode`, its name
/// ending in `suffix`; removed when the step ends. Returns its absolute path.
pub fn temp_file(content: &TempContent, mode: u32, suffix: &str) -> Result<String, Error> {
    host_exec::temp_file(content, mode, suffix)
}

/// The absolute host path of `path` (relative to the template's directory), for a
/// command on the host to name.
pub fn absolute(path: &str) -> Result<String, Error> {
    host_exec::absolute(path)
}
