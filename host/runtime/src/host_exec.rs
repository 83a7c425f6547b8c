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

impl GroupGuard {
    /// The command ended by itself: nothing to signal.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

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
        let shown = Prepared::new(cmd, &command.argv);
        Ok(self.run_streamed(vec![shown]).await?.remove(0))
    }

    async fn run_confined(
        &mut self,
        command: HostCommand,
        visible: Vec<VisiblePath>,
    ) -> Result<ExitStatus, HostError> {
        self.exec_granted()?;
        let prepared = self.confined(&command, &visible)?;
        Ok(self.run_streamed(vec![prepared]).await?.remove(0))
    }

    async fn run_confined_each(
        &mut self,
        commands: Vec<HostCommand>,
        visible: Vec<VisiblePath>,
    ) -> Result<Vec<ExitStatus>, HostError> {
        self.exec_granted()?;
        if commands.len() > MAX_AT_ONCE {
            return Err(err(
                ErrorKind::Invalid,
                format!("at most {MAX_AT_ONCE} commands run at once"),
            )
            .into());
        }
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let prepared = commands
            .iter()
            .map(|c| self.confined(c, &visible))
            .collect::<Result<Vec<_>, _>>()?;
        self.run_streamed(prepared).await
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

    /// `command` ready to run confined (or unconfined, said once, where this host does
    /// not allow namespaces), seeing `visible` and what the step is granted.
    fn confined(
        &mut self,
        command: &HostCommand,
        visible: &[VisiblePath],
    ) -> Result<Prepared, HostError> {
        let Some(program) = command.argv.first() else {
            return Err(err(ErrorKind::Invalid, "the command is empty").into());
        };
        let cwd = self.command_cwd(command);
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
            return Ok(Prepared::new(cmd, &command.argv));
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
            visible.iter().map(|v| (v.path.clone(), v.writable)).chain(
                self.paths
                    .all()
                    .map(|(p, w)| (p.display().to_string(), w))
                    .collect::<Vec<_>>(),
            ),
        )
        .map_err(io_err)?;
        let (helper, first) = crate::confine::helper();
        let mut cmd = tokio::process::Command::new(helper);
        let json = serde_json::to_string(&view).map_err(|e| io_err(std::io::Error::other(e)))?;
        cmd.args(first)
            .arg(json)
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .env("HOME", &view.home)
            .current_dir(&cwd);
        Ok(Prepared::new(cmd, &command.argv))
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

    /// Spawns each command in a process group of its own, streams their output to the
    /// UI under the step's output limit, and returns how each ended, in order.
    async fn run_streamed(
        &mut self,
        commands: Vec<Prepared>,
    ) -> Result<Vec<ExitStatus>, HostError> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, bool, Vec<u8>)>(16);
        // The readers of the commands' outputs, stopped with this call if it ends early
        // (a descendant that left the process group may hold a pipe open).
        let mut readers = tokio::task::JoinSet::new();
        let mut running = Vec::new();
        for (i, mut prepared) in commands.into_iter().enumerate() {
            // A spawn returns once the child has exec'd; while it forks, no temporary
            // file may be open for writing (see FORKS).
            let forking = FORKS.read().unwrap_or_else(|e| e.into_inner());
            let child = prepared
                .cmd
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0)
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| {
                    let mut w = io_err(e);
                    w.message = format!("starting `{}`: {}", prepared.program, w.message);
                    w
                });
            drop(forking);
            // An error drops the commands already started, which stops them.
            let mut child = child?;
            let guard = GroupGuard(child.id().and_then(|id| i32::try_from(id).ok()));
            readers.spawn(forward(
                child.stdout.take().expect("piped"),
                i,
                true,
                tx.clone(),
            ));
            readers.spawn(forward(
                child.stderr.take().expect("piped"),
                i,
                false,
                tx.clone(),
            ));
            let streams = [Shown::new(&prepared.label), Shown::new(&prepared.label)];
            running.push((child, guard, streams));
        }
        drop(tx);
        while let Some((i, is_out, data)) = rx.recv().await {
            self.count_printed(data.len(), crate::host::COMMANDS_PRINTED)?;
            running[i].2[usize::from(!is_out)].push(&data, &*self.ui);
        }
        let mut statuses = Vec::new();
        for (mut child, mut guard, mut streams) in running {
            for s in &mut streams {
                s.finish(&*self.ui);
            }
            let status = child.wait().await;
            guard.disarm();
            let status = status.map_err(io_err)?;
            use std::os::unix::process::ExitStatusExt;
            statuses.push(match (status.code(), status.signal()) {
                (Some(code), _) => ExitStatus::Exited(code),
                (None, Some(sig)) => ExitStatus::Killed(signal_name(sig)),
                (None, None) => ExitStatus::Exited(-1),
            });
        }
        Ok(statuses)
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

/// The most commands `run-confined-each` starts at once.
const MAX_AT_ONCE: usize = 16;

/// A host command ready to spawn, with what names it.
struct Prepared {
    cmd: tokio::process::Command,
    /// The program as the command named it, for errors.
    program: String,
    /// Its progress bar's label: the program and its last argument's file name.
    label: String,
}

impl Prepared {
    fn new(cmd: tokio::process::Command, argv: &[String]) -> Self {
        let program = argv.first().cloned().unwrap_or_default();
        let name = |s: &str| s.rsplit('/').next().unwrap_or(s).to_owned();
        let label = match argv {
            [_, .., last] => format!("{} {}", name(&program), name(last)),
            _ => name(&program),
        };
        Prepared {
            cmd,
            program,
            label,
        }
    }
}

/// Sends what `reader` gives, in pieces, as output `i` (stdout when `is_out`) until it
/// ends or nobody listens.
async fn forward(
    mut reader: impl tokio::io::AsyncRead + Unpin,
    i: usize,
    is_out: bool,
    tx: tokio::sync::mpsc::Sender<(usize, bool, Vec<u8>)>,
) {
    let mut buf = vec![0u8; 8192];
    while let Ok(n) = reader.read(&mut buf).await {
        if n == 0 || tx.send((i, is_out, buf[..n].to_vec())).await.is_err() {
            break;
        }
    }
}

/// One output stream of a host command, shown: its lines, but for what it redraws in
/// place with a percentage (text ended by a lone carriage return), which moves a
/// progress bar. A carriage return is judged once the byte after it is known: before a
/// newline it ends a line (Windows line endings), unless the command was redrawing a
/// percentage, whose last value a newline often ends (`qemu-img -p`, `curl -#`).
struct Shown {
    lines: LineBuffer,
    /// Text since the last carriage return or newline, not yet shown.
    segment: Vec<u8>,
    /// The current segment outgrew [`MAX_PROGRESS_LINE`]: it is a line, already given
    /// to `lines` as it came.
    long: bool,
    /// A carriage return ended `segment`; what it means waits for the next byte.
    cr: bool,
    /// The last segment judged was a percentage redrawn in place.
    redrawing: bool,
    /// The progress bar, once the command has drawn a percentage, and how far it shows
    /// (hundredths of a percent).
    bar: Option<(Box<dyn kiln_core::Progress>, u64)>,
    label: String,
}

/// A segment this long is a line, not a progress line.
const MAX_PROGRESS_LINE: usize = 512;

impl Shown {
    fn new(label: &str) -> Self {
        Shown {
            lines: LineBuffer::default(),
            segment: Vec::new(),
            long: false,
            cr: false,
            redrawing: false,
            bar: None,
            label: label.to_owned(),
        }
    }

    fn push(&mut self, mut data: &[u8], ui: &dyn kiln_core::Ui) {
        loop {
            if self.cr {
                match data.first() {
                    None => return,
                    Some(b'\n') => {
                        self.cr = false;
                        data = &data[1..];
                        self.end_line(ui);
                        continue;
                    }
                    Some(_) => {
                        self.cr = false;
                        self.end_redraw(ui);
                    }
                }
            }
            let Some(at) = data.iter().position(|b| *b == b'\r' || *b == b'\n') else {
                self.take(data, ui);
                return;
            };
            self.take(&data[..at], ui);
            let end = data[at];
            data = &data[at + 1..];
            if end == b'\n' {
                self.end_line(ui);
            } else {
                self.cr = true;
            }
        }
    }

    /// More of the current segment.
    fn take(&mut self, piece: &[u8], ui: &dyn kiln_core::Ui) {
        if piece.is_empty() {
            return;
        }
        if self.long {
            self.lines.push(piece, ui);
        } else if self.segment.len() + piece.len() > MAX_PROGRESS_LINE {
            self.lines.push(&self.segment, ui);
            self.lines.push(piece, ui);
            self.segment.clear();
            self.long = true;
        } else {
            self.segment.extend_from_slice(piece);
        }
    }

    /// The percentage the current segment shows, unless it is a line.
    fn percent(&self) -> Option<f64> {
        if self.long {
            return None;
        }
        std::str::from_utf8(&self.segment)
            .ok()
            .and_then(kiln_core::text::percent)
    }

    /// The segment ended by a newline: a line, or the last value of a redrawn percentage
    /// (after redraws, or a progress indicator alone, without a word).
    fn end_line(&mut self, ui: &dyn kiln_core::Ui) {
        let bare = !self.segment.iter().any(u8::is_ascii_alphabetic);
        match self.percent().filter(|_| self.redrawing || bare) {
            Some(percent) => self.advance(percent, ui),
            None => {
                self.lines.push(&self.segment, ui);
                self.lines.push(b"\n", ui);
            }
        }
        self.segment.clear();
        self.long = false;
        self.redrawing = false;
    }

    /// The segment ended by a lone carriage return: a percentage redrawn, or text a
    /// terminal would write over.
    fn end_redraw(&mut self, ui: &dyn kiln_core::Ui) {
        if let Some(percent) = self.percent() {
            self.advance(percent, ui);
            self.redrawing = true;
        } else if self.long || !self.segment.is_empty() {
            self.lines.push(&self.segment, ui);
            self.lines.push(b"\r", ui);
            self.redrawing = false;
        }
        self.segment.clear();
        self.long = false;
    }

    fn advance(&mut self, percent: f64, ui: &dyn kiln_core::Ui) {
        let (bar, shown) = self
            .bar
            .get_or_insert_with(|| (ui.progress_percent(&self.label), 0));
        let now = (percent * 100.0) as u64;
        if now > *shown {
            bar.advance(now - *shown);
            *shown = now;
        }
    }

    fn finish(&mut self, ui: &dyn kiln_core::Ui) {
        if std::mem::take(&mut self.cr) {
            self.end_redraw(ui);
        }
        match self.percent().filter(|_| self.redrawing) {
            Some(percent) => self.advance(percent, ui),
            None => self.lines.push(&self.segment, ui),
        }
        self.segment.clear();
        self.lines.finish(ui);
        self.bar = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records lines, and how far each progress bar got.
    #[derive(Default)]
    struct Seen {
        lines: Mutex<Vec<String>>,
        bars: Arc<Mutex<Vec<(String, u64)>>>,
    }

    struct Bar(Arc<Mutex<Vec<(String, u64)>>>, usize);

    impl kiln_core::Progress for Bar {
        fn advance(&self, n: u64) {
            self.0.lock().unwrap()[self.1].1 += n;
        }
    }

    impl kiln_core::Ui for Seen {
        fn say(&self, m: &str) {
            self.lines.lock().unwrap().push(m.to_owned());
        }
        fn message(&self, m: &str) {
            self.lines.lock().unwrap().push(m.to_owned());
        }
        fn error(&self, m: &str) {
            self.lines.lock().unwrap().push(m.to_owned());
        }
        fn progress_percent(&self, label: &str) -> Box<dyn kiln_core::Progress> {
            let mut bars = self.bars.lock().unwrap();
            bars.push((label.to_owned(), 0));
            Box::new(Bar(self.bars.clone(), bars.len() - 1))
        }
    }

    /// `output` pushed in pieces of `piece` bytes.
    fn shown(output: &[u8], piece: usize) -> (Vec<String>, Vec<(String, u64)>) {
        let ui = Seen::default();
        let mut s = Shown::new("qemu-img d.vdi");
        for chunk in output.chunks(piece) {
            s.push(chunk, &ui);
        }
        s.finish(&ui);
        let lines = ui.lines.lock().unwrap().clone();
        let bars = ui.bars.lock().unwrap().clone();
        (lines, bars)
    }

    #[test]
    fn a_redrawn_percentage_moves_a_bar_and_prints_no_line() {
        let mut out = Vec::new();
        for p in ["0.00", "12.50", "50.00", "49.00", "100.00"] {
            out.extend_from_slice(format!("    ({p}/100%)\r").as_bytes());
        }
        // qemu-img ends its last progress line with a newline too.
        out.push(b'\n');
        for piece in [1, 3, 7, out.len()] {
            let (lines, bars) = shown(&out, piece);
            assert!(lines.is_empty(), "{piece}: {lines:?}");
            assert_eq!(bars, vec![("qemu-img d.vdi".to_owned(), 10_000)], "{piece}");
        }
    }

    #[test]
    fn other_output_keeps_its_lines_around_a_bar() {
        let out = b"starting\n  (30.00/100%)\r  (100.00/100%)\r\ndone\nspin\rdone 2\n\ntail";
        let (lines, bars) = shown(out, 5);
        assert_eq!(lines, ["starting", "done", "done 2", "", "tail"]);
        assert_eq!(bars, vec![("qemu-img d.vdi".to_owned(), 10_000)]);
        // A line too long to be a progress line is a line, whole.
        let long = format!("{}50%\n", "x".repeat(600));
        let (lines, bars) = shown(long.as_bytes(), 100);
        assert_eq!(lines, [long.trim_end()]);
        assert!(bars.is_empty());
    }

    #[test]
    fn windows_line_endings_are_lines_even_with_a_percentage() {
        for piece in [1, 2, 5, 64] {
            let (lines, bars) = shown(b"coverage: 85%\r\nall done\r\n", piece);
            assert_eq!(lines, ["coverage: 85%", "all done"], "{piece}");
            assert!(bars.is_empty(), "{piece}");
        }
    }

    #[test]
    fn a_lone_progress_indicator_is_progress_whatever_ends_it() {
        // qemu-img's first and only value, when the conversion fails at once.
        for piece in [1, 3, 64] {
            let (lines, bars) = shown(b"    (0.00/100%)\r\nqemu-img: failed\n", piece);
            assert_eq!(lines, ["qemu-img: failed"], "{piece}");
            assert_eq!(bars, vec![("qemu-img d.vdi".to_owned(), 0)], "{piece}");
        }
    }

    #[test]
    fn a_line_after_a_redraw_is_its_own_line() {
        let out = format!("50%\r{}\nnext\n", "y".repeat(600));
        for piece in [1, 7, 100, out.len()] {
            let (lines, bars) = shown(out.as_bytes(), piece);
            assert_eq!(lines, ["y".repeat(600), "next".to_owned()], "{piece}");
            assert_eq!(bars, vec![("qemu-img d.vdi".to_owned(), 5_000)], "{piece}");
        }
    }

    #[test]
    fn text_redrawn_after_its_carriage_return_reaches_its_last_value() {
        // curl -# writes the carriage return first and ends with a newline.
        let out = b"\r###   12.0%\r#####   50.0%\r########## 100.0%\n";
        for piece in [1, 4, out.len()] {
            let (lines, bars) = shown(out, piece);
            assert!(lines.is_empty(), "{piece}: {lines:?}");
            assert_eq!(bars, vec![("qemu-img d.vdi".to_owned(), 10_000)], "{piece}");
        }
    }

    #[test]
    fn a_long_line_is_never_a_progress_line_however_it_is_cut() {
        let out = format!("{}(50.00/100%)\rtail\n", "x".repeat(600));
        for piece in [1, 100, 512, out.len()] {
            let (lines, bars) = shown(out.as_bytes(), piece);
            assert_eq!(lines, ["tail"], "{piece}");
            assert!(bars.is_empty(), "{piece}");
        }
    }

    #[test]
    fn a_progress_label_names_the_program_and_its_output() {
        let argv = ["qemu-img", "convert", "/in/disk.raw", "/out/d.vdi"].map(String::from);
        let p = Prepared::new(tokio::process::Command::new("true"), &argv);
        assert_eq!(p.label, "qemu-img d.vdi");
        let p = Prepared::new(tokio::process::Command::new("true"), &["/bin/true".into()]);
        assert_eq!(p.label, "true");
    }
}
