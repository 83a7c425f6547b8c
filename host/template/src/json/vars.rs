//! User variables of a JSON template, resolved as Packer 1.6.6 does for JSON: a
//! template default, replaced by a value from `-var-file` files (later files win),
//! replaced by `-var` (always, wherever it stands on the command line). `PKR_VAR_*` is
//! HCL2's and not read. Every value, defaults and command-line values alike, is then
//! interpolated, and may use `{{env}}` and other variables.

use std::collections::BTreeMap;
use std::ops::Range;

use kiln_core::diag::did_you_mean;
use kiln_core::Diagnostic;

use super::interpolate::{self, EvalError, Scope, UserVars};
use super::reader::Value;
use super::source::JsonFile;
use super::template::JsonTemplate;
use crate::VarArg;

/// The resolved variables.
#[derive(Debug, Default)]
pub struct Resolved {
    /// Every variable's value, including values given for undeclared names (Packer
    /// lets `{{user}}` read them).
    pub values: BTreeMap<String, String>,
    /// The values of `sensitive-variables`.
    pub sensitive: Vec<String>,
}

/// Where a raw value came from, for diagnostics.
enum Origin {
    Template(Range<usize>),
    VarFile(usize, Range<usize>),
    Flag,
}

struct Raw {
    text: String,
    origin: Origin,
}

/// Resolves the variables of `t` with `-var` / `-var-file` from `var_args`.
pub fn resolve(
    file: &JsonFile,
    t: &JsonTemplate<'_>,
    var_args: &[VarArg],
    scope: &Scope<'_>,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> Resolved {
    // Command-line values: files in order, then -var pairs over all of them.
    let mut var_files = Vec::new();
    let mut given: BTreeMap<String, Raw> = BTreeMap::new();
    for arg in var_args {
        if let VarArg::File(path) = arg {
            match JsonFile::read(path) {
                Ok(f) => {
                    read_var_file(&f, var_files.len(), &mut given, errors);
                    var_files.push(f);
                }
                Err(d) => errors.push(d),
            }
        }
    }
    for arg in var_args {
        if let VarArg::Pair(name, value) = arg {
            given.insert(
                name.clone(),
                Raw {
                    text: value.clone(),
                    origin: Origin::Flag,
                },
            );
        }
    }
    let declared: Vec<&str> = t.variables.iter().map(|v| v.name).collect();
    for (name, raw) in &given {
        if declared.contains(&name.as_str()) {
            continue;
        }
        let mut d = match &raw.origin {
            Origin::VarFile(i, span) => var_files[*i].warning(
                span.clone(),
                format!("Value for undeclared variable \"{name}\""),
            ),
            _ => Diagnostic::warning(
                format!("Value for undeclared variable \"{name}\" given with -var"),
                None,
            ),
        };
        d = match did_you_mean(name, declared.iter().copied()) {
            Some(s) => d.with_hint(format!("Did you mean \"{s}\"? Packer accepts the value and {{{{user `{name}`}}}} reads it.")),
            None => d.with_hint(format!("Packer accepts the value and {{{{user `{name}`}}}} reads it.")),
        };
        warnings.push(d);
    }

    let mut raws: BTreeMap<String, Raw> = BTreeMap::new();
    for v in &t.variables {
        if let Some(g) = given.remove(v.name) {
            raws.insert(v.name.to_owned(), g);
            continue;
        }
        match v.default.and_then(|d| d.as_str()) {
            Some(text) => {
                raws.insert(
                    v.name.to_owned(),
                    Raw {
                        text: text.to_owned(),
                        origin: Origin::Template(v.default.map_or(0..0, |d| d.span.clone())),
                    },
                );
            }
            None => errors.push(
                file.error(
                    v.key_span.clone(),
                    format!("required variable not set: {}", v.name),
                )
                .with_hint(format!(
                    "Set it with -var {}=VALUE or in a -var-file JSON file.",
                    v.name
                )),
            ),
        }
    }
    raws.extend(given);

    let mut resolver = Resolver {
        raws: &raws,
        done: BTreeMap::new(),
        in_progress: Vec::new(),
        scope,
        dependency_failed: false,
        failures: Vec::new(),
        reads_others: Default::default(),
    };
    for name in raws.keys() {
        let _ = resolver.resolve(name);
    }
    // Packer renders the variables in passes until a pass changes nothing, and a
    // variable that reads others is rendered again in every pass: while one such
    // variable renders, a variable that reads an unset one is left unset (`{{user}}`
    // of it is then empty) rather than failing the template.
    let rerendered = resolver
        .reads_others
        .iter()
        .any(|name| matches!(resolver.done.get(name), Some(Ok(_))));
    if rerendered
        && resolver
            .failures
            .iter()
            .all(|(_, e)| e.is_variable_not_set())
    {
        resolver.failures.clear();
    }
    for (name, message) in resolver.failures {
        let raw = &raws[&name];
        let summary = format!("error interpolating the value of variable \"{name}\": {message}");
        errors.push(match &raw.origin {
            Origin::Template(span) => file.error(span.clone(), summary),
            Origin::VarFile(i, span) => var_files[*i].error(span.clone(), summary),
            Origin::Flag => Diagnostic::error(format!("{summary} (given with -var)"), None),
        });
    }
    let mut resolved = Resolved {
        values: resolver
            .done
            .into_iter()
            .filter_map(|(k, v)| v.ok().map(|v| (k, v)))
            .collect(),
        sensitive: vec![],
    };
    for name in &t.sensitive {
        if !declared.contains(&name.as_str()) {
            continue;
        }
        if let Some(v) = resolved.values.get(name).filter(|v| !v.is_empty()) {
            resolved.sensitive.push(v.clone());
        }
    }
    resolved
}

/// A `-var-file` for a JSON template: a JSON object of strings.
fn read_var_file(
    file: &JsonFile,
    index: usize,
    out: &mut BTreeMap<String, Raw>,
    errors: &mut Vec<Diagnostic>,
) {
    let hint = "For JSON templates a -var-file is a JSON object of strings, as in Packer 1.6.6.";
    let root = match file.parse() {
        Ok(r) => r,
        Err(d) => {
            errors.push(d.with_hint(hint));
            return;
        }
    };
    let Some(members) = root.members() else {
        errors.push(
            file.error(
                root.span.start..root.span.start + 1,
                "a variable file must be a JSON object",
            )
            .with_hint(hint),
        );
        return;
    };
    for m in members {
        let text = match &m.value.value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            _ => {
                errors.push(
                    file.error(
                        m.value.span.clone(),
                        format!(
                            "Error reading variables in '{}': the value of \"{}\" must be a string, not {}",
                            file.path.display(),
                            m.key,
                            super::template::article(m.value.kind())
                        ),
                    )
                    .with_hint(hint),
                );
                continue;
            }
        };
        out.insert(
            m.key.clone(),
            Raw {
                text,
                origin: Origin::VarFile(index, m.value.span.clone()),
            },
        );
    }
}

struct Resolver<'a> {
    raws: &'a BTreeMap<String, Raw>,
    done: BTreeMap<String, Result<String, ()>>,
    in_progress: Vec<String>,
    scope: &'a Scope<'a>,
    /// Set when a variable being rendered used another that failed: the failure is
    /// reported once, where it starts.
    dependency_failed: bool,
    failures: Vec<(String, EvalError)>,
    /// The variables whose values call `{{user}}`.
    reads_others: std::collections::BTreeSet<String>,
}

impl Resolver<'_> {
    /// The interpolated value of `name`, resolving the variables it refers to first.
    fn resolve(&mut self, name: &str) -> Result<String, EvalError> {
        if let Some(done) = self.done.get(name) {
            return done.clone().map_err(|()| EvalError::VariableFailed {
                name: name.to_owned(),
            });
        }
        let Some(raw) = self.raws.get(name) else {
            return Err(EvalError::VariableNotSet {
                name: name.to_owned(),
            });
        };
        if let Some(pos) = self.in_progress.iter().position(|n| n == name) {
            let mut cycle = self.in_progress[pos..].to_vec();
            cycle.push(name.to_owned());
            let e = EvalError::VariableCycle { cycle };
            self.failures.push((name.to_owned(), e.clone()));
            self.done.insert(name.to_owned(), Err(()));
            return Err(e);
        }
        self.in_progress.push(name.to_owned());
        let outer = std::mem::replace(&mut self.dependency_failed, false);
        let result = interpolate::parse(&raw.text)
            .map_err(|error| EvalError::VariableSyntax {
                name: name.to_owned(),
                error,
            })
            .and_then(|tpl| {
                let scope = self.scope;
                interpolate::render(&tpl, scope, self)
            });
        let dependency_failed = std::mem::replace(&mut self.dependency_failed, outer);
        self.in_progress.pop();
        match &result {
            Ok(v) => {
                self.done.insert(name.to_owned(), Ok(v.clone()));
            }
            Err(e) => {
                if !dependency_failed {
                    self.failures.push((name.to_owned(), e.clone()));
                }
                self.done.entry(name.to_owned()).or_insert(Err(()));
            }
        }
        result
    }
}

impl UserVars for Resolver<'_> {
    fn user(&mut self, name: &str) -> Result<String, EvalError> {
        if let Some(reader) = self.in_progress.last() {
            self.reads_others.insert(reader.clone());
        }
        let result = self.resolve(name);
        if result.is_err() && self.raws.contains_key(name) {
            self.dependency_failed = true;
        }
        result
    }
}
