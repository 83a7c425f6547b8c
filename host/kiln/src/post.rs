//! Post-processors: after a builder's artifact exists, each chain of post-processors
//! turns it into what ships, with Packer's semantics. A top-level `post-processor` is a
//! chain of one; in a `post-processors {}` chain each step gets the previous step's
//! artifact. An input artifact is removed once a later step replaced it, unless
//! `keep_input_artifact` (or the post-processor itself) asks to keep it; the builder's
//! artifact is kept when any chain's first step keeps it. A failed step stops its chain
//! and fails the build; the other chains still run.
//!
//! Every post-processor but `shell-local` is a component that reads only its input
//! artifact's files and writes only where its configuration says. `shell-local` runs
//! commands on this host, so it runs only where the template grants it
//! (`grant { exec_host = true }`), and says so when it runs.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use kiln_core::diag::did_you_mean;
use kiln_core::plan::{BuildPlan, PostProcessorPlan};
use kiln_core::{Artifact, BuildError, Diagnostic, Grant, Ui};
use kiln_runtime::{PreparedComponent, Runtime, StepRequest, World};

use crate::engine::{archive_epoch, build_info, clock_epoch, field_diagnostic};
use crate::shell_local;

/// How a post-processor runs.
pub enum Runner {
    /// A component.
    Component(PreparedComponent),
    /// `shell-local`, on the host.
    ShellLocal(shell_local::Config),
}

/// A post-processor step, checked and ready.
pub struct ReadyPostProcessor {
    pub plan: PostProcessorPlan,
    pub runner: Runner,
}

/// Every kind of post-processor Kiln runs.
fn known() -> Vec<&'static str> {
    let mut names: Vec<&str> = kiln_builtins::post_processor_names().collect();
    names.push("shell-local");
    names
}

/// The grant of one post-processor step: its input artifact's files to read, plus what
/// a builtin's configuration implies.
fn grant(pp: &PostProcessorPlan, input: &Artifact, cwd: &Path) -> Grant {
    let mut grant = kiln_builtins::post_processor_grant(&pp.kind, &pp.block.config, cwd);
    grant.extend(&pp.grant);
    grant
        .read
        .extend(input.files.iter().map(|f| cwd.join(&f.path)));
    grant
}

fn request(
    pp: &PostProcessorPlan,
    build: &BuildPlan,
    input: &Artifact,
    ui: Arc<dyn Ui>,
    cwd: &Path,
    cancel: CancellationToken,
) -> StepRequest {
    StepRequest {
        config_json: serde_json::to_string(&pp.block.config).unwrap_or_default(),
        build: build_info(build, None),
        communicator: None,
        ui,
        grant: grant(pp, input, cwd),
        cwd: cwd.to_owned(),
        timeout: pp.timeout,
        limits: pp.limits,
        cancel,
        clock_epoch: clock_epoch(),
        archive_epoch: archive_epoch(),
    }
}

/// Checks and prepares the post-processors of `build`: known types, the grant
/// `shell-local` needs, and each component's own `validate`.
pub async fn prepare(
    build: &BuildPlan,
    sensitive: &[String],
    cx: &crate::engine::PrepareCx<'_>,
    prepared: &mut HashMap<String, PreparedComponent>,
    errors: &mut Vec<Diagnostic>,
) -> Vec<Vec<ReadyPostProcessor>> {
    let crate::engine::PrepareCx {
        runtime,
        cwd,
        required,
        cancel,
    } = *cx;
    let mut chains = Vec::new();
    for chain in &build.post_processors {
        let mut ready = Vec::new();
        for pp in chain {
            let masked;
            let pp = if pp.kind == "manifest" {
                masked = masked_manifest(pp, sensitive);
                &masked
            } else {
                pp
            };
            let what = format!("post-processor \"{}\"", pp.kind);
            if pp.kind == "shell-local" {
                if !pp.grant.exec_host {
                    errors.push(
                        Diagnostic::error(
                            "the shell-local post-processor runs commands on this host, and \
                             the template does not grant it that",
                            Some(pp.block.location.clone()),
                        )
                        .with_hint(
                            "Add `grant { exec_host = true }` to this post-processor if you \
                             trust what it runs.",
                        ),
                    );
                    continue;
                }
                match shell_local::Config::parse(&pp.block.config, cwd) {
                    Ok(c) => ready.push(ReadyPostProcessor {
                        plan: pp.clone(),
                        runner: Runner::ShellLocal(c),
                    }),
                    Err(e) => errors.push(field_diagnostic(&pp.block, &what, &e)),
                }
                continue;
            }
            let found = required
                .get(&pp.kind)
                .or_else(|| kiln_builtins::post_processor(&pp.kind));
            let Some(bytes) = found else {
                let names = known();
                let d = Diagnostic::error(
                    format!("Unknown post-processor type \"{}\"", pp.kind),
                    Some(pp.block.location.clone()),
                );
                errors.push(match did_you_mean(&pp.kind, names.iter().copied()) {
                    Some(s) => d.with_hint(format!("Did you mean \"{s}\"?")),
                    None => d.with_hint(format!(
                        "Kiln ships these post-processors: {}. Others are components the \
                         template names in `packer {{ required_components {{ ... }} }}`.",
                        names.join(", ")
                    )),
                });
                continue;
            };
            let component = match prepared.get(&pp.kind) {
                Some(c) => c.clone(),
                None => match runtime.prepare(&pp.kind, bytes, World::PostProcessor) {
                    Ok(c) => {
                        prepared.insert(pp.kind.clone(), c.clone());
                        c
                    }
                    Err(e) => {
                        errors.push(Diagnostic::error(
                            e.to_string(),
                            Some(pp.block.location.clone()),
                        ));
                        continue;
                    }
                },
            };
            let ui: Arc<dyn Ui> = Arc::new(kiln_core::ui::DiscardUi);
            let req = request(pp, build, &empty(), ui, cwd, cancel.clone());
            errors.extend(crate::engine::check_declared(
                &component,
                &req.grant,
                cwd,
                &what,
                &pp.block.location,
            ));
            let answer = runtime.validate_all(&component, &[req]).await;
            match answer.into_iter().next() {
                Some(Ok(issues)) => {
                    for issue in issues {
                        let fe = crate::engine::issue_error(&issue);
                        errors.push(field_diagnostic(&pp.block, &what, &fe));
                    }
                }
                Some(Err(e)) => errors.push(Diagnostic::error(
                    e.to_string(),
                    Some(pp.block.location.clone()),
                )),
                None => {}
            }
            ready.push(ReadyPostProcessor {
                plan: pp.clone(),
                runner: Runner::Component(component),
            });
        }
        chains.push(ready);
    }
    chains
}

/// A manifest writes what its configuration says (`custom_data`) into a file people
/// share: sensitive values are masked in it, as everywhere Kiln writes.
fn masked_manifest(pp: &PostProcessorPlan, sensitive: &[String]) -> PostProcessorPlan {
    let text = serde_json::to_string(&pp.block.config).unwrap_or_default();
    let mut masked = text.clone();
    for secret in sensitive.iter().filter(|s| !s.is_empty()) {
        // Compare as JSON string contents, so quotes and escapes line up.
        let quoted = serde_json::to_string(secret).unwrap_or_default();
        masked = masked.replace(&quoted[1..quoted.len() - 1], "<sensitive>");
    }
    let mut out = pp.clone();
    if masked != text {
        if let Ok(config) = serde_json::from_str(&masked) {
            let mut block = (*pp.block).clone();
            block.config = config;
            out.block = Arc::new(block);
        }
    }
    out
}

fn empty() -> Artifact {
    Artifact {
        builder_id: String::new(),
        id: String::new(),
        files: vec![],
        metadata: Default::default(),
        description: String::new(),
    }
}

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

/// Runs one post-processor on `input`: its artifact and whether it asks to keep the
/// input.
async fn run_one(
    pp: &ReadyPostProcessor,
    build: &BuildPlan,
    input: &Artifact,
    runtime: &Runtime,
    ui: Arc<dyn Ui>,
    cwd: &Path,
    cancel: &CancellationToken,
) -> Result<(Artifact, bool), BuildError> {
    let kind = &pp.plan.kind;
    ui.say(&format!(
        "Running post-processor: {}",
        pp.plan.name.as_deref().unwrap_or(kind)
    ));
    match &pp.runner {
        Runner::ShellLocal(config) => {
            ui.say("shell-local runs commands on this host (granted by exec_host in the template)");
            shell_local::run(config, build, input, &*ui, cwd, cancel).await?;
            Ok((input.clone(), true))
        }
        Runner::Component(component) => {
            let req = request(&pp.plan, build, input, ui, cwd, cancel.clone());
            // Where the step may write exists before it runs, as Packer creates the
            // directories of a post-processor's output.
            for path in &req.grant.write {
                let dir = if path.as_os_str().to_string_lossy().ends_with('/') {
                    Some(path.as_path())
                } else {
                    path.parent()
                };
                if let Some(dir) = dir {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        BuildError::Failed(format!(
                            "post-processor \"{kind}\": creating {}: {e}",
                            dir.display()
                        ))
                    })?;
                }
            }
            tracing::debug!(
                build = %build.name,
                step = %kind,
                config = %serde_json::Value::Object(pp.plan.block.config.clone()),
                "running post-processor"
            );
            match runtime.post_process(component, req, input).await {
                Ok(done) => Ok((done.artifact, done.keep_input)),
                Err(kiln_runtime::RuntimeError::Cancelled) => Err(BuildError::Cancelled),
                Err(e) => Err(BuildError::Failed(format!(
                    "Post-processor failed: post-processor \"{kind}\": {e}"
                ))),
            }
        }
    }
}

/// Runs every chain on the builder's `artifact`; returns the artifacts that remain, as
/// Packer lists them: each chain's last artifact, then the builder's when kept.
pub async fn run_chains(
    chains: &[Vec<ReadyPostProcessor>],
    build: &BuildPlan,
    artifact: Artifact,
    runtime: &Runtime,
    ui: Arc<dyn Ui>,
    cwd: &Path,
    cancel: &CancellationToken,
) -> Result<Vec<Artifact>, BuildError> {
    if chains.is_empty() {
        return Ok(vec![artifact]);
    }
    let mut results = Vec::new();
    let mut keep_original = false;
    let mut failures = Vec::new();
    'chains: for chain in chains {
        let mut prior = artifact.clone();
        for (i, pp) in chain.iter().enumerate() {
            let (made, default_keep) =
                match run_one(pp, build, &prior, runtime, ui.clone(), cwd, cancel).await {
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
            let keep = pp.plan.keep_input_artifact.unwrap_or(default_keep);
            if i == 0 {
                keep_original |= keep;
            } else if !keep {
                destroy(&prior, &[&artifact, &made], &*ui);
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
        destroy(&artifact, &kept, &*ui);
    }
    if failures.is_empty() {
        Ok(results)
    } else {
        Err(BuildError::Failed(failures.join("; ")))
    }
}
