//! The engine: checks a plan against the builders and components that will run it, then
//! runs its builds — each builder creates or reaches its machine and calls the
//! provision hook, which runs every provisioner component through the runtime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use kiln_core::config::{expected_fields, field_of, FieldError};
use kiln_core::diag::did_you_mean;
use kiln_core::plan::{BuildPlan, ConfigBlock, Plan, StepPlan};

use crate::components::Resolved;
use kiln_core::{
    Artifact, BuildContext, BuildError, BuildInfo, Builder, Communicator, ConnectionInfo,
    Diagnostic, ProvisionHook, Ui,
};
use kiln_runtime::{PreparedComponent, Runtime, StepRequest};

/// A field error from a builder or component, placed on the attribute it names.
pub fn field_diagnostic(block: &ConfigBlock, what: &str, err: &FieldError) -> Diagnostic {
    let location = Some(block.location_of(err.field.as_deref()));
    if let (Some(name), Some(expected)) = (&err.field, &err.unknown) {
        let d = Diagnostic::error(
            format!("Unsupported argument \"{name}\" in {what}"),
            location,
        );
        return match did_you_mean(name, expected.iter().map(String::as_str)) {
            Some(s) => d.with_hint(format!(
                "An argument named \"{name}\" is not expected here. Did you mean \"{s}\"?"
            )),
            None => d.with_hint(format!(
                "An argument named \"{name}\" is not expected here."
            )),
        };
    }
    let message = err
        .message
        .split(" at line ")
        .next()
        .unwrap_or(&err.message);
    Diagnostic::error(format!("{what}: {message}"), location)
}

/// A component's `validate` answer as a field error. Components built with the guest
/// SDK answer in serde's words, whose unknown-field form is read here.
pub fn issue_error(issue: &kiln_runtime::ConfigIssue) -> FieldError {
    let unknown = issue.message.starts_with("unknown field `").then(|| {
        expected_fields(&issue.message)
            .into_iter()
            .map(str::to_owned)
            .collect()
    });
    FieldError {
        field: issue
            .field
            .clone()
            .or_else(|| unknown.as_ref().and_then(|_| field_of(&issue.message))),
        message: issue.message.clone(),
        unknown,
    }
}

/// The grant of a provisioner step: what a builtin's configuration implies plus what
/// the template's `grant` block adds.
pub fn effective_grant(step: &StepPlan, cwd: &Path) -> kiln_core::Grant {
    let mut grant = kiln_builtins::derived_grant(&step.kind, &step.block.config, cwd);
    grant.extend(&step.grant);
    grant
}

/// Refuses a component whose declared needs (`kiln:grants`) exceed `granted`, saying
/// exactly which grant is missing.
pub fn check_declared(
    component: &PreparedComponent,
    granted: &kiln_core::Grant,
    cwd: &Path,
    what: &str,
    location: &kiln_core::Location,
) -> Option<Diagnostic> {
    let declared = component.declared.as_ref()?;
    let mut need = declared.clone();
    for p in need.read.iter_mut().chain(need.write.iter_mut()) {
        *p = kiln_runtime::normalize(&cwd.join(&*p));
    }
    let missing = granted.missing(&need);
    if missing.is_empty() {
        return None;
    }
    Some(
        Diagnostic::error(
            format!(
                "{what} needs grants the template does not give it: {}",
                missing.join(", ")
            ),
            Some(location.clone()),
        )
        .with_hint(format!(
            "The component declares what it needs; Kiln runs it only with all of it. If you \
             trust it, add to the step: grant {{ {} }}",
            missing.join(" ")
        )),
    )
}

/// What runs a provisioner: a component, or the host itself for `breakpoint`.
pub enum StepRunner {
    /// A WebAssembly component.
    Component(PreparedComponent),
    /// Packer's `breakpoint` provisioner: waits for Enter on the terminal.
    Breakpoint(Breakpoint),
}

/// The `breakpoint` provisioner's options.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breakpoint {
    /// Skip the pause.
    #[serde(default)]
    pub disable: bool,
    /// Shown at the pause.
    #[serde(default)]
    pub note: String,
}

/// One build, checked and ready to run.
pub struct ReadyBuild {
    pub plan: BuildPlan,
    pub builder: Box<dyn Builder>,
    pub steps: Vec<(StepPlan, StepRunner)>,
    pub error_cleanup: Option<(StepPlan, PreparedComponent)>,
    pub post_processors: Vec<Vec<crate::post::ReadyPostProcessor>>,
}

/// A step's component and configuration, as `validate` sees them: its kind and its
/// configuration as JSON text. A template with many sources repeats the same
/// provisioners for each; each distinct configuration is validated once.
type ValidateKey = (String, String);

fn validate_key(step: &StepPlan) -> ValidateKey {
    let config = serde_json::to_string(&step.block.config).unwrap_or_default();
    (step.kind.clone(), config)
}

/// Finds and compiles the component of one step (once per kind: `prepared` remembers);
/// problems go to `errors`.
fn prepare_step(
    step: &StepPlan,
    runtime: &Runtime,
    required: &Resolved,
    prepared: &mut HashMap<String, PreparedComponent>,
    errors: &mut Vec<Diagnostic>,
) -> Option<PreparedComponent> {
    if let Some(c) = prepared.get(&step.kind) {
        return Some(c.clone());
    }
    let found = required
        .get(&step.kind)
        .or_else(|| kiln_builtins::component(&step.kind));
    let Some(bytes) = found else {
        let known: Vec<&str> = kiln_builtins::names().collect();
        let d = Diagnostic::error(
            format!("Unknown provisioner type \"{}\"", step.kind),
            Some(step.block.location.clone()),
        );
        errors.push(match did_you_mean(&step.kind, known.iter().copied()) {
            Some(s) => d.with_hint(format!("Did you mean \"{s}\"?")),
            None => d.with_hint(format!(
                "Kiln ships these provisioners: {}. Others are components the template \
                 names in `packer {{ required_components {{ {} = {{ source = \"...\" }} }} }}`.",
                known.join(", "),
                step.kind
            )),
        });
        return None;
    };
    match runtime.prepare(&step.kind, bytes, kiln_runtime::World::Provisioner) {
        Ok(c) => {
            prepared.insert(step.kind.clone(), c.clone());
            Some(c)
        }
        Err(e) => {
            let mut d = Diagnostic::error(e.to_string(), Some(step.block.location.clone()));
            if let Some(source) = required.source(&step.kind) {
                d = d.with_hint(format!("The component comes from {source}."));
            }
            errors.push(d);
            None
        }
    }
}

/// The steps of a build that run components (every one but breakpoints).
fn component_steps<'a>(
    steps: &'a [(StepPlan, StepRunner)],
    cleanup: &'a Option<(StepPlan, PreparedComponent)>,
) -> impl Iterator<Item = (&'a StepPlan, &'a PreparedComponent)> {
    steps
        .iter()
        .filter_map(|(step, runner)| match runner {
            StepRunner::Component(c) => Some((step, c)),
            StepRunner::Breakpoint(_) => None,
        })
        .chain(cleanup.iter().map(|(s, c)| (s, c)))
}

/// Runs `validate` once for every distinct step configuration of `builds`, one
/// component instance per kind, and returns each configuration's answer.
async fn validate_steps(
    steps: &[(&BuildPlan, (&StepPlan, &PreparedComponent))],
    runtime: &Runtime,
    cwd: &Path,
    cancel: &CancellationToken,
) -> HashMap<ValidateKey, Result<Vec<kiln_runtime::ConfigIssue>, String>> {
    let mut by_kind: HashMap<String, (PreparedComponent, Vec<(ValidateKey, StepRequest)>)> =
        HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for &(build, (step, component)) in steps {
        let key = validate_key(step);
        if !seen.insert(key.clone()) {
            continue;
        }
        let ui: Arc<dyn Ui> = Arc::new(kiln_core::ui::DiscardUi);
        let req = step_request(step, build, None, ui, cwd, cancel.clone());
        by_kind
            .entry(step.kind.clone())
            .or_insert_with(|| (component.clone(), Vec::new()))
            .1
            .push((key, req));
    }
    let mut answers = HashMap::new();
    for (_, (component, requests)) in by_kind {
        let (keys, reqs): (Vec<_>, Vec<_>) = requests.into_iter().unzip();
        let results = runtime.validate_all(&component, &reqs).await;
        for (key, result) in keys.into_iter().zip(results) {
            answers.insert(key, result.map_err(|e| e.to_string()));
        }
    }
    answers
}

/// What checking a plan's steps works with.
#[derive(Clone, Copy)]
pub struct PrepareCx<'a> {
    /// Compiles and validates components.
    pub runtime: &'a Runtime,
    /// Relative paths resolve against it.
    pub cwd: &'a Path,
    /// The template's own components.
    pub required: &'a Resolved,
    /// Stops the validation when the run is interrupted.
    pub cancel: &'a CancellationToken,
}

/// Checks every build of `plan`: builder configuration, provisioner types, and each
/// component's own `validate`. Returns the builds or every problem found.
pub async fn prepare(
    plan: &Plan,
    runtime: &Runtime,
    cwd: &Path,
    required: &Resolved,
    cancel: &CancellationToken,
) -> Result<Vec<ReadyBuild>, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    // Every build's steps are validated, also where the builder's configuration failed.
    let mut checked = Vec::new();
    let mut prepared = HashMap::new();
    let mut prepared_post = HashMap::new();
    for build in &plan.builds {
        let builder = match kiln_builders::new_builder(
            &build.source_type,
            &build.source_name,
            &build.source.config,
            cwd,
        ) {
            Ok(b) => Some(b),
            Err(e) => {
                errors.push(field_diagnostic(
                    &build.source,
                    &format!("source \"{}\"", build.source_type),
                    &e,
                ));
                None
            }
        };
        if !kiln_builders::runs_provisioners(&build.source_type) && !build.provisioners.is_empty() {
            errors.push(Diagnostic::error(
                format!("the {} builder has no machine to provision; remove the provisioners from its build", build.source_type),
                Some(build.provisioners[0].block.location.clone()),
            ));
        }
        let mut steps = Vec::new();
        let declared = |step: &StepPlan, c: &PreparedComponent, errors: &mut Vec<Diagnostic>| {
            let what = format!("provisioner \"{}\"", step.kind);
            let granted = effective_grant(step, cwd);
            errors.extend(check_declared(
                c,
                &granted,
                cwd,
                &what,
                &step.block.location,
            ));
        };
        for step in &build.provisioners {
            if step.kind == "breakpoint" && required.get("breakpoint").is_none() {
                match kiln_core::config::decode::<Breakpoint>(&step.block.config) {
                    Ok(b) => steps.push((step.clone(), StepRunner::Breakpoint(b))),
                    Err(e) => errors.push(field_diagnostic(
                        &step.block,
                        "provisioner \"breakpoint\"",
                        &e,
                    )),
                }
                continue;
            }
            if let Some(component) =
                prepare_step(step, runtime, required, &mut prepared, &mut errors)
            {
                declared(step, &component, &mut errors);
                steps.push((step.clone(), StepRunner::Component(component)));
            }
        }
        let mut error_cleanup = None;
        if let Some(step) = &build.error_cleanup {
            if let Some(component) =
                prepare_step(step, runtime, required, &mut prepared, &mut errors)
            {
                declared(step, &component, &mut errors);
                error_cleanup = Some((step.clone(), component));
            }
        }
        let cx = PrepareCx {
            runtime,
            cwd,
            required,
            cancel,
        };
        let post =
            crate::post::prepare(build, &plan.sensitive, &cx, &mut prepared_post, &mut errors)
                .await;
        checked.push((builder, build, steps, error_cleanup, post));
    }
    let all_steps: Vec<_> = checked
        .iter()
        .flat_map(|(_, build, steps, cleanup, _)| {
            component_steps(steps, cleanup).map(move |s| (*build, s))
        })
        .collect();
    tracing::debug!(
        steps = all_steps.len(),
        "builders configured, components ready"
    );
    let answers = validate_steps(&all_steps, runtime, cwd, cancel).await;
    tracing::debug!(configurations = answers.len(), "steps validated");
    for (_, _, steps, cleanup, _) in &checked {
        for (step, _) in component_steps(steps, cleanup) {
            match &answers[&validate_key(step)] {
                Ok(issues) => {
                    for issue in issues {
                        errors.push(field_diagnostic(
                            &step.block,
                            &format!("provisioner \"{}\"", step.kind),
                            &issue_error(issue),
                        ));
                    }
                }
                Err(e) => errors.push(Diagnostic::error(
                    e.clone(),
                    Some(step.block.location.clone()),
                )),
            }
        }
    }
    if errors.is_empty() {
        Ok(checked
            .into_iter()
            .filter_map(|(builder, build, steps, error_cleanup, post_processors)| {
                Some(ReadyBuild {
                    plan: build.clone(),
                    builder: builder?,
                    steps,
                    error_cleanup,
                    post_processors,
                })
            })
            .collect())
    } else {
        // The same mistake in a provisioner shared by many sources is reported once.
        let mut seen = std::collections::HashSet::new();
        errors.retain(|d| seen.insert(d.to_string()));
        Err(errors)
    }
}

/// `SOURCE_DATE_EPOCH`, when set to a number.
fn source_date_epoch() -> Option<u64> {
    std::env::var("SOURCE_DATE_EPOCH").ok()?.parse().ok()
}

/// The clock components see: SOURCE_DATE_EPOCH when set, else the run's start, read
/// once so that every step of every build sees the same time (and the manifest's
/// `build_time` records it).
pub fn clock_epoch() -> u64 {
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    source_date_epoch().unwrap_or_else(|| {
        *START.get_or_init(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        })
    })
}

fn step_request(
    step: &StepPlan,
    build: &BuildPlan,
    communicator: Option<(Arc<dyn Communicator>, ConnectionInfo)>,
    ui: Arc<dyn Ui>,
    cwd: &Path,
    cancel: CancellationToken,
) -> StepRequest {
    let (communicator, connection) = match communicator {
        Some((c, info)) => (Some(c), Some(info)),
        None => (None, None),
    };
    let mut config_json = serde_json::to_string(&step.block.config).unwrap_or_default();
    if let Some(info) = &connection {
        // The login secrets never reach the log, wherever a step prints them.
        crate::ui::mask_in_log(&[info.password.clone(), info.ssh_private_key.clone()]);
        config_json = fill_build_values(&config_json, info);
    }
    StepRequest {
        config_json,
        build: build_info(build, connection),
        communicator,
        ui,
        grant: effective_grant(step, cwd),
        cwd: cwd.to_owned(),
        timeout: step.timeout,
        limits: step.limits,
        cancel,
        clock_epoch: clock_epoch(),
        archive_epoch: archive_epoch(),
    }
}

/// What a step learns about its build, as Packer's `PACKER_*` variables say it.
pub fn build_info(build: &BuildPlan, connection: Option<ConnectionInfo>) -> BuildInfo {
    BuildInfo {
        build_name: build.name.clone(),
        source_type: build.source_type.clone(),
        source_name: build.source_name.clone(),
        connection,
        variables: vec![
            ("PACKER_BUILD_NAME".into(), build.source_name.clone()),
            ("PACKER_BUILDER_TYPE".into(), build.source_type.clone()),
            ("PACKER_RUN_UUID".into(), run_uuid().to_owned()),
        ],
    }
}

/// Modification times in archives the steps write are clamped to this:
/// SOURCE_DATE_EPOCH when set, else the Unix epoch, so that archives never depend on
/// when they were made.
pub fn archive_epoch() -> u64 {
    source_date_epoch().unwrap_or(0)
}

/// Replaces the `build.Host`-style placeholders in a step's configuration (JSON text)
/// with what the builder's connection says, as Packer fills them in when a provisioner
/// runs. Values Kiln has no source for (an HTTP server, the SSH key pair) are empty.
fn fill_build_values(config_json: &str, info: &ConnectionInfo) -> String {
    if !config_json.contains("kiln:build.") {
        return config_json.to_owned();
    }
    // Both the placeholder and the value go in as JSON string contents.
    let json_text = |s: &str| {
        let quoted = serde_json::to_string(s).unwrap_or_default();
        quoted[1..quoted.len() - 1].to_owned()
    };
    let mut out = config_json.to_owned();
    for key in kiln_template::BUILD_CONNECTION_KEYS {
        let value = match *key {
            "Host" => info.host.clone(),
            "Port" => info.port.to_string(),
            "User" => info.user.clone(),
            "ConnType" => info.conn_type.clone(),
            "PackerRunUUID" => run_uuid().to_owned(),
            "Password" => info.password.clone(),
            "SSHPrivateKey" => info.ssh_private_key.clone(),
            "SSHPublicKey" => info.ssh_public_key.clone(),
            "PackerHTTPIP" => info.http.map(|a| a.ip().to_string()).unwrap_or_default(),
            "PackerHTTPPort" => info.http.map(|a| a.port().to_string()).unwrap_or_default(),
            "PackerHTTPAddr" => info.http.map(|a| a.to_string()).unwrap_or_default(),
            _ => String::new(),
        };
        let placeholder = json_text(&kiln_template::build_placeholder(key));
        out = out.replace(&placeholder, &json_text(&value));
    }
    out
}

/// What to do when a step fails (`-on-error`), with Packer's meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnError {
    /// Run the error-cleanup-provisioner, clean up, fail the build.
    #[default]
    Cleanup,
    /// Stop at once and leave everything as it is.
    Abort,
    /// Ask on the terminal: clean up, abort, or retry the step.
    Ask,
    /// Run the error-cleanup-provisioner, then stop without cleaning up.
    RunCleanupProvisioner,
}

/// What happens after a failed step.
enum Decision {
    Retry,
    Cleanup,
    Abort,
    CleanupProvisionerThenAbort,
}

/// Runs a build's provisioners in order: the hook its builder calls.
struct Provisioners<'a> {
    build: &'a ReadyBuild,
    runtime: &'a Runtime,
    ui: Arc<dyn Ui>,
    cwd: PathBuf,
    cancel: CancellationToken,
    on_error: OnError,
    /// One question on the terminal at a time, whichever build asks.
    prompt: Arc<tokio::sync::Mutex<()>>,
    /// Breakpoints and `-debug` pauses.
    pauser: Arc<Pauser>,
    /// `-debug`: pause before each provisioner too.
    debug: bool,
    /// Whether the failure the hook returns was printed whole where it happened.
    printed: std::sync::atomic::AtomicBool,
}

impl Provisioners<'_> {
    async fn run_step(
        &self,
        step: &StepPlan,
        component: &PreparedComponent,
        comm: &Option<(Arc<dyn Communicator>, ConnectionInfo)>,
    ) -> Result<(), kiln_runtime::RuntimeError> {
        let req = step_request(
            step,
            &self.build.plan,
            comm.clone(),
            self.ui.clone(),
            &self.cwd,
            self.cancel.clone(),
        );
        tracing::debug!(
            build = %self.build.plan.name,
            step = %step.kind,
            config = %serde_json::Value::Object(step.block.config.clone()),
            "running step"
        );
        self.runtime.provision(component, req).await
    }

    /// Waits for Enter (see [`Pauser`]), or for Ctrl-C.
    async fn pause(&self, message: &str) -> Result<(), BuildError> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(BuildError::Cancelled),
            _ = self.pauser.wait(message) => Ok(()),
        }
    }

    async fn error_cleanup(&self, comm: &Option<(Arc<dyn Communicator>, ConnectionInfo)>) {
        let Some((step, component)) = &self.build.error_cleanup else {
            return;
        };
        self.ui
            .say("Provisioning step had errors: Running the cleanup provisioner, if present...");
        if let Err(e) = self.run_step(step, component, comm).await {
            self.ui.error(&format!(
                "error-cleanup-provisioner \"{}\" failed: {e}",
                step.kind
            ));
        }
    }

    async fn decide(&self, step: &StepPlan) -> Decision {
        let what = format!("\"provisioner {}\"", step.kind);
        decide(self.on_error, &*self.ui, &self.prompt, &what).await
    }
}

#[async_trait]
impl ProvisionHook for Provisioners<'_> {
    async fn provision(
        &self,
        communicator: Option<Arc<dyn Communicator>>,
        connection: ConnectionInfo,
    ) -> Result<(), BuildError> {
        let comm = communicator.map(|c| (c, connection));
        for (step, component) in &self.build.steps {
            if self.debug {
                self.pause(&format!("Pausing before provisioner \"{}\".", step.kind))
                    .await?;
            }
            let component = match component {
                StepRunner::Component(c) => c,
                StepRunner::Breakpoint(b) => {
                    if b.disable {
                        self.ui
                            .say("Breakpoint provisioner disabled. Continuing...");
                    } else {
                        let note = if b.note.is_empty() {
                            String::new()
                        } else {
                            format!(" with note \"{}\"", b.note)
                        };
                        self.pause(&format!("Pausing at breakpoint provisioner{note}."))
                            .await?;
                    }
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
            kiln_builtins::prepare_host(&step.kind, &step.block.config, &self.cwd).map_err(
                |e| BuildError::Failed(format!("preparing provisioner \"{}\": {e}", step.kind)),
            )?;
            let mut attempt = 0;
            loop {
                let error = match self.run_step(step, component, &comm).await {
                    Ok(()) => break,
                    Err(kiln_runtime::RuntimeError::Cancelled) => {
                        return Err(BuildError::Cancelled)
                    }
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
                self.printed
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                match self.decide(step).await {
                    Decision::Retry => {
                        attempt = 0;
                        self.ui
                            .say(&format!("Retrying provisioner \"{}\"...", step.kind));
                    }
                    Decision::Cleanup => {
                        self.error_cleanup(&comm).await;
                        return Err(BuildError::Failed(message));
                    }
                    Decision::Abort => return Err(BuildError::Aborted(message)),
                    Decision::CleanupProvisionerThenAbort => {
                        self.error_cleanup(&comm).await;
                        return Err(BuildError::Aborted(message));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A random UUID (version 4) naming this run of kiln, as Packer's `PACKER_RUN_UUID`.
/// Steps use it to keep what they leave on a machine apart from other runs' (their own
/// random numbers are seeded deterministically).
///
/// A `PACKER_RUN_UUID` in the environment is used as it is, so that a caller can pin
/// the run's identity (a reproducible manifest records it).
pub fn run_uuid() -> &'static str {
    static UUID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    UUID.get_or_init(|| {
        if let Some(pinned) = std::env::var("PACKER_RUN_UUID")
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            return pinned;
        }
        use std::hash::{BuildHasher, Hasher};
        let mut bytes = [0u8; 16];
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            // Each RandomState carries fresh keys from the operating system.
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex = kiln_core::artifact::hex(&bytes);
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    })
}

/// How one build ended: the artifacts that remain after its post-processors.
pub struct Outcome {
    pub name: String,
    pub result: Result<Vec<Artifact>, BuildError>,
    pub elapsed: Duration,
}

/// How `kiln build` treats failures and earlier output (`-on-error`, `-force`).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// What to do when a step fails.
    pub on_error: OnError,
    /// Replace what earlier builds left behind.
    pub force: bool,
    /// Pause before each step (`-debug`).
    pub debug: bool,
}

/// Waits for Enter on stdin, one build at a time: `-debug` and the breakpoint
/// provisioner. Closed stdin lets the build go on.
struct Pauser {
    ui: Arc<dyn Ui>,
    prompt: Arc<tokio::sync::Mutex<()>>,
}

impl Pauser {
    async fn wait(&self, message: &str) {
        let _turn = self.prompt.lock().await;
        self.ui.say(&format!("{message} Press enter to continue."));
        if read_stdin_line().await.is_none() {
            self.ui.message("stdin is closed: continuing");
        }
    }
}

/// The next line of stdin, read off the async threads; `None` at its end or on error.
async fn read_stdin_line() -> Option<String> {
    let read = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|n| (n, line))
    })
    .await;
    match read {
        Ok(Ok((n, line))) if n > 0 => Some(line),
        _ => None,
    }
}

/// `-debug` and `-on-error` for the builder's own steps (its provision step decides
/// for the provisioners itself).
struct BuilderHooks {
    pauser: Arc<Pauser>,
    debug: bool,
    on_error: OnError,
}

#[async_trait]
impl kiln_core::steps::StepHooks for BuilderHooks {
    async fn before(&self, step: &str) {
        if self.debug {
            self.pauser
                .wait(&format!("Pausing before step '{step}'."))
                .await;
        }
    }

    async fn failed(&self, step: &str, _error: &BuildError) -> kiln_core::steps::OnFailure {
        use kiln_core::steps::OnFailure;
        match decide(
            self.on_error,
            &*self.pauser.ui,
            &self.pauser.prompt,
            &format!("\"{step}\""),
        )
        .await
        {
            Decision::Retry => {
                self.pauser.ui.say(&format!("Retrying step \"{step}\"..."));
                OnFailure::Retry
            }
            Decision::Cleanup => OnFailure::Cleanup,
            // The error-cleanup-provisioner needs a machine to run on; after a builder
            // step failed there may be none, so run-cleanup-provisioner stops as abort.
            Decision::Abort | Decision::CleanupProvisionerThenAbort => OnFailure::Abort,
        }
    }
}

/// What `-on-error` makes of a failed step; `ask` asks on the terminal (one build at
/// a time) and cleans up when stdin is not one.
async fn decide(
    on_error: OnError,
    ui: &dyn Ui,
    prompt: &tokio::sync::Mutex<()>,
    what: &str,
) -> Decision {
    match on_error {
        OnError::Cleanup => Decision::Cleanup,
        OnError::Abort => Decision::Abort,
        OnError::RunCleanupProvisioner => Decision::CleanupProvisionerThenAbort,
        OnError::Ask if !std::io::IsTerminal::is_terminal(&std::io::stdin()) => Decision::Cleanup,
        OnError::Ask => {
            let _turn = prompt.lock().await;
            loop {
                ui.error(&format!("Step {what} failed"));
                ui.error(
                    "[c] Clean up and exit, [a] abort without cleanup, or [r] retry step (build may fail even if retry succeeds)?",
                );
                let Some(line) = read_stdin_line().await else {
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

/// Runs `build` to the end; cleanup happens inside the builder whatever the outcome.
pub async fn run_build(
    build: &ReadyBuild,
    runtime: &Runtime,
    ui: Arc<dyn Ui>,
    cwd: &Path,
    cancel: CancellationToken,
    policy: Policy,
    prompt: Arc<tokio::sync::Mutex<()>>,
) -> Outcome {
    let started = Instant::now();
    let on_error = policy.on_error;
    let pauser = Arc::new(Pauser {
        ui: ui.clone(),
        prompt: prompt.clone(),
    });
    let cx = BuildContext {
        build_name: build.plan.name.clone(),
        ui: ui.clone(),
        cancel: cancel.clone(),
        force: policy.force,
        hooks: Some(Arc::new(BuilderHooks {
            pauser: pauser.clone(),
            debug: policy.debug,
            on_error,
        })),
    };
    let hook = Provisioners {
        build,
        runtime,
        ui: ui.clone(),
        cwd: cwd.to_owned(),
        cancel: cancel.clone(),
        on_error,
        prompt,
        pauser,
        debug: policy.debug,
        printed: std::sync::atomic::AtomicBool::new(false),
    };
    // Whether a failure was already printed whole where it happened (a provisioner's
    // or a post-processor's): the build's own line then shows its first line only.
    let (result, printed) = match build.builder.run(&cx, &hook).await {
        Ok(artifact) => {
            let r = crate::post::run_chains(
                &build.post_processors,
                &build.plan,
                artifact,
                runtime,
                ui.clone(),
                cwd,
                &cancel,
            )
            .await;
            (r, true)
        }
        Err(e) => {
            let printed = hook.printed.load(std::sync::atomic::Ordering::Relaxed);
            (Err(e), printed)
        }
    };
    let elapsed = started.elapsed();
    let name = &build.plan.name;
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

/// The most characters of an error that a line after the first report shows (the
/// build's own line, the summaries): the error was printed whole where it happened.
pub const SUMMARY_WIDTH: usize = 300;

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

#[cfg(test)]
mod declared_grants {
    use super::*;

    /// `wasm` with a top-level custom section `name` holding `data` appended.
    fn with_section(wasm: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
        fn leb(mut n: usize, out: &mut Vec<u8>) {
            loop {
                let byte = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    out.push(byte);
                    return;
                }
                out.push(byte | 0x80);
            }
        }
        let mut body = Vec::new();
        leb(name.len(), &mut body);
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(data);
        let mut out = wasm.to_vec();
        out.push(0);
        leb(body.len(), &mut out);
        out.extend(body);
        out
    }

    #[test]
    fn a_component_that_needs_more_than_granted_is_refused_naming_the_grant() {
        let shell = kiln_builtins::component("shell").unwrap();
        let wasm = with_section(
            shell,
            kiln_runtime::GRANTS_SECTION,
            br#"{"env": ["HOME"], "network": ["mirror.example:443"], "read": ["files"], "clock": "host"}"#,
        );
        let runtime = Runtime::new(None).unwrap();
        let component = runtime
            .prepare("needy", &wasm, kiln_runtime::World::Provisioner)
            .unwrap();
        let cwd = Path::new("/w");
        let location = kiln_core::Location::default();
        let granted = kiln_core::Grant {
            read: vec!["/w/files".into()],
            env: vec!["HOME".into()],
            ..Default::default()
        };
        let d = check_declared(
            &component,
            &granted,
            cwd,
            "provisioner \"needy\"",
            &location,
        )
        .expect("refused");
        assert_eq!(
            d.summary,
            "provisioner \"needy\" needs grants the template does not give it: \
             network = [\"mirror.example:443\"], clock = \"host\""
        );
        let everything = kiln_core::Grant {
            network: vec!["mirror.example:*".into()],
            clock_host: true,
            ..granted
        };
        assert!(check_declared(&component, &everything, cwd, "p", &location).is_none());

        let bad = with_section(
            shell,
            kiln_runtime::GRANTS_SECTION,
            br#"{"clock": "sometimes"}"#,
        );
        let err = runtime
            .prepare("bad", &bad, kiln_runtime::World::Provisioner)
            .unwrap_err();
        assert!(err.to_string().contains("clock = \"sometimes\""), "{err}");
    }
}
