//! Evaluating a block's attributes and `dynamic` blocks into JSON.

use super::*;

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
                out.fields.insert(key.to_owned(), at.loc(a.key.span()));
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
                out.fields
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
    out.fields
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
    let e: hcl::Expression = expr.clone().into();
    kiln_functions::evaluate(&e, ctx).map(|v| to_json(&v))
}
