//! Kiln's `grant` and `limits` of a step (a provisioner, the error-cleanup provisioner
//! or a post-processor): what the step may reach on the host, and the limits its
//! instance runs under. The HCL2 loader and the legacy JSON loader both read each
//! entry here, once evaluated; they report the problems found at the place written.
//!
//! ```hcl
//! grant {
//!   read      = ["files/"]             # host paths, relative to the template's directory
//!   write     = ["output/"]
//!   env       = ["HOME"]               # host environment variable names
//!   network   = ["mirror.example:443"] # host:port, the port a number or *
//!   exec_host = true
//!   clock     = "host"                 # or "fixed", the default
//!   random    = "host"                 # or "fixed", the default
//! }
//! limits {
//!   memory          = "512MiB"         # bytes, or a number with a unit
//!   ui_output       = "1MiB"
//!   calls_in_flight = 4
//!   message_size    = "8MiB"
//!   cpu             = "5m"             # a duration: time computing per export call
//!   disk            = "20GiB"          # what a post-processor may write in all
//! }
//! ```

use std::path::{Component, Path, PathBuf};

use kiln_core::diag::did_you_mean;
use kiln_core::{Grant, Limits};
use serde_json::Value;

/// The two blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `grant`
    Grant,
    /// `limits`
    Limits,
}

/// What `grant` holds.
pub const GRANT_KEYS: &[&str] = &[
    "read",
    "write",
    "env",
    "network",
    "exec_host",
    "clock",
    "random",
];
/// What `limits` holds.
pub const LIMIT_KEYS: &[&str] = &[
    "memory",
    "ui_output",
    "calls_in_flight",
    "message_size",
    "cpu",
    "disk",
];

/// Size units, longest first so that `MiB` is not read as `B`.
const UNITS: &[(&str, u64)] = &[
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
    ("KB", 1_000),
    ("kB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("B", 1),
];

impl Section {
    /// The section named `name`, if `name` is `grant` or `limits`.
    pub fn named(name: &str) -> Option<Section> {
        match name {
            "grant" => Some(Section::Grant),
            "limits" => Some(Section::Limits),
            _ => None,
        }
    }

    /// Its name in a template.
    pub fn name(self) -> &'static str {
        match self {
            Section::Grant => "grant",
            Section::Limits => "limits",
        }
    }

    /// The keys it holds.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Section::Grant => GRANT_KEYS,
            Section::Limits => LIMIT_KEYS,
        }
    }

    /// The error for a value that is not an object; `json` picks the example's syntax.
    pub fn not_an_object(self, json: bool) -> String {
        let example = match (self, json) {
            (Section::Grant, false) => "{ exec_host = true }",
            (Section::Grant, true) => "{\"exec_host\": true}",
            (Section::Limits, false) => "{ memory = \"512MiB\" }",
            (Section::Limits, true) => "{\"memory\": \"512MiB\"}",
        };
        format!("`{}` must be an object, such as {example}", self.name())
    }

    /// The error for a second `grant` (or `limits`) in one step: summary and hint, the
    /// hint naming where the first one is.
    pub fn duplicate(self, first: &impl std::fmt::Display) -> (String, String) {
        let name = self.name();
        (
            format!("Duplicate {name} block"),
            format!("A step takes one `{name}`; the first is at {first}."),
        )
    }

    /// `None` when `key` belongs in this section, else the error: summary and hint
    /// (a close key if there is one, and every key the section holds).
    pub fn check_key(self, key: &str) -> Option<(String, String)> {
        if self.keys().contains(&key) {
            return None;
        }
        let (summary, list) = match self {
            Section::Grant => (
                format!("unknown grant \"{key}\""),
                format!("A step can be granted: {}.", GRANT_KEYS.join(", ")),
            ),
            Section::Limits => (
                format!("unknown limit \"{key}\""),
                format!("A step's limits are: {}.", LIMIT_KEYS.join(", ")),
            ),
        };
        let hint = match did_you_mean(key, self.keys().iter().copied()) {
            Some(s) => format!("Did you mean \"{s}\"? {list}"),
            None => list,
        };
        Some((summary, hint))
    }
}

/// What is wrong with one entry of a `grant` or `limits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryError {
    /// The key is not one the section holds: summary and hint, about the key.
    UnknownKey(String, String),
    /// The value is not of the expected form: the message, about the value, or about
    /// its `item`th element when one element of a list is to blame.
    Value(String, Option<usize>),
}

/// Reads the entry `key = value` of `section` into `grant` or `limits`. Relative paths
/// are taken relative to `root` (the template's directory, absolute).
pub fn apply(
    section: Section,
    key: &str,
    value: &Value,
    root: &Path,
    grant: &mut Grant,
    limits: &mut Limits,
) -> Result<(), EntryError> {
    if let Some((summary, hint)) = section.check_key(key) {
        return Err(EntryError::UnknownKey(summary, hint));
    }
    let bad = |message: String| EntryError::Value(message, None);
    match key {
        "read" | "write" => {
            let paths = strings(value).ok_or_else(|| {
                bad(format!(
                    "`{key}` must be a list of host paths, such as [\"files/\", \"/etc/hosts\"]"
                ))
            })?;
            let mut out = Vec::new();
            for (i, p) in paths.into_iter().enumerate() {
                let p = p.map_err(|_| {
                    EntryError::Value(
                        format!("`{key}` must be a list of host paths: this is not a string"),
                        Some(i),
                    )
                })?;
                if p.is_empty() {
                    return Err(EntryError::Value(
                        format!(
                            "`{key}` lists an empty path: write a host path, such as \"files/\""
                        ),
                        Some(i),
                    ));
                }
                out.push(absolute(Path::new(p), root));
            }
            if key == "read" {
                grant.read = out;
            } else {
                grant.write = out;
            }
        }
        "env" => {
            let names = strings(value).ok_or_else(|| {
                bad("`env` must be a list of environment variable names, such as [\"HOME\", \"HTTP_PROXY\"]".into())
            })?;
            let mut out = Vec::new();
            for (i, n) in names.into_iter().enumerate() {
                let problem = match n {
                    Err(_) => Some("`env` must be a list of environment variable names: this is not a string".to_owned()),
                    Ok("") => Some("`env` lists an empty name: write a variable name, such as \"HOME\"".to_owned()),
                    Ok(n) if n.contains('=') || n.contains('\0') => Some(format!(
                        "`env` lists {n:?}, which is not a variable name: write the name alone, such as {:?}; the step sees its host value",
                        n.split('=').next().unwrap_or_default()
                    )),
                    Ok(_) => None,
                };
                match (problem, n) {
                    (Some(message), _) => return Err(EntryError::Value(message, Some(i))),
                    (None, Ok(n)) => out.push(n.to_owned()),
                    (None, Err(_)) => unreachable!("a non-string is a problem"),
                }
            }
            grant.env = out;
        }
        "network" => {
            let entries = strings(value).ok_or_else(|| {
                bad("`network` must be a list of \"host:port\" entries, such as [\"mirror.example:443\", \"10.0.0.5:*\"]".into())
            })?;
            let mut out = Vec::new();
            for (i, e) in entries.into_iter().enumerate() {
                let problem = match e {
                    Err(_) => Some(
                        "`network` must be a list of \"host:port\" entries: this is not a string"
                            .to_owned(),
                    ),
                    Ok(e) => network_problem(e)
                        .map(|why| format!("`network` entry {e:?} is not \"host:port\": {why}")),
                };
                match (problem, e) {
                    (Some(message), _) => return Err(EntryError::Value(message, Some(i))),
                    (None, Ok(e)) => out.push(e.to_owned()),
                    (None, Err(_)) => unreachable!("a non-string is a problem"),
                }
            }
            grant.network = out;
        }
        "exec_host" => {
            grant.exec_host = crate::as_bool(value)
                .ok_or_else(|| bad("`exec_host` must be true or false".into()))?;
        }
        "clock" | "random" => {
            let host = match value.as_str() {
                Some("host") => true,
                Some("fixed") => false,
                _ => {
                    let default = if key == "clock" {
                        "the build's fixed clock"
                    } else {
                        "a seeded generator"
                    };
                    return Err(bad(format!(
                        "`{key}` must be \"host\" or \"fixed\" ({default}, the default), not {}",
                        shown(value)
                    )));
                }
            };
            if key == "clock" {
                grant.clock_host = host;
            } else {
                grant.random_host = host;
            }
        }
        "calls_in_flight" => {
            let n = whole(value)
                .filter(|n| *n > 0)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    bad(format!(
                        "`calls_in_flight` must be a whole number greater than 0, such as 4, not {}",
                        shown(value)
                    ))
                })?;
            limits.calls_in_flight = Some(n);
        }
        "cpu" => {
            let d = value
                .as_str()
                .map(kiln_core::config::parse_duration)
                .or_else(|| whole(value).map(|secs| Ok(std::time::Duration::from_secs(secs))))
                .and_then(Result::ok)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    bad(format!(
                        "`cpu` must be a duration greater than 0, such as \"5m\" or \"90s\", \
                         not {}",
                        shown(value)
                    ))
                })?;
            limits.cpu = Some(d);
        }
        _ => {
            let n = size(value).ok_or_else(|| {
                bad(format!(
                    "`{key}` must be a size greater than 0: a number of bytes, or a string \
                     such as \"512MiB\" (units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB), not {}",
                    shown(value)
                ))
            })?;
            match key {
                "memory" => limits.memory = Some(n),
                "ui_output" => limits.ui_output = Some(n),
                "disk" => limits.disk = Some(n),
                _ => limits.message_size = Some(n),
            }
        }
    }
    Ok(())
}

/// The elements of a list: each a string, or `Err` for what is not one; `None` when
/// `value` is not a list.
fn strings(value: &Value) -> Option<Vec<Result<&str, ()>>> {
    Some(
        value
            .as_array()?
            .iter()
            .map(|v| v.as_str().ok_or(()))
            .collect(),
    )
}

/// A value as the message about it shows it.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        format!("{}...", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// A whole, non-negative number, written as a number or as a string of digits.
fn whole(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64)
                .map(|f| f as u64)
        }),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// A size in bytes greater than 0: a number, or a string of digits with an optional
/// unit (`512MiB`, `512 MiB`, `1GB`, `4096`).
pub fn size(value: &Value) -> Option<u64> {
    let n = match value {
        Value::String(s) => {
            let s = s.trim();
            let (digits, factor) = UNITS
                .iter()
                .find_map(|(unit, factor)| s.strip_suffix(unit).map(|d| (d.trim_end(), *factor)))
                .unwrap_or((s, 1));
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse::<u64>().ok()?.checked_mul(factor)?
        }
        _ => whole(value)?,
    };
    (n > 0).then_some(n)
}

/// Why `entry` is not `host:port` (the port a number from 1 to 65535, or `*`); `None`
/// when it is. An IPv6 address is written in brackets: `[::1]:443`.
fn network_problem(entry: &str) -> Option<String> {
    let Some((host, port)) = entry.rsplit_once(':') else {
        return Some("it has no port; write \"host:443\", or \"host:*\" for any port".into());
    };
    if host.is_empty() {
        return Some("the host is missing".into());
    }
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => {
            !v6.is_empty()
                && v6.contains(':')
                && v6
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        }
        None => host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')),
    };
    if !host_ok {
        return Some(format!(
            "{host:?} is not a host name or address (an IPv6 address goes in brackets: \"[::1]:443\")"
        ));
    }
    let port_ok = port == "*"
        || (!port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p)));
    if !port_ok {
        return Some(format!(
            "the port {port:?} is not a number from 1 to 65535, or * for any port"
        ));
    }
    None
}

/// `path` made absolute against `base` and cleaned lexically (no `.` or `..` left).
pub fn absolute(path: &Path, base: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_take_every_unit() {
        let cases = [
            (json!(4096), Some(4096)),
            (json!("4096"), Some(4096)),
            (json!("7B"), Some(7)),
            (json!("2KiB"), Some(2048)),
            (json!("512MiB"), Some(512 << 20)),
            (json!("512 MiB"), Some(512 << 20)),
            (json!("3GiB"), Some(3 << 30)),
            (json!("2KB"), Some(2000)),
            (json!("2kB"), Some(2000)),
            (json!("5MB"), Some(5_000_000)),
            (json!("1GB"), Some(1_000_000_000)),
            (json!(0), None),
            (json!("0MiB"), None),
            (json!("MiB"), None),
            (json!("1.5GiB"), None),
            (json!("-1"), None),
            (json!("12XB"), None),
            (json!("99999999999GiB"), None),
            (json!(true), None),
            (json!(-3), None),
        ];
        for (v, want) in cases {
            assert_eq!(size(&v), want, "{v}");
        }
    }

    #[test]
    fn network_entries_are_host_and_port() {
        for ok in [
            "mirror.example:443",
            "10.0.0.5:*",
            "[::1]:8080",
            "a_b-c:1",
            "h:65535",
        ] {
            assert_eq!(network_problem(ok), None, "{ok}");
        }
        for bad in [
            "mirror", ":443", "h:0", "h:65536", "h:", "h:x", "::1:443", "a b:1", "*:443",
        ] {
            assert!(network_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn paths_are_cleaned_against_the_root() {
        let root = Path::new("/w/t");
        assert_eq!(absolute(Path::new("files/"), root), Path::new("/w/t/files"));
        assert_eq!(absolute(Path::new("./a/../b"), root), Path::new("/w/t/b"));
        assert_eq!(absolute(Path::new("../up"), root), Path::new("/w/up"));
        assert_eq!(absolute(Path::new("/etc/./x/.."), root), Path::new("/etc"));
    }
}
