//! The provision hook a builder calls once its machine is reached: every provisioner
//! of the build in order, with pauses (`pause_before`, `-debug`, breakpoints), retries
//! (`max_retries`), and what `-on-error` makes of a failure (the
//! error-cleanup-provisioner, abort, ask).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use kiln_core::checkpoint::{CheckpointMode, CheckpointShare, StepIdentity};
use kiln_core::plan::StepPlan;
use kiln_core::{BuildError, Communicator, ConnectionInfo, ProvisionHook, Ui};
use kiln_runtime::{PreparedComponent, Runtime, RuntimeError};

use crate::check::{ReadyBuild, StepRunner};
use crate::frontend::Frontend;
use crate::prompt::{Decision, OnError, Prompter};
use crate::request::{request, Target};

/// The machine a builder reached, as steps use it.
type Machine = Option<(Arc<dyn Communicator>, ConnectionInfo)>;

/// Runs a build's provisioners in order: the hook its builder calls.
pub struct Provisioners<'a> {
    pub(crate) build: &'a ReadyBuild,
    pub(crate) runtime: &'a Runtime,
    pub(crate) frontend: Arc<dyn Frontend>,
    pub(crate) ui: Arc<dyn Ui>,
    pub(crate) cwd: PathBuf,
    pub(crate) cancel: CancellationToken,
    pub(crate) on_error: OnError,
    pub(crate) prompter: Prompter,
    /// `-debug`: pause before each provisioner too.
    pub(crate) debug: bool,
    /// Whether the failure the hook returns was printed whole where it happened.
    pub(crate) printed: AtomicBool,
    /// `-checkpoint`, `-resume`.
    pub(crate) checkpoint: CheckpointMode,
    /// `-checkpoint-to`, `-checkpoint-from`.
    pub(crate) share: CheckpointShare,
}

impl Provisioners<'_> {
    async fn run_step(
        &self,
        step: &StepPlan,
        component: &PreparedComponent,
        machine: &Machine,
    ) -> Result<(), RuntimeError> {
        if let Some((_, info)) = machine {
            // The login secrets never reach the output, wherever a step prints them.
            self.frontend
                .add_secrets(&[info.password.clone(), info.ssh_private_key.clone()]);
        }
        let target = Target {
            build: &self.build.plan,
            sensitive: &self.build.sensitive,
            machine: machine.clone(),
            ui: self.ui.clone(),
            cwd: &self.cwd,
            cancel: self.cancel.clone(),
        };
        let req = request(step.into(), target, None);
        tracing::debug!(
            build = %self.build.plan.name,
            step = %step.kind,
            config = %serde_json::Value::Object(step.block.config.clone()),
            "running step"
        );
        self.runtime.provision(component, req).await
    }

    /// Waits for Enter, or for Ctrl-C.
    async fn pause(&self, message: &str) -> Result<(), BuildError> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(BuildError::Cancelled),
            _ = self.prompter.pause(&*self.ui, message) => Ok(()),
        }
    }

    async fn error_cleanup(&self, machine: &Machine) {
        let Some((step, component)) = &self.build.error_cleanup else {
            return;
        };
        self.ui
            .say("Provisioning step had errors: Running the cleanup provisioner, if present...");
        if let Err(e) = self.run_step(step, component, machine).await {
            self.ui.error(&format!(
                "error-cleanup-provisioner \"{}\" failed: {e}",
                step.kind
            ));
        }
    }

    /// Packer's `breakpoint`: a pause unless disabled.
    async fn breakpoint(&self, b: &crate::check::Breakpoint) -> Result<(), BuildError> {
        if b.disable {
            self.ui
                .say("Breakpoint provisioner disabled. Continuing...");
            return Ok(());
        }
        let note = if b.note.is_empty() {
            String::new()
        } else {
            format!(" with note \"{}\"", b.note)
        };
        self.pause(&format!("Pausing at breakpoint provisioner{note}."))
            .await
    }

    /// Runs one provisioner with its retries; a failure then goes to `-on-error`.
    async fn provision_one(
        &self,
        step: &StepPlan,
        component: &PreparedComponent,
        machine: &Machine,
    ) -> Result<(), BuildError> {
        let mut attempt = 0;
        loop {
            let error = match self.run_step(step, component, machine).await {
                Ok(()) => return Ok(()),
                Err(RuntimeError::Cancelled) => return Err(BuildError::Cancelled),
                Err(e) => e,
            };
            if attempt < step.max_retries {
                attempt += 1;
                self.ui.error(&format!(
                    "Provisioner \"{}\" failed: {error}; retrying ({attempt}/{})",
                    step.kind, step.max_retries
                ));
                continue;
            }
            let message = format!("provisioner \"{}\" failed: {error}", step.kind);
            self.ui.error(&message);
            self.printed.store(true, Ordering::Relaxed);
            let what = format!("\"provisioner {}\"", step.kind);
            match self.prompter.decide(self.on_error, &*self.ui, &what).await {
                Decision::Retry => {
                    attempt = 0;
                    self.ui
                        .say(&format!("Retrying provisioner \"{}\"...", step.kind));
                }
                Decision::Cleanup => {
                    self.error_cleanup(machine).await;
                    return Err(BuildError::Failed(message));
                }
                Decision::Abort => return Err(BuildError::Aborted(message)),
                Decision::CleanupProvisionerThenAbort => {
                    self.error_cleanup(machine).await;
                    return Err(BuildError::Aborted(message));
                }
            }
        }
    }
}

#[async_trait]
impl ProvisionHook for Provisioners<'_> {
    async fn provision(
        &self,
        communicator: Option<Arc<dyn Communicator>>,
        connection: ConnectionInfo,
    ) -> Result<(), BuildError> {
        self.provision_steps(communicator, connection, 0..self.build.steps.len())
            .await
    }

    fn step_count(&self) -> usize {
        self.build.steps.len()
    }

    fn step_types(&self) -> Vec<String> {
        self.build
            .steps
            .iter()
            .map(|(s, _)| s.kind.clone())
            .collect()
    }

    fn checkpoint_mode(&self) -> CheckpointMode {
        self.checkpoint
    }

    fn checkpoint_share(&self) -> CheckpointShare {
        self.share.clone()
    }

    async fn step_identities(&self) -> Vec<StepIdentity> {
        crate::checkpoint::identities(self.build, self.runtime, &self.cwd).await
    }

    async fn provision_steps(
        &self,
        communicator: Option<Arc<dyn Communicator>>,
        connection: ConnectionInfo,
        steps: std::ops::Range<usize>,
    ) -> Result<(), BuildError> {
        let machine = communicator.map(|c| (c, connection));
        let Some(chosen) = self.build.steps.get(steps.clone()) else {
            return Err(BuildError::Failed(format!(
                "provisioners {steps:?} asked for; the build has {}",
                self.build.steps.len()
            )));
        };
        for (step, runner) in chosen {
            if self.debug {
                self.pause(&format!("Pausing before provisioner \"{}\".", step.kind))
                    .await?;
            }
            let component = match runner {
                StepRunner::Component(c) => c,
                StepRunner::Breakpoint(b) => {
                    self.breakpoint(b).await?;
                    continue;
                }
            };
            if let Some(pause) = step.pause_before {
                self.ui
                    .say(&format!("Pausing {pause:?} before the next provisioner..."));
                tokio::select! {
                    _ = self.cancel.cancelled() => return Err(BuildError::Cancelled),
                    _ = tokio::time::sleep(pause) => {}
                }
            }
            self.provision_one(step, component, &machine).await?;
        }
        Ok(())
    }
}
