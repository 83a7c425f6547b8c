//! Checks of a read template as a whole: `Template.Validate`, and references between its sections.

use super::source::JsonFile;
use super::template::{JsonTemplate, PACKER_VERSION};
use kiln_core::diag::did_you_mean;
use kiln_core::Diagnostic;
use std::ops::Range;

/// Packer's `Template.Validate` and the version check of `Core.validate`.
pub fn validate(file: &JsonFile, t: &JsonTemplate<'_>, errors: &mut Vec<Diagnostic>) {
    if let Some((v, span)) = &t.min_version {
        match (parse_version(v), parse_version(PACKER_VERSION)) {
            (None, _) => errors.push(file.error(span.clone(), format!("min_version is invalid: Malformed version: {v}"))),
            (Some(min), Some(ours)) if ours < min => errors.push(
                file.error(
                    span.clone(),
                    format!("This template requires Packer version {v} or higher; using {PACKER_VERSION}"),
                )
                .with_hint(format!(
                    "Kiln reads JSON templates as Packer {PACKER_VERSION} does."
                )),
            ),
            _ => {}
        }
    }
    if t.builders.is_empty() {
        let span = t.builders_key.clone().unwrap_or(0..1);
        errors.push(file.error(span, "at least one builder must be defined"));
    }
    check_references(file, t, errors);
}

/// The part of `Template.Validate` about names: `only`, `except` and `override` name
/// builds that exist, and a provisioner or post-processor has at most one of `only`
/// and `except`.
pub fn check_references(file: &JsonFile, t: &JsonTemplate<'_>, errors: &mut Vec<Diagnostic>) {
    let names: Vec<&str> = t.builders.iter().map(|b| b.name.as_str()).collect();
    let unknown = |what: &str, name: &str, span: &Range<usize>| {
        let d = file.error(
            span.clone(),
            format!("'{what}' specified builder '{name}' not found"),
        );
        match did_you_mean(name, names.iter().copied()) {
            Some(s) => d.with_hint(format!("Did you mean \"{s}\"?")),
            None => d.with_hint(format!("The builds are: {}.", names.join(", "))),
        }
    };
    for (i, p) in t.provisioners.iter().enumerate() {
        if !p.only.is_empty() && !p.except.is_empty() {
            let span = p.only_key.clone().unwrap_or_else(|| p.type_span.clone());
            errors.push(file.error(
                span,
                format!(
                    "provisioner {}: only one of 'only' or 'except' may be specified",
                    i + 1
                ),
            ));
        }
        for (what, list) in [("only", &p.only), ("except", &p.except)] {
            for (name, span) in list {
                if !names.contains(&name.as_str()) {
                    errors.push(unknown(what, name, span));
                }
            }
        }
        for o in &p.overrides {
            if !names.contains(&o.key.as_str()) {
                let d = file.error(
                    o.key_span.clone(),
                    format!("provisioner {}: override '{}' doesn't exist", i + 1, o.key),
                );
                errors.push(match did_you_mean(&o.key, names.iter().copied()) {
                    Some(s) => d.with_hint(format!("Did you mean \"{s}\"?")),
                    None => d.with_hint(format!("The builds are: {}.", names.join(", "))),
                });
            }
        }
    }
    for pp in t.post_processors.iter().flatten() {
        if !pp.only.is_empty() && !pp.except.is_empty() {
            let span = pp.only_key.clone().unwrap_or_else(|| pp.type_span.clone());
            errors.push(file.error(
                span,
                format!(
                    "{}: only one of 'only' or 'except' may be specified",
                    pp.what
                ),
            ));
        }
        for (what, list) in [("only", &pp.only), ("except", &pp.except)] {
            for (name, span) in list {
                if !names.contains(&name.as_str()) {
                    errors.push(unknown(what, name, span));
                }
            }
        }
    }
}

/// A version as hashicorp/go-version reads it: numeric segments (padded to three),
/// then whether it is a pre-release (which sorts first).
pub(crate) fn parse_version(v: &str) -> Option<(Vec<u64>, bool)> {
    let v = v.trim().strip_prefix('v').unwrap_or(v.trim());
    let (core, meta) = match v.find(['-', '+']) {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, ""),
    };
    let mut segs: Vec<u64> = core
        .split('.')
        .map(|s| s.parse().ok())
        .collect::<Option<_>>()?;
    if meta.len() == 1 {
        return None;
    }
    while segs.len() < 3 {
        segs.push(0);
    }
    // A release sorts after its pre-releases.
    Some((segs, !meta.starts_with('-')))
}
