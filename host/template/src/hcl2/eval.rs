//! Evaluating a block's attributes and `dynamic` blocks into JSON.

use super::*;
use std::sync::Arc;

/// Evaluates a block body into a JSON object, recording where each attribute is.
/// Nested blocks become arrays of objects under the block's name.
pub(crate) fn eval_body(
    at: &At<'_>,
    body: &Body,
    ctx: &Context<'_>,
    skip: &[&[&str]],
    errors: &mut Vec<Diagnostic>,
    out: &mut ConfigBlock,
) {
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => {
                let key = a.key.as_str();
                if skip.iter().any(|names| names.contains(&key)) {
                    continue;
                }
                Arc::make_mut(&mut out.fields).insert(key.to_owned(), at.loc(a.key.span()));
                match eval_expr(&a.value, ctx) {
                    Ok(v) => {
                        out.config.insert(key.to_owned(), v);
                    }
                    Err(e) => errors.push(values::eval_diagnostic(at.file, a.value.span(), &e)),
                }
            }
            Structure::Block(b) if b.ident.as_str() == "dynamic" => {
                eval_dynamic(at, b, ctx, errors, out);
            }
            Structure::Block(b) => {
                let key = b.ident.as_str();
                if skip.iter().any(|names| names.contains(&key)) {
                    continue;
                }
                Arc::make_mut(&mut out.fields)
                    .entry(key.to_owned())
                    .or_insert_with(|| at.loc(b.ident.span()));
                let mut inner = ConfigBlock {
                    location: at.loc(b.ident.span()),
                    ..Default::default()
                };
                eval_body(at, &b.body, ctx, &[], errors, &mut inner);
                let entry = out
                    .config
                    .entry(key.to_owned())
                    .or_insert_with(|| serde_json::Value::Array(vec![]));
                if let serde_json::Value::Array(items) = entry {
                    items.push(serde_json::Value::Object(inner.config));
                }
            }
        }
    }
}

/// A `dynamic "NAME" { for_each = ..., iterator = ..., labels = [...], content { ... } }`
/// block, read: its name, and per element of `for_each` the context its content is
/// evaluated in (with `ITERATOR.key` and `ITERATOR.value`; the iterator is named after
/// the block unless `iterator` says) and the iterator's value.
pub(crate) struct Dynamic<'b> {
    pub(crate) name: String,
    pub(crate) content: &'b Block,
    pub(crate) labels: Option<&'b Attribute>,
    /// The iterator's name and, per element, its value.
    pub(crate) iterations: Vec<(String, hcl::Value)>,
}

impl<'b> Dynamic<'b> {
    pub(crate) fn read(
        at: &At<'_>,
        block: &'b Block,
        ctx: &Context<'_>,
        errors: &mut Vec<Diagnostic>,
    ) -> Option<Self> {
        let name = match at.labels(block, &["name"]) {
            Ok(labels) => labels[0].clone(),
            Err(d) => {
                errors.push(d);
                return None;
            }
        };
        let (mut for_each, mut iterator, mut content, mut labels) =
            (None, name.clone(), None, None);
        for s in block.body.iter() {
            match s {
                Structure::Attribute(a) if a.key.as_str() == "for_each" => for_each = Some(a),
                Structure::Attribute(a) if a.key.as_str() == "labels" => labels = Some(a),
                Structure::Attribute(a) if a.key.as_str() == "iterator" => {
                    iterator = a.value.to_string().trim().to_owned();
                }
                Structure::Attribute(a) => {
                    errors.push(at.unsupported_attr(a, &["for_each", "iterator", "labels"]))
                }
                Structure::Block(b) if b.ident.as_str() == "content" => content = Some(b),
                Structure::Block(b) => errors.push(at.unsupported_block(b, &["content"])),
            }
        }
        let (Some(for_each), Some(content)) = (for_each, content) else {
            errors.push(at.err(
                block.ident.span(),
                format!("dynamic \"{name}\" needs for_each and a content block"),
            ));
            return None;
        };
        let items: Vec<(hcl::Value, hcl::Value)> = match eval_expr(&for_each.value, ctx) {
            Ok(serde_json::Value::Array(list)) => list
                .into_iter()
                .enumerate()
                .map(|(i, v)| (hcl::Value::from(i as u64), json_to_hcl(v)))
                .collect(),
            Ok(serde_json::Value::Object(map)) => map
                .into_iter()
                .map(|(k, v)| (hcl::Value::from(k), json_to_hcl(v)))
                .collect(),
            Ok(_) => {
                errors.push(at.err(
                    for_each.value.span(),
                    "for_each must be a list, a set or a map",
                ));
                return None;
            }
            Err(e) => {
                errors.push(values::eval_diagnostic(at.file, for_each.value.span(), &e));
                return None;
            }
        };
        let iterations = items
            .into_iter()
            .map(|(key, value)| {
                let mut it = hcl::Map::new();
                it.insert("key".to_owned(), key);
                it.insert("value".to_owned(), value);
                (iterator.clone(), hcl::Value::Object(it))
            })
            .collect();
        Some(Dynamic {
            name,
            content,
            labels,
            iterations,
        })
    }
}

/// `ctx` with the iterator of a `dynamic` block's element (its name and value) declared.
pub(crate) fn with_iterator<'c>(
    ctx: &Context<'c>,
    (name, value): &(String, hcl::Value),
) -> Context<'c> {
    let mut scoped = ctx.clone();
    scoped.declare_var(name.clone(), value.clone());
    scoped
}

/// A `dynamic` block inside a configuration block: one `NAME` block per element.
pub(crate) fn eval_dynamic(
    at: &At<'_>,
    block: &Block,
    ctx: &Context<'_>,
    errors: &mut Vec<Diagnostic>,
    out: &mut ConfigBlock,
) {
    let Some(dynamic) = Dynamic::read(at, block, ctx, errors) else {
        return;
    };
    let name = dynamic.name;
    Arc::make_mut(&mut out.fields)
        .entry(name.clone())
        .or_insert_with(|| at.loc(block.ident.span()));
    for iterator in &dynamic.iterations {
        let scoped = with_iterator(ctx, iterator);
        let mut inner = ConfigBlock {
            location: at.loc(dynamic.content.ident.span()),
            ..Default::default()
        };
        eval_body(at, &dynamic.content.body, &scoped, &[], errors, &mut inner);
        let entry = out
            .config
            .entry(name.clone())
            .or_insert_with(|| serde_json::Value::Array(vec![]));
        if let serde_json::Value::Array(list) = entry {
            list.push(serde_json::Value::Object(inner.config));
        }
    }
}

pub(crate) fn json_to_hcl(v: serde_json::Value) -> hcl::Value {
    hcl::to_value(v).unwrap_or(hcl::Value::Null)
}

pub(crate) fn eval_expr(
    expr: &Expression,
    ctx: &Context<'_>,
) -> Result<serde_json::Value, hcl::eval::Error> {
    eval_expr_knowing(expr, ctx, &[])
}

/// [`eval_expr`], with `known` variables of `ctx` (name and the same value) at hand: a
/// plain name under one of them (`source.name`) is read from it, without hcl copying
/// the whole variable to read one attribute.
pub(crate) fn eval_expr_knowing(
    expr: &Expression,
    ctx: &Context<'_>,
    known: &[(&str, &hcl::Value)],
) -> Result<serde_json::Value, hcl::eval::Error> {
    if let Some(v) = direct(expr, ctx, known) {
        return Ok(v);
    }
    let e: hcl::Expression = expr.clone().into();
    kiln_functions::evaluate(&e, ctx).map(|v| to_json(&v))
}

/// The value of the plainest expressions, read straight from the parsed text: literals,
/// lists and objects of them, and quoted strings whose interpolations only name a
/// string or bool (`"echo ${source.name}"`). Anything else, including every error, is
/// `None` and goes the general way, which gives the same value: going through hcl's own
/// expression type turns each string template back into text and parses it again, most
/// of what planning a large template costs.
fn direct(
    expr: &Expression,
    ctx: &Context<'_>,
    known: &[(&str, &hcl::Value)],
) -> Option<serde_json::Value> {
    use hcl::edit::template::{Element, Strip};
    use serde_json::Value as J;
    Some(match expr {
        Expression::Null(_) => J::Null,
        Expression::Bool(b) => J::Bool(*b.value()),
        Expression::String(s) => J::String(s.value().clone()),
        Expression::Number(n) => to_json(&hcl::Value::Number(*n.value())),
        Expression::Array(items) => J::Array(
            items
                .iter()
                .map(|e| direct(e, ctx, known))
                .collect::<Option<_>>()?,
        ),
        Expression::Object(object) => {
            let mut out = serde_json::Map::new();
            for (key, value) in object.iter() {
                let key = match key {
                    hcl::edit::expr::ObjectKey::Ident(id) => id.as_str().to_owned(),
                    hcl::edit::expr::ObjectKey::Expression(Expression::String(s)) => {
                        s.value().clone()
                    }
                    hcl::edit::expr::ObjectKey::Expression(_) => return None,
                };
                // A repeated key is an error the general way reports.
                if out.insert(key, direct(value.expr(), ctx, known)?).is_some() {
                    return None;
                }
            }
            J::Object(out)
        }
        Expression::StringTemplate(template) => {
            let mut text = String::new();
            for element in template.iter() {
                match element {
                    Element::Literal(lit) => text.push_str(lit.value()),
                    Element::Interpolation(i) if i.strip == Strip::None => {
                        match named(&i.expr, ctx, known)? {
                            hcl::Value::String(s) => text.push_str(&s),
                            hcl::Value::Bool(b) => text.push_str(if b { "true" } else { "false" }),
                            _ => return None,
                        }
                    }
                    _ => return None,
                }
            }
            J::String(text)
        }
        _ => return None,
    })
}

/// The value a plain name (`var.x`, `source.name`, `local.a.b`) stands for in `ctx`, or
/// in `known` (see [`eval_expr_knowing`]).
fn named(
    expr: &Expression,
    ctx: &Context<'_>,
    known: &[(&str, &hcl::Value)],
) -> Option<hcl::Value> {
    use hcl::edit::expr::TraversalOperator;
    use hcl::eval::Evaluate;
    let (root, path): (_, &[_]) = match expr {
        Expression::Variable(v) => (v, &[]),
        Expression::Traversal(t) => match &t.expr {
            Expression::Variable(v) => (v, &t.operators),
            _ => return None,
        },
        _ => return None,
    };
    if !path
        .iter()
        .all(|op| matches!(op.value(), TraversalOperator::GetAttr(_)))
    {
        return None;
    }
    if let Some((_, value)) = known.iter().find(|(name, _)| *name == root.as_str()) {
        let mut value = *value;
        for op in path {
            let TraversalOperator::GetAttr(attr) = op.value() else {
                return None;
            };
            // What is not there is an error the general way reports.
            value = value.as_object()?.get(attr.as_str())?;
        }
        return Some(value.clone());
    }
    let e: hcl::Expression = expr.clone().into();
    e.evaluate(ctx).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general way: hcl's own expression type and Kiln's functions.
    fn general(expr: &Expression, ctx: &Context<'_>) -> Result<serde_json::Value, String> {
        let e: hcl::Expression = expr.clone().into();
        kiln_functions::evaluate(&e, ctx)
            .map(|v| to_json(&v))
            .map_err(|e| e.to_string())
    }

    fn context() -> Context<'static> {
        let mut ctx = Context::new();
        ctx.declare_var("var", var());
        ctx.declare_var("plain", hcl::Value::from("p"));
        ctx
    }

    /// The context's `var`.
    fn var() -> hcl::Value {
        let mut var = hcl::Map::new();
        var.insert("name".into(), hcl::Value::from("web ${x} \"q\" é"));
        var.insert("on".into(), hcl::Value::from(true));
        var.insert("n".into(), hcl::Value::from(7));
        var.insert(
            "list".into(),
            hcl::Value::Array(vec![hcl::Value::from("a")]),
        );
        var.insert("none".into(), hcl::Value::Null);
        let mut nested = hcl::Map::new();
        nested.insert("deep".into(), hcl::Value::from("d"));
        var.insert("obj".into(), hcl::Value::Object(nested));
        hcl::Value::Object(var)
    }

    /// Every expression the fast way answers gets the value the general way gives, and
    /// what it does not answer (errors above all) is left to the general way.
    #[test]
    fn the_direct_way_agrees_with_the_general_way() {
        let cases = [
            r#""plain""#,
            r#""tab\tnew\nline \"quoted\" back\\slash \u00e9 \U0001F600""#,
            r#""$${not.interpolated} %%{not_a_directive}""#,
            r#""a $${x} then ${var.name} and ${plain}""#,
            r#""${var.on} ${var.n}""#,
            r#""${var.list}""#,
            r#""${var.none}""#,
            r#""${var.obj.deep}/${var.obj["deep"]}""#,
            r#""${var.missing}""#,
            r#""${nothing}""#,
            r#""${ var.name }""#,
            r#""${~var.name~}  x""#,
            r#""%{if var.on}yes%{endif}""#,
            r#""${upper(var.name)}""#,
            "12",
            "1.5e3",
            "-3",
            "true",
            "null",
            r#"["a", 1, true, null, ["n"], { k = "v" }]"#,
            r#"{ a = 1, "b c" = "${plain}", d = { e = [] } }"#,
            r#"{ a = 1, "a" = 2 }"#,
            r#"{ (plain) = 1 }"#,
            r#"{ "${plain}" = 1 }"#,
            "<<EOT\nheredoc ${plain}\nEOT\n",
            "var.name",
            r#""${var.name.x} ${var}""#,
            r#""${var.obj.deep.x}""#,
        ];
        let ctx = context();
        let mut answered = Vec::new();
        for case in cases {
            let body: hcl::edit::structure::Body = format!("x = {case}\n")
                .parse()
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            let attr = body.get_attribute("x").expect("attribute x");
            let general = general(&attr.value, &ctx);
            if let Some(fast) = direct(&attr.value, &ctx, &[]) {
                answered.push(case);
                assert_eq!(Ok(fast), general, "{case}");
            }
            // The public entry point gives exactly what the general way gives, also
            // reading `var` from the value at hand.
            assert_eq!(
                eval_expr(&attr.value, &ctx).map_err(|e| e.to_string()),
                general,
                "{case}"
            );
            assert_eq!(
                eval_expr_knowing(&attr.value, &ctx, &[("var", &var())]).map_err(|e| e.to_string()),
                general,
                "{case}, knowing var"
            );
        }
        // The plain ones are answered directly: literals, collections of them, and strings
        // whose interpolations name strings; numbers, calls, directives, heredocs, strip
        // markers, repeated keys and errors go the general way.
        assert_eq!(
            answered,
            [
                cases[0], cases[1], cases[2], cases[3], cases[10], cases[14], cases[15], cases[16],
                cases[17], cases[18], cases[19], cases[20],
            ]
        );
    }
}
