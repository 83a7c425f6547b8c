//! Decoding configuration blocks into typed structs, with errors that name the field,
//! and Packer's value formats (durations).

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

pub use kiln_decode::duration::{duration_from_secs, duration_opt, parse_duration, MAX_DURATION};

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
