//! The HCL2 front end: a template's files read into blocks, its `packer`, `variable`,
//! `locals`, `source`, `data` and `build` blocks checked, and its builds planned
//! ([`plan`], [`steps`]) with expressions evaluated ([`eval`], [`locals`]).

mod eval;
mod locals;
mod plan;
mod steps;

pub(crate) use eval::*;
pub(crate) use locals::*;
pub(crate) use plan::*;
pub(crate) use steps::*;

use super::*;

/// Top-level blocks Kiln understands.
pub(crate) const TOP_LEVEL: &[&str] = &[
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
pub(crate) struct At<'a> {
    pub(crate) file: &'a SourceFile,
}

impl At<'_> {
    pub(crate) fn loc(&self, span: Option<std::ops::Range<usize>>) -> Location {
        self.file.location(span)
    }

    pub(crate) fn err(
        &self,
        span: Option<std::ops::Range<usize>>,
        summary: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::error(summary, Some(self.loc(span)))
    }

    pub(crate) fn warning(
        &self,
        span: Option<std::ops::Range<usize>>,
        summary: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::warning(summary, Some(self.loc(span)))
    }

    pub(crate) fn unsupported_attr(&self, attr: &Attribute, allowed: &[&str]) -> Diagnostic {
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
    pub(crate) fn unsupported_key(
        &self,
        attr: &Attribute,
        attrs: &[&str],
        blocks: &[&str],
    ) -> Diagnostic {
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

    pub(crate) fn unsupported_block(&self, block: &Block, allowed: &[&str]) -> Diagnostic {
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

    pub(crate) fn labels(&self, block: &Block, want: &[&str]) -> Result<Vec<String>, Diagnostic> {
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

pub(crate) struct SourceDef<'a> {
    pub(crate) at: At<'a>,
    pub(crate) block: &'a Block,
}

pub(crate) struct BuildDef<'a> {
    pub(crate) at: At<'a>,
    pub(crate) block: &'a Block,
}

pub(crate) fn load_files(
    files: &[SourceFile],
    auto_var_paths: &[PathBuf],
    template_dir: PathBuf,
    opts: &LoadOptions,
) -> Result<Loaded, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut sensitive_locals = Vec::new();

    tracing::debug!(files = files.len(), "template parsed");
    // Pass 1: collect the top-level blocks.
    let mut var_blocks = Vec::new();
    let mut local_attrs: Vec<(At<'_>, &Attribute, String)> = Vec::new();
    let mut sources: BTreeMap<(String, String), SourceDef<'_>> = BTreeMap::new();
    let mut builds = Vec::new();
    let mut data_defs = Vec::new();
    let mut components = Vec::new();
    let mut plugins = Vec::new();
    let mut plugin_names = BTreeMap::new();
    let mut unknown_data = Vec::new();
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
                            components: &mut components,
                            plugins: &mut plugins,
                            plugin_names: &mut plugin_names,
                        };
                        check_packer_block(&at(), block, &template_dir, &mut found)
                    }
                    "data" => {
                        data_defs.extend(data::collect(at(), block, &mut errors, &mut unknown_data))
                    }
                    _ => errors.push(at().unsupported_block(block, TOP_LEVEL)),
                },
            }
        }
    }

    let unknown_data = data::unknown_types(&unknown_data);

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
        scope.data = data::resolve(&data_defs, &scope, opts.defer_remote_data, &mut errors);
    }
    // Values read from data sources Kiln does not run are unknown: what uses them is
    // not evaluated, so that the one error about those types stands alone.
    if let Some(d) = unknown_data {
        errors.insert(0, d);
        return Err(without_follow_ups(errors, &vars.without_value));
    }
    let locals = resolve_locals(&local_attrs, &scope, &mut errors);
    if !errors.is_empty() {
        return Err(without_follow_ups(errors, &vars.without_value));
    }

    // Builds.
    let mut base = scope.context();
    base.declare_var("local", hcl::Value::Object(locals.clone()));
    tracing::debug!("variables and locals evaluated");
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
        let items = build_items(&build.at, &build.block.body, &base, &mut errors);
        for registry in build.block.body.get_blocks("hcp_packer_registry") {
            warnings.push(
                build
                    .at
                    .warning(
                        registry.ident.span(),
                        "hcp_packer_registry is not used by Kiln",
                    )
                    .with_hint(
                        "Kiln does not publish build metadata to HCP Packer; the block is \
                         ignored and the build runs as without it.",
                    ),
            );
        }
        plan_build(
            build,
            &items,
            &sources,
            &base,
            &root,
            &mut plan_builds,
            &mut errors,
        );
        summaries.push(summarize(&items, &base, &plan_builds[first..]));
    }
    if !errors.is_empty() {
        return Err(without_follow_ups(errors, &vars.without_value));
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
            plugins,
        },
        warnings,
        inspection,
        console: Some(console),
    })
}

/// `errors` without "Reference to undeclared input variable" for the declared variables
/// `without_value`: those are reported once, where they are declared.
fn without_follow_ups(mut errors: Vec<Diagnostic>, without_value: &[String]) -> Vec<Diagnostic> {
    errors.retain(|d| {
        !without_value
            .iter()
            .any(|name| d.summary == format!("Reference to undeclared input variable \"{name}\""))
    });
    errors
}

/// The `kiln inspect` view of one build block: its name, the sources it references
/// (as written, before any per-build renaming), every provisioner block and every
/// post-processor chain (before `only` / `except`), as Packer lists them.
pub(crate) fn summarize(
    items: &[BuildItem<'_>],
    ctx: &Context<'_>,
    made: &[BuildPlan],
) -> inspect::BuildSummary {
    let name = made.first().and_then(|b| {
        b.name
            .strip_suffix(&format!("{}.{}", b.source_type, b.source_name))
            .and_then(|prefix| prefix.strip_suffix('.'))
            .map(str::to_owned)
    });
    let mut sources = Vec::new();
    let mut provisioners = Vec::new();
    let mut post_processors = Vec::new();
    for item in items {
        match item {
            BuildItem::Attribute(a) if a.key.as_str() == "sources" => {
                if let Ok(serde_json::Value::Array(items)) = eval_expr(&a.value, ctx) {
                    sources.extend(items.iter().filter_map(|i| i.as_str()).map(str::to_owned));
                }
            }
            BuildItem::Attribute(_) => {}
            BuildItem::Block(bb) => {
                let b: &Block = &bb.block;
                match b.ident.as_str() {
                    "source" => sources.extend(b.labels.first().map(|l| l.as_str().to_owned())),
                    "provisioner" => {
                        provisioners.extend(b.labels.first().map(|l| l.as_str().to_owned()))
                    }
                    "post-processor" => post_processors.push(
                        post_processor_title(b, &bb.context(ctx))
                            .into_iter()
                            .collect(),
                    ),
                    "post-processors" => post_processors.push(
                        b.body
                            .get_blocks("post-processor")
                            .filter_map(|p| post_processor_title(p, ctx))
                            .collect(),
                    ),
                    _ => {}
                }
            }
        }
    }
    let sources = sources
        .into_iter()
        .map(|s| match s.split('.').collect::<Vec<_>>()[..] {
            [_, ty, name] => format!("{ty}.{name}"),
            _ => s,
        })
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
pub(crate) fn post_processor_title(block: &Block, ctx: &Context<'_>) -> Option<String> {
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
pub(crate) struct Found<'a> {
    pub(crate) errors: &'a mut Vec<Diagnostic>,
    pub(crate) components: &'a mut Vec<kiln_core::plan::RequiredComponent>,
    pub(crate) plugins: &'a mut Vec<kiln_core::plan::RequiredPlugin>,
    /// The names `required_plugins` gave so far, and where.
    pub(crate) plugin_names: &'a mut BTreeMap<String, Location>,
}

pub(crate) fn check_packer_block(
    at: &At<'_>,
    block: &Block,
    template_dir: &Path,
    found: &mut Found<'_>,
) {
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
                        let name = a.key.as_str();
                        if let Some(first) = found.plugin_names.get(name) {
                            // Packer refuses a plugin named twice, in any of the files.
                            found.errors.push(
                                at.err(
                                    a.key.span(),
                                    format!("Duplicate required_plugins entry \"{name}\""),
                                )
                                .with_hint(format!("\"{name}\" is first required at {first}.")),
                            );
                            continue;
                        }
                        found
                            .plugin_names
                            .insert(name.to_owned(), at.loc(a.key.span()));
                        found.plugins.push(kiln_core::plan::RequiredPlugin {
                            source,
                            location: at.loc(a.key.span()),
                        });
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
pub(crate) fn check_required_version(at: &At<'_>, a: &Attribute, errors: &mut Vec<Diagnostic>) {
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
