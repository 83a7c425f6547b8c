//! The `null` builder: builds nothing, connects to an existing machine and provisions it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use kiln_communicators::{SshCommunicator, SshConfig};
use kiln_core::config::{decode, duration_opt, FieldError};
use kiln_core::steps::Step;
use kiln_core::{
    Artifact, BuildContext, BuildError, Builder, Communicator, ConnectionInfo, ProvisionHook,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    communicator: Option<String>,
    #[serde(default)]
    ssh_host: Option<String>,
    #[serde(default)]
    ssh_port: Option<u16>,
    #[serde(default)]
    ssh_username: Option<String>,
    #[serde(default)]
    ssh_password: Option<String>,
    #[serde(default)]
    ssh_private_key_file: Option<String>,
    #[serde(default, deserialize_with = "duration_opt::deserialize")]
    ssh_timeout: Option<Duration>,
    #[serde(default)]
    ssh_handshake_attempts: Option<u32>,
    #[serde(default, deserialize_with = "duration_opt::deserialize")]
    pause_before_connecting: Option<Duration>,
}

/// The configured `null` builder.
#[derive(Debug)]
pub struct NullBuilder {
    ssh: Option<SshConfig>,
    pause_before_connecting: Duration,
}

impl NullBuilder {
    /// Checks and keeps the source's configuration.
    pub fn new(
        config: &serde_json::Map<String, serde_json::Value>,
        cwd: &Path,
    ) -> Result<Self, FieldError> {
        let c: Config = decode(config)?;
        let communicator = c.communicator.as_deref().unwrap_or("ssh");
        let ssh = match communicator {
            "none" => None,
            "ssh" => {
                let host = c.ssh_host.filter(|h| !h.is_empty()).ok_or_else(|| {
                    FieldError::new("ssh_host", "ssh_host must be specified for the null builder")
                })?;
                let username = c.ssh_username.filter(|u| !u.is_empty()).ok_or_else(|| {
                    FieldError::new("ssh_username", "an ssh_username must be specified")
                })?;
                let private_key_file = c.ssh_private_key_file.map(|p| cwd.join(p));
                if let Some(p) = &private_key_file {
                    if !p.is_file() {
                        return Err(FieldError::new(
                            "ssh_private_key_file",
                            format!("ssh_private_key_file is invalid: {} does not exist", p.display()),
                        ));
                    }
                }
                if c.ssh_password.is_none() && private_key_file.is_none() {
                    return Err(FieldError::new(
                        "ssh_password",
                        "one of ssh_password or ssh_private_key_file must be specified",
                    ));
                }
                Some(SshConfig {
                    host,
                    port: c.ssh_port.unwrap_or(22),
                    username,
                    password: c.ssh_password,
                    private_key_file,
                    timeout: c.ssh_timeout.unwrap_or(Duration::from_secs(300)),
                    handshake_attempts: c.ssh_handshake_attempts.unwrap_or(10),
                })
            }
            other => {
                return Err(FieldError::new(
                    "communicator",
                    format!("communicator {other:?} is not supported by the null builder; use \"ssh\" or \"none\""),
                ))
            }
        };
        Ok(NullBuilder {
            ssh,
            pause_before_connecting: c.pause_before_connecting.unwrap_or_default(),
        })
    }
}

/// What the null builder's steps share.
struct State<'a> {
    builder: &'a NullBuilder,
    cx: &'a BuildContext,
    hook: &'a dyn ProvisionHook,
    communicator: Option<Arc<SshCommunicator>>,
}

/// `pause_before_connecting`.
struct Pause;

#[async_trait]
impl<'a> Step<State<'a>> for Pause {
    fn name(&self) -> &'static str {
        "pause-before-connecting"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let pause = state.builder.pause_before_connecting;
        if !pause.is_zero() {
            state
                .cx
                .ui
                .say(&format!("Pausing {pause:?} before connecting..."));
            tokio::time::sleep(pause).await;
        }
        Ok(())
    }
}

/// Connects the SSH communicator; its cleanup disconnects.
struct Connect;

#[async_trait]
impl<'a> Step<State<'a>> for Connect {
    fn name(&self) -> &'static str {
        "connect"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let Some(ssh) = &state.builder.ssh else {
            return Ok(());
        };
        let comm = SshCommunicator::connect(ssh.clone(), &*state.cx.ui, &state.cx.cancel)
            .await
            .map_err(|e| match e {
                kiln_communicators::SshError::Cancelled => BuildError::Cancelled,
                other => BuildError::Failed(other.to_string()),
            })?;
        state.communicator = Some(Arc::new(comm));
        Ok(())
    }

    async fn cleanup(&self, state: &mut State<'a>) {
        if let Some(comm) = state.communicator.take() {
            comm.disconnect().await;
        }
    }
}

/// Runs the provisioners through the hook.
struct Provision;

#[async_trait]
impl<'a> Step<State<'a>> for Provision {
    fn name(&self) -> &'static str {
        kiln_core::steps::PROVISION_STEP
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let connection = match &state.builder.ssh {
            Some(ssh) => {
                let (ssh_private_key, ssh_public_key) = ssh.key_pair_text();
                ConnectionInfo {
                    conn_type: "ssh".into(),
                    host: ssh.host.clone(),
                    port: ssh.port,
                    user: ssh.username.clone(),
                    password: ssh.password.clone().unwrap_or_default(),
                    ssh_private_key,
                    ssh_public_key,
                    http: None,
                }
            }
            None => ConnectionInfo {
                conn_type: "none".into(),
                ..Default::default()
            },
        };
        let comm = state
            .communicator
            .clone()
            .map(|c| c as Arc<dyn Communicator>);
        state.hook.provision(comm, connection).await
    }
}

#[async_trait]
impl Builder for NullBuilder {
    async fn run(
        &self,
        cx: &BuildContext,
        hook: &dyn ProvisionHook,
    ) -> Result<Artifact, BuildError> {
        let steps: Vec<Box<dyn Step<State<'_>>>> =
            vec![Box::new(Pause), Box::new(Connect), Box::new(Provision)];
        let mut state = State {
            builder: self,
            cx,
            hook,
            communicator: None,
        };
        cx.run_steps(&steps, &mut state).await?;
        Ok(Artifact {
            builder_id: "fnoeding.null".into(),
            id: "Null".into(),
            files: vec![],
            metadata: Default::default(),
            description: "Did not export anything. This is the null builder".into(),
        })
    }
}
