//! The `null` builder: builds nothing, connects to an existing machine and provisions it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use kiln_communicators::{SshCommunicator, SshConfig};
use kiln_core::config::{decode, duration_opt, FieldError};
use kiln_core::{Artifact, BuildContext, BuildError, Builder, ConnectionInfo, ProvisionHook};

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

#[async_trait]
impl Builder for NullBuilder {
    async fn run(
        &self,
        cx: &BuildContext,
        hook: &dyn ProvisionHook,
    ) -> Result<Artifact, BuildError> {
        let artifact = Artifact {
            builder_id: "fnoeding.null".into(),
            id: "Null".into(),
            files: vec![],
            metadata: Default::default(),
            description: "Did not export anything. This is the null builder".into(),
        };
        let Some(ssh) = &self.ssh else {
            hook.provision(
                None,
                ConnectionInfo {
                    conn_type: "none".into(),
                    ..Default::default()
                },
            )
            .await?;
            return Ok(artifact);
        };
        if !self.pause_before_connecting.is_zero() {
            cx.ui.say(&format!(
                "Pausing {:?} before connecting...",
                self.pause_before_connecting
            ));
            tokio::select! {
                _ = cx.cancel.cancelled() => return Err(BuildError::Cancelled),
                _ = tokio::time::sleep(self.pause_before_connecting) => {}
            }
        }
        let comm = SshCommunicator::connect(ssh.clone(), &*cx.ui, &cx.cancel)
            .await
            .map_err(|e| match e {
                kiln_communicators::SshError::Cancelled => BuildError::Cancelled,
                other => BuildError::Failed(other.to_string()),
            })?;
        let comm = Arc::new(comm);
        let connection = ConnectionInfo {
            conn_type: "ssh".into(),
            host: ssh.host.clone(),
            port: ssh.port,
            user: ssh.username.clone(),
        };
        let result = tokio::select! {
            biased;
            _ = cx.cancel.cancelled() => Err(BuildError::Cancelled),
            r = hook.provision(Some(comm.clone()), connection) => r,
        };
        // Cleanup runs whatever happened above.
        comm.disconnect().await;
        result.map(|()| artifact)
    }
}
