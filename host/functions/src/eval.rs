//! Evaluation in which `try` and `can` see their arguments' errors.
//!
//! hcl-rs evaluates every argument of a call before it calls the function, so a declared
//! `try` would never see a failing argument: the whole expression would fail first. Before
//! handing an expression to hcl-rs, [`evaluate`] walks it and replaces each `try(...)` and
//! `can(...)` call by its result, evaluating the arguments itself. A conditional whose
//! condition evaluates is replaced by the branch it selects, so a `try` in the branch not
//! taken is never run. The type argument of `convert(value, type)` becomes a string, since
//! `list(string)` is not an expression hcl-rs could evaluate.
//!
//! Limit: inside a `for` expression, and inside a template's `%{ for }` directive, the
//! iteration variables are unbound while rewriting, so `try` and `can` calls there are left
//! to hcl-rs: when every argument evaluates, `try` returns the first and `can` returns
//! true; an argument that fails fails the whole expression.
//!
//! Every `for` (and `%{ for }`) collection is also wrapped in a call of
//! [`FOR_BUDGET`], which counts the elements iterated over in one evaluation: nested
//! loops over large collections (three `for` over `range(1000)` stand for a billion
//! values) end with an error at [`MAX_ITERATIONS`] instead of exhausting memory.

use hcl::eval::{Context, Error, ErrorKind, Evaluate};
use hcl::expr::{Expression, FuncCall, FuncName, Operation, TemplateExpr, TraversalOperator};
use hcl::template::{Directive, Element, Template};
use hcl::{Object, ObjectKey, Value};

use super::{filesystem, types};

/// Evaluates `expr` in `ctx` like hcl's Evaluate, except that `try(...)` and `can(...)` see
/// their arguments' errors instead of failing the whole expression (see the module
/// documentation for the one limit). File functions resolve relative paths against
/// `path.root` when `ctx` declares it.
pub fn evaluate(expr: &hcl::Expression, ctx: &Context<'_>) -> Result<Value, Error> {
    let _dir = filesystem::TemplateDir::enter(ctx);
    let _budget = Budget::enter();
    let mut expr = expr.clone();
    resolve(&mut expr, ctx, Scope::Bound)?;
    expr.evaluate(ctx).map_err(unwrapped)
}

/// An error of one of the functions this evaluation adds, as the person sees it: its
/// message alone, without the rewritten expression it came from.
fn unwrapped(e: Error) -> Error {
    match e.kind() {
        ErrorKind::FuncCall(name, message)
            if [FOR_BUDGET, DIVISOR, MODULUS].contains(&name.to_string().as_str()) =>
        {
            ErrorKind::Message(message.clone()).into()
        }
        _ => e,
    }
}

/// The function every `for` collection is passed through (see the module doc).
pub const FOR_BUDGET: &str = "kiln_for_budget";

/// The most elements the `for` loops of one expression may iterate over in all.
pub const MAX_ITERATIONS: u64 = 1_000_000;

thread_local! {
    /// Iterations left in the expression being evaluated; `None` outside one.
    static ITERATIONS_LEFT: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// The iteration budget of the outermost [`evaluate`] on this thread.
struct Budget {
    outermost: bool,
}

impl Budget {
    fn enter() -> Budget {
        let outermost = ITERATIONS_LEFT.with(|left| {
            let outermost = left.get().is_none();
            if outermost {
                left.set(Some(MAX_ITERATIONS));
            }
            outermost
        });
        Budget { outermost }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        if self.outermost {
            ITERATIONS_LEFT.with(|left| left.set(None));
        }
    }
}

/// `kiln_for_budget(collection)`: the collection, its length taken from the budget.
pub(super) fn for_budget(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    let value = args[0].clone();
    let n = match &value {
        Value::Array(items) => items.len() as u64,
        Value::Object(map) => map.len() as u64,
        _ => 0,
    };
    ITERATIONS_LEFT.with(|left| match left.get() {
        Some(l) if l < n => Err(format!(
            "the `for` expressions here iterate over more than {MAX_ITERATIONS} elements in \
             all; Kiln stops there (nested loops over large collections multiply)"
        )),
        Some(l) => {
            left.set(Some(l - n));
            Ok(())
        }
        None => Ok(()),
    })?;
    Ok(value)
}

/// The functions the right operand of `/` and `%` passes through.
pub const DIVISOR: &str = "kiln_divisor";
/// See [`DIVISOR`].
pub const MODULUS: &str = "kiln_modulus";

/// `kiln_divisor(x)`: `x`, or an error when it is zero.
pub(super) fn divisor(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    nonzero(&args[0], "can't divide by zero")
}

/// `kiln_modulus(x)`: `x`, or an error when it is zero.
pub(super) fn modulus(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    nonzero(&args[0], "can't compute a remainder modulo zero")
}

fn nonzero(v: &Value, message: &str) -> Result<Value, String> {
    match v {
        Value::Number(n) if n.as_f64() == Some(0.0) => Err(message.to_owned()),
        other => Ok(other.clone()),
    }
}

/// `collection` wrapped in a call of [`FOR_BUDGET`].
fn budgeted(collection: &mut Expression) {
    let inner = std::mem::replace(collection, Expression::Null);
    *collection = Expression::FuncCall(Box::new(FuncCall::builder(FOR_BUDGET).arg(inner).build()));
}

/// Evaluates a template (the contents of a `templatefile`) like [`evaluate`]: a template
/// that is a single interpolation yields its value, any other yields a string.
pub(super) fn evaluate_template(template: &Template, ctx: &Context<'_>) -> Result<Value, Error> {
    let mut template = template.clone();
    resolve_template(&mut template, ctx, Scope::Bound)?;
    match template.elements() {
        [Element::Interpolation(only)] => only.expr.evaluate(ctx),
        _ => template.evaluate(ctx).map(Value::String),
    }
}

/// Whether every variable an expression may name is bound in the context.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Outside any `for`: sub-expressions may be evaluated while rewriting.
    Bound,
    /// Inside a `for`: only syntactic rewrites are possible.
    InFor,
}

fn resolve(expr: &mut Expression, ctx: &Context<'_>, scope: Scope) -> Result<(), Error> {
    match expr {
        Expression::FuncCall(call) => {
            if let Some(done) = resolve_call(call, ctx, scope)? {
                *expr = done;
            }
        }
        Expression::Conditional(cond) => {
            resolve(&mut cond.cond_expr, ctx, scope)?;
            if scope == Scope::Bound {
                // hcl-rs would report a failing or non-bool condition; leave it to do so.
                if let Ok(Value::Bool(taken)) = cond.cond_expr.evaluate(ctx) {
                    let mut branch = match taken {
                        true => cond.true_expr.clone(),
                        false => cond.false_expr.clone(),
                    };
                    resolve(&mut branch, ctx, scope)?;
                    *expr = branch;
                }
                return Ok(());
            }
            resolve(&mut cond.true_expr, ctx, scope)?;
            resolve(&mut cond.false_expr, ctx, scope)?;
        }
        Expression::ForExpr(for_expr) => {
            resolve(&mut for_expr.collection_expr, ctx, scope)?;
            budgeted(&mut for_expr.collection_expr);
            if let Some(key) = &mut for_expr.key_expr {
                resolve(key, ctx, Scope::InFor)?;
            }
            resolve(&mut for_expr.value_expr, ctx, Scope::InFor)?;
            if let Some(cond) = &mut for_expr.cond_expr {
                resolve(cond, ctx, Scope::InFor)?;
            }
        }
        Expression::TemplateExpr(template) => {
            if let Some(done) = resolve_template_expr(template, ctx, scope)? {
                *expr = done;
            }
        }
        Expression::Array(items) => {
            for item in items {
                resolve(item, ctx, scope)?;
            }
        }
        Expression::Object(object) => {
            let mut resolved = Object::with_capacity(object.len());
            for (mut key, mut value) in std::mem::take(object) {
                if let ObjectKey::Expression(key) = &mut key {
                    resolve(key, ctx, scope)?;
                }
                resolve(&mut value, ctx, scope)?;
                resolved.insert(key, value);
            }
            *object = resolved;
        }
        Expression::Traversal(traversal) => {
            resolve(&mut traversal.expr, ctx, scope)?;
            for op in &mut traversal.operators {
                if let TraversalOperator::Index(index) = op {
                    resolve(index, ctx, scope)?;
                }
            }
        }
        Expression::Parenthesis(inner) => resolve(inner, ctx, scope)?,
        Expression::Operation(op) => match op.as_mut() {
            Operation::Unary(unary) => resolve(&mut unary.expr, ctx, scope)?,
            Operation::Binary(binary) => {
                resolve(&mut binary.lhs_expr, ctx, scope)?;
                resolve(&mut binary.rhs_expr, ctx, scope)?;
                // hcl-rs makes `x / 0` null; HCL (and Packer) fail it.
                use hcl::expr::BinaryOperator as Op;
                if matches!(binary.operator, Op::Div | Op::Mod) {
                    let inner = std::mem::replace(&mut binary.rhs_expr, Expression::Null);
                    let name = match binary.operator {
                        Op::Div => DIVISOR,
                        _ => MODULUS,
                    };
                    binary.rhs_expr =
                        Expression::FuncCall(Box::new(FuncCall::builder(name).arg(inner).build()));
                }
            }
        },
        _ => {}
    }
    Ok(())
}

/// Rewrites a call's arguments; returns what replaces a `try` or `can` call.
fn resolve_call(
    call: &mut FuncCall,
    ctx: &Context<'_>,
    scope: Scope,
) -> Result<Option<Expression>, Error> {
    let name = match call.name.is_namespaced() {
        true => "",
        false => call.name.name.as_str(),
    };
    match name {
        "try" | "can" if scope == Scope::Bound && !call.expand_final => {
            try_or_can(name, &call.args, ctx).map(Some)
        }
        "convert" if call.args.len() == 2 => {
            call.args[1] =
                types::type_argument(&call.args[1]).map_err(|msg| call_error("convert", msg))?;
            resolve(&mut call.args[0], ctx, scope)?;
            Ok(None)
        }
        _ => {
            for arg in &mut call.args {
                resolve(arg, ctx, scope)?;
            }
            Ok(None)
        }
    }
}

fn try_or_can(name: &str, args: &[Expression], ctx: &Context<'_>) -> Result<Expression, Error> {
    if name == "can" {
        return match args {
            [arg] => Ok(Expression::Bool(evaluate(arg, ctx).is_ok())),
            _ => Err(call_error(
                "can",
                format!("expected 1 argument, got {}", args.len()),
            )),
        };
    }
    if args.is_empty() {
        return Err(call_error("try", "at least one argument is required"));
    }
    let mut failures = Vec::new();
    for arg in args {
        match evaluate(arg, ctx) {
            Ok(value) => return Ok(value.into()),
            Err(e) => failures.push(e.to_string()),
        }
    }
    Err(call_error(
        "try",
        format!(
            "no expression succeeded: {}; at least one expression must produce a successful result",
            failures.join("; ")
        ),
    ))
}

/// Rewrites the calls inside a quoted or heredoc template; returns the replacement when
/// anything changed (a lone interpolation becomes its expression, as hcl-rs unwraps it).
fn resolve_template_expr(
    expr: &TemplateExpr,
    ctx: &Context<'_>,
    scope: Scope,
) -> Result<Option<Expression>, Error> {
    let original = Template::from_expr(expr)?;
    let mut template = original.clone();
    resolve_template(&mut template, ctx, scope)?;
    if template == original {
        return Ok(None);
    }
    Ok(Some(match template.elements() {
        [Element::Interpolation(only)] => only.expr.clone(),
        _ => {
            // Written back the way hcl-rs stores a parsed quoted template.
            let raw = hcl::edit::template::Template::from(template).to_string();
            Expression::TemplateExpr(Box::new(TemplateExpr::QuotedString(raw)))
        }
    }))
}

fn resolve_template(template: &mut Template, ctx: &Context<'_>, scope: Scope) -> Result<(), Error> {
    for element in template.elements_mut() {
        match element {
            Element::Literal(_) => {}
            Element::Interpolation(interp) => resolve(&mut interp.expr, ctx, scope)?,
            Element::Directive(directive) => match directive.as_mut() {
                Directive::If(dir) => {
                    resolve(&mut dir.cond_expr, ctx, scope)?;
                    let taken = match scope {
                        Scope::Bound => dir.cond_expr.evaluate(ctx).ok(),
                        Scope::InFor => None,
                    };
                    // Only the branch that will run is rewritten when that is known.
                    if taken != Some(Value::Bool(false)) {
                        resolve_template(&mut dir.true_template, ctx, scope)?;
                    }
                    if let Some(false_template) = &mut dir.false_template {
                        if taken != Some(Value::Bool(true)) {
                            resolve_template(false_template, ctx, scope)?;
                        }
                    }
                }
                Directive::For(dir) => {
                    resolve(&mut dir.collection_expr, ctx, scope)?;
                    budgeted(&mut dir.collection_expr);
                    resolve_template(&mut dir.template, ctx, Scope::InFor)?;
                }
            },
        }
    }
    Ok(())
}

fn call_error(name: &str, msg: impl Into<String>) -> Error {
    ErrorKind::FuncCall(FuncName::new(name), msg.into()).into()
}
