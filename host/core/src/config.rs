//! Decoding configuration blocks into typed structs, with errors that name the field,
//! and Packer's value formats (durations).

use std::time::Duration;

/// A problem with one configuration block, naming the attribute when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The offending attribute.
    pub field: Option<String>,
    /// What is wrong, for people.
    pub message: String,
    /// When the attribute is not a known one: the names that are.
    pub unknown: Option<Vec<String>>,
}

impl FieldError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: Some(field.into()),
            message: message.into(),
            unknown: None,
        }
    }

    /// An error about the block as a whole.
    pub fn block(message: impl Into<String>) -> Self {
        FieldError {
            field: None,
            message: message.into(),
            unknown: None,
        }
    }
}

impl From<crate::decode::DecodeError> for FieldError {
    fn from(e: crate::decode::DecodeError) -> Self {
        let unknown = match &e.problem {
            crate::decode::Problem::UnknownField { expected } => Some(expected.clone()),
            _ => None,
        };
        FieldError {
            field: e.field().map(str::to_owned),
            message: e.to_string(),
            unknown,
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) if !self.message.contains(field.as_str()) => {
                write!(f, "{field}: {}", self.message)
            }
            _ => f.write_str(&self.message),
        }
    }
}

/// Deserializes a block's attributes into `T` (which should deny unknown fields); an
/// error names the attribute and never quotes its value (see [`crate::decode`]).
pub fn decode<T: serde::de::DeserializeOwned>(
    config: &serde_json::Map<String, serde_json::Value>,
) -> Result<T, FieldError> {
    crate::decode::decode(config).map_err(FieldError::from)
}

/// Parses a Go-style duration as Packer accepts them: `90s`, `5m`, `1h30m`, `250ms`,
/// or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = s.parse::<f64>() {
        if secs >= 0.0 {
            return duration_from_secs(secs).map_err(|e| format!("invalid duration {text:?}: {e}"));
        }
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!(
                "invalid duration {text:?}: expected a number at {rest:?}"
            ));
        }
        let value: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => {
                return Err(format!(
                    "invalid duration {text:?}: missing unit (e.g. \"30s\", \"5m\")"
                ))
            }
            other => return Err(format!("invalid duration {text:?}: unknown unit {other:?}")),
        };
        total = duration_from_secs(value * scale)
            .ok()
            .and_then(|d| total.checked_add(d))
            .filter(|t| *t <= MAX_DURATION)
            .ok_or_else(|| format!("invalid duration {text:?}: {TOO_LONG}"))?;
    }
    Ok(total)
}

/// The longest duration Packer (Go's `time.Duration`, nanoseconds in an `int64`) holds:
/// about 292 years.
pub const MAX_DURATION: Duration = Duration::new(9_223_372_036, 854_775_807);

const TOO_LONG: &str =
    "longer than the longest duration Packer takes (2562047h47m16s, about 292 years)";

/// `secs` seconds as a duration: an error when it is negative, not a number, or longer
/// than [`MAX_DURATION`].
pub fn duration_from_secs(secs: f64) -> Result<Duration, String> {
    if secs.is_nan() || secs < 0.0 {
        return Err(format!("{secs} seconds is not a duration of 0 or more"));
    }
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(|| TOO_LONG.to_owned())
}

/// Serde helper: an optional Packer duration string.
pub mod duration_opt {
    use std::time::Duration;

    use serde::Deserialize;

    /// Deserializes `"5m"` (or a number of seconds) into `Some(Duration)`.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Secs(f64),
        }
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Secs(s)) => super::duration_from_secs(s)
                .map(Some)
                .map_err(serde::de::Error::custom),
            Some(Raw::Text(t)) => super::parse_duration(&t)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_packer_writes_them() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("5").is_ok());
        assert!(parse_duration("m").is_err());
    }

    /// Regression: `ssh_timeout = "9999999999999999h"` panicked converting to a Duration.
    #[test]
    fn durations_past_packers_longest_are_errors_not_panics() {
        for text in [
            "9999999999999999h",
            "1e300",
            "2562048h",
            "99999999999999999999s",
        ] {
            let e = parse_duration(text).unwrap_err();
            assert!(e.contains("longest duration"), "{text}: {e}");
        }
        assert!(parse_duration("2562047h").is_ok());
        assert!(duration_from_secs(f64::INFINITY).is_err());
        assert!(duration_from_secs(f64::NAN).is_err());
        assert!(duration_from_secs(-1.0).is_err());
    }
}
