//! Planning the builds of `build` blocks: their sources, steps and chains.

use std::borrow::Cow;
use std::sync::Arc;

use hcl::edit::visit::Visit;

use super::*;

pub(crate) const BUILD_ATTRS: &[&str] = &["name", "description", "sources"];
pub(crate) const BUILD_BLOCKS: &[&str] = &[
    "source",
    "provisioner",
    "error-cleanup-provisioner",
    "post-processor",
    "post-processors",
    "hcp_packer_registry",
];
/// The only block a `post-processors {}` chain holds.
pub(crate) const CHAIN_BLOCKS: &[&str] = &["post-processor"];
/// Packer's meta-arguments of a provisioner.
#[rustfmt::skip]
pub(crate) const STEP_META: &[&str] = &[
    "name", "only", "except", "pause_before", "max_retries", "timeout", "override",
    "cacheable",
];
/// Meta-arguments of a post-processor: Packer's, and `timeout` (a Kiln extension: a
/// post-processor is bounded in time as a provisioner is).
pub(crate) const POST_PROCESSOR_META: &[&str] =
    &["name", "only", "except", "keep_input_artifact", "timeout"];
/// Kiln's blocks of a step, which its configuration leaves out as it leaves out the
/// meta-arguments.
pub(crate) const STEP_BLOCKS: &[&str] = &["grant", "limits"];

/// One element of a `build` body: an attribute, or a block as written or made by a
/// `dynamic` block.
// A build body's items live only while the build is planned; boxing would only add
// indirection.
#[allow(clippy::large_enum_variant)]
pub(crate) enum BuildItem<'b> {
    Attribute(&'b Attribute),
    Block(BuildBlock<'b>),
}

/// A block of a `build` body: as written, or one element of a `dynamic "source"`,
/// `dynamic "provisioner"` or `dynamic "post-processor"` block (a block with the
/// `labels` it gives and its `content`, evaluated with the element's iterator).
#[derive(Clone)]
pub(crate) struct BuildBlock<'b> {
    pub(crate) block: Cow<'b, Block>,
    pub(crate) iterator: Option<(String, hcl::Value)>,
}

impl<'b> BuildBlock<'b> {
    fn written(block: &'b Block) -> Self {
        BuildBlock {
            block: Cow::Borrowed(block),
            iterator: None,
        }
    }

    /// The context the block is evaluated in: `ctx`, with the iterator if it has one.
    pub(crate) fn context<'a, 'c>(&self, ctx: &'a Context<'c>) -> Cow<'a, Context<'c>> {
        match &self.iterator {
            None => Cow::Borrowed(ctx),
            Some(it) => Cow::Owned(with_iterator(ctx, it)),
        }
    }
}

/// The blocks `dynamic` may make inside a `build` block.
const DYNAMIC_BUILD_BLOCKS: &[&str] = &["source", "provisioner", "post-processor"];

/// A `build` body with its `dynamic` blocks expanded in place.
pub(crate) fn build_items<'b>(
    at: &At<'_>,
    body: &'b Body,
    ctx: &Context<'_>,
    errors: &mut Vec<Diagnostic>,
) -> Vec<BuildItem<'b>> {
    let mut items = Vec::new();
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => items.push(BuildItem::Attribute(a)),
            Structure::Block(b) if b.ident.as_str() == "dynamic" => {
                let Some(dynamic) = Dynamic::read(at, b, ctx, errors) else {
                    continue;
                };
                if !DYNAMIC_BUILD_BLOCKS.contains(&dynamic.name.as_str()) {
                    errors.push(
                        at.err(
                            b.labels.first().and_then(|l| l.span()),
                            format!("a build block has no \"{}\" blocks to make", dynamic.name),
                        )
                        .with_hint("dynamic blocks in a build make source, provisioner or post-processor blocks."),
                    );
                    continue;
                }
                let Some(labels) = dynamic.labels else {
                    errors.push(at.err(
                        b.ident.span(),
                        format!(
                            "dynamic \"{}\" needs labels, such as labels = [\"{}\"]",
                            dynamic.name,
                            if dynamic.name == "source" {
                                "source.TYPE.NAME"
                            } else {
                                "TYPE"
                            }
                        ),
                    ));
                    continue;
                };
                for iterator in dynamic.iterations {
                    let scoped = with_iterator(ctx, &iterator);
                    let label = match eval_expr(&labels.value, &scoped) {
                        Ok(serde_json::Value::Array(l)) if l.len() == 1 && l[0].is_string() => {
                            l[0].as_str().unwrap_or_default().to_owned()
                        }
                        Ok(_) => {
                            errors.push(
                                at.err(labels.value.span(), "labels must be a list of one string"),
                            );
                            break;
                        }
                        Err(e) => {
                            errors.push(values::eval_diagnostic(at.file, labels.value.span(), &e));
                            break;
                        }
                    };
                    let mut made = b.clone();
                    *made.ident.value_mut() = hcl::edit::Ident::new(dynamic.name.as_str());
                    // The label keeps the place of the dynamic block's own label.
                    made.labels = match b.labels.first() {
                        Some(hcl::edit::structure::BlockLabel::String(l)) => {
                            let mut l = l.clone();
                            *l.value_mut() = label;
                            vec![hcl::edit::structure::BlockLabel::String(l)]
                        }
                        _ => vec![hcl::edit::structure::BlockLabel::String(
                            hcl::edit::Decorated::new(label),
                        )],
                    };
                    made.body = dynamic.content.body.clone();
                    items.push(BuildItem::Block(BuildBlock {
                        block: Cow::Owned(made),
                        iterator: Some(iterator),
                    }));
                }
            }
            Structure::Block(b) => items.push(BuildItem::Block(BuildBlock::written(b))),
        }
    }
    items
}

pub(crate) fn plan_build(
    build: &BuildDef<'_>,
    items: &[BuildItem<'_>],
    sources: &BTreeMap<(String, String), SourceDef<'_>>,
    base: &Context<'_>,
    root: &GrantRoot,
    out: &mut Vec<BuildPlan>,
    errors: &mut Vec<Diagnostic>,
) {
    let at = &build.at;
    let mut build_name: Option<String> = None;
    // (reference, override block, location)
    let mut refs: Vec<(String, Option<&BuildBlock>, Location)> = Vec::new();
    let mut provisioners: Vec<&BuildBlock> = Vec::new();
    let mut error_cleanup: Option<&BuildBlock> = None;
    // Post-processor chains as written: a `post-processor` is a chain of one.
    let mut chains: Vec<Vec<BuildBlock>> = Vec::new();
    for item in items {
        match item {
            BuildItem::Attribute(a) => match a.key.as_str() {
                "name" => match eval_expr(&a.value, base) {
                    Ok(serde_json::Value::String(n)) => build_name = Some(n),
                    Ok(_) => errors.push(at.err(a.value.span(), "build name must be a string")),
                    Err(e) => errors.push(at.err(a.value.span(), e.to_string())),
                },
                "description" => {}
                "sources" => match eval_expr(&a.value, base) {
                    Ok(serde_json::Value::Array(items)) => {
                        for item in items {
                            match item {
                                serde_json::Value::String(r) => {
                                    refs.push((r, None, at.loc(a.value.span())))
                                }
                                _ => errors.push(
                                    at.err(a.value.span(), "sources must be a list of strings"),
                                ),
                            }
                        }
                    }
                    Ok(_) => {
                        errors.push(at.err(a.value.span(), "sources must be a list of strings"))
                    }
                    Err(e) => errors.push(at.err(a.value.span(), e.to_string())),
                },
                _ => errors.push(at.unsupported_key(a, BUILD_ATTRS, BUILD_BLOCKS)),
            },
            BuildItem::Block(bb) => {
                let b: &Block = &bb.block;
                match b.ident.as_str() {
                    "source" => match at.labels(b, &["reference"]) {
                        Ok(l) => refs.push((l[0].clone(), Some(bb), at.loc(b.labels[0].span()))),
                        Err(d) => errors.push(d),
                    },
                    "provisioner" => match at.labels(b, &["type"]) {
                        Ok(_) => provisioners.push(bb),
                        Err(d) => errors.push(d),
                    },
                    "error-cleanup-provisioner" => match at.labels(b, &["type"]) {
                        Ok(_) => {
                            if error_cleanup.replace(bb).is_some() {
                                errors.push(at.err(
                                    b.ident.span(),
                                    "only one error-cleanup-provisioner is allowed per build",
                                ));
                            }
                        }
                        Err(d) => errors.push(d),
                    },
                    "post-processor" => match at.labels(b, &["type"]) {
                        Ok(_) => chains.push(vec![bb.clone()]),
                        Err(d) => errors.push(d),
                    },
                    "post-processors" => {
                        if let Err(d) = at.labels(b, &[]) {
                            errors.push(d);
                        }
                        let Cow::Borrowed(written) = &bb.block else {
                            continue;
                        };
                        chains.push(
                            chain_blocks(at, written, errors)
                                .into_iter()
                                .map(BuildBlock::written)
                                .collect(),
                        );
                    }
                    // Packer publishes build metadata to HCP with it; Kiln does not
                    // (the load warns once).
                    "hcp_packer_registry" => {}
                    _ => errors.push(at.unsupported_block(b, BUILD_BLOCKS)),
                }
            }
        }
    }
    if refs.is_empty() {
        errors.push(
            at.err(build.block.ident.span(), "build has no sources")
                .with_hint("Add `sources = [\"source.TYPE.NAME\"]` to the build block."),
        );
    }
    // A provisioner that depends on the source in some of its own attributes alone
    // (large templates repeat many steps over many sources) is planned in full for the
    // first source; the others share that plan, or, when some attributes do depend on
    // the source, have those re-evaluated.
    let per_source: Vec<Option<Vec<&Attribute>>> = provisioners
        .iter()
        .map(|p| source_attributes(&p.block))
        .collect();
    let mut first: Vec<Option<Option<Arc<StepPlan>>>> = vec![None; provisioners.len()];
    for (reference, override_block, loc) in refs {
        // Packer takes any three-part reference and ignores its first part
        // (`sources.TYPE.NAME` works as `source.TYPE.NAME` does); two parts are TYPE.NAME.
        let parts: Vec<&str> = reference.split('.').collect();
        let (ty, name) = match parts[..] {
            [_, ty, name] | [ty, name] if !ty.is_empty() && !name.is_empty() => (ty, name),
            _ => {
                errors.push(Diagnostic::error(
                    format!(
                        "invalid source reference {reference:?}; expected \"source.TYPE.NAME\""
                    ),
                    Some(loc),
                ));
                continue;
            }
        };
        let key = format!("{ty}.{name}");
        let Some(def) = sources.get(&(ty.to_owned(), name.to_owned())) else {
            let known: Vec<String> = sources
                .keys()
                .map(|(t, n)| format!("source.{t}.{n}"))
                .collect();
            let mut d = Diagnostic::error(format!("Unknown source {reference:?}"), Some(loc));
            if let Some(s) =
                did_you_mean(&format!("source.{key}"), known.iter().map(String::as_str))
            {
                d = d.with_hint(format!("Did you mean \"{s}\"?"));
            }
            errors.push(d);
            continue;
        };
        let mut source_name = name.to_owned();
        let mut source = ConfigBlock {
            location: def.at.loc(def.block.ident.span()),
            ..Default::default()
        };
        let mut ctx = base.clone();
        eval_body(&def.at, &def.block.body, &ctx, &[], errors, &mut source);
        if let Some(ob) = override_block {
            let over_ctx = ob.context(&ctx);
            let ob = &ob.block;
            let mut over = ConfigBlock::default();
            if let Some(a) = ob.body.get_attribute("name") {
                match eval_expr(&a.value, &over_ctx) {
                    Ok(serde_json::Value::String(n)) => source_name = n,
                    _ => errors.push(at.err(a.value.span(), "source name must be a string")),
                }
            }
            eval_body(at, &ob.body, &over_ctx, &[&["name"]], errors, &mut over);
            source.config.extend(over.config);
            Arc::make_mut(&mut source.fields).extend(Arc::unwrap_or_clone(over.fields));
        }
        let full_name = match &build_name {
            Some(b) => format!("{b}.{ty}.{source_name}"),
            None => format!("{ty}.{source_name}"),
        };
        let mut source_obj = hcl::Map::new();
        source_obj.insert("name".to_owned(), hcl::Value::from(source_name.clone()));
        source_obj.insert("type".to_owned(), hcl::Value::from(ty.to_owned()));
        let source_value = hcl::Value::Object(source_obj);
        ctx.declare_var("source", source_value.clone());
        let mut build_obj = hcl::Map::new();
        build_obj.insert(
            "name".to_owned(),
            hcl::Value::from(build_name.clone().unwrap_or_default()),
        );
        build_obj.insert("ID".to_owned(), hcl::Value::from(full_name.clone()));
        for value in kiln_core::plan::BuildValue::ALL {
            build_obj.insert(
                value.name().to_owned(),
                hcl::Value::from(deferred::marker(value)),
            );
        }
        ctx.declare_var("build", hcl::Value::Object(build_obj));
        let step_cx = StepCx {
            at,
            ctx: &ctx,
            root,
            source: (ty, &source_name),
        };

        let mut steps = Vec::with_capacity(provisioners.len());
        for (i, p) in provisioners.iter().enumerate() {
            let step = match (&first[i], &per_source[i]) {
                (Some(planned), Some(attrs)) if attrs.is_empty() => planned.clone(),
                (Some(Some(planned)), Some(attrs)) => {
                    let scoped = p.context(&ctx);
                    // `source` is read from its value, unless an iterator takes the name.
                    let known = match &p.iterator {
                        Some((name, _)) if name == "source" => None,
                        _ => Some(("source", &source_value)),
                    };
                    let known = known.as_slice();
                    Some(Arc::new(replan(planned, attrs, at, &scoped, known, errors)))
                }
                _ => {
                    let scoped = p.context(&ctx);
                    let step = plan_step(
                        &StepCx {
                            ctx: &scoped,
                            ..step_cx
                        },
                        &p.block,
                        errors,
                    )
                    .map(Arc::new);
                    if per_source[i].is_some() {
                        first[i] = Some(step.clone());
                    }
                    step
                }
            };
            steps.extend(step);
        }
        let error_cleanup = error_cleanup.and_then(|b| {
            let scoped = b.context(&ctx);
            plan_step(
                &StepCx {
                    ctx: &scoped,
                    ..step_cx
                },
                &b.block,
                errors,
            )
            .map(Arc::new)
        });
        let mut post_processors = Vec::new();
        for chain in &chains {
            let planned: Vec<PostProcessorPlan> = chain
                .iter()
                .filter_map(|b| {
                    let scoped = b.context(&ctx);
                    plan_post_processor(
                        &StepCx {
                            ctx: &scoped,
                            ..step_cx
                        },
                        &b.block,
                        errors,
                    )
                })
                .collect();
            if !planned.is_empty() {
                post_processors.push(planned);
            }
        }
        out.push(BuildPlan {
            name: full_name,
            source_type: ty.to_owned(),
            source_name,
            source,
            provisioners: steps,
            error_cleanup,
            post_processors,
        });
    }
}

/// Functions whose every call gives a new value: Packer calls them again for each source.
const PER_CALL: &[&str] = &["uuidv4", "bcrypt", "timestamp"];

/// What an expression, or the attribute values of a body, may take from the source: the
/// variables `source` and `build` it names (`source.name`, `source["name"]`,
/// `lookup(source, ...)`, `build.Host`), and whether it calls a function in
/// [`PER_CALL`]. Found in the syntax tree, so that attribute names (the file
/// provisioner's `source`), literal text and comments do not count.
#[derive(Default)]
struct PerSource {
    source: bool,
    build: bool,
    per_call: bool,
}

impl PerSource {
    fn of_expr(expr: &Expression) -> Self {
        let mut found = PerSource::default();
        found.visit_expr(expr);
        found
    }

    fn of_body(body: &Body) -> Self {
        let mut found = PerSource::default();
        found.visit_body(body);
        found
    }

    fn any(&self) -> bool {
        self.source || self.build || self.per_call
    }
}

impl Visit for PerSource {
    fn visit_expr(&mut self, expr: &Expression) {
        if let Expression::Variable(name) = expr {
            match name.as_str() {
                "source" => self.source = true,
                "build" => self.build = true,
                _ => {}
            }
        }
        hcl::edit::visit::visit_expr(self, expr);
    }

    fn visit_func_call(&mut self, call: &hcl::edit::expr::FuncCall) {
        if call.name.namespace.is_empty() && PER_CALL.contains(&call.name.name.as_str()) {
            self.per_call = true;
        }
        hcl::edit::visit::visit_func_call(self, call);
    }
}

/// The attributes of a provisioner block that may evaluate differently per source (see
/// [`PerSource`]; none: the step is the same for every source), when those are all
/// that do: none is a meta-argument, none names `build` (whose values are filled in
/// when the step runs), no block may either, and the step has no `only`, `except` or
/// `override`. `None` when the block must be planned in full per source.
fn source_attributes(block: &Block) -> Option<Vec<&Attribute>> {
    let mut attrs = Vec::new();
    for s in block.body.iter() {
        match s {
            Structure::Attribute(a) => {
                let key = a.key.as_str();
                if matches!(key, "only" | "except" | "override") {
                    return None;
                }
                let found = PerSource::of_expr(&a.value);
                if found.build {
                    return None;
                }
                if found.any() {
                    if STEP_META.contains(&key) || STEP_BLOCKS.contains(&key) {
                        return None;
                    }
                    attrs.push(a);
                }
            }
            Structure::Block(b) => {
                if PerSource::of_body(&b.body).any() {
                    return None;
                }
            }
        }
    }
    Some(attrs)
}

/// `planned`, a step planned for another source, with `attrs` (its only attributes that
/// depend on the source: see [`source_attributes`]) evaluated in `ctx`.
fn replan(
    planned: &StepPlan,
    attrs: &[&Attribute],
    at: &At<'_>,
    ctx: &Context<'_>,
    known: &[(&str, &hcl::Value)],
    errors: &mut Vec<Diagnostic>,
) -> StepPlan {
    let mut block = (*planned.block).clone();
    for a in attrs {
        match eval_expr_knowing(&a.value, ctx, known) {
            Ok(v) => {
                block.config.insert(a.key.as_str().to_owned(), v);
            }
            Err(e) => errors.push(values::eval_diagnostic(at.file, a.value.span(), &e)),
        }
    }
    StepPlan {
        block: Arc::new(block),
        ..planned.clone()
    }
}

/// The `post-processor` blocks of a `post-processors {}` chain; anything else in it is
/// reported where it is.
pub(crate) fn chain_blocks<'b>(
    at: &At<'_>,
    chain: &'b Block,
    errors: &mut Vec<Diagnostic>,
) -> Vec<&'b Block> {
    let mut blocks = Vec::new();
    for s in chain.body.iter() {
        match s {
            Structure::Block(b) if b.ident.as_str() == "post-processor" => {
                match at.labels(b, &["type"]) {
                    Ok(_) => blocks.push(b),
                    Err(d) => errors.push(d),
                }
            }
            Structure::Block(b) => errors.push(at.unsupported_block(b, CHAIN_BLOCKS)),
            Structure::Attribute(a) => errors.push(at.unsupported_key(a, &[], CHAIN_BLOCKS)),
        }
    }
    blocks
}

/// Whether a step whose `only` or `except` (`key`) lists the source names `value` runs
/// for source `TYPE.NAME`; `None` when `value` is not a list. Names are written
/// `TYPE.NAME`, with or without a leading `source.`.
pub(crate) fn selected(
    key: &str,
    value: &serde_json::Value,
    source_type: &str,
    source_name: &str,
) -> Option<bool> {
    let list = value.as_array()?;
    let me = format!("{source_type}.{source_name}");
    let hit = list
        .iter()
        .filter_map(|v| v.as_str())
        .any(|n| n.strip_prefix("source.").unwrap_or(n) == me);
    Some(if key == "only" { hit } else { !hit })
}

/// A boolean as HCL converts one: `true`, `false`, or the strings "true" and "false".
pub(crate) fn as_bool(value: &serde_json::Value) -> Option<bool> {
    match value {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::String(s) if s == "true" => Some(true),
        serde_json::Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}
