//! The SSH communicator, on russh: commands run in session channels with their output
//! streamed as it arrives; files move with the scp protocol, as Packer's do.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use russh::client::{self, AuthResult, Handle};
use russh::keys::{self, PrivateKeyWithHashAlg};
use russh::{cipher, ChannelMsg, Disconnect, Preferred};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use kiln_core::communicator::{
    CommError, Communicator, ExitStatus, Output, OutputStream, RemoteProcess,
};
use kiln_core::communicator::{TreeSink, TreeSource};
use kiln_core::Ui;

use crate::scp;

/// How to reach and log in to the machine (Packer's `ssh_*` options).
#[derive(Debug, Clone)]
pub struct SshConfig {
    /// `ssh_host`.
    pub host: String,
    /// `ssh_port`, default 22.
    pub port: u16,
    /// `ssh_username`.
    pub username: String,
    /// `ssh_password`.
    pub password: Option<String>,
    /// `ssh_private_key_file`.
    pub private_key_file: Option<PathBuf>,
    /// `ssh_timeout`: how long to keep trying to connect, default 5 minutes.
    pub timeout: Duration,
    /// `ssh_handshake_attempts`: how many failed handshakes (including refused logins)
    /// to tolerate, default 10.
    pub handshake_attempts: u32,
}

/// Why connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// Nothing answered within `ssh_timeout`.
    #[error("timeout waiting for SSH on {host}:{port} after {timeout:?}: {last}")]
    Timeout {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// `ssh_timeout`.
        timeout: Duration,
        /// The last error seen.
        last: String,
    },
    /// The server answered, but refused every login attempt.
    #[error("SSH authentication as `{user}` on {host}:{port} failed after {attempts} attempts: {reason}")]
    Auth {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// `ssh_username`.
        user: String,
        /// Attempts made.
        attempts: u32,
        /// Why.
        reason: String,
    },
    /// The private key file could not be used.
    #[error("ssh_private_key_file `{path}`: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The build was cancelled while connecting.
    #[error("cancelled while waiting for SSH")]
    Cancelled,
}

struct AcceptAnyHostKey;

impl client::Handler for AcceptAnyHostKey {
    type Error = russh::Error;

    // Like Packer's SSH communicator, the machine being built is trusted on first use:
    // its host key is typically generated during this very build.
    async fn check_server_key(
        &mut self,
        _key: &keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// A connected SSH session.
pub struct SshCommunicator {
    handle: Arc<Handle<AcceptAnyHostKey>>,
    config: SshConfig,
    /// Kills of abandoned commands still under way; `disconnect` waits for them.
    kills: Kills,
}

/// The tasks killing abandoned remote commands.
type Kills = Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>;

/// How long `disconnect` waits for abandoned commands to be killed.
const KILL_GRACE: Duration = Duration::from_secs(5);

impl std::fmt::Debug for SshCommunicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SshCommunicator({}@{}:{})",
            self.config.username, self.config.host, self.config.port
        )
    }
}

fn client_config() -> Arc<client::Config> {
    Arc::new(client::Config {
        nodelay: true,
        window_size: 16 << 20,
        keepalive_interval: Some(Duration::from_secs(10)),
        keepalive_max: 6,
        preferred: Preferred {
            cipher: std::borrow::Cow::Owned(vec![
                cipher::AES_128_GCM,
                cipher::AES_256_GCM,
                cipher::CHACHA20_POLY1305,
                cipher::AES_256_CTR,
                cipher::AES_128_CTR,
            ]),
            ..Default::default()
        },
        ..Default::default()
    })
}

enum Attempt {
    /// Retry later: the host is not answering yet.
    Unreachable(String),
    /// The server answered but refused the login.
    Refused(String),
}

impl SshConfig {
    /// How a step reaches this machine (`build.SSHPrivateKey` and the like), without an
    /// HTTP server.
    pub fn connection_info(&self) -> kiln_core::ConnectionInfo {
        let (ssh_private_key, ssh_public_key) = self.key_pair_text();
        kiln_core::ConnectionInfo {
            conn_type: "ssh".into(),
            host: self.host.clone(),
            port: self.port,
            user: self.username.clone(),
            password: self.password.clone().unwrap_or_default(),
            ssh_private_key,
            ssh_public_key,
            http: None,
        }
    }

    /// The private key file's text and its public key in OpenSSH form (both empty
    /// without a key file; the public key empty if the file cannot be read as a key).
    pub fn key_pair_text(&self) -> (String, String) {
        let Some(path) = &self.private_key_file else {
            return (String::new(), String::new());
        };
        let private = std::fs::read_to_string(path).unwrap_or_default();
        let public = keys::load_secret_key(path, None)
            .ok()
            .and_then(|k| k.public_key().to_openssh().ok())
            .unwrap_or_default();
        (private, public)
    }
}

impl SshCommunicator {
    /// Connects, retrying until the host answers or `ssh_timeout` passes, as Packer does.
    pub async fn connect(
        config: SshConfig,
        ui: &dyn Ui,
        cancel: &CancellationToken,
    ) -> Result<Self, SshError> {
        let key = match &config.private_key_file {
            Some(path) => {
                let key = keys::load_secret_key(path, None).map_err(|e| SshError::Key {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                Some(Arc::new(key))
            }
            None => None,
        };
        ui.say("Waiting for SSH to become available...");
        let started = Instant::now();
        let mut refused = 0;
        let mut delay = Duration::from_millis(50);
        loop {
            let remaining = config.timeout.saturating_sub(started.elapsed());
            let attempt = tokio::select! {
                _ = cancel.cancelled() => return Err(SshError::Cancelled),
                r = tokio::time::timeout(remaining.max(Duration::from_millis(1)), Self::try_once(&config, key.clone())) => r,
            };
            let last = match attempt {
                Ok(Ok(handle)) => {
                    ui.say("Connected to SSH!");
                    return Ok(SshCommunicator {
                        handle: Arc::new(handle),
                        config,
                        kills: Arc::default(),
                    });
                }
                Ok(Err(Attempt::Refused(reason))) => {
                    refused += 1;
                    if refused >= config.handshake_attempts.max(1) {
                        return Err(SshError::Auth {
                            host: config.host.clone(),
                            port: config.port,
                            user: config.username.clone(),
                            attempts: refused,
                            reason,
                        });
                    }
                    reason
                }
                Ok(Err(Attempt::Unreachable(reason))) => reason,
                Err(_) => "connection attempt timed out".to_owned(),
            };
            tracing::debug!(error = %last, "SSH not ready");
            if started.elapsed() + delay >= config.timeout {
                return Err(SshError::Timeout {
                    host: config.host.clone(),
                    port: config.port,
                    timeout: config.timeout,
                    last,
                });
            }
            tokio::select! {
                _ = cancel.cancelled() => return Err(SshError::Cancelled),
                _ = tokio::time::sleep(delay) => {}
            }
            // Short polls: a machine that is booting answers within half a second of
            // its SSH server starting (Packer waits 5 s between attempts).
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }

    async fn try_once(
        config: &SshConfig,
        key: Option<Arc<keys::PrivateKey>>,
    ) -> Result<Handle<AcceptAnyHostKey>, Attempt> {
        let mut handle = client::connect(
            client_config(),
            (config.host.as_str(), config.port),
            AcceptAnyHostKey,
        )
        .await
        .map_err(|e| Attempt::Unreachable(e.to_string()))?;
        let user = config.username.clone();
        let mut reasons = Vec::new();
        if let Some(key) = key {
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .ok()
                .flatten()
                .flatten();
            match handle
                .authenticate_publickey(&user, PrivateKeyWithHashAlg::new(key, hash))
                .await
            {
                Ok(AuthResult::Success) => return Ok(handle),
                Ok(AuthResult::Failure { .. }) => {
                    reasons.push("the server refused the private key")
                }
                Err(e) => return Err(Attempt::Unreachable(e.to_string())),
            }
        }
        if let Some(password) = &config.password {
            match handle.authenticate_password(&user, password).await {
                Ok(AuthResult::Success) => return Ok(handle),
                Ok(AuthResult::Failure { .. }) => reasons.push("the server refused the password"),
                Err(e) => return Err(Attempt::Unreachable(e.to_string())),
            }
        }
        if reasons.is_empty() {
            reasons.push("no ssh_password or ssh_private_key_file was given");
        }
        Err(Attempt::Refused(reasons.join("; ")))
    }

    /// Ends the session.
    pub async fn disconnect(&self) {
        // A build that ends (or is cancelled) with commands running kills them before it
        // lets go of the connection, so that nothing it started outlives it.
        let kills: Vec<_> = std::mem::take(&mut *self.kills.lock().expect("kills"));
        for kill in kills {
            let _ = tokio::time::timeout(KILL_GRACE, kill).await;
        }
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
    }

    /// Opens a session channel running `command`, returning its halves.
    pub(crate) async fn exec(&self, command: &str) -> Result<Exec, CommError> {
        exec_on(&self.handle, command).await
    }
}

/// Runs `command` on a new channel of the session.
async fn exec_on(handle: &Handle<AcceptAnyHostKey>, command: &str) -> Result<Exec, CommError> {
    let channel = handle
        .channel_open_session()
        .await
        .map_err(|e| CommError::Connection(e.to_string()))?;
    channel
        .exec(true, command)
        .await
        .map_err(|e| CommError::Connection(e.to_string()))?;
    let (read, write) = channel.split();
    Ok(Exec { read, write })
}

/// A running remote command's two halves.
pub(crate) struct Exec {
    pub read: russh::ChannelReadHalf,
    pub write: russh::ChannelWriteHalf<client::Msg>,
}

/// What the reader task of a command reports at the end.
#[derive(Debug)]
pub(crate) struct Ended {
    pub status: ExitStatus,
    pub stderr: Vec<u8>,
}

/// Drains a channel's read half: stdout goes to `out`, stderr too (tagged) when
/// `stderr_to_out`, otherwise it is collected; returns how the command ended. Draining
/// continuously matters: a full inbound queue stalls the whole session.
pub(crate) fn spawn_reader(
    mut read: russh::ChannelReadHalf,
    out: mpsc::Sender<Output>,
    stderr_to_out: bool,
    mut pid: Option<PidLine>,
) -> tokio::task::JoinHandle<Ended> {
    tokio::spawn(async move {
        let mut status = None;
        let mut stderr = Vec::new();
        let mut out = Some(out);
        while let Some(msg) = read.wait().await {
            let (stream, data) = match msg {
                ChannelMsg::Data { data } => (OutputStream::Stdout, data.to_vec()),
                ChannelMsg::ExtendedData { data, ext: 1 } if !stderr_to_out => {
                    stderr.extend_from_slice(&data);
                    continue;
                }
                ChannelMsg::ExtendedData { data, ext: 1 } => match pid.as_mut() {
                    Some(line) => match line.take(&data) {
                        Some(rest) => {
                            pid = None;
                            (OutputStream::Stderr, rest)
                        }
                        None => continue,
                    },
                    None => (OutputStream::Stderr, data.to_vec()),
                },
                ChannelMsg::ExitStatus { exit_status } => {
                    status = Some(ExitStatus::Exited(exit_status as i32));
                    continue;
                }
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    let name = match signal_name {
                        russh::Sig::Custom(s) => s,
                        other => format!("{other:?}"),
                    };
                    status = Some(ExitStatus::Killed(name));
                    continue;
                }
                ChannelMsg::Failure => {
                    stderr.extend_from_slice(b"the server refused to run the command");
                    status.get_or_insert(ExitStatus::Exited(-1));
                    continue;
                }
                ChannelMsg::Close => break,
                _ => continue,
            };
            // Once the receiver is gone (nobody reads the output), keep draining anyway.
            if let Some(tx) = &out {
                let output = Output { stream, data };
                if tx.send(output).await.is_err() {
                    out = None;
                }
            }
        }
        if let (Some(line), Some(tx)) = (pid.take(), &out) {
            let data = line.unclaimed();
            if !data.is_empty() {
                let _ = tx
                    .send(Output {
                        stream: OutputStream::Stderr,
                        data,
                    })
                    .await;
            }
        }
        Ended {
            status: status.unwrap_or(ExitStatus::Disconnected),
            stderr,
        }
    })
}

/// What a started command prints first on stderr so that it can be killed later: the
/// shell's PID, which is also its process group (sshd starts every command in a new
/// session). The line is taken out of the output; nothing else is changed.
const PID_MARKER: &[u8] = b"\x1ekiln-pid ";

/// The command line that runs `command` after printing the PID line.
fn with_pid_line(command: &str) -> String {
    format!("printf '\\036kiln-pid %s\\n' \"$$\" >&2\n{command}")
}

/// Collects the first stderr bytes of a started command until its PID line is complete.
pub(crate) struct PidLine {
    seen: Vec<u8>,
    pid: Arc<std::sync::OnceLock<u32>>,
}

impl PidLine {
    /// Takes `data`; once the line is complete (or cannot be the line), records the PID
    /// and returns what follows it, or returns everything seen when it is not the line.
    fn take(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        self.seen.extend_from_slice(data);
        let prefix = &self.seen[..self.seen.len().min(PID_MARKER.len())];
        if !PID_MARKER.starts_with(prefix) {
            return Some(std::mem::take(&mut self.seen));
        }
        let Some(end) = self.seen.iter().position(|&b| b == b'\n') else {
            return (self.seen.len() > 64).then(|| std::mem::take(&mut self.seen));
        };
        let parsed = std::str::from_utf8(&self.seen[PID_MARKER.len().min(end)..end])
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        match parsed {
            Some(pid) if pid > 1 => {
                let _ = self.pid.set(pid);
                Some(self.seen.split_off(end + 1))
            }
            _ => Some(std::mem::take(&mut self.seen)),
        }
    }

    /// The bytes held back when the stream ended before the line did.
    fn unclaimed(self) -> Vec<u8> {
        self.seen
    }
}

struct SshProcess {
    output: mpsc::Receiver<Output>,
    ended: Option<tokio::task::JoinHandle<Ended>>,
    status: Option<ExitStatus>,
    // Keeps the channel open until the process is dropped.
    write: Option<russh::ChannelWriteHalf<client::Msg>>,
    /// The remote shell's PID (and process group), once its first line arrived.
    pid: Arc<std::sync::OnceLock<u32>>,
    /// To open the channel that kills it.
    handle: Arc<Handle<AcceptAnyHostKey>>,
    /// Where the kill is registered, for `disconnect` to wait for.
    kills: Kills,
}

/// A command still running when its handle is dropped (a step that ended, or a
/// component that let go of it) is stopped with its whole process group: the SSH `signal`
/// request (which OpenSSH honours only for non-root logins) and, by the PID it reported,
/// `kill -TERM -- -PGID` on a second channel, then `kill -KILL` a second later for what
/// did not end; then the channel closes. Nothing a step
/// started outlives it on the machine, unless it leaves its process group on purpose or
/// runs as another user (through sudo, say).
impl Drop for SshProcess {
    fn drop(&mut self) {
        let running =
            self.status.is_none() && self.ended.as_ref().is_some_and(|h| !h.is_finished());
        let (Some(write), true) = (self.write.take(), running) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (pid, handle, ended) = (self.pid.clone(), self.handle.clone(), self.ended.take());
        let kill = runtime.spawn(async move {
            let _ = write.signal(russh::Sig::TERM).await;
            // The PID line travels on stderr, which the server may forward after the
            // first stdout bytes: a handle dropped right after the command's first output
            // waits for it (or for the command's end) before killing by PID.
            let deadline = tokio::time::Instant::now() + KILL_GRACE;
            while pid.get().is_none()
                && ended.as_ref().is_some_and(|h| !h.is_finished())
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if let Some(&pid) = pid.get() {
                // TERM first, so that the command's shell can remove what it made (the
                // shell provisioner's script, trapped); KILL what is left a second later.
                let kill = format!(
                    "kill -TERM -- -{pid} 2>/dev/null || kill -TERM {pid} 2>/dev/null; \
                     i=0; while [ $i -lt 20 ] && kill -0 -- -{pid} 2>/dev/null; do \
                     sleep 0.05; i=$((i + 1)); done; \
                     kill -KILL -- -{pid} 2>/dev/null || kill -KILL {pid} 2>/dev/null; true"
                );
                match exec_on(&handle, &kill).await {
                    Ok(exec) => {
                        let (tx, _rx) = mpsc::channel(1);
                        let _ = spawn_reader(exec.read, tx, false, None).await;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, pid, "killing an abandoned remote command")
                    }
                }
            }
            let _ = write.close().await;
        });
        if let Ok(mut kills) = self.kills.lock() {
            kills.retain(|k| !k.is_finished());
            kills.push(kill);
        }
    }
}

#[async_trait]
impl RemoteProcess for SshProcess {
    async fn next_output(&mut self) -> Option<Output> {
        self.output.recv().await
    }

    async fn wait(&mut self) -> Result<ExitStatus, CommError> {
        if let Some(s) = &self.status {
            return Ok(s.clone());
        }
        while self.output.recv().await.is_some() {}
        let ended = match self.ended.take() {
            Some(h) => h.await.map_err(|e| CommError::Connection(e.to_string()))?,
            None => return Err(CommError::Connection("process already waited for".into())),
        };
        self.status = Some(ended.status.clone());
        Ok(ended.status)
    }
}

impl SshCommunicator {
    /// Starts `command` (see [`Communicator::start`]).
    async fn start_process(&self, command: &str) -> Result<SshProcess, CommError> {
        let exec = self.exec(&with_pid_line(command)).await?;
        let (tx, rx) = mpsc::channel(64);
        let pid = Arc::new(std::sync::OnceLock::new());
        let line = PidLine {
            seen: Vec::new(),
            pid: pid.clone(),
        };
        let ended = spawn_reader(exec.read, tx, true, Some(line));
        Ok(SshProcess {
            output: rx,
            ended: Some(ended),
            status: None,
            write: Some(exec.write),
            pid,
            handle: self.handle.clone(),
            kills: self.kills.clone(),
        })
    }
}

#[async_trait]
impl Communicator for SshCommunicator {
    fn ssh_endpoint(&self) -> Option<kiln_core::communicator::SshEndpoint> {
        let c = &self.config;
        Some(kiln_core::communicator::SshEndpoint {
            host: c.host.clone(),
            port: c.port,
            user: c.username.clone(),
            private_key_file: c
                .private_key_file
                .as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
            password: c.password.clone(),
        })
    }

    #[tracing::instrument(skip(self))]
    async fn start(&self, command: &str) -> Result<Box<dyn RemoteProcess>, CommError> {
        Ok(Box::new(self.start_process(command).await?))
    }

    async fn start_with_stdin(
        &self,
        command: &str,
    ) -> Result<(Box<dyn RemoteProcess>, Box<dyn AsyncWrite + Send + Unpin>), CommError> {
        let process = self.start_process(command).await?;
        // Shutting the writer down sends the channel's EOF: the end of the input.
        let stdin = process
            .write
            .as_ref()
            .expect("a started command has its write half")
            .make_writer();
        Ok((Box::new(process), Box::new(Box::pin(stdin))))
    }

    async fn upload(
        &self,
        dest: &str,
        reader: &mut (dyn AsyncRead + Send + Unpin),
        size: u64,
        mode: u32,
    ) -> Result<(), CommError> {
        scp::upload_file(self, dest, reader, size, mode).await
    }

    async fn upload_dir(&self, dest: &str, tree: &mut dyn TreeSource) -> Result<(), CommError> {
        scp::upload_dir(self, dest, tree).await
    }

    async fn download(
        &self,
        src: &str,
        writer: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<u64, CommError> {
        scp::download_file(self, src, writer).await
    }

    async fn download_dir(&self, src: &str, sink: &mut dyn TreeSink) -> Result<(), CommError> {
        scp::download_dir(self, src, sink).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> (PidLine, Arc<std::sync::OnceLock<u32>>) {
        let pid = Arc::new(std::sync::OnceLock::new());
        let line = PidLine {
            seen: Vec::new(),
            pid: pid.clone(),
        };
        (line, pid)
    }

    #[test]
    fn the_pid_line_is_taken_out_of_stderr_in_pieces() {
        let (mut l, pid) = line();
        assert_eq!(l.take(b"\x1ekiln-p"), None);
        assert_eq!(l.take(b"id 4242"), None);
        assert_eq!(
            l.take(b"\nwarning: x\n").as_deref(),
            Some(&b"warning: x\n"[..])
        );
        assert_eq!(pid.get(), Some(&4242));
    }

    #[test]
    fn other_stderr_passes_unchanged() {
        let (mut l, pid) = line();
        assert_eq!(
            l.take(b"sh: 1: printf: not found\n").as_deref(),
            Some(&b"sh: 1: printf: not found\n"[..])
        );
        assert_eq!(pid.get(), None);
        let (mut l, pid) = line();
        assert_eq!(
            l.take(b"\x1ekiln-pid x\nrest").as_deref(),
            Some(&b"\x1ekiln-pid x\nrest"[..])
        );
        assert_eq!(pid.get(), None);
        let (mut l, _) = line();
        assert_eq!(l.take(b"\x1ekiln-pid 12"), None);
        assert_eq!(l.unclaimed(), b"\x1ekiln-pid 12");
    }

    #[test]
    fn the_wrapper_prints_the_shell_pid_first() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(with_pid_line("echo $$ >&2; echo out"))
            .output()
            .unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        let (first, second) = err.split_once('\n').unwrap();
        assert_eq!(first.strip_prefix("\x1ekiln-pid "), Some(second.trim()));
        assert_eq!(out.stdout, b"out\n");
    }
}
