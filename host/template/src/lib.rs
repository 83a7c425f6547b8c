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
mod functions;
mod gotime;
mod grants;
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
/// `{{packer_version}}`).
pub const PACKER_VERSION: &str = "1.6.6";
pub use components::{lock_path, required_components};
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
        let value = functions::evaluate(&expr, &scope.context())
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

/// Top-level blocks Kiln understands.
const TOP_LEVEL: &[&str] = &[
    "variable",
    "variables",
    "locals",
    "local",
    "source",
    "build",
    "data",
    "packer",
];

/// Where a block was found.
struct At<'a> {
    file: &'a SourceFile,
}

impl At<'_> {
    fn loc(&self, span: Option<std::ops::Range<usize>>) -> Location {
        self.file.location(span)
    }

    fn err(&self, span: Option<std::ops::Range<usize>>, summary: impl Into<String>) -> Diagnostic {
        Diagnostic::error(summary, Some(self.loc(span)))
    }

    fn unsupported_attr(&self, attr: &Attribute, allowed: &[&str]) -> Diagnostic {
        let key = attr.key.as_str();
        let d = self.err(attr.key.span(), format!("Unsupported argument \"{key}\""));
        match did_you_mean(key, allowed.iter().copied()) {
            Some(s) => d.with_hint(format!(
                "An argument named \"{key}\" is not expected here. Did you mean \"{s}\"?"
            )),
            None => d.with_hint(format!("An argument named \"{key}\" is not expected here.")),
        }
    }

    /// An unexpected attribute where `attrs` and `blocks` are expected. In HCL2's JSON
    /// syntax an unknown property may have been meant as either, so both are offered.
    fn unsupported_key(&self, attr: &Attribute, attrs: &[&str], blocks: &[&str]) -> Diagnostic {
        if !self.file.is_json() {
            return self.unsupported_attr(attr, attrs);
        }
        let key = attr.key.as_str();
        let d = self.err(
            attr.key.span(),
            format!("Unsupported argument or block \"{key}\""),
        );
        match did_you_mean(key, attrs.iter().chain(blocks).copied()) {
            Some(s) => d.with_hint(format!(
                "No argument or block type is named \"{key}\". Did you mean \"{s}\"?"
            )),
            None => d.with_hint(format!("No argument or block type is named \"{key}\".")),
        }
    }

    fn unsupported_block(&self, block: &Block, allowed: &[&str]) -> Diagnostic {
        let name = block.ident.as_str();
        let d = self.err(
            block.ident.span(),
            format!("Unsupported block type \"{name}\""),
        );
        match did_you_mean(name, allowed.iter().copied()) {
            Some(s) => d.with_hint(format!(
                "Blocks of type \"{name}\" are not expected here. Did you mean \"{s}\"?"
            )),
            None => d.with_hint(format!("Blocks of type \"{name}\" are not expected here.")),
        }
    }

    fn labels(&self, block: &Block, want: &[&str]) -> Result<Vec<String>, Diagnostic> {
        let labels: Vec<String> = block.labels.iter().map(|l| l.as_str().to_owned()).collect();
        if labels.len() != want.len() {
            let name = block.ident.as_str();
            let expected = if want.is_empty() {
                "no labels".to_owned()
            } else {
                want.iter()
                    .map(|w| format!("\"{w}\""))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            return Err(self.err(
                block.ident.span(),
                format!(
                    "Block \"{name}\" has {} labels; it takes {expected}",
                    labels.len()
                ),
            ));
        }
        Ok(labels)
    }
}

struct SourceDef<'a> {
    at: At<'a>,
    block: &'a Block,
}

struct BuildDef<'a> {
    at: At<'a>,
    block: &'a Block,
}

/// Loads the template at `path` (a file or a directory of `.pkr.hcl` files, or a legacy
/// `.json` template) with `opts`.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Loaded, Vec<Diagnostic>> {
    match files::kind(path) {
        TemplateKind::LegacyJson => return json::load_json(path, opts),
        TemplateKind::HclJson => {
            if let Some(loaded) = json::load_legacy_pkr_json(path, opts) {
                return loaded;
            }
        }
        TemplateKind::Hcl => {}
    }
    let (template_paths, auto_var_paths) = files::discover(path).map_err(|d| vec![d])?;
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for p in &template_paths {
        match SourceFile::load(p) {
            Ok(f) => files.push(f),
            Err(d) => errors.push(d),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    load_files(&files, &auto_var_paths, template_dir(path), opts)
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

fn load_files(
    files: &[SourceFile],
    auto_var_paths: &[PathBuf],
    template_dir: PathBuf,
    opts: &LoadOptions,
) -> Result<Loaded, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut sensitive_locals = Vec::new();

    // Pass 1: collect the top-level blocks.
    let mut var_blocks = Vec::new();
    let mut local_attrs: Vec<(At<'_>, &Attribute, String)> = Vec::new();
    let mut sources: BTreeMap<(String, String), SourceDef<'_>> = BTreeMap::new();
    let mut builds = Vec::new();
    let mut data_defs = Vec::new();
    let mut components = Vec::new();
    for file in files {
        let at = || At { file };
        for structure in file.body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    errors.push(at().unsupported_key(attr, &[], TOP_LEVEL))
                }
                Structure::Block(block) => match block.ident.as_str() {
                    "variable" => match at().labels(block, &["name"]) {
                        Ok(_) => var_blocks.push((at(), block)),
                        Err(d) => errors.push(d),
                    },
                    "variables" => {
                        if let Err(d) = at().labels(block, &[]) {
                            errors.push(d);
                        }
                        var_blocks.push((at(), block));
                    }
                    "locals" => {
                        if let Err(d) = at().labels(block, &[]) {
                            errors.push(d);
                        }
                        for s in block.body.iter() {
                            match s {
                                Structure::Attribute(a) => {
                                    local_attrs.push((at(), a, a.key.as_str().to_owned()))
                                }
                                Structure::Block(b) => errors.push(at().unsupported_block(b, &[])),
                            }
                        }
                    }
                    "local" => match at().labels(block, &["name"]) {
                        Ok(labels) => {
                            for s in block.body.iter() {
                                match s {
                                    Structure::Attribute(a) if a.key.as_str() == "expression" => {
                                        local_attrs.push((at(), a, labels[0].clone()))
                                    }
                                    Structure::Attribute(a) if a.key.as_str() == "sensitive" => {
                                        if a.value.to_string().trim() == "true" {
                                            sensitive_locals.push(labels[0].clone());
                                        }
                                    }
                                    Structure::Attribute(a) => errors.push(
                                        at().unsupported_attr(a, &["expression", "sensitive"]),
                                    ),
                                    Structure::Block(b) => {
                                        errors.push(at().unsupported_block(b, &[]))
                                    }
                                }
                            }
                        }
                        Err(d) => errors.push(d),
                    },
                    "source" => match at().labels(block, &["type", "name"]) {
                        Ok(l) => {
                            let key = (l[0].clone(), l[1].clone());
                            if let Some(prev) = sources.get(&key) {
                                let first = prev.at.loc(prev.block.ident.span());
                                errors.push(
                                    at().err(
                                        block.ident.span(),
                                        format!("Duplicate source \"{}.{}\"", key.0, key.1),
                                    )
                                    .with_hint(format!("The first definition is at {first}.")),
                                );
                            } else {
                                sources.insert(key, SourceDef { at: at(), block });
                            }
                        }
                        Err(d) => errors.push(d),
                    },
                    "build" => match at().labels(block, &[]) {
                        Ok(_) => builds.push(BuildDef { at: at(), block }),
                        Err(d) => errors.push(d),
                    },
                    "packer" => {
                        let mut found = Found {
                            errors: &mut errors,
                            warnings: &mut warnings,
                            components: &mut components,
                        };
                        check_packer_block(&at(), block, &template_dir, &mut found)
                    }
                    "data" => data_defs.extend(data::collect(at(), block, &mut errors)),
                    _ => errors.push(at().unsupported_block(block, TOP_LEVEL)),
                },
            }
        }
    }

    // Variables, then locals.
    let mut var_files = Vec::new();
    for p in auto_var_paths {
        match SourceFile::load(p) {
            Ok(f) => var_files.push((f, false)),
            Err(d) => errors.push(d),
        }
    }
    let vars = variables::resolve(
        &var_blocks
            .iter()
            .map(|(a, b)| (a.file, *b))
            .collect::<Vec<_>>(),
        &var_files,
        opts,
        &mut errors,
        &mut warnings,
    );
    let mut scope = EvalScope {
        vars: vars.values.clone(),
        template_dir: template_dir.clone(),
        cwd: opts.cwd.clone(),
        data: hcl::Map::new(),
        locals: None,
        sensitive_names: Vec::new(),
    };
    // Data sources run only for a template otherwise sound (they may fetch over HTTP).
    if errors.is_empty() && !data_defs.is_empty() {
        scope.data = data::resolve(&data_defs, &scope, &mut errors);
    }
    let locals = resolve_locals(&local_attrs, &scope, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }

    // Builds.
    let mut base = scope.context();
    base.declare_var("local", hcl::Value::Object(locals.clone()));
    let mut plan_builds = Vec::new();
    if builds.is_empty() {
        warnings.push(Diagnostic::warning(
            "the template has no build block: nothing to build",
            None,
        ));
    }
    let mut summaries = Vec::new();
    // Relative paths in `grant` are relative to the template's directory.
    let cwd = if opts.cwd.as_os_str().is_empty() {
        std::env::current_dir().unwrap_or_default()
    } else {
        opts.cwd.clone()
    };
    let root = GrantRoot {
        dir: grants::absolute(&template_dir, &cwd),
        cwd: opts.cwd.display().to_string(),
    };
    for build in &builds {
        let first = plan_builds.len();
        plan_build(build, &sources, &base, &root, &mut plan_builds, &mut errors);
        summaries.push(summarize(build, &base, &plan_builds[first..]));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Sensitivity follows values through expressions, as Packer's marks do: a local
    // computed from a sensitive variable or local is sensitive too.
    loop {
        let before = sensitive_locals.len();
        for (_, a, name) in &local_attrs {
            if sensitive_locals.contains(name) {
                continue;
            }
            let text = a.value.to_string();
            if refers_to_sensitive(&text, &vars.sensitive_names, &sensitive_locals) {
                sensitive_locals.push(name.clone());
            }
        }
        if sensitive_locals.len() == before {
            break;
        }
    }
    let mut sensitive = vars.sensitive;
    for name in &sensitive_locals {
        if let Some(v) = locals.get(name) {
            variables::collect_strings(v, &mut sensitive);
        }
    }
    let value = |name: &String, v: &hcl::Value, secret: bool| inspect::Value {
        name: name.clone(),
        value: Some(to_json(v)),
        sensitive: secret,
    };
    let inspection = Inspection {
        variables: (vars.values.iter())
            .map(|(n, v)| value(n, v, vars.sensitive_names.contains(n)))
            .collect(),
        locals: (locals.iter())
            .map(|(n, v)| value(n, v, sensitive_locals.contains(n)))
            .collect(),
        builds: summaries,
        legacy: None,
    };
    let mut console = scope;
    console.locals = Some(locals);
    console.sensitive_names = vars
        .sensitive_names
        .iter()
        .map(|n| format!("var.{n}"))
        .chain(sensitive_locals.iter().map(|n| format!("local.{n}")))
        .collect();
    Ok(Loaded {
        plan: Plan {
            template_dir,
            builds: plan_builds,
            sensitive,
            components,
        },
        warnings,
        inspection,
        console: Some(console),
    })
}

/// The `kiln inspect` view of one build block: its name, the sources it references
/// (as written, before any per-build renaming), every provisioner block and every
/// post-processor chain (before `only` / `except`), as Packer lists them.
fn summarize(build: &BuildDef<'_>, ctx: &Context<'_>, made: &[BuildPlan]) -> inspect::BuildSummary {
    let name = made.first().and_then(|b| {
        b.name
            .strip_suffix(&format!("{}.{}", b.source_type, b.source_name))
            .and_then(|prefix| prefix.strip_suffix('.'))
            .map(str::to_owned)
    });
    let mut sources = Vec::new();
    let mut provisioners = Vec::new();
    let mut post_processors = Vec::new();
    for s in build.block.body.iter() {
        match s {
            Structure::Attribute(a) if a.key.as_str() == "sources" => {
                if let Ok(serde_json::Value::Array(items)) = eval_expr(&a.value, ctx) {
                    sources.extend(items.iter().filter_map(|i| i.as_str()).map(str::to_owned));
                }
            }
            Structure::Block(b) if b.ident.as_str() == "source" => {
                sources.extend(b.labels.first().map(|l| l.as_str().to_owned()));
            }
            Structure::Block(b) if b.ident.as_str() == "provisioner" => {
                provisioners.extend(b.labels.first().map(|l| l.as_str().to_owned()));
            }
            Structure::Block(b) if b.ident.as_str() == "post-processor" => {
                post_processors.push(post_processor_title(b, ctx).into_iter().collect());
            }
            Structure::Block(b) if b.ident.as_str() == "post-processors" => {
                post_processors.push(
                    b.body
                        .get_blocks("post-processor")
                        .filter_map(|p| post_processor_title(p, ctx))
                        .collect(),
                );
            }
            _ => {}
        }
    }
    let sources = sources
        .into_iter()
        .map(|s| s.strip_prefix("source.").map(str::to_owned).unwrap_or(s))
        .collect();
    inspect::BuildSummary {
        name,
        sources,
        provisioners,
        post_processors,
    }
}

/// A post-processor as `packer inspect` lists it: `TYPE`, or `TYPE.NAME` when it has a
/// name.
fn post_processor_title(block: &Block, ctx: &Context<'_>) -> Option<String> {
    let ty = block.labels.first()?.as_str();
    let name = block
        .body
        .get_attribute("name")
        .and_then(|a| eval_expr(&a.value, ctx).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .filter(|n| !n.is_empty());
    Some(match name {
        Some(n) => format!("{ty}.{n}"),
        None => ty.to_owned(),
    })
}

/// Where the checks of a `packer` block report.
struct Found<'a> {
    errors: &'a mut Vec<Diagnostic>,
    warnings: &'a mut Vec<Diagnostic>,
    components: &'a mut Vec<kiln_core::plan::RequiredComponent>,
}

fn check_packer_block(at: &At<'_>, block: &Block, template_dir: &Path, found: &mut Found<'_>) {
    const ALLOWED: &[&str] = &["required_plugins", "required_components"];
    if let Err(d) = at.labels(block, &[]) {
        found.errors.push(d);
    }
    for s in block.body.iter() {
        match s {
            Structure::Attribute(a) if a.key.as_str() == "required_version" => {
                check_required_version(at, a, found.errors)
            }
            Structure::Attribute(a) => found
                .errors
                .push(at.unsupported_attr(a, &["required_version"])),
            Structure::Block(b) if b.ident.as_str() == "required_plugins" => {
                for p in b.body.iter() {
                    if let Structure::Attribute(a) = p {
                        let source = eval_expr(&a.value, &Context::new())
                            .ok()
                            .and_then(|v| {
                                v.get("source").and_then(|s| s.as_str()).map(str::to_owned)
                            })
                            .unwrap_or_else(|| a.key.as_str().to_owned());
                        found.warnings.push(plugin_warning(at, a, &source));
                    }
                }
            }
            Structure::Block(b) if b.ident.as_str() == "required_components" => {
                components::collect(at, b, template_dir, found.components, found.errors)
            }
            Structure::Block(b) => found.errors.push(at.unsupported_block(b, ALLOWED)),
        }
    }
}

/// `required_version` is checked against the Packer version whose language Kiln
/// implements, as Packer checks it against its own.
fn check_required_version(at: &At<'_>, a: &Attribute, errors: &mut Vec<Diagnostic>) {
    let constraint = match eval_expr(&a.value, &Context::new()) {
        Ok(serde_json::Value::String(s)) => s,
        _ => {
            errors.push(
                at.err(a.value.span(), "Invalid version constraint")
                    .with_hint("required_version must be a literal string such as \">= 1.6.0\"."),
            );
            return;
        }
    };
    match version::satisfies(&constraint, PACKER_VERSION) {
        Ok(true) => {}
        Ok(false) => errors.push(
            at.err(a.value.span(), "Unsupported Packer Core version")
                .with_hint(format!(
                    "This configuration does not support Packer version {PACKER_VERSION}, the \
                 version of the template language Kiln implements. Update the constraint \
                 if the template does not need a newer Packer's features."
                )),
        ),
        Err(e) => errors.push(
            at.err(a.value.span(), "Invalid version constraint")
                .with_hint(format!(
                    "{e}: write terms such as \">= 1.6.0\", \"~> 1.6\" or \">= 1.5, < 2\", \
                 separated by commas."
                )),
        ),
    }
}

/// What Kiln says about a plugin a template requires: Kiln has no plugins; its builders
/// are built in and its provisioners are components.
fn plugin_warning(at: &At<'_>, attr: &Attribute, source: &str) -> Diagnostic {
    let plugin = source.rsplit('/').next().unwrap_or(source);
    let hint = match plugin {
        "docker" => "Kiln builds container images without a daemon: use `source \"container\"` \
                     (image, commit, changes, export_path, discard) in place of `source \"docker\"`."
            .to_owned(),
        _ => format!(
            "Kiln ships the container, null and file builders and the shell and file \
             provisioners; the builders and provisioners of {source} are not available, and \
             blocks that use them will be reported."
        ),
    };
    Diagnostic::warning(
        format!("Plugin \"{source}\" is not needed by Kiln"),
        Some(at.loc(attr.key.span())),
    )
    .with_hint(hint)
}

/// Evaluates `locals` in dependency order: each round evaluates what it can, until all
/// are done or a round makes no progress (then the first failure is reported).
fn resolve_locals(
    attrs: &[(At<'_>, &Attribute, String)],
    scope: &EvalScope,
    errors: &mut Vec<Diagnostic>,
) -> hcl::Map<String, hcl::Value> {
    let mut done: hcl::Map<String, hcl::Value> = hcl::Map::new();
    let mut pending: Vec<usize> = (0..attrs.len()).collect();
    let mut seen = BTreeMap::new();
    for (at, a, name) in attrs {
        let name = name.clone();
        if let Some(first) = seen.insert(name.clone(), at.loc(a.key.span())) {
            errors.push(
                at.err(a.key.span(), format!("Duplicate local \"{name}\""))
                    .with_hint(format!("The first definition is at {first}.")),
            );
        }
    }
    loop {
        let mut ctx = scope.context();
        ctx.declare_var("local", hcl::Value::Object(done.clone()));
        let mut failed = Vec::new();
        let before = pending.len();
        let waiting: Vec<&str> = pending.iter().map(|i| attrs[*i].2.as_str()).collect();
        for i in pending {
            let (_, a, name) = &attrs[i];
            // A local that uses another not yet computed waits for it, even where `try`
            // or `can` would hide the missing value.
            let text = a.value.to_string();
            if referenced_locals(&text).any(|r| r != name.as_str() && waiting.contains(&r)) {
                failed.push((i, None));
                continue;
            }
            let expr: hcl::Expression = a.value.clone().into();
            match functions::evaluate(&expr, &ctx) {
                Ok(v) => {
                    done.insert(name.clone(), v);
                }
                Err(e) => failed.push((i, Some(e))),
            }
        }
        pending = failed.iter().map(|(i, _)| *i).collect();
        if pending.is_empty() {
            return done;
        }
        if pending.len() == before {
            // What is left either refers to something that does not exist, or the
            // remaining locals refer to each other.
            let stuck: Vec<&str> = failed.iter().map(|(i, _)| attrs[*i].2.as_str()).collect();
            for (i, e) in failed {
                let (at, a, name) = &attrs[i];
                let text = a.value.to_string();
                let waits_on = referenced_locals(&text)
                    .find(|r| stuck.contains(r))
                    .map(str::to_owned);
                errors.push(match (waits_on, e) {
                    (Some(other), _) => at
                        .err(
                            a.value.span(),
                            format!("Cycle in local values: \"{name}\" needs \"{other}\""),
                        )
                        .with_hint(format!(
                            "These locals depend on each other and none can be computed first: {}.",
                            stuck.join(", ")
                        )),
                    (None, Some(e)) => values::eval_diagnostic(at.file, a.value.span(), &e),
                    (None, None) => unreachable!("a local waits only on pending locals"),
                });
            }
            return done;
        }
    }
}

/// The names `expr_text` refers to as `local.NAME` (a textual scan: enough to order
/// locals, which may only refer to one another this way).
fn referenced_locals(expr_text: &str) -> impl Iterator<Item = &str> {
    referenced(expr_text, "local.")
}

/// Whether `expr_text` refers to one of the sensitive variables `vars` or locals
/// `locals` (by name).
fn refers_to_sensitive(expr_text: &str, vars: &[String], locals: &[String]) -> bool {
    referenced(expr_text, "var.").any(|v| vars.iter().any(|s| s == v))
        || referenced(expr_text, "local.").any(|l| locals.iter().any(|s| s == l))
}

/// The names after `prefix` (`var.`, `local.`) that `expr_text` refers to.
fn referenced<'a>(expr_text: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a str> {
    expr_text.match_indices(prefix).filter_map(move |(at, _)| {
        let before = expr_text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
            return None;
        }
        let rest = &expr_text[at + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        (end > 0).then(|| &rest[..end])
    })
}

/// Evaluates a block body into a JSON object, recording where each attribute is.
/// Nested blocks become arrays of objects under the block's name.
fn eval_body(
    at: &At<'_>,
    body: &Body,
    ctx: &Context<'_>,
    skip: &[&str],
    errors: &mut Vec<Diagnostic>,
    out: &mut ConfigBlock,
) {
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => {
                let key = a.key.as_str();
                if skip.contains(&key) {
                    continue;
                }
                out.fields.insert(key.to_owned(), at.loc(a.key.span()));
                match eval_expr(&a.value, ctx) {
                    Ok(v) => {
                        out.config.insert(key.to_owned(), v);
                    }
                    Err(e) => errors.push(values::eval_diagnostic(at.file, a.value.span(), &e)),
                }
            }
            Structure::Block(b) if b.ident.as_str() == "dynamic" => {
                eval_dynamic(at, b, ctx, errors, out);
            }
            Structure::Block(b) => {
                let key = b.ident.as_str();
                if skip.contains(&key) {
                    continue;
                }
                out.fields
                    .entry(key.to_owned())
                    .or_insert_with(|| at.loc(b.ident.span()));
                let mut inner = ConfigBlock {
                    location: at.loc(b.ident.span()),
                    ..Default::default()
                };
                eval_body(at, &b.body, ctx, &[], errors, &mut inner);
                let entry = out
                    .config
                    .entry(key.to_owned())
                    .or_insert_with(|| serde_json::Value::Array(vec![]));
                if let serde_json::Value::Array(items) = entry {
                    items.push(serde_json::Value::Object(inner.config));
                }
            }
        }
    }
}

/// A `dynamic "NAME" { for_each = ..., iterator = ..., content { ... } }` block: one
/// `NAME` block per element, its content evaluated with `ITERATOR.key` and
/// `ITERATOR.value` (the iterator is named after the block unless `iterator` says).
fn eval_dynamic(
    at: &At<'_>,
    block: &Block,
    ctx: &Context<'_>,
    errors: &mut Vec<Diagnostic>,
    out: &mut ConfigBlock,
) {
    let name = match at.labels(block, &["name"]) {
        Ok(labels) => labels[0].clone(),
        Err(d) => {
            errors.push(d);
            return;
        }
    };
    let (mut for_each, mut iterator, mut content) = (None, name.clone(), None);
    for s in block.body.iter() {
        match s {
            Structure::Attribute(a) if a.key.as_str() == "for_each" => for_each = Some(a),
            Structure::Attribute(a) if a.key.as_str() == "iterator" => {
                iterator = a.value.to_string().trim().to_owned();
            }
            Structure::Attribute(a) => {
                errors.push(at.unsupported_attr(a, &["for_each", "iterator", "labels"]))
            }
            Structure::Block(b) if b.ident.as_str() == "content" => content = Some(b),
            Structure::Block(b) => errors.push(at.unsupported_block(b, &["content"])),
        }
    }
    let (Some(for_each), Some(content)) = (for_each, content) else {
        errors.push(at.err(
            block.ident.span(),
            format!("dynamic \"{name}\" needs for_each and a content block"),
        ));
        return;
    };
    let items: Vec<(hcl::Value, hcl::Value)> = match eval_expr(&for_each.value, ctx) {
        Ok(serde_json::Value::Array(list)) => list
            .into_iter()
            .enumerate()
            .map(|(i, v)| (hcl::Value::from(i as u64), json_to_hcl(v)))
            .collect(),
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| (hcl::Value::from(k), json_to_hcl(v)))
            .collect(),
        Ok(_) => {
            errors.push(at.err(
                for_each.value.span(),
                "for_each must be a list, a set or a map",
            ));
            return;
        }
        Err(e) => {
            errors.push(values::eval_diagnostic(at.file, for_each.value.span(), &e));
            return;
        }
    };
    out.fields
        .entry(name.clone())
        .or_insert_with(|| at.loc(block.ident.span()));
    for (key, value) in items {
        let mut scoped = ctx.clone();
        let mut it = hcl::Map::new();
        it.insert("key".to_owned(), key);
        it.insert("value".to_owned(), value);
        scoped.declare_var(iterator.clone(), hcl::Value::Object(it));
        let mut inner = ConfigBlock {
            location: at.loc(content.ident.span()),
            ..Default::default()
        };
        eval_body(at, &content.body, &scoped, &[], errors, &mut inner);
        let entry = out
            .config
            .entry(name.clone())
            .or_insert_with(|| serde_json::Value::Array(vec![]));
        if let serde_json::Value::Array(list) = entry {
            list.push(serde_json::Value::Object(inner.config));
        }
    }
}

fn json_to_hcl(v: serde_json::Value) -> hcl::Value {
    hcl::to_value(v).unwrap_or(hcl::Value::Null)
}

fn eval_expr(expr: &Expression, ctx: &Context<'_>) -> Result<serde_json::Value, hcl::eval::Error> {
    let e: hcl::Expression = expr.clone().into();
    functions::evaluate(&e, ctx).map(|v| to_json(&v))
}

const BUILD_ATTRS: &[&str] = &["name", "description", "sources"];
const BUILD_BLOCKS: &[&str] = &[
    "source",
    "provisioner",
    "error-cleanup-provisioner",
    "post-processor",
    "post-processors",
];
/// The only block a `post-processors {}` chain holds.
const CHAIN_BLOCKS: &[&str] = &["post-processor"];
const STEP_META: &[&str] = &[
    "name",
    "only",
    "except",
    "pause_before",
    "max_retries",
    "timeout",
    "override",
];
/// What the configuration of a provisioner leaves out: Packer's meta-arguments and
/// Kiln's `grant` and `limits`.
const STEP_SKIP: &[&str] = &[
    "name",
    "only",
    "except",
    "pause_before",
    "max_retries",
    "timeout",
    "override",
    "grant",
    "limits",
];
/// Meta-arguments of a post-processor: Packer's.
/// Meta-arguments of a post-processor: Packer's, and `timeout` (a Kiln extension: a
/// post-processor is bounded in time as a provisioner is).
const POST_PROCESSOR_META: &[&str] = &["name", "only", "except", "keep_input_artifact", "timeout"];
/// What the configuration of a post-processor leaves out: Packer's meta-arguments and
/// Kiln's `grant` and `limits`.
const POST_PROCESSOR_SKIP: &[&str] = &[
    "name",
    "only",
    "except",
    "keep_input_artifact",
    "timeout",
    "grant",
    "limits",
];

fn plan_build(
    build: &BuildDef<'_>,
    sources: &BTreeMap<(String, String), SourceDef<'_>>,
    base: &Context<'_>,
    root: &GrantRoot,
    out: &mut Vec<BuildPlan>,
    errors: &mut Vec<Diagnostic>,
) {
    let at = &build.at;
    let mut build_name: Option<String> = None;
    // (reference, override block, location)
    let mut refs: Vec<(String, Option<&Block>, Location)> = Vec::new();
    let mut provisioners: Vec<&Block> = Vec::new();
    let mut error_cleanup: Option<&Block> = None;
    // Post-processor chains as written: a `post-processor` is a chain of one.
    let mut chains: Vec<Vec<&Block>> = Vec::new();
    for s in build.block.body.iter() {
        match s {
            Structure::Attribute(a) => match a.key.as_str() {
                "name" => match eval_expr(&a.value, base) {
                    Ok(serde_json::Value::String(n)) => build_name = Some(n),
                    Ok(_) => errors.push(at.err(a.value.span(), "build name must be a string")),
                    Err(e) => errors.push(at.err(a.value.span(), e.to_string())),
                },
                "description" => {}
                "sources" => match eval_expr(&a.value, base) {
                    Ok(serde_json::Value::Array(items)) => {
                        for item in items {
                            match item {
                                serde_json::Value::String(r) => {
                                    refs.push((r, None, at.loc(a.value.span())))
                                }
                                _ => errors.push(
                                    at.err(a.value.span(), "sources must be a list of strings"),
                                ),
                            }
                        }
                    }
                    Ok(_) => {
                        errors.push(at.err(a.value.span(), "sources must be a list of strings"))
                    }
                    Err(e) => errors.push(at.err(a.value.span(), e.to_string())),
                },
                _ => errors.push(at.unsupported_key(a, BUILD_ATTRS, BUILD_BLOCKS)),
            },
            Structure::Block(b) => match b.ident.as_str() {
                "source" => match at.labels(b, &["reference"]) {
                    Ok(l) => refs.push((l[0].clone(), Some(b), at.loc(b.labels[0].span()))),
                    Err(d) => errors.push(d),
                },
                "provisioner" => match at.labels(b, &["type"]) {
                    Ok(_) => provisioners.push(b),
                    Err(d) => errors.push(d),
                },
                "error-cleanup-provisioner" => match at.labels(b, &["type"]) {
                    Ok(_) => {
                        if error_cleanup.replace(b).is_some() {
                            errors.push(at.err(
                                b.ident.span(),
                                "only one error-cleanup-provisioner is allowed per build",
                            ));
                        }
                    }
                    Err(d) => errors.push(d),
                },
                "post-processor" => match at.labels(b, &["type"]) {
                    Ok(_) => chains.push(vec![b]),
                    Err(d) => errors.push(d),
                },
                "post-processors" => {
                    if let Err(d) = at.labels(b, &[]) {
                        errors.push(d);
                    }
                    chains.push(chain_blocks(at, b, errors));
                }
                _ => errors.push(at.unsupported_block(b, BUILD_BLOCKS)),
            },
        }
    }
    if refs.is_empty() {
        errors.push(
            at.err(build.block.ident.span(), "build has no sources")
                .with_hint("Add `sources = [\"source.TYPE.NAME\"]` to the build block."),
        );
    }
    let independent: Vec<bool> = provisioners
        .iter()
        .map(|p| {
            let text = p.body.to_string();
            !text.contains("source.")
                && !text.contains("build.")
                && p.body.get_attribute("only").is_none()
                && p.body.get_attribute("except").is_none()
                && p.body.get_attribute("override").is_none()
        })
        .collect();
    let mut shared: Vec<Option<Option<StepPlan>>> = vec![None; provisioners.len()];
    for (reference, override_block, loc) in refs {
        let key = reference.strip_prefix("source.").unwrap_or(&reference);
        let Some((ty, name)) = key.split_once('.') else {
            errors.push(Diagnostic::error(
                format!("invalid source reference {reference:?}; expected \"source.TYPE.NAME\""),
                Some(loc),
            ));
            continue;
        };
        let Some(def) = sources.get(&(ty.to_owned(), name.to_owned())) else {
            let known: Vec<String> = sources
                .keys()
                .map(|(t, n)| format!("source.{t}.{n}"))
                .collect();
            let mut d = Diagnostic::error(format!("Unknown source {reference:?}"), Some(loc));
            if let Some(s) =
                did_you_mean(&format!("source.{key}"), known.iter().map(String::as_str))
            {
                d = d.with_hint(format!("Did you mean \"{s}\"?"));
            }
            errors.push(d);
            continue;
        };
        let mut source_name = name.to_owned();
        let mut source = ConfigBlock {
            location: def.at.loc(def.block.ident.span()),
            ..Default::default()
        };
        let mut ctx = base.clone();
        eval_body(&def.at, &def.block.body, &ctx, &[], errors, &mut source);
        if let Some(ob) = override_block {
            let mut over = ConfigBlock::default();
            if let Some(a) = ob.body.get_attribute("name") {
                match eval_expr(&a.value, &ctx) {
                    Ok(serde_json::Value::String(n)) => source_name = n,
                    _ => errors.push(at.err(a.value.span(), "source name must be a string")),
                }
            }
            eval_body(at, &ob.body, &ctx, &["name"], errors, &mut over);
            source.config.extend(over.config);
            source.fields.extend(over.fields);
        }
        let full_name = match &build_name {
            Some(b) => format!("{b}.{ty}.{source_name}"),
            None => format!("{ty}.{source_name}"),
        };
        let mut source_obj = hcl::Map::new();
        source_obj.insert("name".to_owned(), hcl::Value::from(source_name.clone()));
        source_obj.insert("type".to_owned(), hcl::Value::from(ty.to_owned()));
        ctx.declare_var("source", hcl::Value::Object(source_obj));
        let mut build_obj = hcl::Map::new();
        build_obj.insert(
            "name".to_owned(),
            hcl::Value::from(build_name.clone().unwrap_or_default()),
        );
        build_obj.insert("ID".to_owned(), hcl::Value::from(full_name.clone()));
        for value in kiln_core::plan::BuildValue::ALL {
            build_obj.insert(
                value.name().to_owned(),
                hcl::Value::from(deferred::marker(value)),
            );
        }
        ctx.declare_var("build", hcl::Value::Object(build_obj));

        let mut steps = Vec::new();
        for (i, p) in provisioners.iter().enumerate() {
            // A provisioner that depends on nothing per source is evaluated once for
            // all of them (large templates repeat many steps over many sources).
            let step = match &shared[i] {
                Some(cached) => cached.clone(),
                None => {
                    let step = plan_step(at, p, &ctx, root, ty, &source_name, errors);
                    if independent[i] {
                        shared[i] = Some(step.clone());
                    }
                    step
                }
            };
            steps.extend(step);
        }
        let error_cleanup =
            error_cleanup.and_then(|b| plan_step(at, b, &ctx, root, ty, &source_name, errors));
        let mut post_processors = Vec::new();
        for chain in &chains {
            let planned: Vec<PostProcessorPlan> = chain
                .iter()
                .filter_map(|b| plan_post_processor(at, b, &ctx, root, ty, &source_name, errors))
                .collect();
            if !planned.is_empty() {
                post_processors.push(planned);
            }
        }
        out.push(BuildPlan {
            name: full_name,
            source_type: ty.to_owned(),
            source_name,
            source,
            provisioners: steps,
            error_cleanup,
            post_processors,
        });
    }
}

/// The `post-processor` blocks of a `post-processors {}` chain; anything else in it is
/// reported where it is.
fn chain_blocks<'b>(at: &At<'_>, chain: &'b Block, errors: &mut Vec<Diagnostic>) -> Vec<&'b Block> {
    let mut blocks = Vec::new();
    for s in chain.body.iter() {
        match s {
            Structure::Block(b) if b.ident.as_str() == "post-processor" => {
                match at.labels(b, &["type"]) {
                    Ok(_) => blocks.push(b),
                    Err(d) => errors.push(d),
                }
            }
            Structure::Block(b) => errors.push(at.unsupported_block(b, CHAIN_BLOCKS)),
            Structure::Attribute(a) => errors.push(at.unsupported_key(a, &[], CHAIN_BLOCKS)),
        }
    }
    blocks
}

/// Whether a step whose `only` or `except` (`key`) lists the source names `value` runs
/// for source `TYPE.NAME`; `None` when `value` is not a list. Names are written
/// `TYPE.NAME`, with or without a leading `source.`.
fn selected(
    key: &str,
    value: &serde_json::Value,
    source_type: &str,
    source_name: &str,
) -> Option<bool> {
    let list = value.as_array()?;
    let me = format!("{source_type}.{source_name}");
    let hit = list
        .iter()
        .filter_map(|v| v.as_str())
        .any(|n| n.strip_prefix("source.").unwrap_or(n) == me);
    Some(if key == "only" { hit } else { !hit })
}

/// A boolean as HCL converts one: `true`, `false`, or the strings "true" and "false".
fn as_bool(value: &serde_json::Value) -> Option<bool> {
    match value {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::String(s) if s == "true" => Some(true),
        serde_json::Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// One post-processor of a chain, for one source: `None` when `only` / `except` leave
/// it out.
fn plan_post_processor(
    at: &At<'_>,
    block: &Block,
    ctx: &Context<'_>,
    root: &GrantRoot,
    source_type: &str,
    source_name: &str,
    all_errors: &mut Vec<Diagnostic>,
) -> Option<PostProcessorPlan> {
    // A post-processor is planned once per source: its problems are reported once.
    let mut errors = Vec::new();
    let planned =
        plan_post_processor_once(at, block, ctx, root, source_type, source_name, &mut errors);
    for d in errors {
        if !all_errors.contains(&d) {
            all_errors.push(d);
        }
    }
    planned
}

fn plan_post_processor_once(
    at: &At<'_>,
    block: &Block,
    ctx: &Context<'_>,
    root: &GrantRoot,
    source_type: &str,
    source_name: &str,
    errors: &mut Vec<Diagnostic>,
) -> Option<PostProcessorPlan> {
    let mut config = ConfigBlock {
        location: at.loc(block.labels[0].span()),
        ..Default::default()
    };
    let mut pp = PostProcessorPlan {
        kind: block.labels[0].as_str().to_owned(),
        name: None,
        block: Default::default(),
        keep_input_artifact: None,
        timeout: None,
        grant: Default::default(),
        limits: Default::default(),
    };
    let (name, included) = step_meta(
        at,
        block,
        ctx,
        POST_PROCESSOR_META,
        (source_type, source_name),
        errors,
        |key, value| match key {
            "keep_input_artifact" => {
                pp.keep_input_artifact = Some(as_bool(&value).ok_or("true or false")?);
                Ok(())
            }
            "timeout" => {
                pp.timeout = Some(meta_duration(&value)?);
                Ok(())
            }
            _ => Ok(()),
        },
    );
    pp.name = name;
    (pp.grant, pp.limits) = step_grants(at, &block.body, ctx, root, errors);
    eval_body(
        at,
        &block.body,
        ctx,
        POST_PROCESSOR_SKIP,
        errors,
        &mut config,
    );
    deferred::extract(&mut config, errors);
    pp.block = std::sync::Arc::new(config);
    included.then_some(pp)
}

/// A duration meta-argument (`timeout`, `pause_before`): Packer's duration string, or a
/// number of seconds.
fn meta_duration(value: &serde_json::Value) -> Result<std::time::Duration, &'static str> {
    const WHAT: &str = "a duration such as \"30s\" or \"5m\"";
    match value {
        serde_json::Value::String(s) => kiln_core::config::parse_duration(s).map_err(|_| WHAT),
        serde_json::Value::Number(n) => n
            .as_f64()
            .and_then(|f| kiln_core::config::duration_from_secs(f).ok())
            .ok_or(WHAT),
        _ => Err(WHAT),
    }
}

/// Evaluates the meta-arguments `keys` of a step block (a provisioner or a
/// post-processor). `name`, `only` and `except` are handled here; every other key's
/// value goes to `other`, whose `Err(what)` is reported as "`key` must be WHAT" at the
/// value. Returns the step's name and whether it runs for `source` (type, name).
fn step_meta(
    at: &At<'_>,
    block: &Block,
    ctx: &Context<'_>,
    keys: &[&str],
    source: (&str, &str),
    errors: &mut Vec<Diagnostic>,
    mut other: impl FnMut(&str, serde_json::Value) -> Result<(), &'static str>,
) -> (Option<String>, bool) {
    let (mut name, mut included) = (None, true);
    for a in block.body.attributes() {
        let key = a.key.as_str();
        if !keys.contains(&key) {
            continue;
        }
        let value = match eval_expr(&a.value, ctx) {
            Ok(v) => v,
            Err(e) => {
                errors.push(values::eval_diagnostic(at.file, a.value.span(), &e));
                continue;
            }
        };
        let result = match key {
            "name" => match value {
                serde_json::Value::String(s) => {
                    name = Some(s);
                    Ok(())
                }
                _ => Err("a string"),
            },
            "only" | "except" => match selected(key, &value, source.0, source.1) {
                Some(runs) => {
                    included &= runs;
                    Ok(())
                }
                None => Err("a list of source names"),
            },
            _ => other(key, value),
        };
        if let Err(what) = result {
            errors.push(at.err(a.value.span(), format!("`{key}` must be {what}")));
        }
    }
    (name, included)
}

/// The template's directory, absolute: relative paths in a `grant` are taken from it,
/// and `path.root` is it there (so that `"${path.root}/files"` means the same as
/// `"files"` wherever Kiln runs from). `cwd` is `path.cwd`.
struct GrantRoot {
    dir: PathBuf,
    cwd: String,
}

/// Kiln's `grant` and `limits` of a step, each a block (`grant { ... }`) or an
/// object-valued attribute (`grant = { ... }`, the form HCL2's JSON syntax gives),
/// evaluated in the step's context. Each problem is reported where it is written.
fn step_grants(
    at: &At<'_>,
    body: &Body,
    ctx: &Context<'_>,
    root: &GrantRoot,
    errors: &mut Vec<Diagnostic>,
) -> (kiln_core::Grant, kiln_core::Limits) {
    let mut grant = kiln_core::Grant::default();
    let mut limits = kiln_core::Limits::default();
    let is_grant = |s: &&Structure| match s {
        Structure::Attribute(a) => grants::Section::named(a.key.as_str()).is_some(),
        Structure::Block(b) => grants::Section::named(b.ident.as_str()).is_some(),
    };
    let scoped;
    let ctx = if body.iter().filter(is_grant).any(|s| match s {
        Structure::Attribute(a) => a.value.to_string().contains("path."),
        Structure::Block(b) => b.body.to_string().contains("path."),
    }) {
        let mut path = hcl::Map::new();
        path.insert(
            "root".to_owned(),
            hcl::Value::from(root.dir.display().to_string()),
        );
        path.insert("cwd".to_owned(), hcl::Value::from(root.cwd.clone()));
        let mut c = ctx.clone();
        c.declare_var("path", hcl::Value::Object(path));
        scoped = c;
        &scoped
    } else {
        ctx
    };
    let mut entry = |section, key: &str, key_span, value: &Expression, v, errors: &mut Vec<_>| {
        if let Err(e) = grants::apply(section, key, &v, &root.dir, &mut grant, &mut limits) {
            push_once(errors, entry_error(at, e, key_span, value));
        }
    };
    let mut seen: Vec<(grants::Section, Location)> = Vec::new();
    for s in body.iter() {
        let (name, span) = match s {
            Structure::Attribute(a) => (a.key.as_str(), a.key.span()),
            Structure::Block(b) => (b.ident.as_str(), b.ident.span()),
        };
        let Some(section) = grants::Section::named(name) else {
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(s, _)| *s == section) {
            let (summary, hint) = section.duplicate(first);
            push_once(errors, at.err(span, summary).with_hint(hint));
            continue;
        }
        seen.push((section, at.loc(span)));
        match s {
            Structure::Block(b) => {
                if let Err(d) = at.labels(b, &[]) {
                    push_once(errors, d);
                }
                for inner in b.body.iter() {
                    match inner {
                        Structure::Attribute(a) => match eval_expr(&a.value, ctx) {
                            Ok(v) => {
                                entry(section, a.key.as_str(), a.key.span(), &a.value, v, errors)
                            }
                            Err(e) => push_once(
                                errors,
                                values::eval_diagnostic(at.file, a.value.span(), &e),
                            ),
                        },
                        Structure::Block(b) => push_once(errors, at.unsupported_block(b, &[])),
                    }
                }
            }
            Structure::Attribute(a) => match eval_expr(&a.value, ctx) {
                Ok(serde_json::Value::Object(mut map)) => {
                    // In the order written, where the keys can be seen.
                    let mut keys: Vec<String> = match &a.value {
                        Expression::Object(obj) => {
                            obj.iter().filter_map(|(k, _)| object_key(k)).collect()
                        }
                        _ => vec![],
                    };
                    keys.retain(|k| map.contains_key(k));
                    keys.extend(
                        map.keys()
                            .filter(|k| !keys.contains(k))
                            .cloned()
                            .collect::<Vec<_>>(),
                    );
                    for key in keys {
                        let Some(v) = map.remove(&key) else {
                            continue;
                        };
                        let (key_span, value) =
                            object_entry(&a.value, &key).unwrap_or((a.value.span(), &a.value));
                        entry(section, &key, key_span, value, v, errors);
                    }
                }
                Ok(_) => push_once(errors, at.err(a.value.span(), section.not_an_object(false))),
                Err(e) => push_once(errors, values::eval_diagnostic(at.file, a.value.span(), &e)),
            },
        }
    }
    (grant, limits)
}

/// Adds `d` to `errors` unless it is there already (a step planned for several sources
/// finds the same problems in each).
fn push_once(errors: &mut Vec<Diagnostic>, d: Diagnostic) {
    if !errors.contains(&d) {
        errors.push(d);
    }
}

/// The diagnostic for a bad entry of a `grant` or `limits`: an unknown key where the
/// key is, a bad value where the value (or the element of the list to blame) is.
fn entry_error(
    at: &At<'_>,
    e: grants::EntryError,
    key_span: MaybeSpan,
    value: &Expression,
) -> Diagnostic {
    match e {
        grants::EntryError::UnknownKey(summary, hint) => at.err(key_span, summary).with_hint(hint),
        grants::EntryError::Value(message, item) => {
            let span = match (value, item) {
                (Expression::Array(list), Some(i)) => list.get(i).and_then(|e| e.span()),
                _ => None,
            };
            at.err(span.or_else(|| value.span()), message)
        }
    }
}

/// A place in the file, if known.
type MaybeSpan = Option<std::ops::Range<usize>>;

/// Where the key `key` of the object expression `expr` is written, and its value.
fn object_entry<'e>(expr: &'e Expression, key: &str) -> Option<(MaybeSpan, &'e Expression)> {
    let Expression::Object(obj) = expr else {
        return None;
    };
    obj.iter()
        .find(|(k, _)| object_key(k).is_some_and(|name| name == key))
        .map(|(k, v)| (k.span(), v.expr()))
}

/// The name an object key is written as, when it is a name or a literal string.
fn object_key(key: &hcl::edit::expr::ObjectKey) -> Option<String> {
    match key {
        hcl::edit::expr::ObjectKey::Ident(i) => Some(i.value().as_str().to_owned()),
        hcl::edit::expr::ObjectKey::Expression(Expression::String(s)) => Some(s.value().clone()),
        _ => None,
    }
}

fn plan_step(
    at: &At<'_>,
    block: &Block,
    ctx: &Context<'_>,
    root: &GrantRoot,
    source_type: &str,
    source_name: &str,
    errors: &mut Vec<Diagnostic>,
) -> Option<StepPlan> {
    let kind = block.labels[0].as_str().to_owned();
    let mut config = ConfigBlock {
        location: at.loc(block.labels[0].span()),
        ..Default::default()
    };
    let mut step = StepPlan {
        kind,
        name: None,
        block: Default::default(),
        pause_before: None,
        max_retries: 0,
        timeout: None,
        grant: Default::default(),
        limits: Default::default(),
    };
    let (name, included) = step_meta(
        at,
        block,
        ctx,
        STEP_META,
        (source_type, source_name),
        errors,
        |key, value| match key {
            "pause_before" | "timeout" => {
                let d = meta_duration(&value)?;
                if key == "timeout" {
                    step.timeout = Some(d);
                } else {
                    step.pause_before = Some(d);
                }
                Ok(())
            }
            "max_retries" => {
                let n = value.as_u64().ok_or("a whole number")?;
                step.max_retries = u32::try_from(n).unwrap_or(u32::MAX);
                Ok(())
            }
            _ => Ok(()),
        },
    );
    step.name = name;
    (step.grant, step.limits) = step_grants(at, &block.body, ctx, root, errors);
    eval_body(at, &block.body, ctx, STEP_SKIP, errors, &mut config);
    deferred::extract(&mut config, errors);
    // `override = { "TYPE.NAME" = { ... } }` (or keyed by the source name or type):
    // attributes that replace the step's own for that source.
    if let Some(a) = block.body.get_attribute("override") {
        match eval_expr(&a.value, ctx) {
            Ok(serde_json::Value::Object(by_source)) => {
                let keys = [
                    format!("{source_type}.{source_name}"),
                    source_name.to_owned(),
                    source_type.to_owned(),
                ];
                if let Some(serde_json::Value::Object(attrs)) =
                    keys.iter().find_map(|k| by_source.get(k))
                {
                    for (k, v) in attrs {
                        config.config.insert(k.clone(), v.clone());
                        config
                            .fields
                            .entry(k.clone())
                            .or_insert_with(|| at.loc(a.key.span()));
                    }
                }
            }
            Ok(_) => errors.push(at.err(
                a.value.span(),
                "`override` must be an object keyed by source, such as { \"null.web\" = { ... } }",
            )),
            Err(e) => errors.push(values::eval_diagnostic(at.file, a.value.span(), &e)),
        }
    }
    step.block = std::sync::Arc::new(config);
    included.then_some(step)
}
