//! Evaluation contexts and value conversions.

use std::ops::Range;
use std::path::PathBuf;

use hcl::eval::{Context, ErrorKind};
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
}

impl EvalScope {
    /// A context with `var` and `path` declared.
    pub fn context(&self) -> Context<'static> {
        let mut ctx = Context::new();
        ctx.declare_var("var", hcl::Value::Object(self.vars.clone()));
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
    let in_var_traversal = err
        .expr()
        .map(|e| e.to_string().trim_start().starts_with("var."))
        .unwrap_or(false);
    match err.kind() {
        ErrorKind::NoSuchKey(key) if in_var_traversal => Diagnostic::error(
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
            Diagnostic::error(format!("Call to unknown function \"{name}\""), loc)
                .with_hint("Kiln does not provide this function yet.")
        }
        _ => Diagnostic::error(format!("Invalid expression: {err}"), loc),
    }
}
