//! Post-processor chains: after a builder's artifact exists, each chain turns it into
//! what ships, with Packer's semantics. A top-level `post-processor` is a chain of one;
//! in a `post-processors {}` chain each step gets the previous step's artifact. An input
//! artifact is removed once a later step replaced it, unless `keep_input_artifact` (or
//! the post-processor itself) asks to keep it; the builder's artifact is kept when any
//! chain's first step keeps it. A failed step stops its chain and fails the build; the
//! other chains still run.
//!
//! Every post-processor reads its input artifact's files and what its grant gives it.
//! The digests the host took of what a step wrote go with the chain to the next step,
//! so that no file is read twice to be hashed.

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use kiln_core::{Artifact, BuildError, Grant, Ui};
use kiln_runtime::{KnownDigest, PostProcessed, Runtime, RuntimeError};

use crate::check::{ReadyBuild, ReadyPostProcessor};
use crate::request::{request, Target};

/// Removes the files of an artifact a later step replaced.
fn destroy(artifact: &Artifact, keep: &[&Artifact], ui: &dyn Ui) {
    for f in &artifact.files {
        // A file a kept artifact also lists (a pass-through step) stays.
        if keep
            .iter()
            .any(|k| k.files.iter().any(|g| g.path == f.path))
        {
            continue;
        }
        if let Err(e) = std::fs::remove_file(&f.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                ui.error(&format!("could not remove {}: {e}", f.path.display()));
            }
        }
    }
}

/// What runs the chains of one build.
pub struct Chains<'a> {
    pub(crate) build: &'a ReadyBuild,
    pub(crate) runtime: &'a Runtime,
    pub(crate) ui: Arc<dyn Ui>,
    pub(crate) cwd: &'a Path,
    pub(crate) cancel: &'a CancellationToken,
}

impl Chains<'_> {
    /// Runs one post-processor on `input`, knowing `digests`: its artifact, whether it
    /// asks to keep the input, and the digests known after it.
    async fn run_one(
        &self,
        pp: &ReadyPostProcessor,
        input: &Artifact,
        digests: Vec<KnownDigest>,
    ) -> Result<PostProcessed, BuildError> {
        let kind = &pp.plan.kind;
        self.ui.say(&format!(
            "Running post-processor: {}",
            pp.plan.name.as_deref().unwrap_or(kind)
        ));
        let target = Target {
            build: &self.build.plan,
            sensitive: &self.build.sensitive,
            machine: None,
            ui: self.ui.clone(),
            cwd: self.cwd,
            cancel: self.cancel.clone(),
        };
        let inputs = Grant {
            read: input.files.iter().map(|f| self.cwd.join(&f.path)).collect(),
            ..Grant::default()
        };
        let req = kiln_runtime::StepRequest {
            digests,
            ..request((&pp.plan).into(), target, Some(&inputs))
        };
        tracing::debug!(
            build = %self.build.plan.name,
            step = %kind,
            config = %serde_json::Value::Object(pp.plan.block.config.clone()),
            "running post-processor"
        );
        match self.runtime.post_process(&pp.component, req, input).await {
            Ok(done) => Ok(done),
            Err(RuntimeError::Cancelled) => Err(BuildError::Cancelled),
            Err(e) => Err(BuildError::Failed(format!(
                "Post-processor failed: post-processor \"{kind}\": {e}"
            ))),
        }
    }

    /// Runs every chain on the builder's `artifact`; returns the artifacts that remain,
    /// as Packer lists them: each chain's last artifact, then the builder's when kept.
    pub async fn run(&self, artifact: Artifact) -> Result<Vec<Artifact>, BuildError> {
        let chains = &self.build.post_processors;
        if chains.is_empty() {
            return Ok(vec![artifact]);
        }
        let ui = &*self.ui;
        let mut results = Vec::new();
        let mut keep_original = false;
        let mut failures = Vec::new();
        'chains: for chain in chains {
            let mut prior = artifact.clone();
            let mut digests = Vec::new();
            for (i, pp) in chain.iter().enumerate() {
                let done = match self.run_one(pp, &prior, std::mem::take(&mut digests)).await {
                    Ok(r) => r,
                    Err(BuildError::Cancelled) => return Err(BuildError::Cancelled),
                    Err(e) => {
                        ui.error(&e.to_string());
                        failures.push(e.to_string());
                        continue 'chains;
                    }
                };
                // The template's keep_input_artifact, when written, overrides the
                // post-processor's own preference.
                let (made, default_keep) = (done.artifact, done.keep_input);
                digests = done.digests;
                let keep = pp.plan.keep_input_artifact.unwrap_or(default_keep);
                if i == 0 {
                    keep_original |= keep;
                } else if !keep {
                    destroy(&prior, &[&artifact, &made], ui);
                }
                prior = made;
            }
            results.push(prior);
        }
        // A failed chain never costs the builder's artifact: nothing is lost to an error.
        if keep_original || !failures.is_empty() {
            results.push(artifact);
        } else {
            let kept: Vec<&Artifact> = results.iter().collect();
            destroy(&artifact, &kept, ui);
        }
        if failures.is_empty() {
            Ok(results)
        } else {
            Err(BuildError::Failed(failures.join("; ")))
        }
    }
}
