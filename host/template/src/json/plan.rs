//! A JSON template's builds: each builder with the provisioners that apply to it, every
//! string interpolated as Packer interpolates it for that build.

use std::collections::BTreeMap;

use kiln_core::plan::{BuildPlan, ConfigBlock, PostProcessorPlan, StepPlan};
use kiln_core::{Diagnostic, Grant, Limits};

use super::interpolate::{self, EvalError, Scope, UserVars};
use super::reader::{Member, Node, Value};
use super::source::JsonFile;
use super::template::{Builder, JsonTemplate, PostProcessor, Provisioner, PACKER_VERSION};

/// User variables outside the `variables` section: unknown names read as empty
/// strings, as in Packer; each is remembered for a warning.
struct Known<'a> {
    values: &'a BTreeMap<String, String>,
    missing: Vec<String>,
}

impl UserVars for Known<'_> {
    fn user(&mut self, name: &str) -> Result<String, EvalError> {
        match self.values.get(name) {
            Some(v) => Ok(v.clone()),
            None => {
                self.missing.push(name.to_owned());
                Ok(String::new())
            }
        }
    }
}

/// Interpolates strings of a JSON template with one scope.
pub struct Interpolator<'a> {
    /// The file the strings are in.
    pub file: &'a JsonFile,
    /// What the strings can see.
    pub scope: Scope<'a>,
    /// User variable values.
    pub vars: &'a BTreeMap<String, String>,
}

impl Interpolator<'_> {
    /// The interpolated text of string `node` with value `text`.
    pub fn string(
        &self,
        text: &str,
        node: &Node,
        errors: &mut Vec<Diagnostic>,
        warnings: &mut Vec<Diagnostic>,
    ) -> Option<String> {
        let tpl = match interpolate::parse(text) {
            Ok(t) => t,
            Err(e) => {
                let d = self.file.error(
                    node.span.clone(),
                    format!("invalid template: {}", e.message),
                );
                errors.push(match e.hint {
                    Some(h) => d.with_hint(h),
                    None => d,
                });
                return None;
            }
        };
        if tpl.is_literal() {
            return Some(text.to_owned());
        }
        let mut known = Known {
            values: self.vars,
            missing: vec![],
        };
        let out = interpolate::render(&tpl, &self.scope, &mut known);
        for name in known.missing {
            let d = self
                .file
                .warning(node.span.clone(), format!("Undefined variable \"{name}\""))
                .with_hint(format!(
                    "{{{{user `{name}`}}}} reads a variable the template does not declare; \
                     it is an empty string."
                ));
            if !warnings.contains(&d) {
                warnings.push(d);
            }
        }
        match out {
            Ok(s) => Some(s),
            Err(e) => {
                errors.push(
                    self.file
                        .error(node.span.clone(), format!("error interpolating: {e}")),
                );
                None
            }
        }
    }

    /// `node` as JSON with every string in it interpolated; keys stay as written.
    pub fn value(
        &self,
        node: &Node,
        errors: &mut Vec<Diagnostic>,
        warnings: &mut Vec<Diagnostic>,
    ) -> serde_json::Value {
        match &node.value {
            Value::String(s) => self
                .string(s, node, errors, warnings)
                .map_or(serde_json::Value::Null, serde_json::Value::String),
            Value::Array(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(|n| self.value(n, errors, warnings))
                    .collect(),
            ),
            Value::Object(members) => serde_json::Value::Object(
                members
                    .iter()
                    .map(|m| (m.key.clone(), self.value(&m.value, errors, warnings)))
                    .collect(),
            ),
            _ => node.to_json(),
        }
    }

    /// A configuration block from `members`, with each attribute's location.
    fn config(
        &self,
        members: &[&Member],
        out: &mut ConfigBlock,
        errors: &mut Vec<Diagnostic>,
        warnings: &mut Vec<Diagnostic>,
    ) {
        for m in members {
            let v = self.value(&m.value, errors, warnings);
            out.config.insert(m.key.clone(), v);
            std::sync::Arc::make_mut(&mut out.fields)
                .insert(m.key.clone(), self.file.loc(m.key_span.clone()));
        }
    }
}

/// What every build's scope shares.
pub struct Common<'a> {
    /// The template.
    pub file: &'a JsonFile,
    /// `{{template_dir}}`
    pub template_dir: &'a str,
    /// `{{pwd}}`
    pub pwd: &'a str,
    /// The load's clock.
    pub clock: interpolate::Clock,
    /// User variables.
    pub vars: &'a BTreeMap<String, String>,
}

impl<'a> Common<'a> {
    /// Where Packer's core interpolates (build names, `max_retries`): user variables
    /// only, no build.
    fn core(&self) -> Interpolator<'a> {
        Interpolator {
            file: self.file,
            scope: Scope {
                env: None,
                build: None,
                template_dir: self.template_dir,
                pwd: self.pwd,
                packer_version: None,
                clock: self.clock,
            },
            vars: self.vars,
        }
    }
}

/// The builds of `t`, in builder order.
pub fn builds(
    common: &Common<'_>,
    t: &JsonTemplate<'_>,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> Vec<BuildPlan> {
    let file = common.file;
    let core = common.core();
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, &Builder<'_>> = BTreeMap::new();
    for b in &t.builders {
        let name_node = Node {
            value: Value::String(b.name.clone()),
            span: b.name_span.clone(),
        };
        let Some(name) = core.string(&b.name, &name_node, errors, warnings) else {
            continue;
        };
        if let Some(first) = seen.insert(name.clone(), b) {
            errors.push(
                file.error(
                    b.name_span.clone(),
                    format!(
                        "builders \"{}\" and \"{}\" both have the name \"{name}\"",
                        first.name, b.name
                    ),
                )
                .with_hint("Build names must stay distinct after interpolation."),
            );
            continue;
        }
        let build = Interpolator {
            file,
            scope: Scope {
                build: Some((&name, &b.ty)),
                packer_version: Some(PACKER_VERSION),
                ..core.scope.clone()
            },
            vars: common.vars,
        };
        let mut source = ConfigBlock {
            location: file.loc(b.type_span.clone()),
            ..Default::default()
        };
        build.config(&b.config, &mut source, errors, warnings);
        let steps = t
            .provisioners
            .iter()
            .filter(|p| p.applies_to(&b.name))
            .filter_map(|p| step(&build, &core, p, &b.name, errors, warnings))
            .map(std::sync::Arc::new)
            .collect();
        let error_cleanup = t
            .cleanup
            .as_ref()
            .and_then(|p| step(&build, &core, p, &b.name, errors, warnings))
            .map(std::sync::Arc::new);
        let post_processors = t
            .post_processors
            .iter()
            .map(|chain| {
                chain
                    .iter()
                    .filter(|p| p.applies_to(&b.name))
                    .map(|p| post_processor(&build, p, errors, warnings))
                    .collect::<Vec<_>>()
            })
            .filter(|chain| !chain.is_empty())
            .collect();
        out.push(BuildPlan {
            name: name.clone(),
            source_type: b.ty.clone(),
            source_name: name,
            source,
            provisioners: steps,
            error_cleanup,
            post_processors,
        });
    }
    out
}

fn step(
    build: &Interpolator<'_>,
    core: &Interpolator<'_>,
    p: &Provisioner<'_>,
    raw_name: &str,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> Option<StepPlan> {
    let file = build.file;
    let mut block = ConfigBlock {
        location: file.loc(p.type_span.clone()),
        ..Default::default()
    };
    build.config(&p.config, &mut block, errors, warnings);
    if let Some(o) = p.override_for(raw_name) {
        match o.value.members() {
            Some(members) => {
                let members: Vec<&Member> = members.iter().collect();
                build.config(&members, &mut block, errors, warnings);
            }
            None => errors.push(file.error(
                o.value.span.clone(),
                format!(
                    "the override for \"{raw_name}\" must be an object of attributes, not {}",
                    super::template::article(o.value.kind())
                ),
            )),
        }
    }
    let mut max_retries = 0;
    if let Some((text, node)) = &p.max_retries {
        let rendered = core.string(text, node, errors, warnings)?;
        match rendered.trim_start_matches('+').parse::<i64>() {
            Ok(n) => max_retries = u32::try_from(n.max(0)).unwrap_or(u32::MAX),
            Err(_) => {
                errors.push(file.error(
                    node.span.clone(),
                    format!(
                        "`max_retries` must be a valid integer: strconv.Atoi: parsing {rendered:?}: invalid syntax"
                    ),
                ));
                return None;
            }
        }
    }
    let (grant, limits) = grants(build, &p.kiln, errors, warnings);
    Some(StepPlan {
        kind: p.ty.clone(),
        name: None,
        block: std::sync::Arc::new(block),
        pause_before: p.pause_before,
        max_retries,
        timeout: p.timeout,
        grant,
        limits,
        cacheable: p.cacheable,
    })
}

/// A post-processor for one build: its configuration interpolated as a provisioner's.
/// A `name` equal to the type is no name (Packer names a post-processor after its type
/// when no name is written).
fn post_processor(
    build: &Interpolator<'_>,
    p: &PostProcessor<'_>,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> PostProcessorPlan {
    let mut block = ConfigBlock {
        location: build.file.loc(p.type_span.clone()),
        ..Default::default()
    };
    build.config(&p.config, &mut block, errors, warnings);
    let (grant, limits) = grants(build, &p.kiln, errors, warnings);
    PostProcessorPlan {
        kind: p.ty.clone(),
        name: p.name.clone().filter(|n| *n != p.ty),
        block: std::sync::Arc::new(block),
        keep_input_artifact: p.keep_input_artifact,
        timeout: p.timeout,
        grant,
        limits,
    }
}

/// Kiln's `grant` and `limits` of a step (`kiln`, objects whose keys the reader has
/// checked), strings interpolated as the step's configuration is; relative paths are
/// relative to the template's directory.
fn grants(
    build: &Interpolator<'_>,
    kiln: &[&Member],
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> (Grant, Limits) {
    let (mut grant, mut limits) = (Grant::default(), Limits::default());
    let root = std::path::Path::new(build.scope.template_dir);
    for m in kiln {
        let Some(section) = crate::grants::Section::named(&m.key) else {
            continue;
        };
        for inner in m.value.members().unwrap_or_default() {
            let before = errors.len();
            let value = build.value(&inner.value, errors, warnings);
            if errors.len() > before {
                continue;
            }
            match crate::grants::apply(section, &inner.key, &value, root, &mut grant, &mut limits) {
                Ok(()) => {}
                Err(crate::grants::EntryError::UnknownKey(summary, hint)) => errors.push(
                    build
                        .file
                        .error(inner.key_span.clone(), summary)
                        .with_hint(hint),
                ),
                Err(crate::grants::EntryError::Value(message, item)) => {
                    let span = item
                        .and_then(|i| inner.value.items().and_then(|items| items.get(i)))
                        .map_or_else(|| inner.value.span.clone(), |n| n.span.clone());
                    errors.push(build.file.error(span, message));
                }
            }
        }
    }
    (grant, limits)
}
