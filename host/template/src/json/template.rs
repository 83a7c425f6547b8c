//! The sections of a legacy JSON template, read and checked as Packer 1.6.6 parses
//! (`template.Parse`) and validates (`Template.Validate`, `Core.validate`) them.

use std::ops::Range;
use std::time::Duration;

use kiln_core::diag::did_you_mean;
use kiln_core::Diagnostic;

pub(crate) use super::checks::*;
use super::reader::{duplicate_keys, Member, Node, Value};
pub(crate) use super::scalars::*;
use super::source::JsonFile;

/// The Packer version whose JSON template semantics Kiln follows; it answers
/// `{{packer_version}}` and is what `min_packer_version` is compared with.
pub const PACKER_VERSION: &str = crate::PACKER_VERSION;

/// Top-level keys Packer 1.6.6 knows. Packer matches them case-insensitively.
const TOP_LEVEL: &[&str] = &[
    "builders",
    "provisioners",
    "post-processors",
    "variables",
    "sensitive-variables",
    "error-cleanup-provisioner",
    "description",
    "min_packer_version",
    "comments",
    "push",
];

/// Keys of a provisioner that are Packer's, not the provisioner's.
pub const PROVISIONER_META: &[&str] = &[
    "type",
    "only",
    "except",
    "override",
    "pause_before",
    "max_retries",
    "timeout",
];

/// Keys of a post-processor that are Packer's, not the post-processor's.
/// `timeout` is Kiln's extension: a post-processor is bounded in time as a provisioner is.
pub const POST_PROCESSOR_META: &[&str] = &[
    "type",
    "name",
    "only",
    "except",
    "keep_input_artifact",
    "timeout",
];

/// Kiln's keys of a provisioner or post-processor: its `grant` and `limits`, which a
/// component does not see.
pub const KILN_STEP_KEYS: &[&str] = &["grant", "limits", "cacheable"];

/// A template's sections, each with where it was written.
#[derive(Debug, Default)]
pub struct JsonTemplate<'n> {
    /// `description`
    pub description: Option<String>,
    /// `min_packer_version`
    pub min_version: Option<(String, Range<usize>)>,
    /// `variables`, in file order.
    pub variables: Vec<Variable<'n>>,
    /// `sensitive-variables`
    pub sensitive: Vec<String>,
    /// `builders`, in file order.
    pub builders: Vec<Builder<'n>>,
    /// Where the `builders` key is, if written.
    pub builders_key: Option<Range<usize>>,
    /// `provisioners`, in file order.
    pub provisioners: Vec<Provisioner<'n>>,
    /// `error-cleanup-provisioner`
    pub cleanup: Option<Provisioner<'n>>,
    /// `post-processors`: chains, in file order (a type or an object is a chain of
    /// one).
    pub post_processors: Vec<Vec<PostProcessor<'n>>>,
}

/// A variable: its name and its default, or none when it is required (`null`).
#[derive(Debug)]
pub struct Variable<'n> {
    /// The name.
    pub name: &'n str,
    /// Where the name is.
    pub key_span: Range<usize>,
    /// The default (a string node); `None` when the variable is required.
    pub default: Option<&'n Node>,
}

/// A builder: the source of one build.
#[derive(Debug)]
pub struct Builder<'n> {
    /// The name as written (`name`, else `type`), before interpolation.
    pub name: String,
    /// Where the name is (the `type` when no name is written).
    pub name_span: Range<usize>,
    /// The builder type.
    pub ty: String,
    /// Where the `type` value is.
    pub type_span: Range<usize>,
    /// The builder's own attributes (all but `name` and `type`).
    pub config: Vec<&'n Member>,
}

/// A provisioner, or the error-cleanup provisioner.
#[derive(Debug)]
pub struct Provisioner<'n> {
    /// The provisioner type.
    pub ty: String,
    /// Where the `type` value is.
    pub type_span: Range<usize>,
    /// The provisioner's own attributes (all but [`PROVISIONER_META`]).
    pub config: Vec<&'n Member>,
    /// `only`: build names, each with where it is.
    pub only: Vec<(String, Range<usize>)>,
    /// `except`: build names, each with where it is.
    pub except: Vec<(String, Range<usize>)>,
    /// Where the `only` key is.
    pub only_key: Option<Range<usize>>,
    /// `override`: per build name, attributes merged over `config`.
    pub overrides: Vec<&'n Member>,
    /// `pause_before`
    pub pause_before: Option<Duration>,
    /// `timeout`
    pub timeout: Option<Duration>,
    /// `max_retries` as text (Packer interpolates it before reading the number).
    pub max_retries: Option<(String, &'n Node)>,
    /// Kiln's `grant` and `limits`, in file order: objects whose keys are known.
    pub kiln: Vec<&'n Member>,
    /// Kiln's `cacheable`.
    pub cacheable: bool,
}

/// A post-processor of a chain.
#[derive(Debug)]
pub struct PostProcessor<'n> {
    /// `post-processor I.J` in messages: the chain's place and this one's in it.
    pub what: String,
    /// The post-processor type.
    pub ty: String,
    /// Where the type is (the string, for a post-processor written as its type only).
    pub type_span: Range<usize>,
    /// `name`, when written and not empty.
    pub name: Option<String>,
    /// The post-processor's own attributes (all but [`POST_PROCESSOR_META`]).
    pub config: Vec<&'n Member>,
    /// `only`: build names, each with where it is.
    pub only: Vec<(String, Range<usize>)>,
    /// `except`: build names, each with where it is.
    pub except: Vec<(String, Range<usize>)>,
    /// Where the `only` key is.
    pub only_key: Option<Range<usize>>,
    /// `keep_input_artifact`
    pub keep_input_artifact: Option<bool>,
    /// `timeout` (Kiln's extension)
    pub timeout: Option<Duration>,
    /// Kiln's `grant` and `limits`, in file order: objects whose keys are known.
    pub kiln: Vec<&'n Member>,
}

impl PostProcessor<'_> {
    /// Whether the post-processor runs in the build whose name (as written) is `name`.
    pub fn applies_to(&self, name: &str) -> bool {
        if !self.only.is_empty() {
            return self.only.iter().any(|(n, _)| n == name);
        }
        !self.except.iter().any(|(n, _)| n == name)
    }
}

impl Provisioner<'_> {
    /// Whether the step runs in the build whose name (as written) is `name`.
    pub fn applies_to(&self, name: &str) -> bool {
        if !self.only.is_empty() {
            return self.only.iter().any(|(n, _)| n == name);
        }
        !self.except.iter().any(|(n, _)| n == name)
    }

    /// The override for build `name`, if any.
    pub fn override_for(&self, name: &str) -> Option<&Member> {
        self.overrides.iter().rev().copied().find(|m| m.key == name)
    }
}

/// Reads the sections of `root`, reporting what Packer's parser rejects.
pub fn read<'n>(file: &JsonFile, root: &'n Node, errors: &mut Vec<Diagnostic>) -> JsonTemplate<'n> {
    let mut t = JsonTemplate::default();
    for dup in duplicate_keys(root) {
        errors.push(file.error(
            dup.key_span.clone(),
            format!("template has duplicate field: {}", dup.key),
        ));
    }
    let Some(members) = root.members() else {
        errors.push(file.error(
            root.span.start..root.span.start + 1,
            format!(
                "a template must be a JSON object, not {}",
                article(root.kind())
            ),
        ));
        return t;
    };
    for m in members {
        let key = m.key.to_ascii_lowercase();
        let v = &m.value;
        if matches!(v.value, Value::Null) && TOP_LEVEL.contains(&key.as_str()) {
            continue;
        }
        match key.as_str() {
            "description" => match v.as_str() {
                Some(s) => t.description = Some(s.to_owned()),
                None => errors.push(expected(file, m, "a string")),
            },
            "min_packer_version" => match v.as_str() {
                Some(s) => t.min_version = Some((s.to_owned(), v.span.clone())),
                None => errors.push(expected(file, m, "a string")),
            },
            "variables" => read_variables(file, m, &mut t, errors),
            "sensitive-variables" => match v.items() {
                Some(items) => {
                    for item in items {
                        match item.as_str() {
                            Some(s) => t.sensitive.push(s.to_owned()),
                            None => errors.push(file.error(
                                item.span.clone(),
                                format!(
                                    "\"sensitive-variables\" lists variable names: expected a string, found {}",
                                    article(item.kind())
                                ),
                            )),
                        }
                    }
                }
                None => errors.push(expected(file, m, "a list of variable names")),
            },
            "builders" => {
                t.builders_key = Some(m.key_span.clone());
                match v.items() {
                    Some(items) => read_builders(file, items, &mut t, errors),
                    None => errors.push(expected(file, m, "a list of builders")),
                }
            }
            "provisioners" => match v.items() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(p) =
                            read_provisioner(file, item, &format!("provisioner {}", i + 1), errors)
                        {
                            t.provisioners.push(p);
                        }
                    }
                }
                None => errors.push(expected(file, m, "a list of provisioners")),
            },
            "error-cleanup-provisioner" => {
                t.cleanup = read_provisioner(file, v, "error-cleanup-provisioner", errors);
            }
            "post-processors" => match v.items() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(chain) = read_chain(file, item, i + 1, errors) {
                            t.post_processors.push(chain);
                        }
                    }
                }
                None => errors.push(expected(file, m, "a list of post-processors")),
            },
            "comments" => {}
            "push" => {
                if v.members().is_none() {
                    errors.push(expected(file, m, "an object"));
                }
            }
            _ if m.key.starts_with('_') => {
                if v.as_str().is_none() {
                    errors.push(file.error(
                        v.span.clone(),
                        format!("the root-level comment \"{}\" must be a string", m.key),
                    ));
                }
            }
            _ => {
                let d = file.error(
                    m.key_span.clone(),
                    format!("Unknown root level key in template: '{}'", m.key),
                );
                errors.push(match did_you_mean(&m.key, TOP_LEVEL.iter().copied()) {
                    Some(s) => d.with_hint(format!("Did you mean \"{s}\"?")),
                    None => d.with_hint(format!(
                        "A template's top level has {}; keys starting with \"_\" are comments.",
                        TOP_LEVEL.join(", ")
                    )),
                });
            }
        }
    }
    t
}

fn read_variables<'n>(
    file: &JsonFile,
    m: &'n Member,
    t: &mut JsonTemplate<'n>,
    errors: &mut Vec<Diagnostic>,
) {
    let Some(vars) = m.value.members() else {
        errors.push(expected(
            file,
            m,
            "an object of variable names and default values",
        ));
        return;
    };
    for v in vars {
        let default = match &v.value.value {
            Value::Null => None,
            Value::String(_) => Some(&v.value),
            _ => {
                errors.push(
                    file.error(
                        v.value.span.clone(),
                        format!(
                            "variable {}: the default must be a string, not {}",
                            v.key,
                            article(v.value.kind())
                        ),
                    )
                    .with_hint("JSON template variables are strings; write null to make the variable required."),
                );
                continue;
            }
        };
        if let Some(i) = t.variables.iter().position(|x| x.name == v.key) {
            t.variables.remove(i);
        }
        t.variables.push(Variable {
            name: &v.key,
            key_span: v.key_span.clone(),
            default,
        });
    }
}

fn read_builders<'n>(
    file: &JsonFile,
    items: &'n [Node],
    t: &mut JsonTemplate<'n>,
    errors: &mut Vec<Diagnostic>,
) {
    for (i, item) in items.iter().enumerate() {
        let Some(members) = item.members() else {
            errors.push(file.error(
                item.span.clone(),
                format!(
                    "builder {}: expected an object, found {}",
                    i + 1,
                    article(item.kind())
                ),
            ));
            continue;
        };
        let ty = item
            .get("type")
            .and_then(|m| weak_string(file, m, errors).map(|s| (s, m.value.span.clone())));
        let name = item
            .get("name")
            .and_then(|m| weak_string(file, m, errors).map(|s| (s, m.value.span.clone())));
        let Some((ty, type_span)) = ty.filter(|(t, _)| !t.is_empty()) else {
            errors.push(file.error(
                item.span.start..item.span.start + 1,
                format!("builder {}: missing 'type'", i + 1),
            ));
            continue;
        };
        let (name, name_span) = name
            .filter(|(n, _)| !n.is_empty())
            .unwrap_or_else(|| (ty.clone(), type_span.clone()));
        if let Some(first) = t.builders.iter().find(|b| b.name == name) {
            errors.push(
                file.error(
                    name_span,
                    format!(
                        "builder {}: builder with name '{name}' already exists",
                        i + 1
                    ),
                )
                .with_hint(format!(
                    "The first one is at {}. Give each builder a distinct \"name\".",
                    file.loc(first.name_span.clone())
                )),
            );
            continue;
        }
        t.builders.push(Builder {
            name,
            name_span,
            ty,
            type_span,
            config: members
                .iter()
                .filter(|m| m.key != "name" && m.key != "type")
                .collect(),
        });
    }
}

fn read_provisioner<'n>(
    file: &JsonFile,
    node: &'n Node,
    what: &str,
    errors: &mut Vec<Diagnostic>,
) -> Option<Provisioner<'n>> {
    let Some(members) = node.members() else {
        errors.push(file.error(
            node.span.clone(),
            format!("{what}: expected an object, found {}", article(node.kind())),
        ));
        return None;
    };
    let before = errors.len();
    let ty = node
        .get("type")
        .and_then(|m| weak_string(file, m, errors).map(|s| (s, m.value.span.clone())));
    let mut p = Provisioner {
        ty: String::new(),
        type_span: 0..0,
        config: members
            .iter()
            .filter(|m| {
                !PROVISIONER_META.contains(&m.key.as_str())
                    && !KILN_STEP_KEYS.contains(&m.key.as_str())
            })
            .collect(),
        only: vec![],
        except: vec![],
        only_key: None,
        overrides: vec![],
        pause_before: None,
        timeout: None,
        max_retries: None,
        kiln: vec![],
        cacheable: false,
    };
    for m in members {
        match m.key.as_str() {
            "only" | "except" => {
                let names = weak_strings(file, m, errors);
                if m.key == "only" {
                    p.only = names;
                    p.only_key = Some(m.key_span.clone());
                } else {
                    p.except = names;
                }
            }
            "override" => match &m.value.value {
                Value::Object(o) => p.overrides = o.iter().collect(),
                Value::Null => {}
                _ => errors.push(expected(file, m, "an object of build names and attributes")),
            },
            "pause_before" | "timeout" => {
                let d = duration_member(file, m, errors);
                if m.key == "pause_before" {
                    p.pause_before = d;
                } else {
                    p.timeout = d;
                }
            }
            "max_retries" => {
                if let Some(s) = weak_string(file, m, errors).filter(|s| !s.is_empty()) {
                    p.max_retries = Some((s, &m.value));
                }
            }
            "grant" | "limits" => p.kiln.extend(read_kiln(file, m, errors)),
            "cacheable" => match &m.value.value {
                Value::Bool(b) => p.cacheable = *b,
                _ => errors.push(expected(file, m, "true or false")),
            },
            _ => {}
        }
    }
    match ty.filter(|(t, _)| !t.is_empty()) {
        Some((ty, span)) => {
            p.ty = ty;
            p.type_span = span;
        }
        None => {
            errors.push(file.error(
                node.span.start..node.span.start + 1,
                format!("{what}: missing 'type'"),
            ));
        }
    }
    (errors.len() == before).then_some(p)
}

/// One item of `post-processors`: a type, an object, or a chain (a list of types and
/// objects), as the chain it stands for.
fn read_chain<'n>(
    file: &JsonFile,
    item: &'n Node,
    index: usize,
    errors: &mut Vec<Diagnostic>,
) -> Option<Vec<PostProcessor<'n>>> {
    let entries: Vec<&Node> = match &item.value {
        Value::String(_) | Value::Object(_) => vec![item],
        Value::Array(list) => list.iter().collect(),
        _ => {
            errors.push(
                file.error(
                    item.span.clone(),
                    format!(
                        "post-processor {index}: expected a type, an object or a list of them, found {}",
                        article(item.kind())
                    ),
                )
                .with_hint("Write \"checksum\", {\"type\": \"checksum\", ...}, or a chain such as [\"compress\", {\"type\": \"manifest\"}]."),
            );
            return None;
        }
    };
    let before = errors.len();
    let mut chain = Vec::new();
    for (j, e) in entries.into_iter().enumerate() {
        let what = format!("post-processor {index}.{}", j + 1);
        if let Some(pp) = read_post_processor(file, e, what, errors) {
            chain.push(pp);
        }
    }
    (errors.len() == before).then_some(chain)
}

fn read_post_processor<'n>(
    file: &JsonFile,
    node: &'n Node,
    what: String,
    errors: &mut Vec<Diagnostic>,
) -> Option<PostProcessor<'n>> {
    let mut pp = PostProcessor {
        what,
        ty: String::new(),
        type_span: node.span.clone(),
        name: None,
        config: vec![],
        only: vec![],
        except: vec![],
        only_key: None,
        keep_input_artifact: None,
        timeout: None,
        kiln: vec![],
    };
    let members = match &node.value {
        Value::String(s) if !s.is_empty() => {
            pp.ty = s.clone();
            return Some(pp);
        }
        Value::Object(members) => members,
        Value::Array(_) => {
            errors.push(file.error(
                node.span.clone(),
                format!("{}: a chain may not contain a chain", pp.what),
            ));
            return None;
        }
        Value::String(_) => {
            errors.push(file.error(node.span.clone(), format!("{}: missing 'type'", pp.what)));
            return None;
        }
        _ => {
            errors.push(file.error(
                node.span.clone(),
                format!(
                    "{}: expected a type or an object, found {}",
                    pp.what,
                    article(node.kind())
                ),
            ));
            return None;
        }
    };
    let before = errors.len();
    pp.config = members
        .iter()
        .filter(|m| {
            !POST_PROCESSOR_META.contains(&m.key.as_str())
                && !KILN_STEP_KEYS.contains(&m.key.as_str())
        })
        .collect();
    // Packer decodes these strictly: no number for a string, no string for a bool.
    for m in members {
        match (m.key.as_str(), &m.value.value) {
            (_, Value::Null) => {}
            ("type", Value::String(s)) => {
                pp.ty = s.clone();
                pp.type_span = m.value.span.clone();
            }
            ("name", Value::String(s)) => pp.name = Some(s.clone()).filter(|s| !s.is_empty()),
            ("type" | "name", _) => errors.push(expected(file, m, "a string")),
            ("keep_input_artifact", Value::Bool(b)) => pp.keep_input_artifact = Some(*b),
            ("keep_input_artifact", _) => errors.push(expected(file, m, "true or false")),
            ("timeout", _) => pp.timeout = duration_member(file, m, errors),
            ("only" | "except", _) => {
                let names = weak_strings(file, m, errors);
                if m.key == "only" {
                    pp.only = names;
                    pp.only_key = Some(m.key_span.clone());
                } else {
                    pp.except = names;
                }
            }
            ("grant" | "limits", _) => pp.kiln.extend(read_kiln(file, m, errors)),
            _ => {}
        }
    }
    if pp.ty.is_empty() && errors.len() == before {
        errors.push(file.error(
            node.span.start..node.span.start + 1,
            format!("{}: missing 'type'", pp.what),
        ));
    }
    (errors.len() == before).then_some(pp)
}

/// Kiln's `grant` or `limits` member `m` of a step: `None` when it is null or not an
/// object (reported); an unknown key in it is reported where it is. The values are
/// read once interpolated, for each build.
fn read_kiln<'n>(
    file: &JsonFile,
    m: &'n Member,
    errors: &mut Vec<Diagnostic>,
) -> Option<&'n Member> {
    let section = crate::grants::Section::named(&m.key)?;
    let members = match &m.value.value {
        Value::Null => return None,
        Value::Object(members) => members,
        _ => {
            errors.push(file.error(m.value.span.clone(), section.not_an_object(true)));
            return None;
        }
    };
    for inner in members {
        if let Some((summary, hint)) = section.check_key(&inner.key) {
            errors.push(file.error(inner.key_span.clone(), summary).with_hint(hint));
        }
    }
    Some(m)
}

#[cfg(test)]
mod tests;
