//! Packer's weakly typed scalars: strings from numbers and booleans, lists from one string, Go durations.

use super::reader::{Member, Value};
use super::source::JsonFile;
use kiln_core::Diagnostic;
use kiln_functions::gotime;
use std::ops::Range;
use std::time::Duration;

/// A duration member (`pause_before`, `timeout`) as Packer decodes it: a Go duration
/// string, or a bare number of nanoseconds; problems go to `errors`.
pub(crate) fn duration_member(
    file: &JsonFile,
    m: &Member,
    errors: &mut Vec<Diagnostic>,
) -> Option<Duration> {
    match &m.value.value {
        Value::Null => None,
        Value::String(s) => match parse_go_duration(s) {
            Ok(d) => d,
            Err(e) => {
                errors.push(
                    file.error(m.value.span.clone(), format!("error decoding '{}': {e}", m.key))
                        .with_hint("Durations look like \"30s\", \"5m\" or \"1h30m\"; they are not interpolated."),
                );
                None
            }
        },
        // Packer decodes a bare number as nanoseconds.
        Value::Number(n) => n
            .as_f64()
            .filter(|f| *f >= 1.0)
            .map(|f| Duration::from_nanos(f as u64)),
        _ => {
            errors.push(expected(file, m, "a duration such as \"30s\""));
            None
        }
    }
}

/// A value decoded as mapstructure's weak decoding does into a string: strings as
/// they are, numbers and booleans as text, `null` as nothing.
pub(crate) fn weak_string(
    file: &JsonFile,
    m: &Member,
    errors: &mut Vec<Diagnostic>,
) -> Option<String> {
    match &m.value.value {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if n.is_f64() => super::interpolate::go_float(f),
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        _ => {
            errors.push(expected(file, m, "a string"));
            None
        }
    }
}

/// A list of strings, or one string standing for a list of one.
pub(crate) fn weak_strings(
    file: &JsonFile,
    m: &Member,
    errors: &mut Vec<Diagnostic>,
) -> Vec<(String, Range<usize>)> {
    match &m.value.value {
        Value::Array(items) => items
            .iter()
            .filter_map(|item| match &item.value {
                Value::String(s) => Some((s.clone(), item.span.clone())),
                Value::Number(n) => Some((n.to_string(), item.span.clone())),
                _ => {
                    errors.push(file.error(
                        item.span.clone(),
                        format!(
                            "'{}' lists build names: expected a string, found {}",
                            m.key,
                            article(item.kind())
                        ),
                    ));
                    None
                }
            })
            .collect(),
        Value::String(s) => vec![(s.clone(), m.value.span.clone())],
        Value::Null => vec![],
        _ => {
            errors.push(expected(file, m, "a list of build names"));
            vec![]
        }
    }
}

pub(crate) fn expected(file: &JsonFile, m: &Member, what: &str) -> Diagnostic {
    file.error(
        m.value.span.clone(),
        format!(
            "'{}' must be {what}, not {}",
            m.key,
            article(m.value.kind())
        ),
    )
}

/// "an object", "a string", ...
pub fn article(kind: &str) -> String {
    match kind {
        "array" | "object" => format!("an {kind}"),
        "null" => "null".into(),
        k => format!("a {k}"),
    }
}

/// A string that is not a Go duration; the message is Go's `time.ParseDuration`'s
/// (`time: unknown unit "d" in duration "5d"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DurationError {
    /// The text as written.
    pub text: String,
    /// What is wrong with it.
    pub message: String,
}

/// Go's `time.ParseDuration`; `None` for zero or negative durations, which Packer
/// treats as not set.
pub fn parse_go_duration(s: &str) -> Result<Option<Duration>, DurationError> {
    let nanos = gotime::parse_duration(s).map_err(|message| DurationError {
        text: s.to_owned(),
        message,
    })?;
    Ok((nanos >= 1.0).then(|| Duration::from_nanos(nanos as u64)))
}

/// Go's `Duration.String`: `1h2m3.5s`, `300ms`, `0s`.
pub fn go_duration_string(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = match nanos {
            n if n < 1_000 => ("ns", 1u128),
            n if n < 1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{}{unit}", fraction(nanos, scale));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let secs = nanos % 60_000_000_000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}s", fraction(secs, 1_000_000_000)));
    out
}

/// `n / scale` with its decimals, trailing zeros dropped.
pub(crate) fn fraction(n: u128, scale: u128) -> String {
    let whole = n / scale;
    let rem = n % scale;
    if rem == 0 {
        return whole.to_string();
    }
    let width = scale.to_string().len() - 1;
    let digits = format!("{rem:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}
