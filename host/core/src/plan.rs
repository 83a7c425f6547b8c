//! The typed build plan the template crate produces and the engine runs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::Location;

/// A configuration block (a source or a step) as JSON, with where each attribute was
/// written so that errors found later can point at it.
#[derive(Debug, Clone, Default)]
pub struct ConfigBlock {
    /// The attributes, evaluated, as a JSON object.
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Where the block starts.
    pub location: Location,
    /// Where each attribute (by name) was written.
    pub fields: BTreeMap<String, Location>,
}

impl ConfigBlock {
    /// The location of `field`, or of the block when the field was not written.
    pub fn location_of(&self, field: Option<&str>) -> Location {
        field
            .and_then(|f| self.fields.get(f))
            .cloned()
            .unwrap_or_else(|| self.location.clone())
    }
}

/// A provisioner step of a build.
#[derive(Debug, Clone)]
pub struct StepPlan {
    /// The provisioner type (`shell`, `file`).
    pub kind: String,
    /// The optional `name` meta-argument.
    pub name: Option<String>,
    /// The step's own configuration (shared: one step planned for many sources is one
    /// allocation).
    pub block: std::sync::Arc<ConfigBlock>,
    /// `pause_before`: wait this long before the step.
    pub pause_before: Option<std::time::Duration>,
    /// `max_retries`: run the step again this many times when it fails.
    pub max_retries: u32,
    /// `timeout`: fail the step when it runs longer.
    pub timeout: Option<std::time::Duration>,
    /// `grant { ... }` (Kiln's extension): what the template grants the step beyond what
    /// a builtin's configuration implies. Paths absolute.
    pub grant: crate::Grant,
    /// `limits { ... }` (Kiln's extension): the step's own limits.
    pub limits: crate::Limits,
}

/// A post-processor step of a build.
#[derive(Debug, Clone)]
pub struct PostProcessorPlan {
    /// The post-processor type (`checksum`, `compress`, `manifest`, ...).
    pub kind: String,
    /// The optional `name` meta-argument.
    pub name: Option<String>,
    /// The step's own configuration, meta-arguments removed.
    pub block: std::sync::Arc<ConfigBlock>,
    /// `keep_input_artifact`: `None` when not written (the post-processor decides).
    pub keep_input_artifact: Option<bool>,
    /// Fails the step when it runs longer (Kiln's extension; Packer has none here).
    pub timeout: Option<std::time::Duration>,
    /// `grant { ... }` (Kiln's extension), as for provisioners; `exec_host = true` lets
    /// shell-local run host commands.
    pub grant: crate::Grant,
    /// `limits { ... }` (Kiln's extension).
    pub limits: crate::Limits,
}

/// One build: a source and the steps that run against it.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    /// Full name, `[build.]type.name`, used as the output prefix.
    pub name: String,
    /// The source type (`null`, `file`).
    pub source_type: String,
    /// The source name.
    pub source_name: String,
    /// The source's configuration.
    pub source: ConfigBlock,
    /// Provisioners, in template order.
    pub provisioners: Vec<StepPlan>,
    /// `error-cleanup-provisioner`: runs when a provisioner fails.
    pub error_cleanup: Option<StepPlan>,
    /// Post-processor chains, in template order: a top-level `post-processor` is a
    /// chain of one, a `post-processors {}` block a chain of several. `only`/`except`
    /// already applied; a chain left empty by them is dropped.
    pub post_processors: Vec<Vec<PostProcessorPlan>>,
}

/// Everything a template asks for.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The directory of the template (`path.root`).
    pub template_dir: PathBuf,
    /// The builds, in template order.
    pub builds: Vec<BuildPlan>,
    /// Values that must never be printed (sensitive variables).
    pub sensitive: Vec<String>,
    /// `packer { required_components { ... } }`: the components the template names
    /// beyond the builtins, and where each comes from.
    pub components: Vec<RequiredComponent>,
}

/// One entry of `required_components`: the step type `name` runs the component at
/// `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredComponent {
    /// The provisioner or post-processor type that names it in `build` blocks.
    pub name: String,
    /// Where it comes from.
    pub source: ComponentSource,
    /// The `source` attribute, for messages.
    pub location: crate::Location,
}

/// Where a required component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentSource {
    /// A `.wasm` file, made absolute against the template's directory.
    File(PathBuf),
    /// An OCI reference, `registry/repository[:tag][@sha256:...]`, as written.
    Oci(String),
}

impl std::fmt::Display for ComponentSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ComponentSource::File(p) => write!(f, "{}", p.display()),
            ComponentSource::Oci(r) => f.write_str(r),
        }
    }
}
