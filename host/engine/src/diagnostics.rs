//! Problems found in a block's configuration (by a builder or a component), as
//! diagnostics placed on the attribute they are about.

use kiln_core::config::FieldError;
use kiln_core::diag::did_you_mean;
use kiln_core::plan::ConfigBlock;
use kiln_core::Diagnostic;
use kiln_runtime::{ConfigIssue, IssueKind};

/// A field error from a builder or component, placed on the attribute it names.
pub fn field_diagnostic(block: &ConfigBlock, what: &str, err: &FieldError) -> Diagnostic {
    let location = Some(block.location_of(err.field.as_deref()));
    if let (Some(name), Some(expected)) = (&err.field, &err.unknown) {
        let d = Diagnostic::error(
            format!("Unsupported argument \"{name}\" in {what}"),
            location,
        );
        return match did_you_mean(name, expected.iter().map(String::as_str)) {
            Some(s) => d.with_hint(format!(
                "An argument named \"{name}\" is not expected here. Did you mean \"{s}\"?"
            )),
            None => d.with_hint(format!(
                "An argument named \"{name}\" is not expected here."
            )),
        };
    }
    Diagnostic::error(format!("{what}: {}", err.message), location)
}

/// A component's answer about one attribute, as a field error: its kind says whether
/// the attribute is unknown (and which are expected).
pub fn issue_error(issue: &ConfigIssue) -> FieldError {
    FieldError {
        field: issue.field.clone(),
        message: issue.message.clone(),
        unknown: match &issue.kind {
            IssueKind::UnknownField(expected) => Some(expected.clone()),
            _ => None,
        },
    }
}

/// A component's answer about one attribute, placed on it.
pub fn issue_diagnostic(block: &ConfigBlock, what: &str, issue: &ConfigIssue) -> Diagnostic {
    field_diagnostic(block, what, &issue_error(issue))
}
