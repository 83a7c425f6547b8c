//! Packer's durations (Go's `time.ParseDuration`, or a number of seconds), for the host's
//! and the components' configurations alike.

use std::time::Duration;

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
