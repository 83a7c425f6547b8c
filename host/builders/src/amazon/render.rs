//! The Go-template actions Packer's amazon plugin renders in its own options, which
//! templates of both syntaxes write as text: `ami_name = "web {{timestamp}}"`, `tags =
//! { Base_AMI_Name = "{{ .SourceAMIName }}" }`. Functions: `timestamp`, `isotime`
//! (optionally with a Go layout), `uuid`, `clean_resource_name` (as a function or a
//! pipe stage); values, once the source AMI is known: `.SourceAMI`, `.SourceAMIName`,
//! `.SourceAMICreationDate`, `.SourceAMIOwner`, `.SourceAMIOwnerName`,
//! `.SourceAMITags.KEY`, `.BuildRegion`. An action it does not know stays as written.

use std::time::{SystemTime, UNIX_EPOCH};

/// What actions are rendered against.
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub now_unix: i64,
    /// `(name, value)` of the `.Name` values known so far.
    pub data: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
}

impl Values {
    pub fn now() -> Values {
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
            .unwrap_or(0);
        Values {
            now_unix,
            ..Default::default()
        }
    }
}

/// Every character an AMI name cannot hold becomes `-`.
pub fn clean_resource_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Renders the actions of `text`.
pub fn render(text: &str, v: &Values) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let action = &rest[start + 2..start + len];
        match action_value(action, v) {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    if s.len() >= 2
        && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('`') && s.ends_with('`')))
    {
        Some(s[1..s.len() - 1].replace("\\\"", "\""))
    } else {
        None
    }
}

fn action_value(action: &str, v: &Values) -> Option<String> {
    let action = action
        .trim()
        .trim_start_matches('-')
        .trim_end_matches('-')
        .trim();
    let mut stages = action.split('|').map(str::trim);
    let first = stages.next()?;
    let mut value = term(first, v)?;
    for stage in stages {
        value = match stage {
            "clean_resource_name" => clean_resource_name(&value),
            "lower" => value.to_lowercase(),
            "upper" => value.to_uppercase(),
            _ => return None,
        };
    }
    Some(value)
}

fn term(t: &str, v: &Values) -> Option<String> {
    if let Some(name) = t.strip_prefix('.') {
        if let Some(key) = name.strip_prefix("SourceAMITags.") {
            return v
                .tags
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, x)| x.clone());
        }
        return v
            .data
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, x)| x.clone());
    }
    let (func, arg) = match t.split_once(char::is_whitespace) {
        Some((f, a)) => (f, Some(a.trim())),
        None => (t, None),
    };
    match (func, arg) {
        ("timestamp", None) => Some(v.now_unix.to_string()),
        ("isotime", None) => Some(go_format(v.now_unix, kiln_functions::gotime::RFC3339)),
        ("isotime", Some(layout)) => Some(go_format(v.now_unix, &unquote(layout)?)),
        ("uuid", None) => Some(super::unique_suffix()),
        ("clean_resource_name", Some(a)) => {
            let inner =
                unquote(a).or_else(|| action_value(a.trim_matches(|c| c == '(' || c == ')'), v))?;
            Some(clean_resource_name(&inner))
        }
        _ => None,
    }
}

/// `unix` (UTC) in Go's reference layout `layout` (`2006-01-02T15:04:05Z07:00`), as the
/// template functions format it.
pub fn go_format(unix: i64, layout: &str) -> String {
    let t = chrono::DateTime::from_timestamp(unix, 0).unwrap_or_default();
    kiln_functions::gotime::format(&t, layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packers_actions_render() {
        let v = Values {
            now_unix: 1_607_501_226,
            data: vec![
                ("SourceAMIName".into(), "ubuntu/jammy".into()),
                ("SourceAMI".into(), "ami-1".into()),
            ],
            tags: vec![("TagName".into(), "t1".into())],
        };
        assert_eq!(render("web {{timestamp}}", &v), "web 1607501226");
        assert_eq!(
            render(
                "{{ .SourceAMIName }} {{.SourceAMI}} {{ .SourceAMITags.TagName }}",
                &v
            ),
            "ubuntu/jammy ami-1 t1"
        );
        assert_eq!(render("x-{{isotime}}", &v), "x-2020-12-09T08:07:06Z");
        assert_eq!(
            render("{{isotime \"2006-01-02-1504\"}}", &v),
            "2020-12-09-0807"
        );
        assert_eq!(
            render("{{isotime | clean_resource_name}}", &v),
            "2020-12-09T08-07-06Z"
        );
        assert_eq!(render("{{ clean_resource_name \"a:b\" }}", &v), "a-b");
        assert_eq!(
            render("{{ .Unknown }} {{user `x`}}", &v),
            "{{ .Unknown }} {{user `x`}}"
        );
        assert_eq!(
            go_format(0, "Mon Jan _2 15:04:05 MST 2006"),
            "Thu Jan  1 00:00:00 UTC 1970"
        );
    }
}
