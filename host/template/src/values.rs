//! Evaluation contexts and value conversions.

use std::ops::Range;
use std::path::PathBuf;

use hcl::eval::{Context, ErrorKind};
use kiln_core::diag::did_you_mean;
use kiln_core::Diagnostic;

use crate::files::SourceFile;

/// The values every expression of a template may reference.
#[derive(Debug, Clone)]
pub struct EvalScope {
    /// `var.*`
    pub vars: hcl::Map<String, hcl::Value>,
    /// `path.root`
    pub template_dir: PathBuf,
    /// `path.cwd`
    pub cwd: PathBuf,
    /// `data.TYPE.NAME`, the results of the template's data sources.
    pub data: hcl::Map<String, hcl::Value>,
    /// `local.*`, once the locals are known.
    pub locals: Option<hcl::Map<String, hcl::Value>>,
    /// `var.NAME` and `local.NAME` of every sensitive value, for `kiln console`.
    pub sensitive_names: Vec<String>,
}

impl EvalScope {
    /// A context with `var` and `path` declared.
    pub fn context(&self) -> Context<'static> {
        let mut ctx = Context::new();
        kiln_functions::declare(&mut ctx, false);
        ctx.declare_var("var", hcl::Value::Object(self.vars.clone()));
        ctx.declare_var("data", hcl::Value::Object(self.data.clone()));
        let mut path = hcl::Map::new();
        path.insert(
            "root".to_owned(),
            hcl::Value::from(self.template_dir.display().to_string()),
        );
        path.insert(
            "cwd".to_owned(),
            hcl::Value::from(self.cwd.display().to_string()),
        );
        ctx.declare_var("path", hcl::Value::Object(path));
        // `packer.version`: the Packer release whose template language Kiln follows.
        let mut packer = hcl::Map::new();
        packer.insert(
            "version".to_owned(),
            hcl::Value::from(crate::PACKER_VERSION),
        );
        ctx.declare_var("packer", hcl::Value::Object(packer));
        if let Some(locals) = &self.locals {
            ctx.declare_var("local", hcl::Value::Object(locals.clone()));
        }
        ctx
    }
}

/// HCL value to JSON (integral numbers stay integers).
pub fn to_json(v: &hcl::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// A diagnostic for an evaluation error at `span` of `file`, in the words Packer uses.
pub fn eval_diagnostic(
    file: &SourceFile,
    span: Option<Range<usize>>,
    err: &hcl::eval::Error,
) -> Diagnostic {
    let loc = Some(file.location(span));
    let expr_text = err.expr().map(|e| e.to_string()).unwrap_or_default();
    let refers = |prefix: &str, key: &str| {
        expr_text.trim_start().starts_with(prefix) || expr_text.contains(&format!("{prefix}{key}"))
    };
    match err.kind() {
        ErrorKind::NoSuchKey(key) if refers("local.", key) => Diagnostic::error(
            format!("Reference to undeclared local value \"{key}\""),
            loc,
        )
        .with_hint(format!(
            "A local value with the name \"{key}\" has not been declared. \
             Declare it in a `locals {{}}` block."
        )),
        ErrorKind::NoSuchKey(key) if refers("var.", key) => Diagnostic::error(
            format!("Reference to undeclared input variable \"{key}\""),
            loc,
        )
        .with_hint(format!(
            "An input variable with the name \"{key}\" has not been declared. \
                     Declare it with a `variable \"{key}\" {{}}` block."
        )),
        ErrorKind::UndefinedVar(name) => {
            Diagnostic::error(format!("Unknown variable \"{name}\""), loc)
                .with_hint("Expressions may refer to var.*, local.*, source.*, build.* and path.*.")
        }
        ErrorKind::UndefinedFunc(name) => {
            let name = name.to_string();
            let hint = if name == "env" {
                "env() is only allowed in a variable's default value: declare a variable \
                 with `default = env(\"NAME\")` and use it here."
                    .to_owned()
            } else {
                match did_you_mean(&name, kiln_functions::names()) {
                    Some(close) => {
                        format!("There is no function named \"{name}\". Did you mean \"{close}\"?")
                    }
                    None => format!("There is no function named \"{name}\"."),
                }
            };
            Diagnostic::error(format!("Call to unknown function \"{name}\""), loc).with_hint(hint)
        }
        _ => Diagnostic::error(format!("Invalid expression: {err}"), loc),
    }
}
