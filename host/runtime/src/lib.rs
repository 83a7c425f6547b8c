//! Kiln's WebAssembly runtime — the only crate that links wasmtime.
//!
//! It compiles each component once per process (and once per machine: the compiled
//! form is cached on disk under its sha256), instantiates one instance per step with
//! only that step's grants, and implements the WIT imports on top of the step's
//! communicator and UI.

mod bindings;
mod cache;
mod grants;
mod host;
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
use kiln_core::{BuildInfo, Communicator, Grant, Ui};

use bindings::provisioner::{Provisioner, ProvisionerPre};
pub use grants::{normalize, Access, GrantError, GrantedPaths, PathKind};
pub use host::{ProcessHandle, StepState};

/// How often the epoch advances; also how often a running guest yields to the host.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Default linear memory limit of one instance.
pub const DEFAULT_MEMORY_LIMIT: usize = 256 << 20;

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
                field: e.field,
                message: e.message,
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

/// A compiled component, ready to instantiate.
#[derive(Clone)]
pub struct PreparedComponent {
    name: String,
    sha256: String,
    pre: ProvisionerPre<StepState>,
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
    /// Linear memory limit of the instance.
    pub memory_limit: usize,
    /// The build's cancellation.
    pub cancel: CancellationToken,
    /// The wall clock the component sees, as seconds since the Unix epoch.
    pub clock_epoch: u64,
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
    cache_dir: Option<PathBuf>,
    prepared: Mutex<HashMap<String, PreparedComponent>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cache_dir", &self.cache_dir)
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
    /// Creates the runtime. Compiled components are cached under `cache_dir` when given.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self, RuntimeError> {
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
        Provisioner::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Setup(e.to_string()))?;
        Ok(Runtime {
            engine,
            linker,
            cache_dir,
            prepared: Mutex::new(HashMap::new()),
        })
    }

    /// Compiles `wasm` (or loads its compiled form from the cache) and checks that it
    /// implements the `provisioner` world.
    pub fn prepare(&self, name: &str, wasm: &[u8]) -> Result<PreparedComponent, RuntimeError> {
        let sha256 = hex(&Sha256::digest(wasm));
        if let Some(p) = self.prepared.lock().expect("prepared lock").get(&sha256) {
            return Ok(p.clone());
        }
        let load = |message: String| RuntimeError::Load {
            component: name.to_owned(),
            message,
        };
        let component =
            cache::load_or_compile(&self.engine, self.cache_dir.as_deref(), &sha256, wasm)
                .map_err(|e| load(format!("{e:#}")))?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| load(format!("{e:#}")))?;
        let pre = ProvisionerPre::new(instance_pre).map_err(|e| {
            load(format!(
                "it does not implement the kiln:plugin provisioner world: {e:#}"
            ))
        })?;
        let prepared = PreparedComponent {
            name: name.to_owned(),
            sha256: sha256.clone(),
            pre,
        };
        self.prepared
            .lock()
            .expect("prepared lock")
            .insert(sha256, prepared.clone());
        Ok(prepared)
    }

    fn store(
        &self,
        req: &StepRequest,
        deadline: Option<Instant>,
        stderr: &MemoryOutputPipe,
    ) -> Store<StepState> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stderr(stderr.clone());
        wasi.wall_clock(FixedClock(Duration::from_secs(req.clock_epoch)));
        wasi.insecure_random_seed(u128::from(req.clock_epoch));
        let state = StepState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits: wasmtime::StoreLimitsBuilder::new()
                .memory_size(req.memory_limit)
                .trap_on_grow_failure(true)
                .build(),
            communicator: req.communicator.clone(),
            ui: req.ui.clone(),
            paths: GrantedPaths::new(&req.grant, &req.cwd),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| match deadline {
            Some(d) if Instant::now() >= d => {
                Err(wasmtime::Error::msg("the step's timeout expired"))
            }
            _ => Ok(UpdateDeadline::Yield(1)),
        });
        store
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
        let mut current: Option<(Store<StepState>, Provisioner, MemoryOutputPipe)> = None;
        for req in reqs {
            if current.is_none() {
                let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
                let mut store = self.store(req, None, &stderr);
                match component.pre.instantiate_async(&mut store).await {
                    Ok(instance) => current = Some((store, instance, stderr)),
                    Err(e) => {
                        results.push(Err(RuntimeError::Trap {
                            component: component.name.clone(),
                            message: trap_message(&e, &stderr),
                        }));
                        continue;
                    }
                }
            }
            let (store, instance, stderr) = current.as_mut().expect("instantiated above");
            store.data_mut().paths = GrantedPaths::new(&req.grant, &req.cwd);
            match instance.call_validate(&mut *store, &req.config_json).await {
                Ok(answer) => results.push(Ok(issues(answer))),
                Err(e) => {
                    results.push(Err(RuntimeError::Trap {
                        component: component.name.clone(),
                        message: trap_message(&e, stderr),
                    }));
                    current = None;
                }
            }
        }
        results
    }

    /// Runs the component's `provision` for one step.
    #[tracing::instrument(skip_all, fields(build = %req.build.build_name, component = %component.name))]
    pub async fn provision(
        &self,
        component: &PreparedComponent,
        req: StepRequest,
    ) -> Result<(), RuntimeError> {
        let started = Instant::now();
        let deadline = req.timeout.map(|t| started + t);
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        let mut store = self.store(&req, deadline, &stderr);
        let name = component.name.clone();
        let trap = |e: wasmtime::Error| {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                RuntimeError::Timeout {
                    component: name.clone(),
                    timeout: req.timeout.unwrap_or_default(),
                }
            } else {
                RuntimeError::Trap {
                    component: name.clone(),
                    message: trap_message(&e, &stderr),
                }
            }
        };
        let build = to_wit_build(&req.build);
        let run = async {
            let instance: Provisioner = component
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(trap)?;
            instance
                .call_provision(&mut store, &req.config_json, &build)
                .await
                .map_err(trap)
        };
        // Host calls (a remote command) are not interrupted by epochs, so the timeout
        // and cancellation also race the whole call.
        let timeout = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            r = run => r,
            _ = req.cancel.cancelled() => return Err(RuntimeError::Cancelled),
            _ = timeout => return Err(RuntimeError::Timeout {
                component: component.name.clone(),
                timeout: req.timeout.unwrap_or_default(),
            }),
        };
        tracing::debug!(elapsed = ?started.elapsed(), "component returned");
        outcome?.map_err(RuntimeError::Failed)
    }
}

/// How much of a component's stderr is kept to explain a crash.
const STDERR_CAPTURE: usize = 64 << 10;

/// The trap, with what the guest printed before it (a Rust panic message, say).
fn trap_message(e: &wasmtime::Error, stderr: &MemoryOutputPipe) -> String {
    let printed = String::from_utf8_lossy(&stderr.contents())
        .trim()
        .to_owned();
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
