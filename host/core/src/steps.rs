//! The step runner. Steps run in order; when one fails or the build is cancelled, every
//! step that started is cleaned up, in reverse order. State flows between steps through
//! a typed value rather than a string-keyed bag.

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::BuildError;

/// One step of a builder.
#[async_trait]
pub trait Step<S: Send>: Send + Sync {
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// Does the step's work.
    async fn run(&self, state: &mut S) -> Result<(), BuildError>;
    /// Undoes what `run` did, as far as it got. Called once for every step whose `run`
    /// started, whatever the outcome. Must not fail: it reports problems itself.
    async fn cleanup(&self, _state: &mut S) {}
}

/// The name of every builder's step that runs the provisioners. Its failures were
/// already decided by the provision hook (`-on-error`), so [`StepHooks::failed`] is not
/// asked again about them.
pub const PROVISION_STEP: &str = "provision";

/// What to do after a builder step failed (`-on-error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Run the step again.
    Retry,
    /// Clean up every started step, in reverse (the default).
    Cleanup,
    /// Stop at once and leave everything for inspection.
    Abort,
}

/// How the user steers a builder's steps: `-debug` pauses, `-on-error` decisions.
#[async_trait]
pub trait StepHooks: Send + Sync {
    /// Returns when the build may go on to the step named `step`.
    async fn before(&self, _step: &str) {}
    /// Decides what follows the failure of the step named `step`.
    async fn failed(&self, _step: &str, _error: &BuildError) -> OnFailure {
        OnFailure::Cleanup
    }
}

/// Runs `steps` in order over `state`, then cleans up every step that started, in reverse.
///
/// A step still running when `cancel` fires is abandoned (its future is dropped) and
/// the result is [`BuildError::Cancelled`]; its cleanup still runs.
pub async fn run_steps<S: Send>(
    steps: &[Box<dyn Step<S>>],
    state: &mut S,
    cancel: &CancellationToken,
) -> Result<(), BuildError> {
    run_steps_with(steps, state, cancel, None).await
}

/// [`run_steps`], with `hooks` asked before each step and after each failure.
pub async fn run_steps_with<S: Send>(
    steps: &[Box<dyn Step<S>>],
    state: &mut S,
    cancel: &CancellationToken,
    hooks: Option<&dyn StepHooks>,
) -> Result<(), BuildError> {
    let mut started = 0;
    let mut result = Ok(());
    for step in steps {
        if let Some(hooks) = hooks {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {}
                _ = hooks.before(step.name()) => {}
            }
        }
        if cancel.is_cancelled() {
            result = Err(BuildError::Cancelled);
            break;
        }
        started += 1;
        tracing::debug!(step = step.name(), "running step");
        let outcome = loop {
            let outcome = tokio::select! {
                biased;
                _ = cancel.cancelled() => Err(BuildError::Cancelled),
                r = step.run(state) => r,
            };
            let (Some(hooks), Err(e @ BuildError::Failed(_))) = (hooks, &outcome) else {
                break outcome;
            };
            if step.name() == PROVISION_STEP {
                break outcome;
            }
            match hooks.failed(step.name(), e).await {
                OnFailure::Retry => continue,
                OnFailure::Cleanup => break outcome,
                OnFailure::Abort => break Err(BuildError::Aborted(e.to_string())),
            }
        };
        if let Err(e) = outcome {
            result = Err(e);
            break;
        }
    }
    if matches!(result, Err(BuildError::Aborted(_))) {
        tracing::debug!("aborted: skipping cleanup");
        return result;
    }
    for step in steps[..started].iter().rev() {
        tracing::debug!(step = step.name(), "cleaning up step");
        step.cleanup(state).await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Recorder {
        name: &'static str,
        fail: bool,
        hang: bool,
        log: Arc<Mutex<Vec<String>>>,
    }

    #[async_trait]
    impl Step<u32> for Recorder {
        fn name(&self) -> &'static str {
            self.name
        }
        async fn run(&self, state: &mut u32) -> Result<(), BuildError> {
            *state += 1;
            self.log.lock().unwrap().push(format!("run {}", self.name));
            if self.hang {
                std::future::pending::<()>().await;
            }
            if self.fail {
                return Err(BuildError::Failed(format!("{} failed", self.name)));
            }
            Ok(())
        }
        async fn cleanup(&self, _state: &mut u32) {
            self.log
                .lock()
                .unwrap()
                .push(format!("cleanup {}", self.name));
        }
    }

    fn steps(
        spec: &[(&'static str, bool, bool)],
        log: &Arc<Mutex<Vec<String>>>,
    ) -> Vec<Box<dyn Step<u32>>> {
        spec.iter()
            .map(|&(name, fail, hang)| {
                Box::new(Recorder {
                    name,
                    fail,
                    hang,
                    log: log.clone(),
                }) as Box<dyn Step<u32>>
            })
            .collect()
    }

    #[tokio::test]
    async fn cleans_up_in_reverse_after_success() {
        let log = Arc::new(Mutex::new(vec![]));
        let s = steps(&[("a", false, false), ("b", false, false)], &log);
        let mut state = 0;
        run_steps(&s, &mut state, &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(state, 2);
        assert_eq!(
            *log.lock().unwrap(),
            ["run a", "run b", "cleanup b", "cleanup a"]
        );
    }

    #[tokio::test]
    async fn failure_stops_and_cleans_up_only_started_steps() {
        let log = Arc::new(Mutex::new(vec![]));
        let s = steps(
            &[("a", false, false), ("b", true, false), ("c", false, false)],
            &log,
        );
        let mut state = 0;
        let err = run_steps(&s, &mut state, &CancellationToken::new())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "b failed");
        assert_eq!(
            *log.lock().unwrap(),
            ["run a", "run b", "cleanup b", "cleanup a"]
        );
    }

    struct Aborter;

    #[async_trait]
    impl Step<u32> for Aborter {
        fn name(&self) -> &'static str {
            "aborter"
        }
        async fn run(&self, _state: &mut u32) -> Result<(), BuildError> {
            Err(BuildError::Aborted("stop here".into()))
        }
    }

    #[tokio::test]
    async fn abort_skips_every_cleanup() {
        let log = Arc::new(Mutex::new(vec![]));
        let mut s = steps(&[("a", false, false)], &log);
        s.push(Box::new(Aborter));
        let mut state = 0;
        let err = run_steps(&s, &mut state, &CancellationToken::new())
            .await
            .unwrap_err();
        assert!(matches!(err, BuildError::Aborted(_)));
        assert_eq!(*log.lock().unwrap(), ["run a"]);
    }

    #[tokio::test]
    async fn cancellation_abandons_running_step_and_cleans_up() {
        let log = Arc::new(Mutex::new(vec![]));
        let s = steps(
            &[("a", false, false), ("b", false, true), ("c", false, false)],
            &log,
        );
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            c2.cancel();
        });
        let mut state = 0;
        let err = run_steps(&s, &mut state, &cancel).await.unwrap_err();
        assert!(matches!(err, BuildError::Cancelled));
        assert_eq!(
            *log.lock().unwrap(),
            ["run a", "run b", "cleanup b", "cleanup a"]
        );
    }
}
