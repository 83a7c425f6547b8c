//! Where a person steers a run: `-debug` and breakpoint pauses, and what `-on-error`
//! makes of a failed step (asking, for `ask`). One question at a time, whichever build
//! asks; answers come through the [`Frontend`].

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;

use kiln_core::steps::{OnFailure, StepHooks};
use kiln_core::{BuildError, Ui};

use crate::frontend::Frontend;

/// What to do when a step fails (`-on-error`), with Packer's meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// Run the error-cleanup-provisioner, clean up, fail the build.
    #[default]
    Cleanup,
    /// Stop at once and leave everything as it is.
    Abort,
    /// Ask: clean up, abort, or retry the step.
    Ask,
    /// Run the error-cleanup-provisioner, then stop without cleaning up.
    RunCleanupProvisioner,
}

/// What happens after a failed step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run the step again.
    Retry,
    /// Clean up and fail the build.
    Cleanup,
    /// Stop, leaving everything as it is.
    Abort,
    /// Run the error-cleanup-provisioner, then stop.
    CleanupProvisionerThenAbort,
}

/// The person at the run: one question at a time, for every build.
#[derive(Clone)]
pub struct Prompter {
    frontend: Arc<dyn Frontend>,
    turn: Arc<Mutex<()>>,
}

impl Prompter {
    /// Asks through `frontend`.
    pub fn new(frontend: Arc<dyn Frontend>) -> Self {
        Prompter {
            frontend,
            turn: Arc::new(Mutex::new(())),
        }
    }

    /// Shows `message` and waits for Enter; ended input lets the build go on.
    pub async fn pause(&self, ui: &dyn Ui, message: &str) {
        let _turn = self.turn.lock().await;
        ui.say(&format!("{message} Press enter to continue."));
        if self.frontend.read_line().await.is_none() {
            ui.message("stdin is closed: continuing");
        }
    }

    /// What `on_error` makes of the failure of `what`; `ask` asks, and cleans up where
    /// nobody can answer.
    pub async fn decide(&self, on_error: OnError, ui: &dyn Ui, what: &str) -> Decision {
        match on_error {
            OnError::Cleanup => Decision::Cleanup,
            OnError::Abort => Decision::Abort,
            OnError::RunCleanupProvisioner => Decision::CleanupProvisionerThenAbort,
            OnError::Ask if !self.frontend.can_ask() => Decision::Cleanup,
            OnError::Ask => {
                let _turn = self.turn.lock().await;
                loop {
                    ui.error(&format!("Step {what} failed"));
                    ui.error(
                        "[c] Clean up and exit, [a] abort without cleanup, or [r] retry step (build may fail even if retry succeeds)?",
                    );
                    let Some(line) = self.frontend.read_line().await else {
                        return Decision::Cleanup;
                    };
                    match line.trim() {
                        "c" | "C" => return Decision::Cleanup,
                        "a" | "A" => return Decision::Abort,
                        "r" | "R" => return Decision::Retry,
                        _ => {}
                    }
                }
            }
        }
    }
}

/// `-debug` and `-on-error` for a builder's own steps (its provision step decides for
/// the provisioners itself).
pub struct BuilderHooks {
    /// Asks the person.
    pub prompter: Prompter,
    /// The build's output.
    pub ui: Arc<dyn Ui>,
    /// `-debug`: pause before each step.
    pub debug: bool,
    /// `-on-error`.
    pub on_error: OnError,
}

#[async_trait]
impl StepHooks for BuilderHooks {
    async fn before(&self, step: &str) {
        if self.debug {
            self.prompter
                .pause(&*self.ui, &format!("Pausing before step '{step}'."))
                .await;
        }
    }

    async fn failed(&self, step: &str, _error: &BuildError) -> OnFailure {
        let what = format!("\"{step}\"");
        match self.prompter.decide(self.on_error, &*self.ui, &what).await {
            Decision::Retry => {
                self.ui.say(&format!("Retrying step \"{step}\"..."));
                OnFailure::Retry
            }
            Decision::Cleanup => OnFailure::Cleanup,
            // The error-cleanup-provisioner needs a machine to run on; after a builder
            // step failed there may be none, so run-cleanup-provisioner stops as abort.
            Decision::Abort | Decision::CleanupProvisionerThenAbort => OnFailure::Abort,
        }
    }
}
