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
}

impl FieldError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: Some(field.into()),
            message: message.into(),
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

/// Deserializes a block's attributes into `T` (which should deny unknown fields).
pub fn decode<T: serde::de::DeserializeOwned>(
    config: &serde_json::Map<String, serde_json::Value>,
) -> Result<T, FieldError> {
    serde_json::from_value(serde_json::Value::Object(config.clone())).map_err(|e| {
        let message = e.to_string();
        FieldError {
            field: field_of(&message),
            message,
        }
    })
}

/// The attribute serde's message is about: "unknown field `x`", "missing field `x`".
pub fn field_of(message: &str) -> Option<String> {
    for prefix in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return rest.split('`').next().map(str::to_owned);
        }
    }
    None
}

/// The names serde lists after "expected one of" in an unknown-field message.
pub fn expected_fields(message: &str) -> Vec<&str> {
    match message.split_once("expected one of ") {
        Some((_, list)) => list.split(", ").map(|s| s.trim_matches('`')).collect(),
        None => match message.split_once("expected `") {
            Some((_, one)) => one.split('`').next().into_iter().collect(),
            None => vec![],
        },
    }
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
            return Ok(Duration::from_secs_f64(secs));
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
        total += Duration::from_secs_f64(value * scale);
    }
    Ok(total)
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
            Some(Raw::Secs(s)) if s >= 0.0 => Ok(Some(Duration::from_secs_f64(s))),
            Some(Raw::Secs(s)) => Err(serde::de::Error::custom(format!("negative duration {s}"))),
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

    #[test]
    fn serde_messages_name_fields() {
        let msg = "unknown field `ssh_usernme`, expected one of `ssh_host`, `ssh_username`";
        assert_eq!(field_of(msg).as_deref(), Some("ssh_usernme"));
        assert_eq!(expected_fields(msg), ["ssh_host", "ssh_username"]);
    }
}
