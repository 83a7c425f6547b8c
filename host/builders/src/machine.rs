//! The two steps every builder with a machine shares: connecting its communicator, and
//! running the provisioners through it. Each builder says how its machine is reached
//! ([`Reached`]); the steps are the same.

use std::sync::Arc;

use async_trait::async_trait;

use kiln_core::steps::Step;
use kiln_core::{BuildError, Communicator, ConnectionInfo, ProvisionHook};

/// A builder's state, as the shared steps use it.
#[async_trait]
pub trait Reached: Send {
    /// Where the provisioners run.
    fn hook(&self) -> &dyn ProvisionHook;

    /// Where the build's messages go.
    fn ui(&self) -> &dyn kiln_core::Ui;

    /// Connects to the machine; nothing when its communicator needs no connection.
    async fn connect(&mut self) -> Result<(), BuildError> {
        Ok(())
    }

    /// Closes what [`Reached::connect`] opened.
    async fn disconnect(&mut self) {}

    /// The machine's communicator (none for `communicator = "none"`) and how it was
    /// reached, as the provisioners learn it.
    fn machine(&self) -> (Option<Arc<dyn Communicator>>, ConnectionInfo);
}

/// Connects the communicator; its cleanup disconnects.
pub struct Connect;

#[async_trait]
impl<S: Reached> Step<S> for Connect {
    fn name(&self) -> &'static str {
        "connect"
    }

    async fn run(&self, state: &mut S) -> Result<(), BuildError> {
        state.connect().await
    }

    async fn cleanup(&self, state: &mut S) {
        state.disconnect().await;
    }
}

/// Runs the provisioners through the hook, for a builder whose machine Kiln cannot
/// snapshot (the null builder's is someone else's): with `-checkpoint` or `-resume` it
/// says that none are taken.
pub struct Provision;

#[async_trait]
impl<S: Reached> Step<S> for Provision {
    fn name(&self) -> &'static str {
        kiln_core::steps::PROVISION_STEP
    }

    async fn run(&self, state: &mut S) -> Result<(), BuildError> {
        let (communicator, connection) = state.machine();
        let hook = state.hook();
        if hook.checkpoint_mode() != kiln_core::checkpoint::CheckpointMode::Off
            && hook.step_count() > 0
        {
            state.ui().say(
                "No checkpoints are taken: this builder reaches a machine it did not make and \
                 cannot snapshot it, so every provisioner runs.",
            );
        }
        hook.provision(communicator, connection).await
    }
}

/// An SSH connection to the machine, once connected.
#[derive(Default)]
pub struct SshLink(Option<Arc<kiln_communicators::SshCommunicator>>);

impl SshLink {
    /// Connects with `ssh`, or fails as soon as `gone` ends (the machine stopped: its
    /// error says why).
    pub async fn connect(
        &mut self,
        ssh: kiln_communicators::SshConfig,
        cx: &kiln_core::BuildContext,
        gone: impl std::future::Future<Output = BuildError>,
    ) -> Result<(), BuildError> {
        let connect = kiln_communicators::SshCommunicator::connect(ssh, &*cx.ui, &cx.cancel);
        let comm = tokio::select! {
            r = connect => r.map_err(crate::ssh::connect_error)?,
            why = gone => return Err(why),
        };
        self.0 = Some(Arc::new(comm));
        Ok(())
    }

    /// Closes the connection, waiting at most a few seconds for the machine to answer.
    pub async fn disconnect(&mut self) {
        if let Some(comm) = self.0.take() {
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(5), comm.disconnect()).await;
        }
    }

    /// The connection, when there is one.
    pub fn get(&self) -> Option<Arc<kiln_communicators::SshCommunicator>> {
        self.0.clone()
    }

    /// The connection as a communicator, when there is one.
    pub fn communicator(&self) -> Option<Arc<dyn Communicator>> {
        self.0.clone().map(|c| c as Arc<dyn Communicator>)
    }
}

/// Removes `dir` and all it holds, a cleanup's last work: a failure is told, not returned.
pub async fn remove_dir_telling(ui: &dyn kiln_core::Ui, dir: &std::path::Path) {
    if let Err(e) = tokio::fs::remove_dir_all(dir).await {
        ui.error(&format!("could not delete {}: {e}", dir.display()));
    }
}

/// How a machine without a communicator is reached: not at all.
pub fn unreached() -> ConnectionInfo {
    ConnectionInfo {
        conn_type: "none".into(),
        ..Default::default()
    }
}
