//! The calls into a component: checking a step's configuration (`validate`, `needs`),
//! and running it (`provision`, `post-process`), each under its step's bounds.

use std::time::Instant;

use wasmtime::Store;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use kiln_core::{Artifact, ArtifactFile, BuildInfo};

use crate::component::{Instance, PreparedComponent};
use crate::host::StepState;
use crate::store::{bounded, stopped, STDERR_CAPTURE};
use crate::StepRequest;
use crate::{artifact_files, bindings, budget, normalize, GrantedPaths};
use crate::{ConfigIssue, IssueKind, PostProcessed, Runtime, RuntimeError, StepCheck};

use bindings::provisioner::kiln::plugin::types as wit;

/// The issues of a `validate` (or `needs`) answer, their text escaped.
fn issues(answer: Result<(), Vec<wit::ConfigError>>) -> Vec<ConfigIssue> {
    let esc = |s: &str| kiln_core::text::escape_controls(s).into_owned();
    match answer {
        Ok(()) => vec![],
        Err(errors) => errors
            .into_iter()
            .map(|e| ConfigIssue {
                field: e.field.as_deref().map(esc),
                kind: match e.kind {
                    wit::ConfigErrorKind::UnknownField(expected) => {
                        IssueKind::UnknownField(expected.iter().map(|x| esc(x)).collect())
                    }
                    wit::ConfigErrorKind::MissingField => IssueKind::MissingField,
                    wit::ConfigErrorKind::WrongType(t) => IssueKind::WrongType {
                        found: esc(&t.found),
                        expected: esc(&t.expected),
                    },
                    wit::ConfigErrorKind::Invalid => IssueKind::Invalid,
                },
                message: esc(&e.message),
            })
            .collect(),
    }
}

/// `grant` with the implied part of `needs` added (its host paths, and host execution
/// where that is implied): what a component granted its needs (Kiln's builtins) runs
/// with.
pub(crate) fn with_needs(
    grant: &kiln_core::Grant,
    needs: &kiln_core::Grant,
    component: &PreparedComponent,
) -> kiln_core::Grant {
    let mut out = grant.clone();
    out.extend(&needs.implied(component.exec_host_implied));
    out
}

/// A component's grant request as a grant (paths as it wrote them).
fn requested(r: wit::GrantRequest) -> kiln_core::Grant {
    kiln_core::Grant {
        read: r.read.into_iter().map(Into::into).collect(),
        write: r.write.into_iter().map(Into::into).collect(),
        env: r.env,
        network: r.network,
        exec_host: r.exec_host,
        clock_host: r.clock,
        random_host: r.random,
    }
}

impl Runtime {
    /// Runs the component's `validate` on each request's configuration: its problems.
    /// See [`Runtime::check_all`].
    pub async fn validate_all(
        &self,
        component: &PreparedComponent,
        reqs: &[StepRequest],
    ) -> Vec<Result<Vec<ConfigIssue>, RuntimeError>> {
        self.check_all(component, reqs)
            .await
            .into_iter()
            .map(|r| r.map(|c| c.issues))
            .collect()
    }

    /// Checks each request's configuration: the component's `needs`, then, when the
    /// configuration decodes, its `validate` (for a component granted its paths, with
    /// them added to the request's grant), in one instance (a fresh
    /// one after a trap): checking is a function of the configuration, and instantiating
    /// once per configuration would dominate `kiln validate` on templates with many
    /// steps. Each call is bounded like any other (timeout, cpu, cancellation).
    pub async fn check_all(
        &self,
        component: &PreparedComponent,
        reqs: &[StepRequest],
    ) -> Vec<Result<StepCheck, RuntimeError>> {
        let mut results = Vec::with_capacity(reqs.len());
        let mut current: Option<(Store<StepState>, Instance, MemoryOutputPipe)> = None;
        let name = &*component.name;
        for req in reqs {
            // Each call is bounded by the step's timeout and computing time; the instance
            // keeps no deadline of an earlier call.
            let deadline = req.timeout.map(|t| Instant::now() + t);
            if current.is_none() {
                let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
                let mut store = self.store(name, req, deadline, &stderr, 0);
                let instantiated =
                    bounded(component.pre.instantiate(&mut store), &req.cancel, deadline).await;
                match Self::outcome(name, instantiated, &stderr, req, deadline) {
                    Ok(instance) => current = Some((store, instance, stderr)),
                    Err(e) => {
                        results.push(Err(e));
                        continue;
                    }
                }
            }
            let (store, instance, stderr) = current.as_mut().expect("instantiated above");
            let checked = self
                .check_one(component, store, instance, stderr, req, deadline)
                .await;
            // A trap or a stop leaves the instance unusable: the next check gets a new one.
            if checked.is_err() {
                current = None;
            }
            results.push(checked);
        }
        results
    }

    /// One request's check in `instance` (see [`Runtime::check_all`]).
    async fn check_one(
        &self,
        component: &PreparedComponent,
        store: &mut Store<StepState>,
        instance: &Instance,
        stderr: &MemoryOutputPipe,
        req: &StepRequest,
        deadline: Option<Instant>,
    ) -> Result<StepCheck, RuntimeError> {
        let name = &*component.name;
        store.data_mut().paths = GrantedPaths::new(&req.grant, &req.cwd);
        // What the step needs first: it is also where a configuration that does not
        // decode is found, and a builtin validates with the paths it asked for.
        self.bound_call(store, deadline);
        let asked = bounded(
            instance.needs(&mut *store, &req.config_json),
            &req.cancel,
            deadline,
        )
        .await;
        let needs = match Self::outcome(name, asked, stderr, req, deadline)? {
            Ok(request) => requested(request),
            Err(errors) => {
                return Ok(StepCheck {
                    issues: issues(Err(errors)),
                    needs: None,
                })
            }
        };
        if component.needs_granted {
            let grant = with_needs(&req.grant, &needs, component);
            store.data_mut().paths = GrantedPaths::new(&grant, &req.cwd);
        }
        self.bound_call(store, deadline);
        let answer = bounded(
            instance.validate(&mut *store, &req.config_json),
            &req.cancel,
            deadline,
        )
        .await;
        Ok(StepCheck {
            issues: issues(Self::outcome(name, answer, stderr, req, deadline)?),
            needs: Some(needs),
        })
    }

    /// A bounded call's outcome: its answer, the trap it ended with, or why it was
    /// stopped (the timeout, Ctrl-C).
    fn outcome<T>(
        name: &str,
        called: Option<wasmtime::Result<T>>,
        stderr: &MemoryOutputPipe,
        req: &StepRequest,
        deadline: Option<Instant>,
    ) -> Result<T, RuntimeError> {
        match called {
            Some(Ok(answer)) => Ok(answer),
            Some(Err(e)) => Err(Self::trap_error(name, &e, stderr, req, deadline)),
            None => Err(stopped(name, req, deadline)),
        }
    }

    /// Bounds the next call into the instance of `store`: a fresh computing-time budget
    /// and `deadline`.
    fn bound_call(&self, store: &mut Store<StepState>, deadline: Option<Instant>) {
        let budget = store.data().step_limits.cpu();
        store.data_mut().meter = budget::CpuMeter::new(budget);
        crate::store::watch_deadline(store, deadline, self.metered);
    }

    /// Creates a step's store and instance exactly as [`Runtime::provision`] does, calls
    /// nothing, and drops them: what starting a step costs (the start-cost benchmark).
    pub async fn instantiate_only(
        &self,
        component: &PreparedComponent,
        req: &StepRequest,
    ) -> Result<(), RuntimeError> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        let mut store = self.store(&component.name, req, None, &stderr, 0);
        component
            .pre
            .instantiate(&mut store)
            .await
            .map(drop)
            .map_err(|e| Self::trap_error(&component.name, &e, &stderr, req, None))
    }

    /// Runs the component's `provision` for one step.
    #[tracing::instrument(skip_all, fields(build = %req.build.build_name, component = %component.name))]
    pub async fn provision(
        &self,
        component: &PreparedComponent,
        req: StepRequest,
    ) -> Result<(), RuntimeError> {
        self.run(component, req, None, 0).await.map(|_| ())
    }

    /// Runs the component's `post-process` on `input` for one step. The files of the
    /// artifact it returns must be readable by the step (its input, or what it wrote);
    /// the host measures each one's size itself, and gives its sha256 where it took it
    /// on the way in (it reads no file only to hash it).
    #[tracing::instrument(skip_all, fields(build = %req.build.build_name, component = %component.name))]
    pub async fn post_process(
        &self,
        component: &PreparedComponent,
        req: StepRequest,
        input: &Artifact,
    ) -> Result<PostProcessed, RuntimeError> {
        let name = component.name.to_string();
        let input_bytes = input.files.iter().map(|f| f.size).sum();
        let disk = req.limits.disk(input_bytes);
        let Outcome {
            answer,
            written,
            paths,
            image,
        } = self.run(component, req, Some(input), disk).await?;
        let result = answer.expect("a post-processor answers with an artifact");
        let result = escaped_result(result);
        let mut files = Vec::with_capacity(result.artifact.files.len());
        for f in &result.artifact.files {
            files.push(measure(&paths, &f.path, &written).map_err(|e| {
                RuntimeError::Failed(format!(
                    "component `{name}` returned an artifact listing `{}`, which the step \
                     cannot reach: {e}",
                    f.path
                ))
            })?);
        }
        let mut metadata: std::collections::BTreeMap<String, String> =
            result.artifact.metadata.into_iter().collect();
        // A component describes its artifact for the summary line under this key.
        let description = metadata
            .remove("description")
            .unwrap_or_else(|| result.artifact.id.clone());
        Ok(PostProcessed {
            artifact: Artifact {
                builder_id: result.artifact.builder_id,
                description,
                id: result.artifact.id,
                files,
                metadata,
                image,
            },
            keep_input: result.keep_input,
            digests: written,
        })
    }

    /// Instantiates `component` for `req` and calls `provision` (without `input`) or
    /// `post-process`, under the step's timeout, computing time and the build's
    /// cancellation. `disk` bounds what a post-processor writes.
    async fn run(
        &self,
        component: &PreparedComponent,
        req: StepRequest,
        input: Option<&Artifact>,
        disk: u64,
    ) -> Result<Outcome, RuntimeError> {
        let started = Instant::now();
        let deadline = req.timeout.map(|t| started + t);
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        let name = &*component.name;
        let mut store = self.store(name, &req, deadline, &stderr, disk);
        let trap = |e: wasmtime::Error| Self::trap_error(name, &e, &stderr, &req, deadline);
        let build = to_wit_build(&req.build);
        let state = store.data_mut();
        state.images.image = input.and_then(|a| a.image.clone());
        state.images.stored_logins = component.needs_granted;
        let run = async {
            let instance = component.pre.instantiate(&mut store).await.map_err(trap)?;
            if component.needs_granted {
                // Asked again of the configuration as it runs (build values filled in).
                match instance
                    .needs(&mut store, &req.config_json)
                    .await
                    .map_err(trap)?
                {
                    Ok(request) => {
                        let grant = with_needs(&req.grant, &requested(request), component);
                        let state = store.data_mut();
                        state.paths = GrantedPaths::new(&grant, &req.cwd);
                        state.images.network = grant.network.clone();
                        state.exec_host_implied = grant.exec_host && !req.grant.exec_host;
                        state.exec_host = grant.exec_host;
                    }
                    Err(errors) => {
                        let text: Vec<String> = issues(Err(errors))
                            .into_iter()
                            .map(|i| match i.field {
                                Some(f) => format!("{f}: {}", i.message),
                                None => i.message,
                            })
                            .collect();
                        return Ok(Err(text.join("; ")));
                    }
                }
            }
            match (instance, input) {
                (Instance::Provisioner(i), None) => Ok(i
                    .kiln_plugin_provisioning()
                    .call_provision(&mut store, &req.config_json, &build)
                    .await
                    .map_err(trap)?
                    .map(|()| None)),
                (Instance::PostProcessor(i), Some(input)) => Ok(i
                    .kiln_plugin_post_processing()
                    .call_post_process(
                        &mut store,
                        &req.config_json,
                        &build,
                        &to_wit_artifact(input, &req.cwd),
                    )
                    .await
                    .map_err(trap)?
                    .map(Some)),
                (_, _) => Err(RuntimeError::Load {
                    component: name.to_owned(),
                    message: "it implements another kiln:plugin world than this step needs".into(),
                }),
            }
        };
        // Host calls (a remote command) are not interrupted by epochs, so the timeout
        // and cancellation also race the whole call.
        let outcome = match bounded(run, &req.cancel, deadline).await {
            Some(outcome) => outcome,
            None => return Err(stopped(name, &req, deadline)),
        };
        tracing::debug!(elapsed = ?started.elapsed(), "component returned");
        let answer = match outcome? {
            Ok(answer) => answer,
            Err(message) => {
                // The component's own words: escaped, and counted against its output
                // limits like anything else it prints.
                let state = store.data();
                let room = req
                    .limits
                    .message_size()
                    .min(req.limits.ui_output().saturating_sub(state.ui_printed))
                    .max(MIN_ERROR_SHOWN);
                let escaped = kiln_core::text::escape_controls(&message);
                let shown = kiln_core::text::cut(
                    &escaped,
                    usize::try_from(room).unwrap_or(usize::MAX),
                    "the step's error counts against its ui_output and message_size limits",
                );
                return Err(RuntimeError::Failed(shown.into_owned()));
            }
        };
        let state = store.data_mut();
        // The step finished: what it wrote is its output.
        state.made.keep();
        let image = std::mem::take(&mut state.images);
        let image = image.image.filter(|_| image.used);
        Ok(Outcome {
            answer,
            written: std::mem::take(&mut state.written),
            paths: state.paths.clone(),
            image,
        })
    }
}

/// What a component's call left: its answer, the digests of the files it wrote, the
/// paths it was granted, and the image its artifact stands for.
struct Outcome {
    answer: Option<WitPostProcessResult>,
    written: Vec<artifact_files::KnownDigest>,
    paths: GrantedPaths,
    image: Option<kiln_core::ImageRef>,
}

/// Of a component's error, at least this much is shown, even past its output limits:
/// the reason a step failed is never lost.
const MIN_ERROR_SHOWN: u64 = 4 << 10;

/// A post-processor's answer with every text in it escaped (`kiln_core::text`): its
/// artifact's id, description and metadata are printed in the build's summary.
fn escaped_result(mut r: WitPostProcessResult) -> WitPostProcessResult {
    let esc = |s: &mut String| {
        if let std::borrow::Cow::Owned(e) = kiln_core::text::escape_controls(s) {
            *s = e;
        }
    };
    esc(&mut r.artifact.builder_id);
    esc(&mut r.artifact.id);
    for (k, v) in &mut r.artifact.metadata {
        esc(k);
        esc(v);
    }
    r
}

type WitPostProcessResult = bindings::provisioner::kiln::plugin::types::PostProcessResult;

/// Size and, where the host took it, sha256 of an artifact file, opened through the
/// step's grant (read, else write): a component cannot name a file it could not reach
/// itself. A digest nobody took stays empty: whoever needs it asks `hash-file`, and the
/// build's summary takes it at the end, each file read once.
fn measure(
    paths: &GrantedPaths,
    path: &str,
    written: &[artifact_files::KnownDigest],
) -> Result<ArtifactFile, String> {
    let resolved = paths.resolve_readable(path).map_err(|e| e.to_string())?;
    let file = resolved
        .dir
        .open(resolved.rel_or_dot())
        .map_err(|e| e.to_string())?
        .into_std();
    let meta = file.metadata().map_err(|e| e.to_string())?;
    let abs = normalize(&paths.cwd().join(path));
    let known = artifact_files::KnownDigest::lookup(written, &abs, &meta);
    tracing::debug!(path = %abs.display(), known = known.is_some(), "measuring an artifact file");
    Ok(ArtifactFile {
        size: meta.len(),
        sha256: known.unwrap_or_default().to_owned(),
        path: abs,
    })
}

/// `a` as a component sees it: paths under `cwd` relative to it (as the template
/// wrote them), the summary line as the `description` metadata.
fn to_wit_artifact(
    a: &Artifact,
    cwd: &std::path::Path,
) -> bindings::provisioner::kiln::plugin::types::Artifact {
    use bindings::provisioner::kiln::plugin::types as t;
    let mut metadata: Vec<(String, String)> = a.metadata.clone().into_iter().collect();
    if !a.description.is_empty() && !a.metadata.contains_key("description") {
        metadata.push(("description".into(), a.description.clone()));
    }
    t::Artifact {
        builder_id: a.builder_id.clone(),
        id: a.id.clone(),
        files: a
            .files
            .iter()
            .map(|f| t::ArtifactFile {
                path: f
                    .path
                    .strip_prefix(cwd)
                    .unwrap_or(&f.path)
                    .display()
                    .to_string(),
                size: f.size,
                sha256: f.sha256.clone(),
            })
            .collect(),
        metadata,
    }
}

fn to_wit_build(b: &BuildInfo) -> bindings::provisioner::kiln::plugin::types::BuildInfo {
    use bindings::provisioner::kiln::plugin::types as t;
    t::BuildInfo {
        build_name: b.build_name.clone(),
        source_type: b.source_type.clone(),
        source_name: b.source_name.clone(),
        connection: b.connection.as_ref().map(|c| t::ConnectionInfo {
            conn_type: c.conn_type.clone(),
            host: c.host.clone(),
            port: c.port,
            user: c.user.clone(),
        }),
        variables: b.variables.clone(),
        sensitive: b.sensitive.clone(),
    }
}
