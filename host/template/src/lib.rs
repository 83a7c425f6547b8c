//! Kiln's template language: Packer HCL2 templates (`*.pkr.hcl`) and variable files
//! (`*.pkrvars.hcl`) into a typed [`Plan`].
//!
//! The only crate that knows HCL. Every diagnostic it returns carries `file:line:col`.
//! Configuration of sources and provisioners is evaluated here into JSON; whether its
//! attributes make sense is for the builder or component that receives it to say, and
//! the engine maps their answers back onto the locations recorded in [`ConfigBlock`].

mod components;
mod data;
mod deferred;
mod files;
pub mod fmt;

mod grants;
mod hcl2;
mod hcl_json;
mod hcl_string;
pub mod inspect;
mod json;
mod values;
mod variables;
mod version;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl::edit::expr::Expression;
use hcl::edit::structure::{Attribute, Block, Body, Structure};
use hcl::edit::Span;
use hcl::eval::Context;

use kiln_core::diag::did_you_mean;
use kiln_core::plan::{BuildPlan, ConfigBlock, Plan, PostProcessorPlan, StepPlan};
use kiln_core::{Diagnostic, Location};

pub use files::{kind, SourceFile, TemplateKind};
pub use inspect::Inspection;
pub use json::{hcl2_upgrade, load_json};

/// The Packer release whose template language Kiln follows (`packer.version`,
/// `{{packer_version}}`, and what `required_version` and `min_packer_version` are
/// checked against): current Packer, whose documentation and behaviour Kiln follows
/// where they differ from older releases.
pub const PACKER_VERSION: &str = "1.15.2";
pub use components::{lock_path, required_components};
pub(crate) use hcl2::{as_bool, eval_body, At};
use hcl2::{load_files, refers_to_sensitive};
use values::{to_json, EvalScope};
pub use variables::VarArg;

/// What the command line and environment add to a template.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-var` and `-var-file` arguments, in command-line order.
    pub var_args: Vec<VarArg>,
    /// The environment (`PKR_VAR_*` are read from it).
    pub env: Vec<(String, String)>,
    /// The working directory (`path.cwd`).
    pub cwd: PathBuf,
    /// Data sources that ask a cloud (`amazon-ami`) give placeholders instead of
    /// running: `kiln validate` without `-evaluate-datasources`, as Packer's validate.
    pub defer_remote_data: bool,
}

/// A loaded template.
#[derive(Debug)]
pub struct Loaded {
    /// What to build.
    pub plan: Plan,
    /// Problems that do not stop the build.
    pub warnings: Vec<Diagnostic>,
    /// What `kiln inspect` shows.
    pub inspection: Inspection,
    /// What `kiln console` evaluates against (HCL2 templates only).
    console: Option<EvalScope>,
}

impl Loaded {
    /// Evaluates the HCL2 expression `text` against the template's variables, locals and
    /// functions, as `kiln console` does. Sensitive values come back masked.
    pub fn evaluate(&self, text: &str) -> Result<serde_json::Value, Diagnostic> {
        let Some(scope) = &self.console else {
            return Err(Diagnostic::error(
                "kiln console evaluates HCL2 expressions; this is a legacy JSON template",
                None,
            )
            .with_hint("Convert it with `kiln hcl2_upgrade` first."));
        };
        let expr: hcl::Expression = text
            .parse()
            .map_err(|e: hcl::Error| Diagnostic::error(format!("Invalid expression: {e}"), None))?;
        let value = kiln_functions::evaluate(&expr, &scope.context())
            .map_err(|e| Diagnostic::error(format!("Invalid expression: {e}"), None))?;
        // A value computed from a sensitive one is sensitive (Packer's marks).
        let names = |prefix: &str| -> Vec<String> {
            scope
                .sensitive_names
                .iter()
                .filter_map(|n| n.strip_prefix(prefix).map(str::to_owned))
                .collect()
        };
        if refers_to_sensitive(&expr.to_string(), &names("var."), &names("local.")) {
            return Ok(serde_json::Value::String("<sensitive>".into()));
        }
        Ok(mask(to_json(&value), &self.plan.sensitive))
    }
}

/// `value` with every sensitive string replaced by `<sensitive>`.
fn mask(value: serde_json::Value, sensitive: &[String]) -> serde_json::Value {
    match value {
        serde_json::Value::String(s)
            if sensitive
                .iter()
                .any(|x| !x.is_empty() && s.contains(x.as_str())) =>
        {
            serde_json::Value::String("<sensitive>".into())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(|v| mask(v, sensitive)).collect())
        }
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, mask(v, sensitive)))
                .collect(),
        ),
        other => other,
    }
}

/// Loads the template at `path` (a file or a directory of `.pkr.hcl` files, or a legacy
/// `.json` template) with `opts`.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Loaded, Vec<Diagnostic>> {
    parse(path)?.load(opts)
}

/// A template read and, when it is HCL2, parsed: not yet evaluated.
pub struct Parsed {
    path: PathBuf,
    /// An HCL2 template's files and the variable files loaded with them.
    hcl: Option<(Vec<SourceFile>, Vec<PathBuf>)>,
}

/// The step types a template's `build` blocks name, each once, in order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StepTypes {
    /// Provisioners, the error-cleanup provisioner among them.
    pub provisioners: Vec<String>,
    /// Post-processors.
    pub post_processors: Vec<String>,
}

/// Reads the template at `path`, and parses it when it is HCL2 (a JSON template is
/// read when it is loaded). Syntax errors are reported here, each where it is.
pub fn parse(path: &Path) -> Result<Parsed, Vec<Diagnostic>> {
    if files::kind(path) != TemplateKind::Hcl {
        return Ok(Parsed {
            path: path.to_owned(),
            hcl: None,
        });
    }
    Ok(Parsed {
        path: path.to_owned(),
        hcl: Some(parse_files(path)?),
    })
}

/// The HCL2 files of the template at `path`, parsed, and the variable files that go
/// with them.
fn parse_files(path: &Path) -> Result<(Vec<SourceFile>, Vec<PathBuf>), Vec<Diagnostic>> {
    let (template_paths, auto_var_paths) = files::discover(path).map_err(|d| vec![d])?;
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for p in &template_paths {
        match SourceFile::load(p) {
            Ok(f) => files.push(f),
            Err(d) => errors.push(d),
        }
    }
    if errors.is_empty() {
        Ok((files, auto_var_paths))
    } else {
        Err(errors)
    }
}

impl Parsed {
    /// The step types the `build` blocks name as written, before anything is
    /// evaluated (what a `dynamic` block makes is not among them): what a command can
    /// start loading while the template is evaluated. Empty for a JSON template.
    pub fn step_types(&self) -> StepTypes {
        let mut types = StepTypes::default();
        let Some((files, _)) = &self.hcl else {
            return types;
        };
        fn add(list: &mut Vec<String>, block: &Block) {
            if let Some(label) = block.labels.first() {
                if !list.iter().any(|t| t == label.as_str()) {
                    list.push(label.as_str().to_owned());
                }
            }
        }
        let builds = files.iter().flat_map(|f| f.body.get_blocks("build"));
        for block in builds.flat_map(|b| b.body.blocks()) {
            match block.ident.as_str() {
                "provisioner" | "error-cleanup-provisioner" => add(&mut types.provisioners, block),
                "post-processor" => add(&mut types.post_processors, block),
                "post-processors" => {
                    for pp in block.body.get_blocks("post-processor") {
                        add(&mut types.post_processors, pp);
                    }
                }
                _ => {}
            }
        }
        types
    }

    /// Evaluates the template with `opts`: its variables, sources and builds.
    pub fn load(self, opts: &LoadOptions) -> Result<Loaded, Vec<Diagnostic>> {
        let path = &self.path;
        let (files, auto_var_paths) = match self.hcl {
            Some(hcl) => hcl,
            None => match files::kind(path) {
                TemplateKind::LegacyJson => return json::load_json(path, opts),
                _ => {
                    if let Some(loaded) = json::load_legacy_pkr_json(path, opts) {
                        return loaded;
                    }
                    parse_files(path)?
                }
            },
        };
        load_files(&files, &auto_var_paths, template_dir(path), opts)
    }
}

/// The directory of the template at `path` (`path.root`).
pub(crate) fn template_dir(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.to_owned()
    } else {
        path.parent()
            .map(Path::to_owned)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| ".".into())
    }
}

/// Loads HCL2 template text as if it were the file `name` (for tools and fuzzing).
pub fn load_source(name: &str, text: &str, opts: &LoadOptions) -> Result<Loaded, Vec<Diagnostic>> {
    let file = SourceFile::parse(Path::new(name), text.to_owned()).map_err(|d| vec![d])?;
    load_files(&[file], &[], PathBuf::from("."), opts)
}
