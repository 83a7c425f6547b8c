//! Kiln's WebAssembly runtime — the only crate that links wasmtime.
//!
//! It compiles each component once per process (and once per machine: the compiled
//! form is cached on disk under its sha256), instantiates one instance per step with
//! only that step's grants, and implements the WIT imports on top of the step's
//! communicator and UI.

mod artifact_files;
mod bindings;
mod budget;
mod cache;
mod grants;
mod host;
mod network;
mod tree;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::WasiCtxBuilder;

use kiln_core::artifact::hex;
use kiln_core::{Artifact, ArtifactFile, BuildInfo, Communicator, Grant, Ui};

use bindings::post_processor::{PostProcessor, PostProcessorPre};
use bindings::provisioner::{Provisioner, ProvisionerPre};
pub use cache::default_state_dir;
pub use grants::{normalize, Access, GrantError, GrantedPaths, PathKind};
pub use host::{ProcessHandle, StepState};

/// How often the epoch advances; also how often a running guest yields to the host.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Why a component step could not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The bytes are not a valid component, or do not implement the expected world.
    #[error("component `{component}` could not be loaded: {message}")]
    Load {
        /// The component's name.
        component: String,
        /// What went wrong.
        message: String,
    },
    /// The component trapped (a panic, a limit, the timeout).
    #[error("component `{component}` crashed: {message}")]
    Trap {
        /// The component's name.
        component: String,
        /// What went wrong.
        message: String,
    },
    /// The step ran longer than its timeout.
    #[error("component `{component}` exceeded its timeout of {timeout:?}")]
    Timeout {
        /// The component's name.
        component: String,
        /// The limit.
        timeout: Duration,
    },
    /// The component reported a failure.
    #[error("{0}")]
    Failed(String),
    /// The build was cancelled while the step ran.
    #[error("cancelled")]
    Cancelled,
    /// Setting up the sandbox failed.
    #[error("setting up the sandbox: {0}")]
    Setup(String),
}

/// The issues of a `validate` answer.
fn issues(
    answer: Result<(), Vec<bindings::provisioner::kiln::plugin::types::ConfigError>>,
) -> Vec<ConfigIssue> {
    match answer {
        Ok(()) => vec![],
        Err(errors) => errors
            .into_iter()
            .map(|e| ConfigIssue {
                field: e
                    .field
                    .map(|f| kiln_core::text::escape_controls(&f).into_owned()),
                message: kiln_core::text::escape_controls(&e.message).into_owned(),
            })
            .collect(),
    }
}

/// A configuration problem a component's `validate` reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The attribute, when the component named one.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// The world a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    /// `provisioner`: runs against the machine being built.
    Provisioner,
    /// `post-processor`: turns an artifact into another.
    PostProcessor,
}

impl World {
    /// The world's name in `kiln:plugin` (`provisioner`, `post-processor`).
    pub fn name(self) -> &'static str {
        match self {
            World::Provisioner => "provisioner",
            World::PostProcessor => "post-processor",
        }
    }
}

#[derive(Clone)]
enum Pre {
    Provisioner(ProvisionerPre<StepState>),
    PostProcessor(PostProcessorPre<StepState>),
}

enum Instance {
    Provisioner(Provisioner),
    PostProcessor(PostProcessor),
}

impl Pre {
    async fn instantiate(&self, store: &mut Store<StepState>) -> wasmtime::Result<Instance> {
        Ok(match self {
            Pre::Provisioner(p) => Instance::Provisioner(p.instantiate_async(store).await?),
            Pre::PostProcessor(p) => Instance::PostProcessor(p.instantiate_async(store).await?),
        })
    }
}

impl Instance {
    async fn validate(
        &self,
        store: &mut Store<StepState>,
        config: &str,
    ) -> wasmtime::Result<Result<(), Vec<bindings::provisioner::kiln::plugin::types::ConfigError>>>
    {
        match self {
            Instance::Provisioner(i) => i.call_validate(store, config).await,
            Instance::PostProcessor(i) => i.call_validate(store, config).await,
        }
    }
}

/// A compiled component, ready to instantiate.
#[derive(Clone)]
pub struct PreparedComponent {
    name: String,
    sha256: String,
    pre: Pre,
    /// What the component declares it needs (its `kiln:grants` custom section).
    pub declared: Option<Grant>,
}

/// The custom section in which a component declares the grants it needs, as JSON:
/// `{"read": [..], "write": [..], "env": [..], "network": [..], "exec_host": true,
/// "clock": "host", "random": "host"}` (every key optional; paths relative to the
/// template's directory).
pub const GRANTS_SECTION: &str = "kiln:grants";

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclaredGrants {
    #[serde(default)]
    read: Vec<PathBuf>,
    #[serde(default)]
    write: Vec<PathBuf>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    network: Vec<String>,
    #[serde(default)]
    exec_host: bool,
    #[serde(default)]
    clock: Option<String>,
    #[serde(default)]
    random: Option<String>,
}

/// The grants `wasm` declares in its `kiln:grants` section (in the component or any
/// module inside it), if it has one.
pub fn declared_grants(wasm: &[u8]) -> Result<Option<Grant>, String> {
    let mut found: Option<Grant> = None;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| format!("reading its sections: {e}"))?;
        if let wasmparser::Payload::CustomSection(c) = payload {
            add_declared(&c, &mut found)?;
        }
    }
    Ok(found)
}

/// Adds what the custom section `c` declares to `found`, when it is a `kiln:grants`.
fn add_declared(
    c: &wasmparser::CustomSectionReader<'_>,
    found: &mut Option<Grant>,
) -> Result<(), String> {
    if c.name() != GRANTS_SECTION {
        return Ok(());
    }
    let d: DeclaredGrants = serde_json::from_slice(c.data())
        .map_err(|e| format!("its `{GRANTS_SECTION}` section is not valid: {e}"))?;
    let host = |v: &Option<String>, key: &str| match v.as_deref() {
        None | Some("fixed") => Ok(false),
        Some("host") => Ok(true),
        Some(other) => Err(format!(
            "its `{GRANTS_SECTION}` section says {key} = {other:?}; use \"host\" or \"fixed\""
        )),
    };
    let grant = Grant {
        read: d.read,
        write: d.write,
        env: d.env,
        network: d.network,
        exec_host: d.exec_host,
        clock_host: host(&d.clock, "clock")?,
        random_host: host(&d.random, "random")?,
    };
    match found {
        Some(g) => g.extend(&grant),
        None => *found = Some(grant),
    }
    Ok(())
}

/// What a component file says about itself: the kiln:plugin world it implements (from
/// its exports), its top-level imports and exports, and what it declares it needs.
#[derive(Debug, Clone)]
pub struct ComponentInfo {
    /// The kiln:plugin world, when the exports match one.
    pub world: Option<World>,
    /// The interfaces and functions it imports (`wasi:cli/environment@0.2.0`, ...).
    pub imports: Vec<String>,
    /// What it exports (`validate`, `provision`, ...).
    pub exports: Vec<String>,
    /// Its `kiln:grants` section.
    pub declared: Option<Grant>,
}

/// Reads `wasm`'s top-level imports and exports and its declared grants; an error when
/// it is not a WebAssembly component.
pub fn component_info(wasm: &[u8]) -> Result<ComponentInfo, String> {
    use wasmparser::{Encoding, Payload};
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut declared = None;
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| format!("not a WebAssembly component: {e}"))? {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != Encoding::Component {
                    return Err("a core WebAssembly module, not a component; build it for                                 wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
                        .into());
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let import = import.map_err(|e| format!("reading its imports: {e}"))?;
                    imports.push(import.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    let export = export.map_err(|e| format!("reading its exports: {e}"))?;
                    exports.push(export.name.name.to_owned());
                }
            }
            Payload::CustomSection(c) => add_declared(&c, &mut declared)?,
            _ => {}
        }
    }
    let has = |name: &str| exports.iter().any(|e| e == name);
    let world = if has("provision") {
        Some(World::Provisioner)
    } else if has("post-process") {
        Some(World::PostProcessor)
    } else {
        None
    };
    Ok(ComponentInfo {
        world,
        imports,
        exports,
        declared,
    })
}

/// What a post-processor made of its input.
#[derive(Debug, Clone)]
pub struct PostProcessed {
    /// The new artifact; each file's size and sha256 measured by the host.
    pub artifact: Artifact,
    /// The component asks to keep its input artifact.
    pub keep_input: bool,
}

impl std::fmt::Debug for PreparedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedComponent")
            .field("name", &self.name)
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// What one step's instance gets.
pub struct StepRequest {
    /// The step's configuration as JSON.
    pub config_json: String,
    /// The build the step runs in.
    pub build: BuildInfo,
    /// The machine, when the builder connected one.
    pub communicator: Option<Arc<dyn Communicator>>,
    /// Where the step's messages go.
    pub ui: Arc<dyn Ui>,
    /// What the step may reach on the host.
    pub grant: Grant,
    /// Relative host paths resolve against this directory.
    pub cwd: PathBuf,
    /// Fails the step when it runs longer.
    pub timeout: Option<Duration>,
    /// The instance's limits (memory, UI output, calls in flight, message size).
    pub limits: kiln_core::Limits,
    /// The build's cancellation.
    pub cancel: CancellationToken,
    /// The wall clock the component sees, as seconds since the Unix epoch.
    pub clock_epoch: u64,
    /// Modification times in archives the step writes are clamped to this.
    pub archive_epoch: u64,
}

impl std::fmt::Debug for StepRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepRequest")
            .field("build", &self.build.build_name)
            .field("grant", &self.grant)
            .finish()
    }
}

/// The component runtime. One per process; cheap to share behind an `Arc`.
pub struct Runtime {
    engine: Engine,
    linker: Linker<StepState>,
    /// The compiled-code cache and the key that seals its entries.
    cache: Option<(PathBuf, cache::CacheKey)>,
    prepared: Mutex<HashMap<String, PreparedComponent>>,
    /// What a person should know about the runtime's work (an unusable cache entry),
    /// not yet shown.
    notices: Mutex<Vec<String>>,
    /// Whether the guests' computing time is measured and bounded (always, but in the
    /// benchmark that measures what the measuring costs).
    metered: bool,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cache_dir", &self.cache.as_ref().map(|(d, _)| d))
            .finish()
    }
}

/// A fixed wall clock: components see the build's clock, not the host's.
struct FixedClock(Duration);

impl wasmtime_wasi::HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

impl Runtime {
    /// Creates the runtime. Compiled components are cached under `cache_dir` when given,
    /// sealed with the key in Kiln's state directory ([`default_state_dir`]).
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self, RuntimeError> {
        Runtime::with_state_dir(cache_dir, default_state_dir())
    }

    /// [`Runtime::new`] with the cache key kept in `state_dir`.
    pub fn with_state_dir(
        cache_dir: Option<PathBuf>,
        state_dir: Option<PathBuf>,
    ) -> Result<Self, RuntimeError> {
        let mut notices = Vec::new();
        let cache = cache_dir.map(|dir| {
            let key = cache::CacheKey::load(state_dir.as_deref(), &dir, &mut notices);
            (dir, key)
        });
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        // Traps are reported with the guest's own panic message (from its stderr), which
        // says more to a user than a backtrace of unnamed functions.
        config.wasm_backtrace_max_frames(None);
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Setup(e.to_string()))?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("kiln-epoch".into())
            .spawn(move || loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            })
            .map_err(|e| RuntimeError::Setup(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Setup(e.to_string()))?;
        network::install_gates(&mut linker).map_err(|e| RuntimeError::Setup(e.to_string()))?;
        Provisioner::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Setup(e.to_string()))?;
        // The post-processor world's other imports are the provisioner world's.
        bindings::post_processor::kiln::plugin::artifact_files::add_to_linker::<_, HasSelf<_>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| RuntimeError::Setup(e.to_string()))?;
        Ok(Runtime {
            engine,
            linker,
            cache,
            prepared: Mutex::new(HashMap::new()),
            notices: Mutex::new(notices),
            // The benchmark of what bounding computing time costs runs steps both ways.
            metered: std::env::var_os("KILN_BENCH_UNMETERED").is_none(),
        })
    }

    /// What the runtime has to tell the person (each once): cache entries it could not
    /// trust, a cache key it could not keep.
    pub fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut *self.notices.lock().expect("notices lock"))
    }

    /// Compiles `wasm` (or loads its compiled form from the cache) and checks that it
    /// implements `world`.
    pub fn prepare(
        &self,
        name: &str,
        wasm: &[u8],
        world: World,
    ) -> Result<PreparedComponent, RuntimeError> {
        let sha256 = hex(&Sha256::digest(wasm));
        let key = format!("{}:{sha256}", world.name());
        if let Some(p) = self.prepared.lock().expect("prepared lock").get(&key) {
            return Ok(p.clone());
        }
        let load = |message: String| RuntimeError::Load {
            component: name.to_owned(),
            message,
        };
        let mut notices = Vec::new();
        let component = cache::load_or_compile(
            &self.engine,
            self.cache.as_ref().map(|(d, k)| (d.as_path(), k)),
            &sha256,
            wasm,
            &mut notices,
        )
        .map_err(|e| load(format!("{e:#}")))?;
        self.notices.lock().expect("notices lock").extend(
            notices
                .into_iter()
                .map(|n| format!("component `{name}`: {n}")),
        );
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| load(format!("{e:#}")))?;
        let wrong_world = |e: wasmtime::Error| {
            load(format!(
                "it does not implement the kiln:plugin {} world: {e:#}",
                world.name()
            ))
        };
        let pre = match world {
            World::Provisioner => {
                Pre::Provisioner(ProvisionerPre::new(instance_pre).map_err(wrong_world)?)
            }
            World::PostProcessor => {
                Pre::PostProcessor(PostProcessorPre::new(instance_pre).map_err(wrong_world)?)
            }
        };
        let declared = declared_grants(wasm).map_err(load)?;
        let prepared = PreparedComponent {
            name: name.to_owned(),
            sha256: sha256.clone(),
            pre,
            declared,
        };
        self.prepared
            .lock()
            .expect("prepared lock")
            .insert(key, prepared.clone());
        Ok(prepared)
    }

    /// The store of one instance for `req`: its sandbox (grants, limits, the fixed
    /// clock and random), the computing-time meter and the `deadline` of its timeout.
    /// `disk` bounds what a post-processor may write.
    fn store(
        &self,
        component: &str,
        req: &StepRequest,
        deadline: Option<Instant>,
        stderr: &MemoryOutputPipe,
        disk: u64,
    ) -> Store<StepState> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stderr(stderr.clone());
        // The deterministic environment, unless the template opts out in its grant.
        if !req.grant.clock_host {
            wasi.wall_clock(FixedClock(Duration::from_secs(req.clock_epoch)));
        }
        if !req.grant.random_host {
            use rand::SeedableRng;
            let seed = req.clock_epoch ^ 0x6b69_6c6e; // "kiln"
            wasi.insecure_random_seed(u128::from(req.clock_epoch));
            wasi.insecure_random(rand::rngs::StdRng::seed_from_u64(seed));
            wasi.secure_random(rand::rngs::StdRng::seed_from_u64(seed.rotate_left(32)));
        }
        // Only the environment variables granted by name, with the host's values.
        let mut env = Vec::new();
        let mut unset = Vec::new();
        for name in &req.grant.env {
            match std::env::var(name) {
                Ok(value) => env.push((name.clone(), value)),
                Err(_) => unset.push(name.clone()),
            }
        }
        let told = network::Told::new(component, req.ui.clone(), &req.grant.env, unset);
        let network = network::apply(&req.grant.network, &mut wasi, &told);
        let mut table = ResourceTable::new();
        // Every host resource a component holds (a process, a socket, a pollable, a
        // stream) is an entry here.
        table.set_max_capacity(MAX_HANDLES);
        let state = StepState {
            wasi: wasi.build(),
            table,
            limits: wasmtime::StoreLimitsBuilder::new()
                .memory_size(usize::try_from(req.limits.memory()).unwrap_or(usize::MAX))
                .instances(16)
                .tables(64)
                .memories(16)
                .table_elements(1 << 20)
                .trap_on_grow_failure(true)
                .build(),
            step_limits: req.limits,
            ui_printed: 0,
            in_flight: 0,
            communicator: req.communicator.clone(),
            ui: req.ui.clone(),
            paths: GrantedPaths::new(&req.grant, &req.cwd),
            archive_epoch: req.archive_epoch,
            written: Vec::new(),
            network,
            meter: budget::CpuMeter::new(req.limits.cpu()),
            disk: budget::DiskBudget {
                limit: disk,
                written: 0,
            },
            env,
            told,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let metered = self.metered;
        if metered {
            store.call_hook(|mut cx, hook| {
                cx.data_mut().meter.hook(hook);
                Ok(())
            });
        }
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |cx| {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(wasmtime::Error::msg("the step's timeout expired"));
            }
            let meter = &cx.data().meter;
            if metered && meter.exhausted() {
                return Err(budget::cpu_exhausted(meter.budget));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }

    /// What a failed call into `component` says: the timeout when it expired, else the
    /// trap with what the guest printed, a limit named with how to raise it. Every
    /// export's failures go through here.
    fn trap_error(
        component: &str,
        e: &wasmtime::Error,
        stderr: &MemoryOutputPipe,
        req: &StepRequest,
        deadline: Option<Instant>,
    ) -> RuntimeError {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return RuntimeError::Timeout {
                component: component.to_owned(),
                timeout: req.timeout.unwrap_or_default(),
            };
        }
        let mut message = trap_message(e, stderr);
        if let Some(limit) = budget::memory_exhausted(&message, req.limits.memory())
            .or_else(|| budget::handles_exhausted(&message, MAX_HANDLES))
        {
            message = format!("{limit} ({message})");
        }
        RuntimeError::Trap {
            component: component.to_owned(),
            message,
        }
    }

    /// Runs the component's `validate` on each request's configuration, with that
    /// request's grant, in one instance (a fresh one after a trap): validation is a
    /// function of the configuration, and instantiating once per configuration would
    /// dominate `kiln validate` on templates with many steps.
    pub async fn validate_all(
        &self,
        component: &PreparedComponent,
        reqs: &[StepRequest],
    ) -> Vec<Result<Vec<ConfigIssue>, RuntimeError>> {
        let mut results = Vec::with_capacity(reqs.len());
        let mut current: Option<(Store<StepState>, Instance, MemoryOutputPipe)> = None;
        let name = component.name.as_str();
        for req in reqs {
            // Each call is bounded by the step's timeout and computing time; the instance
            // keeps no deadline of an earlier call.
            let deadline = req.timeout.map(|t| Instant::now() + t);
            if current.is_none() {
                let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
                let mut store = self.store(name, req, deadline, &stderr, 0);
                let instantiated =
                    bounded(component.pre.instantiate(&mut store), &req.cancel, deadline).await;
                match instantiated {
                    Some(Ok(instance)) => current = Some((store, instance, stderr)),
                    Some(Err(e)) => {
                        results.push(Err(Self::trap_error(name, &e, &stderr, req, deadline)));
                        continue;
                    }
                    None => {
                        results.push(Err(stopped(name, req, deadline)));
                        continue;
                    }
                }
            }
            let (store, instance, stderr) = current.as_mut().expect("instantiated above");
            store.data_mut().paths = GrantedPaths::new(&req.grant, &req.cwd);
            store.data_mut().meter = budget::CpuMeter::new(req.limits.cpu());
            let stop_at = deadline;
            store.epoch_deadline_callback({
                let metered = self.metered;
                move |cx| {
                    if stop_at.is_some_and(|d| Instant::now() >= d) {
                        return Err(wasmtime::Error::msg("the step's timeout expired"));
                    }
                    let meter = &cx.data().meter;
                    if metered && meter.exhausted() {
                        return Err(budget::cpu_exhausted(meter.budget));
                    }
                    Ok(UpdateDeadline::Yield(1))
                }
            });
            let answer = bounded(
                instance.validate(&mut *store, &req.config_json),
                &req.cancel,
                deadline,
            )
            .await;
            match answer {
                Some(Ok(answer)) => results.push(Ok(issues(answer))),
                Some(Err(e)) => {
                    results.push(Err(Self::trap_error(name, &e, stderr, req, deadline)));
                    current = None;
                }
                None => {
                    results.push(Err(stopped(name, req, deadline)));
                    current = None;
                }
            }
        }
        results
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
    /// the host measures each one's size and sha256 itself.
    #[tracing::instrument(skip_all, fields(build = %req.build.build_name, component = %component.name))]
    pub async fn post_process(
        &self,
        component: &PreparedComponent,
        req: StepRequest,
        input: &Artifact,
    ) -> Result<PostProcessed, RuntimeError> {
        let paths = GrantedPaths::new(&req.grant, &req.cwd);
        let name = component.name.clone();
        let input_bytes = input.files.iter().map(|f| f.size).sum();
        let disk = req.limits.disk(input_bytes);
        let (result, written) = self.run(component, req, Some(input), disk).await?;
        let result = result.expect("a post-processor answers with an artifact");
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
            },
            keep_input: result.keep_input,
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
    ) -> Result<
        (
            Option<WitPostProcessResult>,
            Vec<artifact_files::KnownDigest>,
        ),
        RuntimeError,
    > {
        let started = Instant::now();
        let deadline = req.timeout.map(|t| started + t);
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        let name = component.name.as_str();
        let mut store = self.store(name, &req, deadline, &stderr, disk);
        let trap = |e: wasmtime::Error| Self::trap_error(name, &e, &stderr, &req, deadline);
        let build = to_wit_build(&req.build);
        let run = async {
            let instance = component.pre.instantiate(&mut store).await.map_err(trap)?;
            match (instance, input) {
                (Instance::Provisioner(i), None) => Ok(i
                    .call_provision(&mut store, &req.config_json, &build)
                    .await
                    .map_err(trap)?
                    .map(|()| None)),
                (Instance::PostProcessor(i), Some(input)) => Ok(i
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
        Ok((answer, std::mem::take(&mut store.data_mut().written)))
    }
}

/// Of a component's error, at least this much is shown, even past its output limits:
/// the reason a step failed is never lost.
const MIN_ERROR_SHOWN: u64 = 4 << 10;

/// The most host resources (processes, sockets, pollables, streams) one instance holds
/// at once; far more than any step needs, far fewer than Kiln's file descriptors.
const MAX_HANDLES: usize = 65_536;

/// Runs `work` until it ends, the build is cancelled or `deadline` passes; `None` when
/// it was stopped.
async fn bounded<T>(
    work: impl std::future::Future<Output = T>,
    cancel: &CancellationToken,
    deadline: Option<Instant>,
) -> Option<T> {
    let timeout = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = work => Some(r),
        _ = cancel.cancelled() => None,
        _ = timeout => None,
    }
}

/// Why [`bounded`] stopped a call: the build was cancelled, or the timeout passed.
fn stopped(component: &str, req: &StepRequest, deadline: Option<Instant>) -> RuntimeError {
    if req.cancel.is_cancelled() && deadline.is_none_or(|d| Instant::now() < d) {
        RuntimeError::Cancelled
    } else {
        RuntimeError::Timeout {
            component: component.to_owned(),
            timeout: req.timeout.unwrap_or_default(),
        }
    }
}

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

/// Size and sha256 of an artifact file, read through the step's grant (read, else
/// write): a component cannot name a file it could not reach itself.
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
    let sha256 = match known {
        Some(known) => known.to_owned(),
        None => kiln_artifacts::hash_reader(file, &[kiln_artifacts::HashAlgorithm::Sha256])
            .map_err(|e| e.to_string())?
            .into_iter()
            .next()
            .unwrap_or_default(),
    };
    Ok(ArtifactFile {
        path: abs,
        size: meta.len(),
        sha256,
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

/// The addresses of a network allow list (`host:port`, `host:*`), host names resolved;
/// `None` as the port: any port.
/// How much of a component's stderr is kept to explain a crash.
const STDERR_CAPTURE: usize = 64 << 10;

/// The trap, with what the guest printed before it (a Rust panic message, say).
fn trap_message(e: &wasmtime::Error, stderr: &MemoryOutputPipe) -> String {
    let contents = stderr.contents();
    let printed =
        kiln_core::text::escape_controls(String::from_utf8_lossy(&contents).trim()).into_owned();
    let trap = format!("{e:#}");
    if printed.is_empty() {
        trap
    } else {
        format!("{printed} ({trap})")
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
    }
}

pub use kiln_core::default_cache_dir;
