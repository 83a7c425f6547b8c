//! What `kiln inspect` shows of a template: its variables, locals and builds, in the
//! layout `packer inspect` prints for HCL2 templates.

use std::fmt::Write as _;

use crate::hcl_string::quote;

/// A variable or local and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// `foo` (printed as `var.foo` / `local.foo`).
    pub name: String,
    /// The value; `None` when it is not known (a required variable not set).
    pub value: Option<serde_json::Value>,
    /// Printed as `<sensitive>`.
    pub sensitive: bool,
}

/// One `build` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildSummary {
    /// The block's `name`, if it has one.
    pub name: Option<String>,
    /// `type.name` of each source.
    pub sources: Vec<String>,
    /// The provisioners' types, in order.
    pub provisioners: Vec<String>,
    /// The post-processor chains as written (before `only` / `except`), each
    /// post-processor as `TYPE`, or `TYPE.NAME` when it has a name.
    pub post_processors: Vec<Vec<String>>,
}

/// A template as `kiln inspect` shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inspection {
    /// Input variables, by name.
    pub variables: Vec<Value>,
    /// Local variables, by name.
    pub locals: Vec<Value>,
    /// Build blocks, in template order.
    pub builds: Vec<BuildSummary>,
    /// For a legacy JSON template: its builders (name, type) and every provisioner's
    /// type, shown in Packer's JSON-mode layout instead.
    pub legacy: Option<LegacyJson>,
}

/// What `inspect` shows of a legacy JSON template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyJson {
    /// (name, type) of each builder.
    pub builders: Vec<(String, String)>,
    /// The type of each provisioner, in order.
    pub provisioners: Vec<String>,
}

impl Inspection {
    /// The text `packer inspect` prints for a legacy JSON template.
    fn render_legacy(&self, legacy: &LegacyJson) -> String {
        let mut out = String::from("Packer Inspect: JSON mode\n");
        let width = self
            .variables
            .iter()
            .map(|v| v.name.len())
            .max()
            .unwrap_or(0);
        let mut sorted: Vec<&Value> = self.variables.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        if sorted.is_empty() {
            out.push_str("Variables:\n\n  <No variables>\n\n");
        }
        let required: Vec<&&Value> = sorted.iter().filter(|v| v.value.is_none()).collect();
        if !required.is_empty() {
            out.push_str("Required variables:\n\n");
            for v in required {
                let _ = writeln!(out, "  {}", v.name);
            }
            out.push('\n');
        }
        let optional: Vec<&&Value> = sorted.iter().filter(|v| v.value.is_some()).collect();
        if !optional.is_empty() {
            out.push_str("Optional variables and their defaults:\n\n");
            for v in optional {
                let text = match (&v.value, v.sensitive) {
                    (_, true) => "<sensitive>".to_owned(),
                    (Some(serde_json::Value::String(s)), false) => s.clone(),
                    (Some(other), false) => other.to_string(),
                    (None, false) => String::new(),
                };
                let _ = writeln!(out, "  {:width$} = {text}", v.name);
            }
            out.push('\n');
        }
        out.push_str("Builders:\n\n");
        let mut builders = legacy.builders.clone();
        builders.sort();
        let width = builders.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (name, ty) in &builders {
            if name == ty {
                let _ = writeln!(out, "  {name}");
            } else {
                let _ = writeln!(out, "  {name:width$} ({ty})");
            }
        }
        out.push_str("\nProvisioners:\n\n");
        if legacy.provisioners.is_empty() {
            out.push_str("  <No provisioners>\n");
        }
        for p in &legacy.provisioners {
            let _ = writeln!(out, "  {p}");
        }
        out.push_str(
            "\nNote: If your build names contain user variables or template\n\
             functions such as 'timestamp', these are processed at build time,\n\
             and therefore only show in their raw form here.\n",
        );
        out
    }

    /// The text `packer inspect` prints for the template.
    pub fn render(&self) -> String {
        if let Some(legacy) = &self.legacy {
            return self.render_legacy(legacy);
        }
        let mut out = String::from("Packer Inspect: HCL2 mode\n\n> input-variables:\n\n");
        let values = |prefix: &str, list: &[Value], out: &mut String| {
            let mut sorted: Vec<&Value> = list.iter().collect();
            sorted.sort_by(|a, b| a.name.cmp(&b.name));
            for v in sorted {
                let text = match (&v.value, v.sensitive) {
                    (_, true) => "<sensitive>".to_owned(),
                    (None, false) => "<unknown>".to_owned(),
                    (Some(serde_json::Value::String(s)), false) => s.clone(),
                    (Some(other), false) => hcl_value(other, 0),
                };
                let _ = writeln!(out, "{prefix}.{}: {}", v.name, go_quote(&text));
            }
        };
        values("var", &self.variables, &mut out);
        out.push_str("\n> local-variables:\n\n");
        values("local", &self.locals, &mut out);
        out.push_str("\n> builds:\n");
        for (i, b) in self.builds.iter().enumerate() {
            match &b.name {
                Some(n) if !n.is_empty() => {
                    let _ = write!(out, "\n  > {n}:\n");
                }
                _ => {
                    let _ = write!(out, "\n  > <unnamed build {i}>:\n");
                }
            }
            out.push_str("\n    sources:\n\n");
            for s in &b.sources {
                let _ = write!(out, "      {s}\n\n");
            }
            out.push_str("    provisioners:\n\n");
            if b.provisioners.is_empty() {
                out.push_str("      <no provisioner>\n");
            }
            for p in &b.provisioners {
                let _ = writeln!(out, "      {p}");
            }
            out.push_str("\n    post-processors:\n\n");
            if b.post_processors.is_empty() {
                out.push_str("      <no post-processor>\n");
            }
            for (i, chain) in b.post_processors.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                let _ = writeln!(out, "      {i}:");
                for p in chain {
                    let _ = writeln!(out, "        {p}");
                }
            }
        }
        out.push('\n');
        out
    }
}

/// A value written as HCL, the way Packer writes values in `inspect`: lists one item a
/// line with a trailing comma, objects with quoted, sorted keys.
pub fn hcl_value(v: &serde_json::Value, indent: usize) -> String {
    let pad = "  ".repeat(indent + 1);
    let end = "  ".repeat(indent);
    match v {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => quote(s),
        serde_json::Value::Array(items) if items.is_empty() => "[]".into(),
        serde_json::Value::Array(items) => {
            let mut out = String::from("[\n");
            for item in items {
                let _ = writeln!(out, "{pad}{},", hcl_value(item, indent + 1));
            }
            out + &end + "]"
        }
        serde_json::Value::Object(map) if map.is_empty() => "{}".into(),
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = String::from("{\n");
            for k in keys {
                let _ = writeln!(
                    out,
                    "{pad}{} = {}",
                    quote(k),
                    hcl_value(&map[k], indent + 1)
                );
            }
            out + &end + "}"
        }
    }
}

/// `s` quoted as Go's `%q` quotes it.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_written_as_packer_writes_them() {
        assert_eq!(hcl_value(&json!(["a", "b"]), 0), "[\n  \"a\",\n  \"b\",\n]");
        assert_eq!(
            hcl_value(&json!({"z": 1, "k": "v", "n": {"x": []}}), 0),
            "{\n  \"k\" = \"v\"\n  \"n\" = {\n    \"x\" = []\n  }\n  \"z\" = 1\n}"
        );
        assert_eq!(go_quote("a\"b\nc"), "\"a\\\"b\\nc\"");
    }
}
