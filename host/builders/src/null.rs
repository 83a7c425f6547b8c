//! The `null` builder: builds nothing, connects to an existing machine and provisions it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use kiln_communicators::SshConfig;
use kiln_core::config::{decode, duration_opt, FieldError};
use kiln_core::steps::Step;

use crate::machine::{Connect, Provision, Reached, SshLink};
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
        let c: Config = decode(&crate::ssh::other_communicator_options(config)?)?;
        let ssh = crate::ssh::SshOptions {
            communicator: c.communicator,
            host: c.ssh_host,
            port: c.ssh_port,
            username: c.ssh_username,
            password: c.ssh_password,
            private_key_file: c.ssh_private_key_file,
            timeout: c.ssh_timeout,
            handshake_attempts: c.ssh_handshake_attempts,
        }
        .resolve(cwd, "null", None)?;
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
    ssh: SshLink,
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

#[async_trait]
impl Reached for State<'_> {
    fn hook(&self) -> &dyn ProvisionHook {
        self.hook
    }

    fn ui(&self) -> &dyn kiln_core::Ui {
        &*self.cx.ui
    }

    async fn connect(&mut self) -> Result<(), BuildError> {
        match &self.builder.ssh {
            Some(ssh) => {
                let never = std::future::pending();
                self.ssh.connect(ssh.clone(), self.cx, never).await
            }
            None => Ok(()),
        }
    }

    async fn disconnect(&mut self) {
        self.ssh.disconnect().await;
    }

    fn machine(&self) -> (Option<Arc<dyn Communicator>>, ConnectionInfo) {
        let connection = match &self.builder.ssh {
            Some(ssh) => ssh.connection_info(),
            None => crate::machine::unreached(),
        };
        (self.ssh.communicator(), connection)
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
            ssh: SshLink::default(),
        };
        cx.run_steps(&steps, &mut state).await?;
        Ok(Artifact {
            builder_id: "fnoeding.null".into(),
            id: "Null".into(),
            files: vec![],
            metadata: Default::default(),
            image: None,
            description: "Did not export anything. This is the null builder".into(),
        })
    }
}
