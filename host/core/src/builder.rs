//! Builders: they create (or reach) the machine, connect a communicator, call the
//! provision hook, and clean up.

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::{Artifact, Communicator, Ui};

/// How the provisioning hook can reach the machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// `ssh`, `none`, ...
    pub conn_type: String,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User name.
    pub user: String,
    /// The password the communicator logs in with (empty when it uses none).
    pub password: String,
    /// The private key the communicator logs in with, in the file's own format.
    pub ssh_private_key: String,
    /// Its public key in OpenSSH `authorized_keys` form.
    pub ssh_public_key: String,
    /// The builder's HTTP server (`http_directory`), when it runs one.
    pub http: Option<std::net::SocketAddr>,
}

/// What a step knows about the build it runs in (mirrors the WIT `build-info`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInfo {
    /// The build's full name.
    pub build_name: String,
    /// The source type (`null`).
    pub source_type: String,
    /// The source name (`web`).
    pub source_name: String,
    /// The connected communicator, if any.
    pub connection: Option<ConnectionInfo>,
    /// Variables the step may see, such as `PACKER_BUILD_NAME`.
    pub variables: Vec<(String, String)>,
    /// The template's sensitive values that occur in the step's configuration.
    pub sensitive: Vec<String>,
}

/// What every builder is given for one build.
#[derive(Clone)]
pub struct BuildContext {
    /// The build's full name (`null.web`).
    pub build_name: String,
    /// The build's UI, already prefixed.
    pub ui: Arc<dyn Ui>,
    /// Cancelled on Ctrl-C.
    pub cancel: CancellationToken,
    /// `-force`: replace what a previous build left (such as an output directory).
    pub force: bool,
    /// `-debug` pauses and `-on-error` decisions for the builder's steps.
    pub hooks: Option<Arc<dyn crate::steps::StepHooks>>,
}

impl BuildContext {
    /// Runs a builder's steps ([`crate::steps::run_steps`]), cancelled by Ctrl-C, paused
    /// before each step under `-debug`, and steered by `-on-error` when one fails.
    pub async fn run_steps<S: Send>(
        &self,
        steps: &[Box<dyn crate::steps::Step<S>>],
        state: &mut S,
    ) -> Result<(), BuildError> {
        crate::steps::run_steps_with(steps, state, &self.cancel, self.hooks.as_deref()).await
    }
}

impl std::fmt::Debug for BuildContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildContext")
            .field("build_name", &self.build_name)
            .finish()
    }
}

/// The provisioning step a builder runs once its communicator is connected. The engine
/// implements it; builders never see components.
#[async_trait]
pub trait ProvisionHook: Send + Sync {
    /// Runs every provisioner of the build against `communicator` (`None` when the
    /// source sets `communicator = "none"`).
    async fn provision(
        &self,
        communicator: Option<Arc<dyn Communicator>>,
        connection: ConnectionInfo,
    ) -> Result<(), BuildError>;

    /// How many provisioners the build has.
    fn step_count(&self) -> usize {
        0
    }

    /// The type of each provisioner (`shell`), in order.
    fn step_types(&self) -> Vec<String> {
        Vec::new()
    }

    /// Runs the provisioners of `steps` only, in order: a builder that takes
    /// checkpoints runs them one at a time, and skips those it resumed past.
    async fn provision_steps(
        &self,
        communicator: Option<Arc<dyn Communicator>>,
        connection: ConnectionInfo,
        steps: std::ops::Range<usize>,
    ) -> Result<(), BuildError> {
        if steps == (0..self.step_count()) {
            return self.provision(communicator, connection).await;
        }
        Err(BuildError::Failed(
            "this build's provisioners cannot be run one at a time".into(),
        ))
    }

    /// What the run asks of checkpoints (`-checkpoint`, `-resume`).
    fn checkpoint_mode(&self) -> crate::checkpoint::CheckpointMode {
        crate::checkpoint::CheckpointMode::Off
    }

    /// Where checkpoints are shared (`-checkpoint-to`, `-checkpoint-from`).
    fn checkpoint_share(&self) -> crate::checkpoint::CheckpointShare {
        crate::checkpoint::CheckpointShare::default()
    }

    /// Each provisioner's identity, for its checkpoint's key (worked out when asked:
    /// it reads the host files the steps read).
    async fn step_identities(&self) -> Vec<crate::checkpoint::StepIdentity> {
        Vec::new()
    }
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The build was cancelled (Ctrl-C).
    #[error("build was cancelled")]
    Cancelled,
    /// A step failed; the message says which and why.
    #[error("{0}")]
    Failed(String),
    /// A step failed and the user chose to stop without cleaning up (`-on-error=abort`),
    /// leaving everything as it is for inspection.
    #[error("{0} (aborted without cleanup)")]
    Aborted(String),
}

/// A builder, configured and ready to run.
#[async_trait]
pub trait Builder: Send + Sync {
    /// Runs the build: creates the machine, connects, calls `hook`, cleans up, and
    /// returns the artifact. Cleanup of what the builder created happens inside `run`,
    /// in reverse order, also when it fails or is cancelled.
    async fn run(
        &self,
        cx: &BuildContext,
        hook: &dyn ProvisionHook,
    ) -> Result<Artifact, BuildError>;
}
