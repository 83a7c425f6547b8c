//! Configuration decoding with errors that name the offending attribute.

use crate::ConfigError;

/// Deserializes a step's JSON configuration.
///
/// Errors name the attribute they are about (`field`) when serde says which one, so that
/// the host can point at the attribute's place in the template.
pub fn parse_config<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, Vec<ConfigError>> {
    serde_json::from_str(json).map_err(|e| {
        let message = e.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        let field = quoted_field(&message);
        vec![ConfigError { field, message }]
    })
}

/// Pulls the attribute name out of serde's "unknown field `x`" / "missing field `x`".
fn quoted_field(message: &str) -> Option<String> {
    for prefix in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return rest.split('`').next().map(str::to_owned);
        }
    }
    None
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
