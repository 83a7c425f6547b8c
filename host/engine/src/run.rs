//! Running checked builds: in parallel up to a limit (one at a time with `-debug`),
//! each builder creating or reaching its machine and calling the provision hook, then
//! the post-processor chains on its artifact. Cleanup happens inside each builder
//! whatever the outcome.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use kiln_core::{Artifact, BuildContext, BuildError};
use kiln_runtime::Runtime;

use crate::check::ReadyBuild;
use crate::frontend::Frontend;
use crate::post::Chains;
use crate::prompt::{BuilderHooks, OnError, Prompter};
use crate::provision::Provisioners;

/// How a run treats failures and earlier output (`-on-error`, `-force`, `-debug`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    /// What to do when a step fails.
    pub on_error: OnError,
    /// Replace what earlier builds left behind.
    pub force: bool,
    /// Pause before each step; builds run one at a time.
    pub debug: bool,
    /// `-checkpoint`, `-resume`.
    pub checkpoint: kiln_core::checkpoint::CheckpointMode,
    /// `-post-processors-only`: run the post-processors alone, on the builder's
    /// artifact of the build's last successful run.
    pub post_processors_only: bool,
}

/// How to run a plan's builds.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// How many builds run at once; 0 for all of them.
    pub parallel: usize,
    /// Failures, earlier output, pauses.
    pub policy: Policy,
    /// The template's directory: relative paths resolve against it.
    pub cwd: PathBuf,
    /// Where checkpoints are shared (`-checkpoint-to`, `-checkpoint-from`).
    pub share: kiln_core::checkpoint::CheckpointShare,
}

/// How one build ended: the artifacts that remain after its post-processors.
#[derive(Debug)]
pub struct Outcome {
    /// The build's name.
    pub name: String,
    /// Its artifacts, or why it failed.
    pub result: Result<Vec<Artifact>, BuildError>,
    /// How long it took.
    pub elapsed: Duration,
}

/// The most characters of an error that a line after the first report shows (the
/// build's own line, the summaries): the error was printed whole where it happened.
pub const SUMMARY_WIDTH: usize = 300;

/// Runs every build of `ready`, at most `options.parallel` at once, and returns how
/// each ended, in the order given.
pub async fn run_all(
    ready: Vec<ReadyBuild>,
    runtime: Arc<Runtime>,
    frontend: Arc<dyn Frontend>,
    options: RunOptions,
    cancel: CancellationToken,
) -> Vec<Outcome> {
    let policy = options.policy;
    if policy.debug {
        frontend.say("==> Debug mode enabled. Builds will not be parallelized.");
    }
    if policy.on_error == OnError::Ask && !frontend.can_ask() {
        frontend.say(
            "==> -on-error=ask needs a terminal on stdin; a failed step will be cleaned up instead.",
        );
    }
    let limit = match (policy.debug, options.parallel) {
        (true, _) => 1,
        (false, 0) => ready.len().max(1),
        (false, n) => n,
    };
    let semaphore = Arc::new(tokio::sync::Semaphore::new(limit));
    let prompter = Prompter::new(frontend.clone());
    let cwd: Arc<Path> = options.cwd.into();
    let share = Arc::new(options.share);
    let mut tasks = Vec::new();
    for (i, build) in ready.into_iter().enumerate() {
        let (runtime, frontend, cancel, semaphore, cwd, prompter, share) = (
            runtime.clone(),
            frontend.clone(),
            cancel.clone(),
            semaphore.clone(),
            cwd.clone(),
            prompter.clone(),
            share.clone(),
        );
        let name = build.plan.name.clone();
        let task = tokio::spawn(async move {
            let _permit = semaphore.acquire_owned().await.expect("semaphore open");
            let run = OneBuild {
                build: &build,
                runtime: &runtime,
                frontend,
                cwd: &cwd,
                policy,
                prompter,
                share: &share,
            };
            run.run(i, cancel).await
        });
        tasks.push((name, task));
    }
    let mut outcomes = Vec::new();
    for (name, task) in tasks {
        outcomes.push(match task.await {
            Ok(o) => o,
            Err(e) => Outcome {
                name,
                result: Err(BuildError::Failed(format!("the build's task failed: {e}"))),
                elapsed: Duration::ZERO,
            },
        });
    }
    outcomes
}

/// One build and what running it needs.
struct OneBuild<'a> {
    build: &'a ReadyBuild,
    runtime: &'a Runtime,
    frontend: Arc<dyn Frontend>,
    cwd: &'a Path,
    policy: Policy,
    prompter: Prompter,
    share: &'a kiln_core::checkpoint::CheckpointShare,
}

impl OneBuild<'_> {
    /// Runs the build to the end, as build number `index` of the run.
    async fn run(self, index: usize, cancel: CancellationToken) -> Outcome {
        let started = Instant::now();
        let build = self.build;
        let name = &build.plan.name;
        let ui = self.frontend.build_ui(name, index);
        let cx = BuildContext {
            build_name: name.clone(),
            ui: ui.clone(),
            cancel: cancel.clone(),
            force: self.policy.force,
            hooks: Some(Arc::new(BuilderHooks {
                prompter: self.prompter.clone(),
                ui: ui.clone(),
                debug: self.policy.debug,
                on_error: self.policy.on_error,
            })),
        };
        let hook = Provisioners {
            build,
            runtime: self.runtime,
            frontend: self.frontend.clone(),
            ui: ui.clone(),
            cwd: self.cwd.to_owned(),
            cancel: cancel.clone(),
            on_error: self.policy.on_error,
            prompter: self.prompter.clone(),
            debug: self.policy.debug,
            printed: AtomicBool::new(false),
            checkpoint: self.policy.checkpoint,
            share: self.share.clone(),
        };
        // Whether a failure was already printed whole where it happened (a provisioner's
        // or a post-processor's): the build's own line then shows its first line only.
        let built = if self.policy.post_processors_only {
            ui.say("Running the post-processors alone, on the artifact of the build's last successful run...");
            match kiln_core::default_cache_dir() {
                Some(cache) => crate::last_build::restore(&cache, self.cwd, name),
                None => Err(BuildError::Failed(
                    "no cache directory: set KILN_CACHE_DIR or HOME".into(),
                )),
            }
        } else {
            let built = build.builder.run(&cx, &hook).await;
            let checkpoints = self.policy.checkpoint != kiln_core::checkpoint::CheckpointMode::Off;
            if let (Ok(artifact), true, Some(cache)) =
                (&built, checkpoints, kiln_core::default_cache_dir())
            {
                if let Err(e) = crate::last_build::record(&cache, self.cwd, name, artifact) {
                    ui.error(&format!(
                        "could not keep the artifact for -post-processors-only: {e}"
                    ));
                }
            }
            built
        };
        let (result, printed) = match built {
            Ok(artifact) => {
                let chains = Chains {
                    build,
                    runtime: self.runtime,
                    ui: ui.clone(),
                    cwd: self.cwd,
                    cancel: &cancel,
                };
                (chains.run(artifact).await, true)
            }
            Err(e) => (Err(e), hook.printed.load(Ordering::Relaxed)),
        };
        let elapsed = started.elapsed();
        match &result {
            Ok(_) => ui.say(&format!(
                "Build '{name}' finished after {}.",
                human(elapsed)
            )),
            Err(e) => {
                let text = e.to_string();
                let shown = if printed {
                    kiln_core::text::summary(&text, SUMMARY_WIDTH)
                } else {
                    std::borrow::Cow::Borrowed(text.as_str())
                };
                ui.error(&format!(
                    "Build '{name}' errored after {}: {shown}",
                    human(elapsed)
                ));
            }
        }
        Outcome {
            name: name.clone(),
            result,
            elapsed,
        }
    }
}

/// `1 second 24 milliseconds`, as Packer words durations.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs();
    let ms = d.subsec_millis();
    let mut parts = Vec::new();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let unit = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    if h > 0 {
        parts.push(unit(h, "hour"));
    }
    if m > 0 {
        parts.push(unit(m, "minute"));
    }
    if s > 0 {
        parts.push(unit(s, "second"));
    }
    if ms > 0 || parts.is_empty() {
        parts.push(unit(u64::from(ms), "millisecond"));
    }
    parts.join(" ")
}
