//! Planning one provisioner or post-processor block: its meta-arguments, grant and
//! limits, and its configuration.

use super::*;
use std::sync::Arc;

/// One post-processor of a chain, for one source: `None` when `only` / `except` leave
/// it out.
/// What planning the steps of one source works with.
#[derive(Clone, Copy)]
pub(crate) struct StepCx<'a> {
    pub(crate) at: &'a At<'a>,
    pub(crate) ctx: &'a Context<'a>,
    pub(crate) root: &'a GrantRoot,
    /// The source's type and name, for `only` / `except`.
    pub(crate) source: (&'a str, &'a str),
}

pub(crate) fn plan_post_processor(
    cx: &StepCx<'_>,
    block: &Block,
    all_errors: &mut Vec<Diagnostic>,
) -> Option<PostProcessorPlan> {
    // A post-processor is planned once per source: its problems are reported once.
    let mut errors = Vec::new();
    let planned = plan_post_processor_once(cx, block, &mut errors);
    for d in errors {
        if !all_errors.contains(&d) {
            all_errors.push(d);
        }
    }
    planned
}

pub(crate) fn plan_post_processor_once(
    cx: &StepCx<'_>,
    block: &Block,
    errors: &mut Vec<Diagnostic>,
) -> Option<PostProcessorPlan> {
    let (at, ctx, root, source) = (cx.at, cx.ctx, cx.root, cx.source);
    let mut config = ConfigBlock {
        location: at.loc(block.labels[0].span()),
        ..Default::default()
    };
    let mut pp = PostProcessorPlan {
        kind: block.labels[0].as_str().to_owned(),
        name: None,
        block: Default::default(),
        keep_input_artifact: None,
        timeout: None,
        grant: Default::default(),
        limits: Default::default(),
    };
    let (name, included) = step_meta(
        at,
        block,
        ctx,
        POST_PROCESSOR_META,
        source,
        errors,
        |key, value| match key {
            "keep_input_artifact" => {
                pp.keep_input_artifact = Some(as_bool(&value).ok_or("true or false")?);
                Ok(())
            }
            "timeout" => {
                pp.timeout = Some(meta_duration(&value)?);
                Ok(())
            }
            _ => Ok(()),
        },
    );
    pp.name = name;
    (pp.grant, pp.limits) = step_grants(at, &block.body, ctx, root, errors);
    eval_body(
        at,
        &block.body,
        ctx,
        &[POST_PROCESSOR_META, STEP_BLOCKS],
        errors,
        &mut config,
    );
    deferred::extract(&mut config, errors);
    pp.block = std::sync::Arc::new(config);
    included.then_some(pp)
}

/// A duration meta-argument (`timeout`, `pause_before`): Packer's duration string, or a
/// number of seconds.
pub(crate) fn meta_duration(
    value: &serde_json::Value,
) -> Result<std::time::Duration, &'static str> {
    const WHAT: &str = "a duration such as \"30s\" or \"5m\"";
    match value {
        serde_json::Value::String(s) => kiln_core::config::parse_duration(s).map_err(|_| WHAT),
        serde_json::Value::Number(n) => n
            .as_f64()
            .and_then(|f| kiln_core::config::duration_from_secs(f).ok())
            .ok_or(WHAT),
        _ => Err(WHAT),
    }
}

/// Evaluates the meta-arguments `keys` of a step block (a provisioner or a
/// post-processor). `name`, `only` and `except` are handled here; every other key's
/// value goes to `other`, whose `Err(what)` is reported as "`key` must be WHAT" at the
/// value. Returns the step's name and whether it runs for `source` (type, name).
pub(crate) fn step_meta(
    at: &At<'_>,
    block: &Block,
    ctx: &Context<'_>,
    keys: &[&str],
    source: (&str, &str),
    errors: &mut Vec<Diagnostic>,
    mut other: impl FnMut(&str, serde_json::Value) -> Result<(), &'static str>,
) -> (Option<String>, bool) {
    let (mut name, mut included) = (None, true);
    for a in block.body.attributes() {
        let key = a.key.as_str();
        if !keys.contains(&key) {
            continue;
        }
        let value = match eval_expr(&a.value, ctx) {
            // A null meta-argument is one that is not set (`except = cond ? [...] : null`).
            Ok(serde_json::Value::Null) => continue,
            Ok(v) => v,
            Err(e) => {
                errors.push(values::eval_diagnostic(at.file, a.value.span(), &e));
                continue;
            }
        };
        let result = match key {
            "name" => match value {
                serde_json::Value::String(s) => {
                    name = Some(s);
                    Ok(())
                }
                _ => Err("a string"),
            },
            "only" | "except" => match selected(key, &value, source.0, source.1) {
                Some(runs) => {
                    included &= runs;
                    Ok(())
                }
                None => Err("a list of source names"),
            },
            _ => other(key, value),
        };
        if let Err(what) = result {
            errors.push(at.err(a.value.span(), format!("`{key}` must be {what}")));
        }
    }
    (name, included)
}

/// The template's directory, absolute: relative paths in a `grant` are taken from it,
/// and `path.root` is it there (so that `"${path.root}/files"` means the same as
/// `"files"` wherever Kiln runs from). `cwd` is `path.cwd`.
pub(crate) struct GrantRoot {
    pub(crate) dir: PathBuf,
    pub(crate) cwd: String,
}

/// Kiln's `grant` and `limits` of a step, each a block (`grant { ... }`) or an
/// object-valued attribute (`grant = { ... }`, the form HCL2's JSON syntax gives),
/// evaluated in the step's context. Each problem is reported where it is written.
pub(crate) fn step_grants(
    at: &At<'_>,
    body: &Body,
    ctx: &Context<'_>,
    root: &GrantRoot,
    errors: &mut Vec<Diagnostic>,
) -> (kiln_core::Grant, kiln_core::Limits) {
    let mut grant = kiln_core::Grant::default();
    let mut limits = kiln_core::Limits::default();
    let is_grant = |s: &&Structure| match s {
        Structure::Attribute(a) => grants::Section::named(a.key.as_str()).is_some(),
        Structure::Block(b) => grants::Section::named(b.ident.as_str()).is_some(),
    };
    let scoped;
    let ctx = if body.iter().filter(is_grant).any(|s| match s {
        Structure::Attribute(a) => a.value.to_string().contains("path."),
        Structure::Block(b) => b.body.to_string().contains("path."),
    }) {
        let mut path = hcl::Map::new();
        path.insert(
            "root".to_owned(),
            hcl::Value::from(root.dir.display().to_string()),
        );
        path.insert("cwd".to_owned(), hcl::Value::from(root.cwd.clone()));
        let mut c = ctx.clone();
        c.declare_var("path", hcl::Value::Object(path));
        scoped = c;
        &scoped
    } else {
        ctx
    };
    let mut entry = |section, key: &str, key_span, value: &Expression, v, errors: &mut Vec<_>| {
        if let Err(e) = grants::apply(section, key, &v, &root.dir, &mut grant, &mut limits) {
            push_once(errors, entry_error(at, e, key_span, value));
        }
    };
    let mut seen: Vec<(grants::Section, Location)> = Vec::new();
    for s in body.iter() {
        let (name, span) = match s {
            Structure::Attribute(a) => (a.key.as_str(), a.key.span()),
            Structure::Block(b) => (b.ident.as_str(), b.ident.span()),
        };
        let Some(section) = grants::Section::named(name) else {
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(s, _)| *s == section) {
            let (summary, hint) = section.duplicate(first);
            push_once(errors, at.err(span, summary).with_hint(hint));
            continue;
        }
        seen.push((section, at.loc(span)));
        match s {
            Structure::Block(b) => {
                if let Err(d) = at.labels(b, &[]) {
                    push_once(errors, d);
                }
                for inner in b.body.iter() {
                    match inner {
                        Structure::Attribute(a) => match eval_expr(&a.value, ctx) {
                            Ok(v) => {
                                entry(section, a.key.as_str(), a.key.span(), &a.value, v, errors)
                            }
                            Err(e) => push_once(
                                errors,
                                values::eval_diagnostic(at.file, a.value.span(), &e),
                            ),
                        },
                        Structure::Block(b) => push_once(errors, at.unsupported_block(b, &[])),
                    }
                }
            }
            Structure::Attribute(a) => match eval_expr(&a.value, ctx) {
                Ok(serde_json::Value::Object(mut map)) => {
                    // In the order written, where the keys can be seen.
                    let mut keys: Vec<String> = match &a.value {
                        Expression::Object(obj) => {
                            obj.iter().filter_map(|(k, _)| object_key(k)).collect()
                        }
                        _ => vec![],
                    };
                    keys.retain(|k| map.contains_key(k));
                    keys.extend(
                        map.keys()
                            .filter(|k| !keys.contains(k))
                            .cloned()
                            .collect::<Vec<_>>(),
                    );
                    for key in keys {
                        let Some(v) = map.remove(&key) else {
                            continue;
                        };
                        let (key_span, value) =
                            object_entry(&a.value, &key).unwrap_or((a.value.span(), &a.value));
                        entry(section, &key, key_span, value, v, errors);
                    }
                }
                Ok(_) => push_once(errors, at.err(a.value.span(), section.not_an_object(false))),
                Err(e) => push_once(errors, values::eval_diagnostic(at.file, a.value.span(), &e)),
            },
        }
    }
    (grant, limits)
}

/// Adds `d` to `errors` unless it is there already (a step planned for several sources
/// finds the same problems in each).
pub(crate) fn push_once(errors: &mut Vec<Diagnostic>, d: Diagnostic) {
    if !errors.contains(&d) {
        errors.push(d);
    }
}

/// The diagnostic for a bad entry of a `grant` or `limits`: an unknown key where the
/// key is, a bad value where the value (or the element of the list to blame) is.
pub(crate) fn entry_error(
    at: &At<'_>,
    e: grants::EntryError,
    key_span: MaybeSpan,
    value: &Expression,
) -> Diagnostic {
    match e {
        grants::EntryError::UnknownKey(summary, hint) => at.err(key_span, summary).with_hint(hint),
        grants::EntryError::Value(message, item) => {
            let span = match (value, item) {
                (Expression::Array(list), Some(i)) => list.get(i).and_then(|e| e.span()),
                _ => None,
            };
            at.err(span.or_else(|| value.span()), message)
        }
    }
}

/// A place in the file, if known.
pub(crate) type MaybeSpan = Option<std::ops::Range<usize>>;

/// Where the key `key` of the object expression `expr` is written, and its value.
pub(crate) fn object_entry<'e>(
    expr: &'e Expression,
    key: &str,
) -> Option<(MaybeSpan, &'e Expression)> {
    let Expression::Object(obj) = expr else {
        return None;
    };
    obj.iter()
        .find(|(k, _)| object_key(k).is_some_and(|name| name == key))
        .map(|(k, v)| (k.span(), v.expr()))
}

/// The name an object key is written as, when it is a name or a literal string.
pub(crate) fn object_key(key: &hcl::edit::expr::ObjectKey) -> Option<String> {
    match key {
        hcl::edit::expr::ObjectKey::Ident(i) => Some(i.value().as_str().to_owned()),
        hcl::edit::expr::ObjectKey::Expression(Expression::String(s)) => Some(s.value().clone()),
        _ => None,
    }
}

pub(crate) fn plan_step(
    cx: &StepCx<'_>,
    block: &Block,
    errors: &mut Vec<Diagnostic>,
) -> Option<StepPlan> {
    let (at, ctx, root, source) = (cx.at, cx.ctx, cx.root, cx.source);
    let (source_type, source_name) = source;
    let kind = block.labels[0].as_str().to_owned();
    let mut config = ConfigBlock {
        location: at.loc(block.labels[0].span()),
        ..Default::default()
    };
    let mut step = StepPlan {
        kind,
        name: None,
        block: Default::default(),
        pause_before: None,
        max_retries: 0,
        timeout: None,
        grant: Default::default(),
        limits: Default::default(),
        cacheable: false,
    };
    let (name, included) =
        step_meta(
            at,
            block,
            ctx,
            STEP_META,
            source,
            errors,
            |key, value| match key {
                "pause_before" | "timeout" => {
                    let d = meta_duration(&value)?;
                    if key == "timeout" {
                        step.timeout = Some(d);
                    } else {
                        step.pause_before = Some(d);
                    }
                    Ok(())
                }
                "cacheable" => {
                    step.cacheable = value.as_bool().ok_or("true or false")?;
                    Ok(())
                }
                "max_retries" => {
                    let n = value.as_u64().ok_or("a whole number")?;
                    step.max_retries = u32::try_from(n).unwrap_or(u32::MAX);
                    Ok(())
                }
                _ => Ok(()),
            },
        );
    step.name = name;
    (step.grant, step.limits) = step_grants(at, &block.body, ctx, root, errors);
    eval_body(
        at,
        &block.body,
        ctx,
        &[STEP_META, STEP_BLOCKS],
        errors,
        &mut config,
    );
    deferred::extract(&mut config, errors);
    // `override = { "TYPE.NAME" = { ... } }` (or keyed by the source name or type):
    // attributes that replace the step's own for that source.
    if let Some(a) = block.body.get_attribute("override") {
        match eval_expr(&a.value, ctx) {
            Ok(serde_json::Value::Object(by_source)) => {
                let keys = [
                    format!("{source_type}.{source_name}"),
                    source_name.to_owned(),
                    source_type.to_owned(),
                ];
                if let Some(serde_json::Value::Object(attrs)) =
                    keys.iter().find_map(|k| by_source.get(k))
                {
                    for (k, v) in attrs {
                        config.config.insert(k.clone(), v.clone());
                        Arc::make_mut(&mut config.fields)
                            .entry(k.clone())
                            .or_insert_with(|| at.loc(a.key.span()));
                    }
                }
            }
            Ok(_) => errors.push(at.err(
                a.value.span(),
                "`override` must be an object keyed by source, such as { \"null.web\" = { ... } }",
            )),
            Err(e) => errors.push(values::eval_diagnostic(at.file, a.value.span(), &e)),
        }
    }
    step.block = std::sync::Arc::new(config);
    included.then_some(step)
}
