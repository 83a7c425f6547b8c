//! `locals`: resolved in dependency order, with sensitivity following the values.

use super::*;

/// Evaluates `locals` in dependency order: each round evaluates what it can, until all
/// are done or a round makes no progress (then the first failure is reported).
pub(crate) fn resolve_locals(
    attrs: &[(At<'_>, &Attribute, String)],
    scope: &EvalScope,
    errors: &mut Vec<Diagnostic>,
) -> hcl::Map<String, hcl::Value> {
    let mut done: hcl::Map<String, hcl::Value> = hcl::Map::new();
    let mut pending: Vec<usize> = (0..attrs.len()).collect();
    let mut seen = BTreeMap::new();
    for (at, a, name) in attrs {
        let name = name.clone();
        if let Some(first) = seen.insert(name.clone(), at.loc(a.key.span())) {
            errors.push(
                at.err(a.key.span(), format!("Duplicate local \"{name}\""))
                    .with_hint(format!("The first definition is at {first}.")),
            );
        }
    }
    loop {
        let mut ctx = scope.context();
        ctx.declare_var("local", hcl::Value::Object(done.clone()));
        let mut failed = Vec::new();
        let before = pending.len();
        let waiting: Vec<&str> = pending.iter().map(|i| attrs[*i].2.as_str()).collect();
        for i in pending {
            let (_, a, name) = &attrs[i];
            // A local that uses another not yet computed waits for it, even where `try`
            // or `can` would hide the missing value.
            let text = a.value.to_string();
            if referenced_locals(&text).any(|r| r != name.as_str() && waiting.contains(&r)) {
                failed.push((i, None));
                continue;
            }
            let expr: hcl::Expression = a.value.clone().into();
            match kiln_functions::evaluate(&expr, &ctx) {
                Ok(v) => {
                    done.insert(name.clone(), v);
                }
                Err(e) => failed.push((i, Some(e))),
            }
        }
        pending = failed.iter().map(|(i, _)| *i).collect();
        if pending.is_empty() {
            return done;
        }
        if pending.len() == before {
            // What is left either refers to something that does not exist, or the
            // remaining locals refer to each other.
            let stuck: Vec<&str> = failed.iter().map(|(i, _)| attrs[*i].2.as_str()).collect();
            for (i, e) in failed {
                let (at, a, name) = &attrs[i];
                let text = a.value.to_string();
                let waits_on = referenced_locals(&text)
                    .find(|r| stuck.contains(r))
                    .map(str::to_owned);
                errors.push(match (waits_on, e) {
                    (Some(other), _) => at
                        .err(
                            a.value.span(),
                            format!("Cycle in local values: \"{name}\" needs \"{other}\""),
                        )
                        .with_hint(format!(
                            "These locals depend on each other and none can be computed first: {}.",
                            stuck.join(", ")
                        )),
                    (None, Some(e)) => values::eval_diagnostic(at.file, a.value.span(), &e),
                    (None, None) => unreachable!("a local waits only on pending locals"),
                });
            }
            return done;
        }
    }
}

/// The names `expr_text` refers to as `local.NAME` (a textual scan: enough to order
/// locals, which may only refer to one another this way).
pub(crate) fn referenced_locals(expr_text: &str) -> impl Iterator<Item = &str> {
    referenced(expr_text, "local.")
}

/// Whether `expr_text` refers to one of the sensitive variables `vars` or locals
/// `locals` (by name).
pub(crate) fn refers_to_sensitive(expr_text: &str, vars: &[String], locals: &[String]) -> bool {
    referenced(expr_text, "var.").any(|v| vars.iter().any(|s| s == v))
        || referenced(expr_text, "local.").any(|l| locals.iter().any(|s| s == l))
}

/// The names after `prefix` (`var.`, `local.`) that `expr_text` refers to.
pub(crate) fn referenced<'a>(expr_text: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a str> {
    expr_text.match_indices(prefix).filter_map(move |(at, _)| {
        let before = expr_text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
            return None;
        }
        let rest = &expr_text[at + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        (end > 0).then(|| &rest[..end])
    })
}
