//! An SSH endpoint for a machine reached by another communicator (a container, or SSH
//! through Kiln's own connection): a russh server on a loopback port that maps each
//! `exec` request onto the build's communicator, so that a host program speaking SSH
//! (the `ansible` provisioner's `ansible-playbook`) works against every builder alike.
//!
//! It lives as long as the step that asked for it: a fresh Ed25519 host key, and one
//! client key written to a private temporary directory, the only key it accepts. An
//! `exec` request starts the command at once through the communicator
//! ([`Communicator::start_with_stdin`]); the channel's data is its standard input as it
//! comes (Ansible sends a module only after `sudo` said it succeeded), its output
//! streams back, and its exit status ends the channel. Files travel the same way
//! (Ansible's `piped` transfer method: `dd` with standard input); shells and subsystems
//! such as sftp are refused.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kiln_core::communicator::{Communicator, ExitStatus, OutputStream, SshEndpoint};
use russh::keys::{Algorithm, PrivateKey, PublicKey};
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, ChannelMsg, MethodKind, MethodSet};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// The user name the adapter accepts (any name is taken; this one is in the inventory).
pub const ADAPTER_USER: &str = "kiln";

/// A running adapter; stops (closing every connection and killing what runs) when
/// dropped.
pub struct SshAdapter {
    endpoint: SshEndpoint,
    _keys: tempfile::TempDir,
    tasks: JoinSet<()>,
}

impl SshAdapter {
    /// Starts serving `comm` on a free loopback port.
    pub async fn start(comm: Arc<dyn Communicator>) -> std::io::Result<SshAdapter> {
        let host_key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
            .map_err(std::io::Error::other)?;
        let client_key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
            .map_err(std::io::Error::other)?;
        let keys = tempfile::Builder::new()
            .prefix("kiln-ssh-adapter-")
            .tempdir()?;
        let key_file = keys.path().join("id_ed25519");
        let pem = client_key
            .to_openssh(russh::keys::ssh_key::LineEnding::LF)
            .map_err(std::io::Error::other)?;
        write_private(&key_file, pem.as_bytes())?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let config = Arc::new(russh::server::Config {
            methods: MethodSet::from(&[MethodKind::PublicKey][..]),
            keys: vec![host_key],
            auth_rejection_time: Duration::from_millis(100),
            auth_rejection_time_initial: Some(Duration::ZERO),
            nodelay: true,
            ..Default::default()
        });
        let allowed = client_key.public_key().clone();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            // Sessions end with the accept loop: the set is dropped with it.
            let mut sessions = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let _ = stream.set_nodelay(true);
                let handler = Connection {
                    comm: comm.clone(),
                    allowed: allowed.clone(),
                    channels: JoinSet::new(),
                };
                let config = config.clone();
                sessions.spawn(async move {
                    match russh::server::run_stream(config, stream, handler).await {
                        Ok(session) => {
                            if let Err(e) = session.await {
                                tracing::debug!(error = %e, "adapter session ended");
                            }
                        }
                        Err(e) => tracing::debug!(error = %e, "adapter handshake failed"),
                    }
                });
                // Reap finished sessions so that a long step does not accumulate them.
                while sessions.try_join_next().is_some() {}
            }
        });
        Ok(SshAdapter {
            endpoint: SshEndpoint {
                host: "127.0.0.1".into(),
                port,
                user: ADAPTER_USER.into(),
                private_key_file: Some(key_file),
                password: None,
            },
            _keys: keys,
            tasks,
        })
    }

    /// Where to connect, and with which key.
    pub fn endpoint(&self) -> &SshEndpoint {
        &self.endpoint
    }
}

impl Drop for SshAdapter {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

fn write_private(path: &PathBuf, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)
}

/// One client connection.
struct Connection {
    comm: Arc<dyn Communicator>,
    allowed: PublicKey,
    /// Its channels' tasks: aborted (and their commands' handles dropped, which kills
    /// them) when the connection goes.
    channels: JoinSet<()>,
}

impl Connection {
    /// The one client key is let in; any other is refused.
    fn judge(&self, key: &PublicKey) -> Auth {
        if key.key_data() == self.allowed.key_data() {
            Auth::Accept
        } else {
            Auth::reject()
        }
    }
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.judge(offer.public_key))
    }

    async fn auth_publickey(
        &mut self,
        _user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.judge(key.public_key))
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        let comm = self.comm.clone();
        self.channels.spawn(serve(channel, comm));
        while self.channels.try_join_next().is_some() {}
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Accepted and ignored: commands run without a terminal, as Ansible expects
        // with pipelining.
        session.channel_success(channel)?;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // No sftp: Ansible is told to transfer files with `piped`.
        session.channel_failure(channel)?;
        Ok(())
    }
}

/// Serves one session channel: its `exec` request runs through the communicator at
/// once, with the client's data as its standard input as it comes.
async fn serve(mut channel: Channel<Msg>, comm: Arc<dyn Communicator>) {
    let command = loop {
        match channel.wait().await {
            None | Some(ChannelMsg::Close) => return,
            Some(ChannelMsg::Exec { command, .. }) => {
                break String::from_utf8_lossy(&command).into_owned();
            }
            Some(ChannelMsg::RequestShell { .. }) | Some(ChannelMsg::RequestSubsystem { .. }) => {
                let _ = channel.close().await;
                return;
            }
            Some(_) => {}
        }
    };
    let code = match run(&*comm, &command, &mut channel).await {
        Ok(Some(code)) => code,
        // The client went away: dropping the process killed the command.
        Ok(None) => return,
        Err(e) => {
            let _ = channel
                .extended_data_bytes(1, format!("kiln ssh adapter: {e}\n").into_bytes())
                .await;
            255
        }
    };
    let _ = channel.exit_status(code).await;
    let _ = channel.eof().await;
    let _ = channel.close().await;
}

/// Runs `command` on the machine, relaying the channel's data to its standard input and
/// its output to the channel; returns its exit code as a shell reports it, or `None`
/// when the client closed the channel first.
async fn run(
    comm: &dyn Communicator,
    command: &str,
    channel: &mut Channel<Msg>,
) -> Result<Option<u32>, String> {
    let (mut process, stdin) = comm
        .start_with_stdin(command)
        .await
        .map_err(|e| e.to_string())?;
    let mut stdin = Some(stdin);
    loop {
        tokio::select! {
            out = process.next_output() => {
                let Some(out) = out else { break };
                let sent = match out.stream {
                    OutputStream::Stdout => channel.data_bytes(out.data).await,
                    OutputStream::Stderr => channel.extended_data_bytes(1, out.data).await,
                };
                if sent.is_err() {
                    return Ok(None);
                }
            }
            msg = channel.wait() => match msg {
                Some(ChannelMsg::Data { data }) => {
                    if let Some(w) = stdin.as_mut() {
                        // A command that stopped reading: its input is dropped.
                        if w.write_all(&data).await.is_err() {
                            stdin = None;
                        }
                    }
                }
                Some(ChannelMsg::Eof) => {
                    if let Some(mut w) = stdin.take() {
                        let _ = w.shutdown().await;
                    }
                }
                None | Some(ChannelMsg::Close) => return Ok(None),
                Some(_) => {}
            },
        }
    }
    drop(stdin);
    Ok(Some(
        match process.wait().await.map_err(|e| e.to_string())? {
            ExitStatus::Exited(code) => code as u32,
            ExitStatus::Killed(sig) => 128 + signal_number(&sig),
            ExitStatus::Disconnected => 255,
        },
    ))
}

/// A signal's number as shells report it, for the common ones.
fn signal_number(name: &str) -> u32 {
    match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "KILL" => 9,
        "SEGV" => 11,
        "PIPE" => 13,
        "ALRM" => 14,
        _ => 15,
    }
}
