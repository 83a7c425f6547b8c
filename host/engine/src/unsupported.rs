//! The plugin types a template uses that Kiln does not ship, found before anything
//! else is checked: one error listing each type with every place it is used (and the
//! `required_plugins` entry it belongs to), rather than a cascade of errors about the
//! blocks that use them.

use std::collections::BTreeMap;

use kiln_core::plan::Plan;
use kiln_core::{Diagnostic, Location};

use crate::components::Resolved;

/// Each type Kiln lacks, by (block kind, type), with the places it is used.
fn missing_types<'p>(
    plan: &'p Plan,
    required: &Resolved,
) -> BTreeMap<(&'static str, String), Vec<Location>> {
    // The types found so far: a template uses a few, and a large one many times each.
    let mut found: Vec<(kiln_builtins::Kind, &str)> = Vec::new();
    let mut step = |kind: kiln_builtins::Kind, name: &'p str| {
        if found.contains(&(kind, name)) {
            return true;
        }
        let there = required.get(name).is_some() || kiln_builtins::find(kind, name).is_some();
        if there {
            found.push((kind, name));
        }
        there
    };
    let mut missing: BTreeMap<(&'static str, String), Vec<Location>> = BTreeMap::new();
    let mut note = |what: &'static str, kind: &str, at: &Location| {
        let places = missing.entry((what, kind.to_owned())).or_default();
        if !places.contains(at) {
            places.push(at.clone());
        }
    };
    for build in &plan.builds {
        if !kiln_builders::SOURCE_TYPES.contains(&build.source_type.as_str()) {
            note("source", &build.source_type, &build.source.location);
        }
        for p in build.provisioners.iter().chain(&build.error_cleanup) {
            if p.kind != "breakpoint" && !step(kiln_builtins::Kind::Provisioner, &p.kind) {
                note("provisioner", &p.kind, &p.block.location);
            }
        }
        for pp in build.post_processors.iter().flatten() {
            if !step(kiln_builtins::Kind::PostProcessor, &pp.kind) {
                note("post-processor", &pp.kind, &pp.block.location);
            }
        }
    }
    missing
}

/// The types Kiln has of the block kind `what`.
fn known(what: &str) -> Vec<&'static str> {
    match what {
        "source" => kiln_builders::SOURCE_TYPES.to_vec(),
        "provisioner" => kiln_builtins::names(kiln_builtins::Kind::Provisioner)
            .chain(["breakpoint"])
            .collect(),
        _ => kiln_builtins::names(kiln_builtins::Kind::PostProcessor).collect(),
    }
}

/// The one error for the types `plan` uses that Kiln does not ship, if there are any.
pub(crate) fn unsupported_types(plan: &Plan, required: &Resolved) -> Option<Diagnostic> {
    let missing = missing_types(plan, required);
    let first = missing
        .values()
        .flatten()
        .min_by_key(|l| (l.file.clone(), l.line, l.col))?;
    // One misspelt type of Kiln's own is a typo, not a missing plugin.
    if let [((what, kind), places)] = &missing.iter().collect::<Vec<_>>()[..] {
        if let Some(s) = kiln_core::diag::did_you_mean(kind, known(what)) {
            return Some(
                Diagnostic::error(
                    format!("Unknown {what} type \"{kind}\""),
                    places.first().cloned(),
                )
                .with_hint(format!("Did you mean \"{s}\"?")),
            );
        }
    }
    let names: Vec<String> = missing
        .keys()
        .map(|(what, kind)| format!("{what} \"{kind}\""))
        .collect();
    let mut lines = vec!["Used at:".to_owned()];
    for ((what, kind), places) in &missing {
        let at: Vec<String> = places.iter().map(ToString::to_string).collect();
        let plugin = plan
            .plugins
            .iter()
            .find(|p| p.provides(kind))
            .map(|p| format!(" (of plugin \"{}\", required at {})", p.source, p.location))
            .unwrap_or_default();
        lines.push(format!("  {what} \"{kind}\": {}{plugin}", at.join(", ")));
    }
    let provisioners: Vec<&str> = kiln_builtins::names(kiln_builtins::Kind::Provisioner).collect();
    let post: Vec<&str> = kiln_builtins::names(kiln_builtins::Kind::PostProcessor).collect();
    lines.push(format!(
        "Kiln ships the sources {}; the provisioners {}, breakpoint; the post-processors {}. \
         Another provisioner or post-processor can be a component the template names in \
         packer {{ required_components {{ ... }} }}.",
        kiln_builders::SOURCE_TYPES.join(", "),
        provisioners.join(", "),
        post.join(", "),
    ));
    Some(
        Diagnostic::error(
            format!(
                "Kiln does not ship {} this template uses: {}",
                if names.len() == 1 {
                    "a plugin type"
                } else {
                    "plugin types"
                },
                names.join(", ")
            ),
            Some(first.clone()),
        )
        .with_hint(lines.join("\n")),
    )
}
