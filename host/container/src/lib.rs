//! A container made of Linux namespaces alone (no daemon): new mount, PID, UTS, IPC and
//! (unless asked otherwise) network namespaces around an overlay of the base root
//! filesystem, and a communicator that runs commands and moves files inside it.
//!
//! The namespace work happens in helper processes (see [`helper`]): the kiln binary runs
//! itself with a hidden first argument. The container is PID 1 of its own PID namespace
//! and lives exactly as long as kiln holds its standard input open, so neither a failure
//! nor a killed kiln leaves processes or mounts behind; the mounts only ever exist in
//! the container's own mount namespace.

pub mod emulation;
pub mod helper;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use kiln_core::communicator::{
    CommError, Communicator, ExitStatus, Output, OutputStream, RemoteProcess, TreeEntry, TreeSink,
    TreeSource,
};

pub use helper::helper_main;

const INIT_ARG: &str = "__kiln-container-init";
const EXEC_ARG: &str = "__kiln-container-exec";
/// The program that holds the helpers: this very binary.
const SELF_EXE: &str = "/proc/self/exe";

/// Capabilities a command in the container keeps unless the template says otherwise:
/// the set container engines grant by default, without CAP_MKNOD (there is no device
/// cgroup to stop a new device node from reaching the host's disks).
pub const DEFAULT_CAPS: &[u32] = &[0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 29, 31];

/// Linux's capabilities by number, as Docker's `--cap-add` names them.
pub const CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The number of a capability named as Docker names it (`SYS_ADMIN`, `cap_sys_admin`).
pub fn capability(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    CAPABILITIES
        .iter()
        .position(|c| *c == bare)
        .and_then(|i| u32::try_from(i).ok())
}

/// How to set up a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitConfig {
    /// Where the overlay is mounted (an empty directory).
    pub root: PathBuf,
    /// The read-only layers, uppermost first.
    pub lower: Vec<PathBuf>,
    /// Receives every change made in the container.
    pub upper: PathBuf,
    /// Overlayfs' work directory, on the same filesystem as `upper`.
    pub work: PathBuf,
    /// The container's host name.
    pub hostname: String,
    /// Share the host's network namespace instead of getting an empty one.
    pub host_network: bool,
    /// Host paths, devices and tmpfs mounted into the container, in order.
    #[serde(default)]
    pub mounts: Vec<Mount>,
}

/// Something mounted into the container at `target` (an absolute path in it). Missing
/// directories on the way are created (and so are part of a commit, as with Docker);
/// a symbolic link on the way is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Where, in the container.
    pub target: String,
    /// What.
    pub source: MountSource,
    /// Mounted read-only.
    pub read_only: bool,
}

/// What a [`Mount`] mounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountSource {
    /// A host file, directory or device node, bound.
    Bind(PathBuf),
    /// A fresh tmpfs with these options (`size=64m,mode=1777`; `noexec`, `nosuid` and
    /// `nodev` are flags).
    Tmpfs(String),
}

/// A running container. Dropping it kills everything inside.
#[derive(Debug)]
pub struct Container {
    init: Child,
    pid: i32,
}

impl Container {
    /// Creates the namespaces and mounts, and waits until the container is ready.
    pub async fn start(config: &InitConfig) -> Result<Container, CommError> {
        let json = serde_json::to_string(config).map_err(|e| CommError::Remote(e.to_string()))?;
        let mut init = Command::new(SELF_EXE)
            .arg(INIT_ARG)
            .arg(json)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| CommError::Remote(format!("starting the container helper: {e}")))?;
        let stdout = init.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let (mut pid, mut ready) = (None, false);
        while !(ready && pid.is_some()) {
            match lines.next_line().await? {
                Some(line) if line == "ready" => ready = true,
                Some(line) => {
                    pid = line
                        .strip_prefix("pid ")
                        .and_then(|p| p.parse::<i32>().ok())
                }
                None => {
                    let mut err = String::new();
                    if let Some(mut stderr) = init.stderr.take() {
                        let _ = stderr.read_to_string(&mut err).await;
                    }
                    let _ = init.wait().await;
                    return Err(CommError::Remote(format!(
                        "the container did not start: {}",
                        err.trim()
                    )));
                }
            }
        }
        Ok(Container {
            init,
            pid: pid.expect("checked above"),
        })
    }

    /// The host PID of the container's init process.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// A communicator into this container; commands get exactly `env` as environment
    /// and start in `workdir`.
    pub fn communicator(
        &self,
        env: Vec<(String, String)>,
        workdir: String,
    ) -> ContainerCommunicator {
        ContainerCommunicator {
            pid: self.pid,
            env,
            workdir,
            caps: DEFAULT_CAPS.to_vec(),
            user: String::new(),
            upload_owner: None,
        }
    }

    /// Writes the container's root filesystem as a deterministic tar (times clamped to
    /// `epoch`, the top-level `exclude` paths left out) to `dest`, by way of a temporary
    /// file next to it; returns its size and sha256 (lower-case hex).
    pub async fn export(
        &self,
        dest: &Path,
        epoch: i64,
        exclude: &[&str],
    ) -> Result<(u64, String), CommError> {
        use sha2::Digest;
        let comm = self.communicator(vec![], "/".into());
        let mut args = vec![epoch.to_string()];
        args.extend(exclude.iter().map(|e| e.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = comm.helper("export", &args).spawn().map_err(spawn_err)?;
        let mut stdout = child.stdout.take().expect("piped");
        let tmp = dest.with_extension("partial");
        // Removed unless renamed into place: also when the build is cancelled mid-copy.
        let mut partial = RemoveOnDrop(Some(tmp.clone()));
        let copied = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            let (mut hasher, mut size) = (sha2::Sha256::new(), 0u64);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = stdout.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                file.write_all(&buf[..n]).await?;
                size += n as u64;
            }
            file.flush().await?;
            file.sync_all().await?;
            Ok::<_, std::io::Error>((size, kiln_core::artifact::hex(&hasher.finalize())))
        }
        .await;
        // Regression: a write error (a full disk) left the helper blocked writing to a
        // pipe nobody read, and the build waiting for it. The pipe is closed first, and
        // the helper stopped.
        drop(stdout);
        if copied.is_err() {
            let _ = child.start_kill();
        }
        let finished = ContainerCommunicator::finish(child, "exporting", "/").await;
        match (copied, finished) {
            (Ok(done), Ok(())) => {
                tokio::fs::rename(&tmp, dest).await.map_err(|e| {
                    std::io::Error::new(e.kind(), format!("renaming to {}: {e}", dest.display()))
                })?;
                partial.0 = None;
                Ok(done)
            }
            (Err(e), _) => Err(CommError::Io(std::io::Error::new(
                e.kind(),
                format!("writing {}: {e}", tmp.display()),
            ))),
            (Ok(_), Err(e)) => Err(e),
        }
    }

    /// Kills everything in the container and waits until it is gone, mounts included.
    pub async fn stop(mut self) {
        drop(self.init.stdin.take());
        if tokio::time::timeout(std::time::Duration::from_secs(10), self.init.wait())
            .await
            .is_err()
        {
            let _ = self.init.kill().await;
        }
    }
}

/// Removes a file when dropped, unless disarmed (its path taken).
struct RemoveOnDrop(Option<std::path::PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Runs commands and moves files inside a [`Container`].
#[derive(Debug, Clone)]
pub struct ContainerCommunicator {
    pid: i32,
    env: Vec<(String, String)>,
    workdir: String,
    /// The capabilities commands keep.
    caps: Vec<u32>,
    /// Who commands run as (`user[:group]`, names or numbers); empty for root.
    user: String,
    /// Who uploads are given to once written (`chown -R`), as Packer's docker builder's
    /// `fix_upload_owner` does; none leaves them root's.
    upload_owner: Option<String>,
}

impl ContainerCommunicator {
    /// The same, with commands keeping `caps` (capability numbers) instead of the
    /// default set.
    pub fn with_caps(mut self, caps: Vec<u32>) -> Self {
        self.caps = caps;
        self
    }

    /// The same, with commands run as `user` (`user[:group]`, names or numbers, looked
    /// up in the container's /etc/passwd and /etc/group); file transfers stay root's.
    pub fn with_user(mut self, user: String) -> Self {
        self.user = user;
        self
    }

    /// The same, with every upload given to `owner` (`user[:group]`) once written.
    pub fn with_upload_owner(mut self, owner: Option<String>) -> Self {
        self.upload_owner = owner;
        self
    }

    /// Gives `dest` (and what is below it) to the upload owner, if there is one: as
    /// root, whoever commands run as.
    async fn fix_owner(&self, dest: &str) -> Result<(), CommError> {
        let Some(owner) = &self.upload_owner else {
            return Ok(());
        };
        let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let command = format!("chown -R -- {} {}", quote(owner), quote(dest));
        let out = self
            .helper("run", &["/", &command, &caps_arg(DEFAULT_CAPS), ""])
            .output()
            .await
            .map_err(spawn_err)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(CommError::Remote(format!(
                "giving {dest} to {owner} (fix_upload_owner): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// The helper that runs `command` in the container as the communicator's user.
    fn run_helper(&self, command: &str) -> Command {
        self.helper(
            "run",
            &[&self.workdir, command, &caps_arg(&self.caps), &self.user],
        )
    }

    fn helper(&self, op: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(SELF_EXE);
        cmd.arg(EXEC_ARG)
            .arg(self.pid.to_string())
            .arg(op)
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs a transfer helper that consumes stdin and/or produces stdout, then checks
    /// that it succeeded.
    async fn finish(mut child: Child, what: &str, path: &str) -> Result<(), CommError> {
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut err).await;
        }
        let status = child.wait().await?;
        if status.success() {
            Ok(())
        } else {
            Err(CommError::Remote(format!(
                "{what} {path} in the container: {}",
                err.trim()
            )))
        }
    }
}

/// Capability numbers as the exec helper takes them: comma-separated.
fn caps_arg(caps: &[u32]) -> String {
    caps.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn spawn_err(e: std::io::Error) -> CommError {
    CommError::Connection(format!("starting the container helper: {e}"))
}

/// A command running in the container.
struct ContainerProcess {
    child: Child,
    output: mpsc::Receiver<Output>,
}

impl ContainerProcess {
    /// Relays the output of the running helper `child`.
    fn of(mut child: Child) -> ContainerProcess {
        let (tx, rx) = mpsc::channel(64);
        forward(
            child.stdout.take().expect("piped"),
            OutputStream::Stdout,
            tx.clone(),
        );
        forward(
            child.stderr.take().expect("piped"),
            OutputStream::Stderr,
            tx,
        );
        ContainerProcess { child, output: rx }
    }
}

fn forward(
    mut reader: impl AsyncRead + Unpin + Send + 'static,
    stream: OutputStream,
    tx: mpsc::Sender<Output>,
) {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0
                || tx
                    .send(Output {
                        stream,
                        data: buf[..n].to_vec(),
                    })
                    .await
                    .is_err()
            {
                break;
            }
        }
    });
}

#[async_trait]
impl RemoteProcess for ContainerProcess {
    async fn next_output(&mut self) -> Option<Output> {
        self.output.recv().await
    }

    async fn wait(&mut self) -> Result<ExitStatus, CommError> {
        while self.output.recv().await.is_some() {}
        let status = self.child.wait().await?;
        use std::os::unix::process::ExitStatusExt;
        Ok(match (status.code(), status.signal()) {
            (Some(code), _) => ExitStatus::Exited(code),
            (None, Some(sig)) => ExitStatus::Killed(
                nix::sys::signal::Signal::try_from(sig)
                    .map(|s| s.as_str().trim_start_matches("SIG").to_owned())
                    .unwrap_or_else(|_| sig.to_string()),
            ),
            (None, None) => ExitStatus::Disconnected,
        })
    }
}

#[async_trait]
impl Communicator for ContainerCommunicator {
    async fn start(&self, command: &str) -> Result<Box<dyn RemoteProcess>, CommError> {
        let child = self.run_helper(command).spawn().map_err(spawn_err)?;
        Ok(Box::new(ContainerProcess::of(child)))
    }

    async fn start_with_stdin(
        &self,
        command: &str,
    ) -> Result<(Box<dyn RemoteProcess>, Box<dyn AsyncWrite + Send + Unpin>), CommError> {
        // The helper's standard input is the shell's: it inherits it.
        let mut child = self
            .run_helper(command)
            .stdin(Stdio::piped())
            .spawn()
            .map_err(spawn_err)?;
        let stdin = child.stdin.take().expect("piped");
        Ok((Box::new(ContainerProcess::of(child)), Box::new(stdin)))
    }

    async fn upload(
        &self,
        dest: &str,
        reader: &mut (dyn AsyncRead + Send + Unpin),
        size: u64,
        mode: u32,
    ) -> Result<(), CommError> {
        let mut child = self
            .helper("put", &[dest, &format!("{mode:o}")])
            .stdin(Stdio::piped())
            .spawn()
            .map_err(spawn_err)?;
        let mut stdin = child.stdin.take().expect("piped");
        let copied = tokio::io::copy(&mut reader.take(size), &mut stdin).await;
        drop(stdin);
        let done = Self::finish(child, "writing", dest).await;
        done?;
        if copied? != size {
            return Err(CommError::Remote(format!(
                "uploading {dest}: the source ended early"
            )));
        }
        self.fix_owner(dest).await
    }

    async fn upload_dir(&self, dest: &str, tree: &mut dyn TreeSource) -> Result<(), CommError> {
        let mut child = self
            .helper("put-tree", &[dest])
            .stdin(Stdio::piped())
            .spawn()
            .map_err(spawn_err)?;
        let mut stdin = tokio::io::BufWriter::new(child.stdin.take().expect("piped"));
        let sent = async {
            while let Some(entry) = tree.next_entry().await? {
                match entry {
                    TreeEntry::EnterDir { name, mode } => {
                        stdin
                            .write_all(format!("D {mode:o} {}\n{name}", name.len()).as_bytes())
                            .await?;
                    }
                    TreeEntry::File {
                        name,
                        mode,
                        size,
                        mut reader,
                    } => {
                        stdin
                            .write_all(
                                format!("F {mode:o} {size} {}\n{name}", name.len()).as_bytes(),
                            )
                            .await?;
                        let n = tokio::io::copy(&mut (&mut reader).take(size), &mut stdin).await?;
                        if n != size {
                            return Err(std::io::Error::other(format!("{name} ended early")));
                        }
                    }
                    TreeEntry::LeaveDir => stdin.write_all(b"U\n").await?,
                }
            }
            stdin.flush().await
        }
        .await;
        drop(stdin);
        Self::finish(child, "writing", dest).await?;
        sent.map_err(CommError::from)?;
        self.fix_owner(dest).await
    }

    async fn download(
        &self,
        src: &str,
        writer: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<u64, CommError> {
        let mut child = self.helper("get", &[src]).spawn().map_err(spawn_err)?;
        let mut stdout = child.stdout.take().expect("piped");
        let copied = tokio::io::copy(&mut stdout, writer).await;
        Self::finish(child, "reading", src).await?;
        writer.flush().await?;
        Ok(copied?)
    }

    async fn download_dir(&self, src: &str, sink: &mut dyn TreeSink) -> Result<(), CommError> {
        let mut child = self.helper("get-tree", &[src]).spawn().map_err(spawn_err)?;
        let mut input = BufReader::new(child.stdout.take().expect("piped"));
        let received = async {
            let mut line = String::new();
            loop {
                line.clear();
                if input.read_line(&mut line).await? == 0 {
                    return Ok::<_, std::io::Error>(());
                }
                let fields: Vec<&str> = line.trim_end().split(' ').collect();
                let mode = |m: &str| u32::from_str_radix(m, 8).unwrap_or(0o644);
                match fields.as_slice() {
                    ["D", m, len] => {
                        let name = read_name(&mut input, len).await?;
                        sink.enter_dir(&name, mode(m)).await?;
                    }
                    ["F", m, size, len] => {
                        let name = read_name(&mut input, len).await?;
                        let size: u64 = size.parse().map_err(std::io::Error::other)?;
                        let mut out = sink.create_file(&name, mode(m)).await?;
                        let n = tokio::io::copy(&mut (&mut input).take(size), &mut out).await?;
                        out.shutdown().await?;
                        if n != size {
                            return Err(std::io::Error::other("download ended early"));
                        }
                    }
                    ["U"] => sink.leave_dir().await?,
                    _ => {
                        return Err(std::io::Error::other(format!(
                            "malformed tree entry {line:?}"
                        )))
                    }
                }
            }
        }
        .await;
        Self::finish(child, "reading", src).await?;
        received.map_err(CommError::from)
    }
}

async fn read_name(input: &mut (impl AsyncRead + Unpin), len: &str) -> std::io::Result<String> {
    let len: usize = len.parse().map_err(std::io::Error::other)?;
    if len > 4096 {
        return Err(std::io::Error::other("file name too long"));
    }
    let mut name = vec![0; len];
    input.read_exact(&mut name).await?;
    String::from_utf8(name).map_err(std::io::Error::other)
}
