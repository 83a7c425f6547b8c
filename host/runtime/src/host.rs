//! The host side of the WIT imports: what a component's calls do.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use wasmtime::component::{Resource, ResourceTable, ResourceTableError};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use kiln_core::communicator::{self as core_comm, Communicator, RemoteProcess};
use kiln_core::Ui;

use crate::bindings::provisioner::kiln::plugin::{communicator, host_files, types, ui};
use crate::grants::{Access, GrantError, GrantedPaths, PathKind};
use crate::tree::{DirSink, DirSource};

use types::{Error as WitError, ErrorKind};

/// A remote command a component started, stored in the resource table.
pub struct ProcessHandle {
    inner: Box<dyn RemoteProcess>,
}

/// Everything one component instance may reach.
pub struct StepState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: wasmtime::StoreLimits,
    /// The step's own limits (UI output, calls in flight, message size).
    pub(crate) step_limits: kiln_core::Limits,
    /// UI bytes printed so far.
    pub(crate) ui_printed: u64,
    /// Remote commands started and not yet dropped.
    pub(crate) in_flight: u32,
    pub(crate) communicator: Option<Arc<dyn Communicator>>,
    pub(crate) ui: Arc<dyn Ui>,
    pub(crate) paths: GrantedPaths,
    /// Archive entries' modification times are clamped to this (seconds).
    pub(crate) archive_epoch: u64,
    /// Digests of the files the step wrote, taken on the way out.
    pub(crate) written: Vec<crate::artifact_files::KnownDigest>,
    /// What the step made on the host, removed unless the step finishes.
    pub(crate) made: crate::artifact_files::Made,
    /// The host names the step may look up.
    pub(crate) network: crate::network::NetworkGrant,
    /// The guest's computing time in the current export call.
    pub(crate) meter: crate::budget::CpuMeter,
    /// What a post-processor may still write to the host.
    pub(crate) disk: crate::budget::DiskBudget,
    /// The environment the step was granted (what `get-environment` answers).
    pub(crate) env: Vec<(String, String)>,
    /// Refusals already explained to the person, once per step each.
    pub(crate) told: crate::network::Told,
    /// Whether the step may run host commands (`host-exec`).
    pub(crate) exec_host: bool,
    /// Whether that comes with a builtin (`shell-local`) rather than from a `grant`.
    pub(crate) exec_host_implied: bool,
    /// The step's private directory of temporary files (`host-exec`), removed with it.
    pub(crate) temp: Option<tempfile::TempDir>,
    /// Temporary files made so far.
    pub(crate) temp_count: u32,
    /// Whether the UI was told that the step runs commands on the host.
    pub(crate) exec_announced: bool,
    /// The container image the step works on (`images`).
    pub(crate) images: crate::images::ImageWork,
    /// The files this step holds with `lock-file`, released with the step.
    pub(crate) locks:
        std::collections::HashMap<std::path::PathBuf, tokio::sync::OwnedMutexGuard<()>>,
    /// The SSH endpoint served for a communicator that is not SSH (`ssh-endpoint`),
    /// stopped with the step.
    pub(crate) ssh_adapter: Option<kiln_communicators::adapter::SshAdapter>,
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// What a host call whose WIT result carries an `error` fails with (the bindings'
/// `trappable_error_type`): an error handed back to the component, or a trap that ends
/// the step. `?` makes a [`WitError`] the former and a [`wasmtime::Error`] (a limit hit,
/// a resource-table failure) the latter; `types::Host::convert_error` tells them apart.
#[derive(Debug)]
pub enum HostError {
    /// Returned to the component as the call's `error`.
    Guest(WitError),
    /// Ends the step.
    Trap(wasmtime::Error),
}

impl From<WitError> for HostError {
    fn from(e: WitError) -> Self {
        HostError::Guest(e)
    }
}

impl From<wasmtime::Error> for HostError {
    fn from(e: wasmtime::Error) -> Self {
        HostError::Trap(e)
    }
}

impl From<ResourceTableError> for HostError {
    fn from(e: ResourceTableError) -> Self {
        HostError::Trap(e.into())
    }
}

pub(crate) fn err(kind: ErrorKind, message: impl Into<String>) -> WitError {
    WitError {
        kind,
        message: message.into(),
    }
}

fn comm_err(e: core_comm::CommError) -> WitError {
    match e {
        core_comm::CommError::Connection(m) => err(ErrorKind::Connection, m),
        core_comm::CommError::Remote(m) => err(ErrorKind::Other, m),
        core_comm::CommError::Io(e) => io_err(e),
    }
}

pub(crate) fn io_err(e: std::io::Error) -> WitError {
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ => ErrorKind::Other,
    };
    err(kind, e.to_string())
}

/// Turns an error reaching the granted host path `path` into the guest's error.
pub(crate) fn path_err(path: &str) -> impl Fn(std::io::Error) -> WitError + '_ {
    move |source| {
        grant_err(GrantError::Io {
            path: path.to_owned(),
            source,
        })
    }
}

pub(crate) fn grant_err(e: GrantError) -> WitError {
    match e {
        GrantError::NotGranted { .. } => err(ErrorKind::PermissionDenied, e.to_string()),
        GrantError::Io { path, source } => {
            let mut w = io_err(source);
            w.message = format!("`{path}`: {}", w.message);
            w
        }
    }
}

fn exit_status(s: core_comm::ExitStatus) -> communicator::ExitStatus {
    match s {
        core_comm::ExitStatus::Exited(c) => communicator::ExitStatus::Exited(c),
        core_comm::ExitStatus::Killed(s) => communicator::ExitStatus::Killed(s),
        core_comm::ExitStatus::Disconnected => communicator::ExitStatus::Disconnected,
    }
}

impl StepState {
    fn comm(&self) -> Result<Arc<dyn Communicator>, WitError> {
        self.communicator.clone().ok_or_else(|| {
            err(
                ErrorKind::Connection,
                "this build has no communicator (the source sets communicator = \"none\")",
            )
        })
    }
}

/// Splits a stream of chunks into lines for the UI, keeping partial lines until they end.
#[derive(Default)]
pub(crate) struct LineBuffer {
    pending: Vec<u8>,
}

/// The longest remote line kept whole; a longer one is printed in pieces of this size,
/// so an endless line never piles up in the host.
const MAX_LINE: usize = 64 << 10;

impl LineBuffer {
    pub(crate) fn push(&mut self, data: &[u8], ui: &dyn Ui) {
        let mut searched = self.pending.len();
        self.pending.extend_from_slice(data);
        loop {
            match self.pending[searched..].iter().position(|b| *b == b'\n') {
                Some(at) => {
                    let line: Vec<u8> = self.pending.drain(..=searched + at).collect();
                    emit(&line[..line.len() - 1], ui);
                    searched = 0;
                }
                None if self.pending.len() >= MAX_LINE => {
                    let piece: Vec<u8> = self.pending.drain(..MAX_LINE).collect();
                    emit(&piece, ui);
                    searched = 0;
                }
                None => break,
            }
        }
    }

    pub(crate) fn finish(&mut self, ui: &dyn Ui) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            emit(&rest, ui);
        }
    }
}

/// Prints one line of remote output as a terminal would have shown it (see
/// `kiln_core::text`: what follows its last carriage return).
fn emit(line: &[u8], ui: &dyn Ui) {
    let text = String::from_utf8_lossy(line);
    ui.message(kiln_core::text::remote_line(&text));
}

impl types::Host for StepState {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<WitError> {
        match err {
            HostError::Guest(e) => Ok(e),
            HostError::Trap(e) => Err(e),
        }
    }
}

pub(crate) use crate::budget::limit_hit;

impl StepState {
    /// Fails when `len` bytes crossing the boundary exceed the message size limit.
    pub(crate) fn check_message(&self, len: usize, what: &str) -> wasmtime::Result<()> {
        let max = self.step_limits.message_size();
        if len as u64 > max {
            return Err(limit_hit(
                "message_size",
                format!("{max} bytes"),
                &format!("{what} of {len} bytes"),
            ));
        }
        Ok(())
    }

    /// Counts `message` against the UI output limit, then prints it with `print`, its
    /// control characters shown escaped (`kiln_core::text`): a component cannot move the
    /// cursor, erase lines or fake another build's output.
    fn print(&mut self, message: &str, print: impl FnOnce(&dyn Ui, &str)) -> wasmtime::Result<()> {
        self.check_message(message.len(), "a UI message")?;
        let message = &*kiln_core::text::escape_controls(message);
        self.count_printed(
            message.len(),
            "the step printed more than that through the UI",
        )?;
        print(&*self.ui, message);
        Ok(())
    }

    /// The whole regular file `resolved` (named `path` in errors), when it holds at
    /// most `max` bytes; `limit` names that bound in the error. A FIFO or a device
    /// would block or never end, so only regular files are read.
    pub(crate) fn read_limited(
        &self,
        resolved: crate::grants::Resolved,
        path: &str,
        max: u64,
        limit: &str,
    ) -> Result<Vec<u8>, WitError> {
        use std::io::Read;
        let io = path_err(path);
        let meta = resolved.dir.metadata(resolved.rel_or_dot()).map_err(&io)?;
        if !meta.is_file() {
            return Err(err(
                ErrorKind::Invalid,
                format!("`{path}` is not a regular file"),
            ));
        }
        let file = resolved.dir.open(resolved.rel_or_dot()).map_err(&io)?;
        let mut bytes = Vec::new();
        // One byte past the limit tells a file that is too large.
        file.into_std()
            .take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        if bytes.len() as u64 > max {
            return Err(err(
                ErrorKind::Limit,
                format!("`{path}` is larger than {limit} ({max} bytes)"),
            ));
        }
        Ok(bytes)
    }

    /// Counts `bytes` more of output against the step's `ui_output` limit: a trap saying
    /// `what` when it is passed.
    pub(crate) fn count_printed(&mut self, bytes: usize, what: &str) -> wasmtime::Result<()> {
        self.ui_printed += bytes as u64;
        let max = self.step_limits.ui_output();
        if self.ui_printed > max {
            return Err(limit_hit("ui_output", format!("{max} bytes"), what));
        }
        Ok(())
    }
}

impl ui::Host for StepState {
    async fn say(&mut self, message: String) -> wasmtime::Result<()> {
        self.print(&message, |ui, m| ui.say(m))
    }

    async fn message(&mut self, message: String) -> wasmtime::Result<()> {
        self.print(&message, |ui, m| ui.message(m))
    }

    async fn error(&mut self, message: String) -> wasmtime::Result<()> {
        self.print(&message, |ui, m| ui.error(m))
    }

    async fn progress_shown(&mut self) -> wasmtime::Result<bool> {
        Ok(self.ui.shows_progress())
    }
}

impl host_files::Host for StepState {
    async fn kind(&mut self, path: String) -> Result<host_files::PathKind, HostError> {
        Ok(match self.paths.kind(&path).map_err(grant_err)? {
            PathKind::File => host_files::PathKind::File,
            PathKind::Directory => host_files::PathKind::Directory,
            PathKind::Missing => host_files::PathKind::Missing,
        })
    }

    async fn read(&mut self, path: String, limit: u64) -> Result<Vec<u8>, HostError> {
        const MOST: u64 = 16 << 20;
        let resolved = self.paths.resolve_readable(&path).map_err(grant_err)?;
        Ok(self.read_limited(resolved, &path, limit.min(MOST), "the limit asked for")?)
    }
}

impl communicator::HostProcess for StepState {
    async fn read_output(
        &mut self,
        process: Resource<ProcessHandle>,
    ) -> wasmtime::Result<Option<communicator::Output>> {
        let handle = self.table.get_mut(&process)?;
        Ok(handle
            .inner
            .next_output()
            .await
            .map(|o| communicator::Output {
                source: match o.stream {
                    core_comm::OutputStream::Stdout => communicator::OutputStream::Stdout,
                    core_comm::OutputStream::Stderr => communicator::OutputStream::Stderr,
                },
                data: o.data,
            }))
    }

    async fn wait(
        &mut self,
        process: Resource<ProcessHandle>,
    ) -> Result<communicator::ExitStatus, HostError> {
        let handle = self.table.get_mut(&process)?;
        Ok(exit_status(handle.inner.wait().await.map_err(comm_err)?))
    }

    async fn drop(&mut self, process: Resource<ProcessHandle>) -> wasmtime::Result<()> {
        self.table.delete(process)?;
        self.in_flight = self.in_flight.saturating_sub(1);
        Ok(())
    }
}

/// What passing the output limit says when commands printed too much.
pub(crate) const COMMANDS_PRINTED: &str = "the step's commands and messages printed more than that";

impl StepState {
    /// The build's SSH login, or (for another communicator, or when `adapter` asks) the
    /// SSH adapter's, started once for the step.
    async fn ssh_login(
        &mut self,
        adapter: bool,
    ) -> wasmtime::Result<Option<communicator::SshLogin>> {
        // Complete trust only: a step that may run host commands could read the key
        // anyway.
        if !self.exec_host {
            return Ok(None);
        }
        let Some(comm) = self.communicator.clone() else {
            return Ok(None);
        };
        let endpoint = match comm.ssh_endpoint().filter(|_| !adapter) {
            Some(native) => native,
            None => {
                if self.ssh_adapter.is_none() {
                    let adapter = kiln_communicators::adapter::SshAdapter::start(comm)
                        .await
                        .map_err(|e| {
                            wasmtime::Error::msg(format!("starting the SSH adapter: {e}"))
                        })?;
                    self.ui.message(&format!(
                        "Serving this machine over SSH on 127.0.0.1:{} for the step (Kiln's \
                         adapter onto the build's communicator)",
                        adapter.endpoint().port
                    ));
                    self.ssh_adapter = Some(adapter);
                }
                self.ssh_adapter
                    .as_ref()
                    .expect("started")
                    .endpoint()
                    .clone()
            }
        };
        Ok(Some(communicator::SshLogin {
            host: endpoint.host,
            port: endpoint.port,
            user: endpoint.user,
            private_key_file: endpoint
                .private_key_file
                .map(|p| p.to_string_lossy().into_owned()),
            password: endpoint.password,
        }))
    }
}

impl communicator::Host for StepState {
    async fn ssh_endpoint(&mut self) -> wasmtime::Result<Option<communicator::SshLogin>> {
        self.ssh_login(false).await
    }

    async fn ssh_adapter(&mut self) -> wasmtime::Result<Option<communicator::SshLogin>> {
        self.ssh_login(true).await
    }

    #[tracing::instrument(skip_all, fields(command = %command))]
    async fn run(&mut self, command: String) -> Result<communicator::ExitStatus, HostError> {
        let comm = self.comm()?;
        let mut process = comm.start(&command).await.map_err(comm_err)?;
        let (mut out, mut errs) = (LineBuffer::default(), LineBuffer::default());
        while let Some(chunk) = process.next_output().await {
            // Remote output reaches the UI too, and counts against the same limit.
            self.count_printed(chunk.data.len(), COMMANDS_PRINTED)?;
            match chunk.stream {
                core_comm::OutputStream::Stdout => out.push(&chunk.data, &*self.ui),
                core_comm::OutputStream::Stderr => errs.push(&chunk.data, &*self.ui),
            }
        }
        out.finish(&*self.ui);
        errs.finish(&*self.ui);
        Ok(exit_status(process.wait().await.map_err(comm_err)?))
    }

    async fn start(&mut self, command: String) -> Result<Resource<ProcessHandle>, HostError> {
        let comm = self.comm()?;
        let max = self.step_limits.calls_in_flight();
        if self.in_flight >= max {
            return Err(limit_hit(
                "calls_in_flight",
                max,
                "the step started more remote commands than that without dropping them",
            )
            .into());
        }
        let inner = comm.start(&command).await.map_err(comm_err)?;
        self.in_flight += 1;
        Ok(self.table.push(ProcessHandle { inner })?)
    }

    #[tracing::instrument(skip_all, fields(dest = %dest, len = data.len()))]
    async fn upload_bytes(
        &mut self,
        data: Vec<u8>,
        dest: String,
        mode: Option<u32>,
    ) -> Result<(), HostError> {
        self.check_message(data.len(), "an upload-bytes buffer")?;
        let comm = self.comm()?;
        let mut reader: &[u8] = &data;
        let size = data.len() as u64;
        comm.upload(&dest, &mut reader, size, mode.unwrap_or(0o644))
            .await
            .map_err(comm_err)?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(src = %src, dest = %dest))]
    async fn upload_file(
        &mut self,
        src: String,
        dest: String,
        mode: Option<u32>,
    ) -> Result<(), HostError> {
        use cap_std::fs::PermissionsExt;
        let comm = self.comm()?;
        let resolved = self.paths.resolve(&src, Access::Read).map_err(grant_err)?;
        let file = resolved
            .dir
            .open(resolved.rel_or_dot())
            .map_err(path_err(&src))?;
        let meta = file.metadata().map_err(io_err)?;
        if meta.is_dir() {
            return Err(err(
                ErrorKind::Invalid,
                format!("`{src}` is a directory; use upload-dir"),
            )
            .into());
        }
        let mode = mode.unwrap_or(meta.permissions().mode() & 0o7777);
        let mut reader = Reporting {
            inner: tokio::fs::File::from_std(file.into_std()),
            progress: self
                .ui
                .progress(&format!("Uploading {src} to {dest}"), Some(meta.len())),
        };
        comm.upload(&dest, &mut reader, meta.len(), mode)
            .await
            .map_err(comm_err)?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(src = %src, dest = %dest))]
    async fn upload_dir(&mut self, src: String, dest: String) -> Result<(), HostError> {
        let comm = self.comm()?;
        let resolved = self.paths.resolve(&src, Access::Read).map_err(grant_err)?;
        let dir = resolved
            .dir
            .open_dir(resolved.rel_or_dot())
            .map_err(path_err(&src))?;
        let mut tree = DirSource::new(dir, src.trim_end_matches('/')).map_err(io_err)?;
        comm.upload_dir(&dest, &mut tree).await.map_err(comm_err)?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(src = %src, dest = %dest))]
    async fn download_file(&mut self, src: String, dest: String) -> Result<(), HostError> {
        let comm = self.comm()?;
        let resolved = self
            .paths
            .resolve(&dest, Access::Write)
            .map_err(grant_err)?;
        let rel = resolved.rel.clone();
        if rel.as_os_str().is_empty() {
            return Err(err(ErrorKind::Invalid, format!("`{dest}` is a directory")).into());
        }
        let file = resolved.dir.create(&rel).map_err(|e| {
            grant_err(GrantError::Io {
                path: dest.clone(),
                source: e,
            })
        })?;
        let mut writer = tokio::fs::File::from_std(file.into_std());
        let result = comm.download(&src, &mut writer).await;
        let flushed = writer.flush().await;
        match (result, flushed) {
            (Ok(_), Ok(())) => Ok(()),
            (Err(e), _) => {
                // Leave no partial file behind that could pass for the real one.
                let _ = resolved.dir.remove_file(&rel);
                Err(comm_err(e).into())
            }
            (_, Err(e)) => {
                let _ = resolved.dir.remove_file(&rel);
                Err(io_err(e).into())
            }
        }
    }

    #[tracing::instrument(skip_all, fields(src = %src, dest = %dest))]
    async fn download_dir(&mut self, src: String, dest: String) -> Result<(), HostError> {
        let comm = self.comm()?;
        let resolved = self
            .paths
            .resolve(&dest, Access::Write)
            .map_err(grant_err)?;
        let target = if resolved.rel.as_os_str().is_empty() {
            resolved.dir
        } else {
            let io = |e| {
                grant_err(GrantError::Io {
                    path: dest.clone(),
                    source: e,
                })
            };
            resolved.dir.create_dir_all(&resolved.rel).map_err(io)?;
            resolved.dir.open_dir(&resolved.rel).map_err(io)?
        };
        let mut sink = DirSink::new(target);
        comm.download_dir(&src, &mut sink).await.map_err(comm_err)?;
        Ok(())
    }
}

impl std::fmt::Debug for StepState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepState").finish_non_exhaustive()
    }
}

/// An upload's source that reports what has been read to the build's progress display.
struct Reporting<R> {
    inner: R,
    progress: Box<dyn kiln_core::Progress>,
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Reporting<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = &polled {
            self.progress.advance((buf.filled().len() - before) as u64);
        }
        polled
    }
}
