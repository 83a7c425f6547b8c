//! Configuration decoding with errors that name the offending attribute and say, by
//! kind, what is wrong with it (see `kiln_decode`).

use crate::{ConfigError, ConfigErrorKind, TypeMismatch};

/// Deserializes a step's JSON configuration. Each error names the attribute it is about,
/// so that the host can point at the attribute's place in the template, and says what
/// is wrong by kind (unknown attribute with the expected ones, missing attribute, wrong
/// type), never quoting the value.
pub fn parse_config<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, Vec<ConfigError>> {
    kiln_decode::decode_str(json).map_err(|e| {
        let kind = match &e.problem {
            kiln_decode::Problem::UnknownField { expected } => {
                ConfigErrorKind::UnknownField(expected.clone())
            }
            kiln_decode::Problem::MissingField => ConfigErrorKind::MissingField,
            kiln_decode::Problem::WrongType { found, expected } => {
                ConfigErrorKind::WrongType(TypeMismatch {
                    found: found.clone(),
                    expected: expected.clone(),
                })
            }
            kiln_decode::Problem::Invalid(_) => ConfigErrorKind::Invalid,
        };
        vec![ConfigError {
            field: e.field().map(str::to_owned),
            kind,
            message: e.to_string(),
        }]
    })
}

/// Joins configuration errors into one line, for a step's failure message.
pub fn config_errors_to_string(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(|e| match &e.field {
            Some(f) if !e.message.contains(f.as_str()) => format!("{f}: {}", e.message),
            _ => e.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
