//! A component as the runtime knows it: the kinds of step it implements, the grants it
//! declares, and its compiled form ready to instantiate in either world.

use std::path::PathBuf;

use wasmtime::Store;

use kiln_core::Grant;

use crate::bindings::post_processor::{PostProcessor, PostProcessorPre};
use crate::bindings::provisioner::kiln::plugin::types as wit;
use crate::bindings::provisioner::{Provisioner, ProvisionerPre};
use crate::host::StepState;

/// A kind of step; a component implements one or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
pub(crate) enum Pre {
    Provisioner(ProvisionerPre<StepState>),
    PostProcessor(PostProcessorPre<StepState>),
}

pub(crate) enum Instance {
    Provisioner(Provisioner),
    PostProcessor(PostProcessor),
}

impl Pre {
    pub(crate) async fn instantiate(
        &self,
        store: &mut Store<StepState>,
    ) -> wasmtime::Result<Instance> {
        Ok(match self {
            Pre::Provisioner(p) => Instance::Provisioner(p.instantiate_async(store).await?),
            Pre::PostProcessor(p) => Instance::PostProcessor(p.instantiate_async(store).await?),
        })
    }
}

/// `$call` on the instance's `configure` interface, which both worlds export (each
/// world's bindings are types of their own, so each arm is its own code).
macro_rules! configure {
    ($instance:expr, |$c:ident| $call:expr) => {
        match $instance {
            Instance::Provisioner(i) => {
                let $c = i.kiln_plugin_configure();
                $call
            }
            Instance::PostProcessor(i) => {
                let $c = i.kiln_plugin_configure();
                $call
            }
        }
    };
}

/// A `validate` or `needs` answer.
pub(crate) type Checked<T> = Result<T, Vec<wit::ConfigError>>;

impl Instance {
    fn kind(&self) -> wit::StepKind {
        match self {
            Instance::Provisioner(_) => wit::StepKind::Provisioner,
            Instance::PostProcessor(_) => wit::StepKind::PostProcessor,
        }
    }

    pub(crate) async fn validate(
        &self,
        store: &mut Store<StepState>,
        config: &str,
    ) -> wasmtime::Result<Checked<()>> {
        let kind = self.kind();
        configure!(self, |c| c.call_validate(store, kind, config).await)
    }

    pub(crate) async fn needs(
        &self,
        store: &mut Store<StepState>,
        config: &str,
    ) -> wasmtime::Result<Checked<wit::GrantRequest>> {
        let kind = self.kind();
        configure!(self, |c| c.call_needs(store, kind, config).await)
    }
}

/// A compiled component, ready to instantiate as one kind of step.
#[derive(Clone)]
pub struct PreparedComponent {
    pub(crate) name: std::sync::Arc<str>,
    pub(crate) sha256: std::sync::Arc<str>,
    pub(crate) pre: Pre,
    /// What the component declares it needs (its `kiln:grants` custom section).
    pub declared: Option<Grant>,
    /// Whether the host paths the component asks for (its `needs`) are granted to it:
    /// so for Kiln's builtins, never for a component from elsewhere.
    pub(crate) needs_granted: bool,
    /// Whether host execution it asks for is granted to it with its paths.
    pub(crate) exec_host_implied: bool,
    /// Whether every host command it can run is confined: it imports `host-exec`'s
    /// `run-confined` and not `run`.
    pub(crate) confines_host_commands: bool,
}

impl PreparedComponent {
    /// This component, granted the host paths its configuration asks for (its `needs`)
    /// on top of its step's grant. For Kiln's own builtins only: anything else gets
    /// exactly what the template grants. The registries a builtin names (the docker
    /// post-processors' `repository`) come with its paths, for the host's `images`
    /// calls alone: its sockets still get only the template's network. Everything else
    /// (environment, host commands, clock, random) only the template grants, to every
    /// component.
    pub fn granted_its_paths(mut self) -> Self {
        self.needs_granted = true;
        self
    }

    /// This component, granted its paths and also the host execution it asks for (the
    /// builtin `shell-local`: what it runs the template's author wrote), unless the
    /// person running Kiln refuses host execution (`exec_host` false).
    pub fn granted_its_needs(self, exec_host: bool) -> Self {
        PreparedComponent {
            exec_host_implied: exec_host,
            ..self.granted_its_paths()
        }
    }

    /// The SHA-256 (hex) of the component's bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Whether [`PreparedComponent::granted_its_paths`] holds.
    pub fn is_granted_its_paths(&self) -> bool {
        self.needs_granted
    }

    /// Whether the host execution it asks for is granted with its paths.
    pub fn implies_exec_host(&self) -> bool {
        self.exec_host_implied
    }

    /// Whether every host command it can run is confined (see `run-confined`), because
    /// it cannot call `host-exec`'s `run` at all.
    pub fn confines_host_commands(&self) -> bool {
        self.confines_host_commands
    }
}

/// Whether `component` imports `host-exec`'s `run-confined` (or `run-confined-each`)
/// and not its `run`: then each host command it runs is confined, whatever it does.
pub(crate) fn confines_host_commands(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
) -> bool {
    use wasmtime::component::types::ComponentItem;
    let ty = component.component_type();
    for (name, item) in ty.imports(engine) {
        if let (true, ComponentItem::ComponentInstance(instance)) =
            (name.starts_with("kiln:plugin/host-exec@"), item.ty)
        {
            let functions: Vec<&str> = instance.exports(engine).map(|(n, _)| n).collect();
            let confined =
                functions.contains(&"run-confined") || functions.contains(&"run-confined-each");
            return confined && !functions.contains(&"run");
        }
    }
    false
}

impl std::fmt::Debug for PreparedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedComponent")
            .field("name", &self.name)
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// The custom section in which a component declares the grants it needs, as JSON:
/// `{"read": [..], "write": [..], "env": [..], "network": [..], "exec_host": true,
/// "clock": "host", "random": "host"}` (every key optional; paths relative to the
/// template's directory).
pub const GRANTS_SECTION: &str = "kiln:grants";

/// The custom section in which a component built with the guest SDK says which kinds of
/// step it implements: `provisioner`, `post-processor`, or both, comma-separated.
pub const KINDS_SECTION: &str = "kiln:kinds";

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
    Ok(component_sections(wasm)?.declared)
}

/// Adds what the custom section `c` declares to `found`, when it is a `kiln:grants`.
fn add_declared(
    c: &wasmparser::CustomSectionReader<'_>,
    found: &mut Option<Grant>,
) -> Result<(), String> {
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

/// What a component file says about itself: the kinds of step it implements, its
/// top-level imports and exports, and what it declares it needs.
#[derive(Debug, Clone)]
pub struct ComponentInfo {
    /// The kinds of step it implements: from its `kiln:kinds` section, else from its
    /// exports.
    pub kinds: Vec<World>,
    /// The interfaces and functions it imports (`wasi:cli/environment@0.2.0`, ...).
    pub imports: Vec<String>,
    /// What it exports (`kiln:plugin/configure@0.2.0`, `provision`, ...).
    pub exports: Vec<String>,
    /// Its `kiln:grants` section.
    pub declared: Option<Grant>,
}

impl ComponentInfo {
    /// The `kiln:plugin` version it was built for, from the interfaces it imports or
    /// exports.
    pub fn plugin_version(&self) -> Option<&str> {
        self.imports
            .iter()
            .chain(&self.exports)
            .find_map(|i| i.strip_prefix("kiln:plugin/"))
            .and_then(|i| i.split_once('@'))
            .map(|(_, v)| v)
    }
}

/// Reads `wasm`'s top-level imports and exports, its declared grants and kinds; an
/// error when it is not a WebAssembly component.
pub fn component_info(wasm: &[u8]) -> Result<ComponentInfo, String> {
    component_sections(wasm)
}

fn component_sections(wasm: &[u8]) -> Result<ComponentInfo, String> {
    use wasmparser::{Encoding, Payload};
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut declared = None;
    let mut kinds: Option<Vec<World>> = None;
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| format!("not a WebAssembly component: {e}"))? {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != Encoding::Component {
                    return Err("a core WebAssembly module, not a component; build it for \
                                wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
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
            Payload::CustomSection(c) if c.name() == GRANTS_SECTION => {
                add_declared(&c, &mut declared)?
            }
            Payload::CustomSection(c) if c.name() == KINDS_SECTION => {
                let text = String::from_utf8_lossy(c.data());
                let found = kinds.get_or_insert_with(Vec::new);
                for kind in text.split(',').map(str::trim) {
                    let world = match kind {
                        "provisioner" => World::Provisioner,
                        "post-processor" => World::PostProcessor,
                        other => {
                            return Err(format!(
                                "its `{KINDS_SECTION}` section names {other:?}, which is not \
                                 a kind of step (provisioner, post-processor)"
                            ))
                        }
                    };
                    if !found.contains(&world) {
                        found.push(world);
                    }
                }
            }
            _ => {}
        }
    }
    let has = |name: &str| exports.iter().any(|e| e == name);
    let kinds = kinds.unwrap_or_else(|| {
        [
            ("provision", World::Provisioner),
            ("post-process", World::PostProcessor),
        ]
        .into_iter()
        .filter(|(export, _)| has(export))
        .map(|(_, w)| w)
        .collect()
    });
    Ok(ComponentInfo {
        kinds,
        imports,
        exports,
        declared,
    })
}
