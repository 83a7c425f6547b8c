//! `build.*` values known only once the machine is reached (`build.Host`, ...). While a
//! step's block is evaluated each stands as a private marker string, so that HCL's
//! interpolation carries it into the strings around it; the evaluated block's strings
//! are then split into typed parts ([`kiln_core::plan::Deferred`]) and no marker leaves
//! this crate. The engine fills them in with [`ConfigBlock::resolved`].

use kiln_core::plan::{BuildValue, ConfigBlock, Deferred, Part};
use kiln_core::Diagnostic;

/// Starts and ends a marker: a control character no template writes by accident.
const FENCE: char = '\u{1}';
const PREFIX: &str = "kiln:build.";

/// The marker string that stands for `value` while a block is evaluated.
pub(crate) fn marker(value: BuildValue) -> String {
    format!("{FENCE}{PREFIX}{}{FENCE}", value.name())
}

/// Splits `text` into parts; `None` when it holds no marker, `Err` when it holds a
/// marker a function changed (`upper(build.Host)`), which cannot be filled in.
fn parts(text: &str) -> Option<Result<Vec<Part>, ()>> {
    if !text.contains(FENCE) {
        return None;
    }
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(FENCE) {
        if start > 0 {
            parts.push(Part::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 1..];
        let Some(end) = after.find(FENCE) else {
            return Some(Err(()));
        };
        let value = after[..end]
            .strip_prefix(PREFIX)
            .and_then(BuildValue::from_name);
        match value {
            Some(v) => parts.push(Part::Build(v)),
            None => return Some(Err(())),
        }
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    Some(Ok(parts))
}

/// Moves the markers of `block`'s strings into its typed `deferred` list, leaving
/// Packer's `{{ .Host }}` form in their place; a marker a function changed is an error
/// at its attribute.
pub(crate) fn extract(block: &mut ConfigBlock, errors: &mut Vec<Diagnostic>) {
    let mut found = Vec::new();
    let mut broken = Vec::new();
    for (key, value) in block.config.iter_mut() {
        walk(value, &pointer_push("", key), &mut found, &mut broken);
    }
    for pointer in broken {
        let field = pointer
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .replace("~1", "/")
            .replace("~0", "~");
        errors.push(
            Diagnostic::error(
                "a build value (build.Host, build.Port, ...) was passed to a function here",
                Some(block.location_of(Some(&field))),
            )
            .with_hint(
                "These values are known only when the step runs, so they can only be \
                 placed into strings (\"${build.Host}:${build.Port}\"), not changed by \
                 functions.",
            ),
        );
    }
    block.deferred.extend(found);
}

fn pointer_push(base: &str, key: &str) -> String {
    format!("{base}/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn walk(
    value: &mut serde_json::Value,
    pointer: &str,
    found: &mut Vec<Deferred>,
    broken: &mut Vec<String>,
) {
    match value {
        serde_json::Value::String(text) => match parts(text) {
            None => {}
            Some(Ok(parts)) => {
                let d = Deferred {
                    pointer: pointer.to_owned(),
                    parts,
                };
                *text = d.unresolved();
                found.push(d);
            }
            Some(Err(())) => broken.push(pointer.to_owned()),
        },
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, &pointer_push(pointer, &i.to_string()), found, broken);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                walk(item, &pointer_push(pointer, k), found, broken);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_become_typed_parts_resolved_in_one_place() {
        let mut block = ConfigBlock::default();
        block.config.insert(
            "inline".into(),
            serde_json::json!([format!(
                "ssh {}@{}:{}",
                marker(BuildValue::User),
                marker(BuildValue::Host),
                marker(BuildValue::Port)
            )]),
        );
        block.config.insert(
            "a/b".into(),
            serde_json::json!({"k": marker(BuildValue::Host)}),
        );
        let mut errors = Vec::new();
        extract(&mut block, &mut errors);
        assert!(errors.is_empty());
        assert_eq!(
            block.config["inline"][0],
            "ssh {{ .User }}@{{ .Host }}:{{ .Port }}"
        );
        assert_eq!(block.deferred[1].pointer, "/inline/0");
        assert_eq!(block.deferred[0].pointer, "/a~1b/k");
        let resolved = block.resolved(&|v| match v {
            BuildValue::User => "root".into(),
            BuildValue::Host => "10.0.0.2".into(),
            BuildValue::Port => "2222".into(),
            _ => String::new(),
        });
        assert_eq!(resolved["inline"][0], "ssh root@10.0.0.2:2222");
        assert_eq!(resolved["a/b"]["k"], "10.0.0.2");
    }

    #[test]
    fn a_changed_marker_is_an_error_at_its_attribute() {
        let mut block = ConfigBlock::default();
        block.config.insert(
            "inline".into(),
            serde_json::json!([marker(BuildValue::Host).to_uppercase()]),
        );
        let mut errors = Vec::new();
        extract(&mut block, &mut errors);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].summary.contains("passed to a function"));
    }
}
