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
    let mut expr = expr.clone();
    resolve(&mut expr, ctx, Scope::Bound)?;
    expr.evaluate(ctx)
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
