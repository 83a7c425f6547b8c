//! The host side of `host-exec`: commands on this host and the temporary files they
//! run, for a step granted `exec_host` (the `shell-local` builtins ask for it; any other
//! component only where the template grants it). A command runs in a process group of
//! its own, with Kiln's environment and the variables the component adds; its output goes to the
//! UI and counts against the step's output limit; when the step ends or the build is
//! cancelled while it runs, its group gets TERM, then KILL a second later.

use std::process::Stdio;

use tokio::io::AsyncReadExt;

use crate::bindings::provisioner::kiln::plugin::communicator::ExitStatus;
use crate::bindings::provisioner::kiln::plugin::host_exec::{
    self, HostCommand, TempContent, VisiblePath,
};
use crate::bindings::provisioner::kiln::plugin::types::{Error as WitError, ErrorKind};
use crate::grants::Access;
use crate::host::{err, grant_err, io_err, HostError, LineBuffer, StepState};

/// Signals a command's process group when the call that ran it ends early (dropped by
/// a cancellation or a trap): TERM at once, KILL a second later.
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        use nix::sys::signal::{killpg, Signal};
        use nix::unistd::Pid;
        if let Some(pid) = self.0.take() {
            let group = Pid::from_raw(pid);
            let _ = killpg(group, Signal::SIGTERM);
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_secs(1));
                let _ = killpg(group, Signal::SIGKILL);
            });
        }
    }
}

/// Held for reading while a host command is spawned, for writing while a temporary
/// file is written. A child forked while another step's script is open for writing
/// holds that descriptor until it execs, and running the script then fails with "text
/// file busy" (exit 126): parallel builds' shell-local steps did. A spawn returns only
/// once its child has exec'd, so under this lock no fork overlaps an open script.
static FORKS: std::sync::RwLock<()> = std::sync::RwLock::new(());

impl StepState {
    /// Refuses a step not granted `exec_host`, and tells the person (once).
    fn exec_granted(&self) -> Result<(), WitError> {
        if self.exec_host {
            return Ok(());
        }
        self.told.host_exec();
        Err(err(
            ErrorKind::PermissionDenied,
            "this step may not run commands on the host: the template does not grant it \
             (grant { exec_host = true })",
        ))
    }
}

impl host_exec::Host for StepState {
    async fn run(&mut self, command: HostCommand) -> Result<ExitStatus, HostError> {
        self.exec_granted()?;
        let Some(program) = command.argv.first() else {
            return Err(err(ErrorKind::Invalid, "the command is empty").into());
        };
        self.announce_exec(None);
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(&command.argv[1..])
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.command_cwd(&command));
        self.run_streamed(cmd, program).await
    }

    async fn run_confined(
        &mut self,
        command: HostCommand,
        visible: Vec<VisiblePath>,
    ) -> Result<ExitStatus, HostError> {
        self.exec_granted()?;
        let Some(program) = command.argv.first() else {
            return Err(err(ErrorKind::Invalid, "the command is empty").into());
        };
        let cwd = self.command_cwd(&command);
        let search = command
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| std::ffi::OsString::from(v))
            .or_else(|| std::env::var_os("PATH"));
        let Some(found) = crate::confine::find_program(program, &cwd, search.as_deref()) else {
            let mut w = io_err(std::io::Error::from(std::io::ErrorKind::NotFound));
            w.message = format!("starting `{program}`: No such file or directory (os error 2)");
            return Err(w.into());
        };
        let confined = crate::confine::available();
        self.announce_exec(Some(confined.as_ref().map(|_| ()).map_err(String::as_str)));
        if confined.is_err() {
            let mut cmd = tokio::process::Command::new(&found);
            cmd.args(&command.argv[1..])
                .envs(command.env.iter().map(|(k, v)| (k, v)))
                .current_dir(&cwd);
            return self.run_streamed(cmd, program).await;
        }
        let temp = self.step_temp()?.to_owned();
        let view = crate::confine::view(
            &found,
            &command.argv,
            &cwd,
            &temp,
            search.as_deref(),
            // What the component names, then what the step is granted (the template's
            // `grant`, and a builtin's own paths): a template widens the view in writing.
            visible.into_iter().map(|v| (v.path, v.writable)).chain(
                self.paths
                    .all()
                    .map(|(p, w)| (p.display().to_string(), w))
                    .collect::<Vec<_>>(),
            ),
        )
        .map_err(io_err)?;
        let mut cmd = tokio::process::Command::new("/proc/self/exe");
        let json = serde_json::to_string(&view).map_err(|e| io_err(std::io::Error::other(e)))?;
        cmd.arg(kiln_core::confine::CONFINE_ARG)
            .arg(json)
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .env("HOME", &view.home)
            .current_dir(&cwd);
        self.run_streamed(cmd, program).await
    }

    async fn absolute(&mut self, path: String) -> Result<String, HostError> {
        self.exec_granted()?;
        let abs = crate::normalize(&self.paths.cwd().join(&path));
        let abs = abs
            .to_str()
            .ok_or_else(|| err(ErrorKind::Invalid, "the path is not UTF-8"))?;
        Ok(abs.to_owned())
    }

    async fn temp_file(
        &mut self,
        content: TempContent,
        mode: u32,
        suffix: String,
    ) -> Result<String, HostError> {
        self.exec_granted()?;
        if suffix.len() > 64 || suffix.contains(['/', '\0']) {
            return Err(err(
                ErrorKind::Invalid,
                "a temporary file's suffix is at most 64 characters, without `/`",
            )
            .into());
        }
        let bytes = match content {
            TempContent::Bytes(b) => {
                self.check_message(b.len(), "a temporary file")?;
                b
            }
            TempContent::CopyOf(src) => self.read_granted(&src)?,
        };
        let dir = self.step_temp()?.to_owned();
        self.temp_count += 1;
        let path = dir.join(format!("kiln-{}{suffix}", self.temp_count));
        let written = {
            use std::os::unix::fs::PermissionsExt;
            let _writing = FORKS.write().unwrap_or_else(|e| e.into_inner());
            std::fs::write(&path, &bytes).and_then(|()| {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777))
            })
        };
        written.map_err(io_err)?;
        Ok(path.display().to_string())
    }
}

impl StepState {
    /// Says once, when the step runs its first host command, that it does and how.
    /// `confined`: `None` for `run`; for `run-confined`, whether the host confines it.
    fn announce_exec(&mut self, confined: Option<Result<(), &str>>) {
        if self.exec_announced {
            return;
        }
        self.exec_announced = true;
        let how = match confined {
            None => String::new(),
            Some(Ok(())) => " Each runs confined: it sees this host's system directories \
                             read-only, the files the step names, a private home and /tmp, \
                             and this host's network."
                .to_owned(),
            Some(Err(why)) => format!(" They run unconfined here: {why}."),
        };
        let who = if self.exec_host_implied {
            "This step runs commands on this host, as the template's author wrote them \
             (kiln -refuse-exec-host refuses host execution)."
        } else {
            "This step runs commands on this host (granted by exec_host in the template)."
        };
        self.ui.say(&format!("{who}{how}"));
    }

    /// Where a host command starts: its `cwd` below the template's directory.
    fn command_cwd(&self, command: &HostCommand) -> std::path::PathBuf {
        match &command.cwd {
            Some(dir) => crate::normalize(&self.paths.cwd().join(dir)),
            None => self.paths.cwd().to_owned(),
        }
    }

    /// The step's private temporary directory, made on first use.
    fn step_temp(&mut self) -> Result<&std::path::Path, WitError> {
        if self.temp.is_none() {
            let dir = tempfile::Builder::new()
                .prefix("kiln-step-")
                .tempdir()
                .map_err(io_err)?;
            self.temp = Some(dir);
        }
        Ok(self.temp.as_ref().expect("made above").path())
    }

    /// Spawns `cmd` in a process group of its own, streams its output to the UI under
    /// the step's output limit, and returns how it ended. `program` names it in errors.
    async fn run_streamed(
        &mut self,
        mut cmd: tokio::process::Command,
        program: &str,
    ) -> Result<ExitStatus, HostError> {
        // A spawn returns once the child has exec'd; while it forks, no temporary file
        // may be open for writing (see FORKS).
        let forking = FORKS.read().unwrap_or_else(|e| e.into_inner());
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                let mut w = io_err(e);
                w.message = format!("starting `{program}`: {}", w.message);
                w
            });
        drop(forking);
        let mut child = child?;
        let mut guard = GroupGuard(child.id().and_then(|id| i32::try_from(id).ok()));
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let (mut out, mut errs) = (LineBuffer::default(), LineBuffer::default());
        let (mut out_buf, mut err_buf) = (vec![0u8; 8192], vec![0u8; 8192]);
        let (mut out_done, mut err_done) = (false, false);
        while !(out_done && err_done) {
            let (n, is_out) = tokio::select! {
                r = stdout.read(&mut out_buf), if !out_done => (r.unwrap_or(0), true),
                r = stderr.read(&mut err_buf), if !err_done => (r.unwrap_or(0), false),
            };
            if n == 0 {
                if is_out {
                    out_done = true;
                } else {
                    err_done = true;
                }
                continue;
            }
            self.count_printed(n, crate::host::COMMANDS_PRINTED)?;
            if is_out {
                out.push(&out_buf[..n], &*self.ui);
            } else {
                errs.push(&err_buf[..n], &*self.ui);
            }
        }
        out.finish(&*self.ui);
        errs.finish(&*self.ui);
        let status = child.wait().await;
        guard.0 = None;
        let status = status.map_err(io_err)?;
        use std::os::unix::process::ExitStatusExt;
        Ok(match (status.code(), status.signal()) {
            (Some(code), _) => ExitStatus::Exited(code),
            (None, Some(sig)) => ExitStatus::Killed(signal_name(sig)),
            (None, None) => ExitStatus::Exited(-1),
        })
    }

    /// The whole granted host file `src` (at most the step's message size).
    fn read_granted(&self, src: &str) -> Result<Vec<u8>, WitError> {
        let resolved = self.paths.resolve(src, Access::Read).map_err(grant_err)?;
        let max = self.step_limits.message_size();
        self.read_limited(resolved, src, max, "the step's message_size limit")
    }
}

/// `TERM`, `KILL`, ...: a signal's name as SSH reports it.
fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().trim_start_matches("SIG").to_owned())
        .unwrap_or_else(|_| sig.to_string())
}
