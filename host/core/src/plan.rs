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
    /// Where each attribute (by name) was written. Shared: the copies of a step planned
    /// for each source differ in their values alone.
    pub fields: std::sync::Arc<BTreeMap<String, Location>>,
    /// The strings of `config` that name `build.*` values known only once the machine
    /// is reached; [`ConfigBlock::resolved`] fills them in.
    pub deferred: Vec<Deferred>,
}

/// A `build.*` value known only once the builder has reached its machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuildValue {
    /// `build.Host`.
    Host,
    /// `build.Port`.
    Port,
    /// `build.User`.
    User,
    /// `build.Password`.
    Password,
    /// `build.ConnType`.
    ConnType,
    /// `build.PackerRunUUID`.
    PackerRunUuid,
    /// `build.PackerHTTPIP`.
    PackerHttpIp,
    /// `build.PackerHTTPPort`.
    PackerHttpPort,
    /// `build.PackerHTTPAddr`.
    PackerHttpAddr,
    /// `build.SSHPublicKey`.
    SshPublicKey,
    /// `build.SSHPrivateKey`.
    SshPrivateKey,
}

impl BuildValue {
    /// Every one of them.
    pub const ALL: [BuildValue; 11] = [
        BuildValue::Host,
        BuildValue::Port,
        BuildValue::User,
        BuildValue::Password,
        BuildValue::ConnType,
        BuildValue::PackerRunUuid,
        BuildValue::PackerHttpIp,
        BuildValue::PackerHttpPort,
        BuildValue::PackerHttpAddr,
        BuildValue::SshPublicKey,
        BuildValue::SshPrivateKey,
    ];

    /// The name after `build.`, as Packer spells it.
    pub fn name(self) -> &'static str {
        match self {
            BuildValue::Host => "Host",
            BuildValue::Port => "Port",
            BuildValue::User => "User",
            BuildValue::Password => "Password",
            BuildValue::ConnType => "ConnType",
            BuildValue::PackerRunUuid => "PackerRunUUID",
            BuildValue::PackerHttpIp => "PackerHTTPIP",
            BuildValue::PackerHttpPort => "PackerHTTPPort",
            BuildValue::PackerHttpAddr => "PackerHTTPAddr",
            BuildValue::SshPublicKey => "SSHPublicKey",
            BuildValue::SshPrivateKey => "SSHPrivateKey",
        }
    }

    /// The value named `name`.
    pub fn from_name(name: &str) -> Option<BuildValue> {
        BuildValue::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// A piece of a deferred string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text as written.
    Text(String),
    /// A `build.*` value.
    Build(BuildValue),
}

/// A string of a configuration that names `build.*` values: where it sits in the block's
/// JSON (a JSON pointer, RFC 6901) and its parts. Until it is resolved, the JSON holds
/// Packer's form of it (`{{ .Host }}`), which is what `validate` sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    /// Where the string is, as a JSON pointer into the block's `config`.
    pub pointer: String,
    /// Its text and values, in order.
    pub parts: Vec<Part>,
}

impl Deferred {
    /// The string with each value as `value` gives it.
    pub fn render(&self, value: &dyn Fn(BuildValue) -> String) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Build(b) => value(*b),
            })
            .collect()
    }

    /// The string as it stands until the values are known: Packer's `{{ .Host }}`.
    pub fn unresolved(&self) -> String {
        self.render(&|b| format!("{{{{ .{} }}}}", b.name()))
    }
}

impl ConfigBlock {
    /// The configuration with every deferred string filled in by `value`: the one
    /// place where `build.*` values reach a step.
    pub fn resolved(
        &self,
        value: &dyn Fn(BuildValue) -> String,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut config = serde_json::Value::Object(self.config.clone());
        for d in &self.deferred {
            if let Some(slot) = config.pointer_mut(&d.pointer) {
                *slot = serde_json::Value::String(d.render(value));
            }
        }
        match config {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("an object stays an object"),
        }
    }

    /// Whether the block names a `build.*` value known only at run time.
    pub fn has_deferred(&self) -> bool {
        !self.deferred.is_empty()
    }

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
    /// `cacheable = true` (Kiln's extension): the template vouches that the step's
    /// result depends only on what its checkpoint key covers, although it reaches the
    /// network, this host's commands or files it writes.
    pub cacheable: bool,
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
    /// Provisioners, in template order. A step that is the same for every source of a
    /// build is one, shared by them all.
    pub provisioners: Vec<std::sync::Arc<StepPlan>>,
    /// `error-cleanup-provisioner`: runs when a provisioner fails.
    pub error_cleanup: Option<std::sync::Arc<StepPlan>>,
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
    /// `packer { required_plugins { ... } }`: the Packer plugins the template names.
    /// Kiln has no plugins; the engine says which of their types it does not ship.
    pub plugins: Vec<RequiredPlugin>,
}

/// One entry of `required_plugins`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredPlugin {
    /// Its `source` (`github.com/hashicorp/amazon`), or its name when it has none.
    pub source: String,
    /// Where it is named.
    pub location: crate::Location,
}

impl RequiredPlugin {
    /// The plugin's short name (`amazon`), the prefix of its types' names.
    pub fn short_name(&self) -> &str {
        let last = self.source.rsplit('/').next().unwrap_or(&self.source);
        last.strip_prefix("packer-plugin-").unwrap_or(last)
    }

    /// Whether the type `kind` is one of this plugin's: Packer names a plugin's types
    /// `NAME` or `NAME-SOMETHING`.
    pub fn provides(&self, kind: &str) -> bool {
        let name = self.short_name();
        kind == name
            || kind
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('-'))
    }
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
