//! Input variables: declarations, and values from defaults, `PKR_VAR_*`, automatic
//! variable files and the command line, in Packer's order of precedence (later wins):
//! default, environment, `*.auto.pkrvars.hcl` (lexical order), then `-var-file` and
//! `-var` in command-line order.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hcl::edit::structure::{Block, Structure};
use hcl::edit::Span;
use hcl::eval::{Context, Evaluate};

use kiln_core::diag::did_you_mean;
use kiln_core::{Diagnostic, Location};

use crate::files::SourceFile;
use crate::values::eval_diagnostic;

/// A `-var` or `-var-file` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarArg {
    /// `-var name=value`
    Pair(String, String),
    /// `-var-file path`
    File(PathBuf),
}

/// Why a value given for a variable was refused.
#[derive(Debug, thiserror::Error)]
pub enum VarValueError {
    /// Text given (`-var`, `PKR_VAR_`) for a variable of a type other than string is
    /// not an HCL expression.
    #[error("{}", .0.message())]
    Syntax(hcl::edit::parser::Error),
    /// The expression is not a value on its own (it reads a variable or calls a
    /// function, or its operators fail).
    #[error(transparent)]
    Eval(hcl::eval::Error),
    /// The value does not convert to the variable's type `ty`; `message` says why, in
    /// the words of the type conversion.
    #[error("{message}")]
    Conversion { ty: String, message: String },
}

struct Declared {
    default: Option<hcl::Value>,
    ty: Option<String>,
    sensitive: bool,
    location: Location,
    validations: Vec<(hcl::Expression, Location, String)>,
}

/// The resolved values.
#[derive(Debug, Default)]
pub struct Resolved {
    /// `var.*`
    pub values: hcl::Map<String, hcl::Value>,
    /// The string forms of sensitive values, to mask in output.
    pub sensitive: Vec<String>,
    /// The names of the variables declared sensitive.
    pub sensitive_names: Vec<String>,
    /// Declared variables left without a value (unset, or a value that failed): each is
    /// reported once where it is declared, not again at every use.
    pub without_value: Vec<String>,
}

const VARIABLE_ATTRS: &[&str] = &["type", "default", "description", "sensitive", "nullable"];

fn literal(expr: &hcl::edit::expr::Expression) -> Result<hcl::Value, hcl::eval::Error> {
    let e: hcl::Expression = expr.clone().into();
    e.evaluate(&Context::new())
}

/// A variable's default: a literal whose only function is `env()`, as in Packer (which
/// allows `env()` there and nowhere else, and no other function there).
fn default_value(expr: &hcl::edit::expr::Expression) -> Result<hcl::Value, hcl::eval::Error> {
    let mut ctx = Context::new();
    kiln_functions::declare_env_only(&mut ctx);
    kiln_functions::evaluate(&expr.clone().into(), &ctx)
}

/// What to do about a default that is not a literal.
const DEFAULT_HINT: &str = "A variable's default must be a literal value; the only function it \
    may call is env(). Compute other values in a local.";

/// Collects declarations and values; reports problems into `errors` / `warnings`.
pub fn resolve(
    blocks: &[(&SourceFile, &Block)],
    auto_files: &[(SourceFile, bool)],
    opts: &crate::LoadOptions,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> Resolved {
    let mut declared: BTreeMap<String, Declared> = BTreeMap::new();
    for (file, block) in blocks {
        if block.ident.as_str() == "variables" {
            for s in block.body.iter() {
                match s {
                    Structure::Attribute(a) => {
                        let default = match default_value(&a.value) {
                            Ok(v) => Some(v),
                            Err(e) => {
                                errors.push(
                                    eval_diagnostic(file, a.value.span(), &e)
                                        .with_hint(DEFAULT_HINT),
                                );
                                // Reported once: the variable is not also "unset".
                                Some(hcl::Value::Null)
                            }
                        };
                        declared.insert(
                            a.key.as_str().to_owned(),
                            Declared {
                                default,
                                ty: None,
                                sensitive: false,
                                location: file.location(a.key.span()),
                                validations: vec![],
                            },
                        );
                    }
                    Structure::Block(b) => errors.push(Diagnostic::error(
                        format!("Unsupported block type \"{}\"", b.ident.as_str()),
                        Some(file.location(b.ident.span())),
                    )),
                }
            }
            continue;
        }
        let name = block.labels[0].as_str().to_owned();
        let location = file.location(block.labels[0].span());
        if let Some(prev) = declared.get(&name) {
            errors.push(
                Diagnostic::error(format!("Duplicate variable \"{name}\""), Some(location))
                    .with_hint(format!("The first declaration is at {}.", prev.location)),
            );
            continue;
        }
        let mut d = Declared {
            default: None,
            ty: None,
            sensitive: false,
            location,
            validations: vec![],
        };
        for s in block.body.iter() {
            match s {
                Structure::Attribute(a) => match a.key.as_str() {
                    "default" => match default_value(&a.value) {
                        Ok(v) => d.default = Some(v),
                        Err(e) => {
                            errors.push(
                                eval_diagnostic(file, a.value.span(), &e).with_hint(DEFAULT_HINT),
                            );
                            // Reported once: the variable is not also "unset".
                            d.default = Some(hcl::Value::Null);
                        }
                    },
                    "type" => {
                        let span = a.value.span().unwrap_or(0..0);
                        d.ty = Some(file.text[span].trim().to_owned());
                    }
                    "sensitive" => {
                        d.sensitive = matches!(literal(&a.value), Ok(hcl::Value::Bool(true)))
                    }
                    "description" | "nullable" => {}
                    key => {
                        let mut diag = Diagnostic::error(
                            format!("Unsupported argument \"{key}\""),
                            Some(file.location(a.key.span())),
                        );
                        if let Some(s) = did_you_mean(key, VARIABLE_ATTRS.iter().copied()) {
                            diag = diag.with_hint(format!("Did you mean \"{s}\"?"));
                        }
                        errors.push(diag);
                    }
                },
                Structure::Block(b) if b.ident.as_str() == "validation" => {
                    let cond = b.body.get_attribute("condition");
                    let msg = b
                        .body
                        .get_attribute("error_message")
                        .and_then(|a| literal(&a.value).ok());
                    match (cond, msg) {
                        (Some(c), Some(hcl::Value::String(m))) => d.validations.push((
                            c.value.clone().into(),
                            file.location(c.value.span()),
                            m,
                        )),
                        _ => errors.push(Diagnostic::error(
                            "a validation block needs `condition` and a string `error_message`",
                            Some(file.location(b.ident.span())),
                        )),
                    }
                }
                Structure::Block(b) => errors.push(Diagnostic::error(
                    format!("Unsupported block type \"{}\"", b.ident.as_str()),
                    Some(file.location(b.ident.span())),
                )),
            }
        }
        declared.insert(name, d);
    }

    let mut values: BTreeMap<String, hcl::Value> = BTreeMap::new();
    for (name, d) in &declared {
        if let Some(v) = &d.default {
            values.insert(name.clone(), v.clone());
        }
    }
    // Variables given a value that was refused: not reported unset as well.
    let mut invalid: std::collections::BTreeSet<String> = Default::default();
    // Environment.
    for (k, v) in &opts.env {
        if let Some(name) = k.strip_prefix("PKR_VAR_") {
            if let Some(d) = declared.get(name) {
                match from_string(v, d.ty.as_deref()) {
                    Ok(val) => {
                        values.insert(name.to_owned(), val);
                    }
                    Err(e) => {
                        invalid.insert(name.to_owned());
                        errors.push(Diagnostic::error(
                            format!(
                                "invalid value for {k}: {}",
                                hide(&e.to_string(), v, d.sensitive)
                            ),
                            None,
                        ))
                    }
                }
            }
        }
    }
    // Automatic files, then the command line.
    for (file, _) in auto_files {
        apply_file(file, &declared, &mut values, errors, warnings);
    }
    for arg in &opts.var_args {
        match arg {
            VarArg::File(path) => match SourceFile::load(path) {
                Ok(file) => apply_file(&file, &declared, &mut values, errors, warnings),
                Err(d) => errors.push(d),
            },
            VarArg::Pair(name, raw) => match declared.get(name) {
                Some(d) => match from_string(raw, d.ty.as_deref()) {
                    Ok(v) => {
                        values.insert(name.clone(), v);
                    }
                    Err(e) => {
                        invalid.insert(name.clone());
                        errors.push(Diagnostic::error(
                            format!(
                                "invalid value for -var {name}: {}",
                                hide(&e.to_string(), raw, d.sensitive)
                            ),
                            None,
                        ))
                    }
                },
                None => {
                    let mut diag = Diagnostic::error(
                        format!("Value for undeclared variable \"{name}\" given with -var"),
                        None,
                    );
                    if let Some(s) = did_you_mean(name, declared.keys().map(String::as_str)) {
                        diag = diag.with_hint(format!("Did you mean \"{s}\"?"));
                    } else {
                        diag = diag.with_hint(format!(
                            "Declare it with a `variable \"{name}\" {{}}` block, or remove the -var."
                        ));
                    }
                    errors.push(diag);
                }
            },
        }
    }

    let mut resolved = Resolved::default();
    for (name, d) in &declared {
        let Some(v) = values.remove(name) else {
            resolved.without_value.push(name.clone());
            if invalid.contains(name) {
                continue;
            }
            errors.push(
                Diagnostic::error(
                    format!("Unset variable \"{name}\""),
                    Some(d.location.clone()),
                )
                .with_hint(format!(
                    "A used variable must be set or have a default value. Set it with \
                         -var {name}=VALUE, a .pkrvars.hcl file, or PKR_VAR_{name}."
                )),
            );
            continue;
        };
        let v = match &d.ty {
            Some(ty) => match convert(v.clone(), ty) {
                Ok(v) => v,
                Err(e) => {
                    let mut shown = e.to_string();
                    if d.sensitive {
                        let mut raw = Vec::new();
                        collect_strings(&v, &mut raw);
                        for r in raw {
                            shown = hide(&shown, &r, true);
                        }
                    }
                    errors.push(Diagnostic::error(
                        format!("Invalid value for variable \"{name}\": {shown}"),
                        Some(d.location.clone()),
                    ));
                    continue;
                }
            },
            None => v,
        };
        if d.sensitive {
            collect_strings(&v, &mut resolved.sensitive);
            resolved.sensitive_names.push(name.clone());
        }
        resolved.values.insert(name.clone(), v);
    }
    // Validations see every variable.
    let mut ctx = Context::new();
    kiln_functions::declare(&mut ctx, false);
    ctx.declare_var("var", hcl::Value::Object(resolved.values.clone()));
    for (name, d) in &declared {
        for (cond, loc, message) in &d.validations {
            match kiln_functions::evaluate(cond, &ctx) {
                Ok(hcl::Value::Bool(true)) => {}
                Ok(hcl::Value::Bool(false)) => errors.push(
                    Diagnostic::error(
                        format!("Invalid value for variable \"{name}\""),
                        Some(loc.clone()),
                    )
                    .with_hint(message.clone()),
                ),
                Ok(_) => errors.push(Diagnostic::error(
                    "a validation condition must be true or false",
                    Some(loc.clone()),
                )),
                Err(e) => errors.push(Diagnostic::error(
                    format!("Invalid validation condition: {e}"),
                    Some(loc.clone()),
                )),
            }
        }
    }
    resolved
}

fn apply_file(
    file: &SourceFile,
    declared: &BTreeMap<String, Declared>,
    values: &mut BTreeMap<String, hcl::Value>,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) {
    for s in file.body.iter() {
        match s {
            Structure::Attribute(a) => {
                let name = a.key.as_str();
                if !declared.contains_key(name) {
                    warnings.push(
                        Diagnostic::warning(
                            format!("Undefined variable \"{name}\""),
                            Some(file.location(a.key.span())),
                        )
                        .with_hint("A value was given for a variable the template does not declare; it is ignored."),
                    );
                    continue;
                }
                match literal(&a.value) {
                    Ok(v) => {
                        values.insert(name.to_owned(), v);
                    }
                    Err(e) => errors.push(eval_diagnostic(file, a.value.span(), &e)),
                }
            }
            Structure::Block(b) => errors.push(Diagnostic::error(
                format!(
                    "Unexpected \"{}\" block: variable files contain only assignments",
                    b.ident.as_str()
                ),
                Some(file.location(b.ident.span())),
            )),
        }
    }
}

/// `message` about the value `raw`, with the value hidden when the variable is
/// sensitive.
fn hide(message: &str, raw: &str, sensitive: bool) -> String {
    if sensitive && !raw.is_empty() {
        message.replace(raw, "<sensitive>")
    } else {
        message.to_owned()
    }
}

/// A value given as text (`-var`, `PKR_VAR_`): a string for string (or untyped)
/// variables, an HCL expression otherwise.
fn from_string(raw: &str, ty: Option<&str>) -> Result<hcl::Value, VarValueError> {
    match ty {
        None | Some("string") => Ok(hcl::Value::String(raw.to_owned())),
        Some(_) => {
            let expr = hcl::edit::parser::parse_expr(raw).map_err(VarValueError::Syntax)?;
            literal(&expr).map_err(VarValueError::Eval)
        }
    }
}

/// Converts `v` to the variable's type `ty`, as Packer (cty) converts.
fn convert(v: hcl::Value, ty: &str) -> Result<hcl::Value, VarValueError> {
    kiln_functions::convert_to(&v, ty).map_err(|message| VarValueError::Conversion {
        ty: ty.to_owned(),
        message,
    })
}

/// The string forms of every scalar in `v`, to mask in output.
pub(crate) fn collect_strings(v: &hcl::Value, out: &mut Vec<String>) {
    match v {
        hcl::Value::String(s) if !s.is_empty() => out.push(s.clone()),
        hcl::Value::Number(n) => out.push(n.to_string()),
        hcl::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        hcl::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}
