//! Unit tests of the function library, one module per family. Expected values come from
//! the Packer and Terraform function documentation where it gives examples.

mod collection;
mod crypto;
mod datetime;
mod encoding;
mod eval;
mod filesystem;
mod network;
mod numeric;
mod string;

use hcl::eval::{Context, Evaluate};
use hcl::Value;

use super::{declare, evaluate};

/// A context with every function (`env` too), `local.obj = { a = "x" }` and, when given,
/// `path.root`.
fn context(root: Option<&str>) -> Context<'static> {
    let mut ctx = Context::new();
    declare(&mut ctx, true);
    let local: Value = hcl::from_str::<Value>("obj = { a = \"x\" }").expect("valid");
    ctx.declare_var("local", local);
    if let Some(root) = root {
        let mut path = hcl::Map::new();
        path.insert("root".to_owned(), Value::from(root));
        ctx.declare_var("path", Value::Object(path));
    }
    ctx
}

fn eval_in(src: &str, ctx: &Context<'_>) -> Result<Value, String> {
    let expr: hcl::Expression = src.parse().map_err(|e| format!("parse {src}: {e}"))?;
    evaluate(&expr, ctx).map_err(|e| e.to_string())
}

/// Evaluates `src` with every function.
fn eval(src: &str) -> Result<Value, String> {
    eval_in(src, &context(None))
}

/// The value of `src`, which must evaluate.
fn ok(src: &str) -> Value {
    eval(src).unwrap_or_else(|e| panic!("{src}: {e}"))
}

/// The error of `src`, which must fail.
fn err(src: &str) -> String {
    match eval(src) {
        Ok(v) => panic!("{src} evaluated to {v:?}"),
        Err(e) => e,
    }
}

/// An HCL literal, evaluated without functions.
fn lit(src: &str) -> Value {
    let expr: hcl::Expression = src.parse().expect("literal parses");
    expr.evaluate(&Context::new()).expect("literal evaluates")
}

/// Asserts that `src` evaluates to the literal `want`.
#[track_caller]
fn check(src: &str, want: &str) {
    assert_eq!(ok(src), lit(want), "{src}");
}

/// Asserts that `src` evaluates to the string `want`.
#[track_caller]
fn check_str(src: &str, want: &str) {
    assert_eq!(ok(src), Value::from(want), "{src}");
}

/// Asserts that `src` fails with a message containing every one of `parts`.
#[track_caller]
fn check_err(src: &str, parts: &[&str]) {
    let e = err(src);
    for part in parts {
        assert!(e.contains(part), "{src}: {e:?} lacks {part:?}");
    }
}
