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
mod calls;
mod component;
pub mod confine;
mod grants;
mod host;
mod host_exec;
mod images;
mod network;
mod store;
mod tree;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::Engine;

use kiln_core::artifact::hex;
use kiln_core::{Artifact, BuildInfo, Communicator, Grant, Ui};

pub use artifact_files::KnownDigest;
use bindings::post_processor::PostProcessorPre;
use bindings::provisioner::{Provisioner, ProvisionerPre};
pub use cache::default_state_dir;
use component::Pre;
pub use component::{
    component_info, declared_grants, ComponentInfo, PreparedComponent, World, GRANTS_SECTION,
    KINDS_SECTION,
};
pub use grants::{normalize, Access, GrantError, GrantedPaths, PathKind};
pub use host::{ProcessHandle, StepState};

/// The version of the `kiln:plugin` contract this Kiln implements (`wit/plugin.wit`).
pub const PLUGIN_VERSION: &str = "0.2.0";

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

/// What is wrong with an attribute, by kind (a component's `validate`, `needs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueKind {
    /// The attribute is not one the component takes; these are.
    UnknownField(Vec<String>),
    /// A required attribute is missing.
    MissingField,
    /// The value has the wrong type: the kind given and what the attribute takes.
    WrongType {
        /// The kind of value given.
        found: String,
        /// What the attribute takes.
        expected: String,
    },
    /// Anything else; the message says what.
    Invalid,
}

/// A configuration problem a component's `validate` (or `needs`) reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The attribute, when the component named one.
    pub field: Option<String>,
    /// What kind of problem it is.
    pub kind: IssueKind,
    /// What is wrong, in the component's words (control characters escaped).
    pub message: String,
}

/// What checking a step's configuration found: its problems, or, when there are none,
/// what it needs of the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepCheck {
    /// The configuration's problems.
    pub issues: Vec<ConfigIssue>,
    /// What the step asks of the host (paths as the component wrote them), when its
    /// configuration is sound.
    pub needs: Option<Grant>,
}

/// What a post-processor made of its input.
#[derive(Debug, Clone)]
pub struct PostProcessed {
    /// The new artifact; each file's size measured by the host, and its sha256 where
    /// the host took it (a file the step wrote through the host, or one whose digest
    /// the request carried); empty where no step wrote the file through the host.
    pub artifact: Artifact,
    /// The component asks to keep its input artifact.
    pub keep_input: bool,
    /// Every digest the host knows after the step, for the next step's request.
    pub digests: Vec<KnownDigest>,
}

/// What one step's instance gets.
pub struct StepRequest {
    /// The step's configuration as JSON.
    pub config_json: String,
    /// The build the step runs in (shared: the checks of a build's many steps have one).
    pub build: Arc<BuildInfo>,
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
    /// Digests the host took of files earlier steps wrote (`PostProcessed::digests`):
    /// each stands while its file is unchanged, so no file is read twice to hash it.
    pub digests: Vec<KnownDigest>,
}

impl StepRequest {
    /// A request for `config_json` with no machine, no grant, default limits, no timeout,
    /// messages discarded and the epoch for clocks: what validating or instantiating a
    /// component on its own needs. Set the other fields with struct update syntax.
    pub fn new(config_json: impl Into<String>) -> Self {
        StepRequest {
            config_json: config_json.into(),
            build: Arc::default(),
            communicator: None,
            ui: Arc::new(kiln_core::ui::DiscardUi),
            grant: Grant::default(),
            cwd: std::env::temp_dir(),
            timeout: None,
            limits: kiln_core::Limits::default(),
            cancel: CancellationToken::new(),
            clock_epoch: 0,
            archive_epoch: 0,
            digests: Vec::new(),
        }
    }
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
        bindings::post_processor::kiln::plugin::images::add_to_linker::<_, HasSelf<_>>(
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
        let prepared = self.prepare_with(name, wasm, world, true)?;
        Ok(prepared.expect("a component not in the cache is compiled"))
    }

    /// [`Runtime::prepare`] when the compiled form of `wasm` is in the cache, `None`
    /// when it is not: nothing is compiled or written, so the work can be dropped at
    /// any moment (a warm-up while the template loads).
    pub fn prepare_cached(
        &self,
        name: &str,
        wasm: &[u8],
        world: World,
    ) -> Result<Option<PreparedComponent>, RuntimeError> {
        self.prepare_with(name, wasm, world, false)
    }

    fn prepare_with(
        &self,
        name: &str,
        wasm: &[u8],
        world: World,
        compile: bool,
    ) -> Result<Option<PreparedComponent>, RuntimeError> {
        // A builtin's digest was taken when Kiln was built.
        let sha256 = match kiln_builtins::digest(wasm) {
            Some(known) => known.to_owned(),
            None => hex(&Sha256::digest(wasm)),
        };
        let key = format!("{}:{sha256}", world.name());
        if let Some(p) = self.prepared.lock().expect("prepared lock").get(&key) {
            return Ok(Some(p.clone()));
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
            compile,
            &mut notices,
        )
        .map_err(|e| load(format!("{e:#}")))?;
        // What the warm-up met is met again, and said, when the component is prepared.
        let Some(component) = component else {
            return Ok(None);
        };
        self.notices.lock().expect("notices lock").extend(
            notices
                .into_iter()
                .map(|n| format!("component `{name}`: {n}")),
        );
        let info = component_info(wasm).map_err(load)?;
        if let Some(version) = info.plugin_version().filter(|v| *v != PLUGIN_VERSION) {
            return Err(load(format!(
                "it was built for kiln:plugin@{version}, and this Kiln runs \
                 kiln:plugin@{PLUGIN_VERSION} components: rebuild it against the guest SDK \
                 of this Kiln (kiln-guest-sdk {}; update the dependency, then `cargo build \
                 --release`)",
                env!("CARGO_PKG_VERSION")
            )));
        }
        if !info.kinds.is_empty() && !info.kinds.contains(&world) {
            let kinds: Vec<&str> = info.kinds.iter().map(|k| k.name()).collect();
            return Err(load(format!(
                "it is a {}, not a {}",
                kinds.join(" and a "),
                world.name()
            )));
        }
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
        let declared = info.declared;
        let confines = component::confines_host_commands(&self.engine, &component);
        if confines {
            confine::probe_ahead();
        }
        let prepared = PreparedComponent {
            name: name.into(),
            sha256: sha256.as_str().into(),
            confines_host_commands: confines,
            pre,
            declared,
            needs_granted: false,
            exec_host_implied: false,
        };
        self.prepared
            .lock()
            .expect("prepared lock")
            .insert(key, prepared.clone());
        Ok(Some(prepared))
    }
}

pub use kiln_core::default_cache_dir;
