//! HCL2 in its JSON syntax (`*.pkr.json`, `*.pkrvars.json`), read by turning it into
//! native HCL2 text that the rest of the loader reads as any `.pkr.hcl` file.
//!
//! JSON has no syntax for blocks, so which property is a block and how many labels it
//! takes comes from the schema of the place it is written in, as HCL's JSON syntax
//! specifies: `"source": {"null": {"a": {...}}}` is `source "null" "a" {...}`. Inside
//! a component's own body (a source, a provisioner, a post-processor) every property
//! is an attribute except `dynamic`, since components read nested blocks and objects
//! alike. Strings are templates (`"${var.x}"`), with two exceptions HCL makes: a
//! variable's `type` and a dynamic block's `iterator` are expressions.
//!
//! Every attribute, block and label written out remembers where its JSON came from,
//! so diagnostics point into the `.json` file, not into the generated text.

use std::ops::Range;

use crate::json::reader::{self, Member, Node, Value};

/// Which schema the top of a document follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// A template: `packer`, `variable`, `source`, `build`, ...
    Template,
    /// A variable file: only assignments.
    Vars,
}

/// A JSON document as native HCL2 text, with where each piece of it came from.
#[derive(Debug)]
pub struct Translated {
    /// The HCL2 text.
    pub hcl: String,
    /// `(offset in hcl, span in the JSON text)`, in increasing offset order.
    pub origins: Vec<(usize, Range<usize>)>,
}

/// A JSON syntax or structure error: a message and the JSON span it is about.
#[derive(Debug)]
pub struct Error {
    /// What is wrong.
    pub message: String,
    /// Where in the JSON text.
    pub span: Range<usize>,
}

/// The kinds of body the JSON syntax needs to tell blocks from attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Template,
    Packer,
    Variable,
    Build,
    PostProcessors,
    Component,
    Dynamic,
    /// Assignments only (`variables`, `locals`, `local`, `validation`, variable
    /// files, `required_plugins`, `required_components`).
    Attributes,
}

/// The block type `key` names in a body of `kind`: its label count and body kind.
fn block(kind: Kind, key: &str) -> Option<(usize, Kind)> {
    Some(match (kind, key) {
        (Kind::Template, "packer") => (0, Kind::Packer),
        (Kind::Template, "variable") => (1, Kind::Variable),
        (Kind::Template, "variables" | "locals") => (0, Kind::Attributes),
        (Kind::Template, "local") => (1, Kind::Attributes),
        (Kind::Template, "source" | "data") => (2, Kind::Component),
        (Kind::Template, "build") => (0, Kind::Build),
        (Kind::Packer, "required_plugins" | "required_components") => (0, Kind::Attributes),
        (Kind::Variable, "validation") => (0, Kind::Attributes),
        (
            Kind::Build,
            "source" | "provisioner" | "error-cleanup-provisioner" | "post-processor",
        ) => (1, Kind::Component),
        (Kind::Build, "post-processors") => (0, Kind::PostProcessors),
        (Kind::PostProcessors, "post-processor") => (1, Kind::Component),
        (Kind::Component, "dynamic") => (1, Kind::Dynamic),
        (Kind::Dynamic, "content") => (0, Kind::Component),
        _ => return None,
    })
}

/// Whether attribute `key` of a body of `kind` is an expression written as a string.
fn expression_attribute(kind: Kind, key: &str) -> bool {
    matches!(
        (kind, key),
        (Kind::Variable, "type") | (Kind::Dynamic, "iterator")
    )
}

/// Turns the JSON `text` into native HCL2 following `schema`.
pub fn translate(text: &str, schema: Schema) -> Result<Translated, Error> {
    let root = reader::parse(text).map_err(|e| Error {
        message: e.message,
        span: e.offset..e.offset + 1,
    })?;
    let mut w = Writer {
        hcl: String::with_capacity(text.len() * 2),
        origins: Vec::new(),
    };
    let kind = match schema {
        Schema::Template => Kind::Template,
        Schema::Vars => Kind::Attributes,
    };
    w.body(&root, kind)?;
    Ok(Translated {
        hcl: w.hcl,
        origins: w.origins,
    })
}

/// Whether `text` is a legacy JSON template (a top-level `builders` array), which
/// HCL2's JSON syntax has no place for.
pub fn looks_legacy(text: &str) -> bool {
    reader::parse(text).is_ok_and(|root| root.get("builders").is_some())
}

struct Writer {
    hcl: String,
    origins: Vec<(usize, Range<usize>)>,
}

impl Writer {
    fn mark(&mut self, span: &Range<usize>) {
        self.origins.push((self.hcl.len(), span.clone()));
    }

    fn body(&mut self, node: &Node, kind: Kind) -> Result<(), Error> {
        let Some(members) = node.members() else {
            return Err(Error {
                message: format!("expected a JSON object for a body, found {}", node.kind()),
                span: node.span.clone(),
            });
        };
        for m in members {
            // HCL's JSON syntax reserves "//" for comments.
            if m.key == "//" {
                continue;
            }
            match block(kind, &m.key) {
                Some((labels, inner)) => {
                    self.blocks(m, &m.value, labels, inner, &mut Vec::new())?
                }
                None => self.attribute(m, kind)?,
            }
        }
        Ok(())
    }

    fn attribute(&mut self, m: &Member, kind: Kind) -> Result<(), Error> {
        self.mark(&m.key_span);
        self.identifier(m)?;
        self.hcl.push_str(" = ");
        if expression_attribute(kind, &m.key) {
            let Some(raw) = m.value.as_str() else {
                return Err(Error {
                    message: format!("\"{}\" must be a string holding an expression", m.key),
                    span: m.value.span.clone(),
                });
            };
            self.mark(&m.value.span);
            self.hcl.push_str(raw.trim());
        } else {
            self.expression(&m.value);
        }
        self.hcl.push('\n');
        Ok(())
    }

    fn identifier(&mut self, m: &Member) -> Result<(), Error> {
        let valid = m
            .key
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && m.key
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(Error {
                message: format!("\"{}\" is not a valid attribute or block name", m.key),
                span: m.key_span.clone(),
            });
        }
        self.hcl.push_str(&m.key);
        Ok(())
    }

    /// Block `m.key` written as `value`: an array of bodies, one object per label
    /// level while labels remain, then the body.
    fn blocks(
        &mut self,
        m: &Member,
        value: &Node,
        labels_left: usize,
        kind: Kind,
        labels: &mut Vec<(String, Range<usize>)>,
    ) -> Result<(), Error> {
        if let Some(items) = value.items() {
            for item in items {
                self.blocks(m, item, labels_left, kind, labels)?;
            }
            return Ok(());
        }
        if labels_left == 0 {
            self.mark(&m.key_span);
            self.identifier(m)?;
            for (label, span) in labels.iter() {
                self.hcl.push(' ');
                self.mark(span);
                self.quoted(label);
            }
            self.hcl.push_str(" {\n");
            self.body(value, kind)?;
            self.hcl.push_str("}\n");
            return Ok(());
        }
        let Some(members) = value.members() else {
            return Err(Error {
                message: format!(
                    "a \"{}\" block needs {labels_left} more label{} as object keys, found {}",
                    m.key,
                    if labels_left == 1 { "" } else { "s" },
                    value.kind()
                ),
                span: value.span.clone(),
            });
        };
        for label in members {
            labels.push((label.key.clone(), label.key_span.clone()));
            let r = self.blocks(m, &label.value, labels_left - 1, kind, labels);
            labels.pop();
            r?;
        }
        Ok(())
    }

    fn expression(&mut self, node: &Node) {
        self.mark(&node.span);
        match &node.value {
            Value::Null => self.hcl.push_str("null"),
            Value::Bool(b) => self.hcl.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => self.hcl.push_str(&n.to_string()),
            Value::String(s) => self.template(s),
            Value::Array(items) => {
                self.hcl.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.hcl.push_str(", ");
                    }
                    self.expression(item);
                }
                self.hcl.push(']');
            }
            Value::Object(members) => {
                self.hcl.push_str("{\n");
                for m in members {
                    self.mark(&m.key_span);
                    self.template(&m.key);
                    self.hcl.push_str(" = ");
                    self.expression(&m.value);
                    self.hcl.push('\n');
                }
                self.hcl.push('}');
            }
        }
    }

    /// A block label: a quoted string literal (labels are never templates).
    fn quoted(&mut self, s: &str) {
        self.hcl.push('"');
        for c in s.chars() {
            self.escaped(c);
        }
        self.hcl.push('"');
    }

    /// A JSON string as a quoted HCL template: literal text escaped, interpolations
    /// and directives copied as written.
    fn template(&mut self, s: &str) {
        self.hcl.push('"');
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            let next = rest[c.len_utf8()..].chars().next();
            if (c == '$' || c == '%') && next == Some(c) && rest[2..].starts_with('{') {
                // "$${" is a literal "${" in both syntaxes.
                self.hcl.push_str(&rest[..3]);
                rest = &rest[3..];
            } else if (c == '$' || c == '%') && next == Some('{') {
                let end = interpolation_end(rest);
                self.hcl.push_str(&rest[..end]);
                rest = &rest[end..];
            } else {
                self.escaped(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        self.hcl.push('"');
    }

    fn escaped(&mut self, c: char) {
        match c {
            '"' => self.hcl.push_str("\\\""),
            '\\' => self.hcl.push_str("\\\\"),
            '\n' => self.hcl.push_str("\\n"),
            '\r' => self.hcl.push_str("\\r"),
            '\t' => self.hcl.push_str("\\t"),
            c if c.is_control() => self.hcl.push_str(&format!("\\u{:04x}", c as u32)),
            c => self.hcl.push(c),
        }
    }
}

/// The byte length of the interpolation or directive at the start of `s` (`${...}` or
/// `%{...}`), braces inside nested strings and expressions balanced; all of `s` if it
/// never closes (the HCL parser then reports it).
fn interpolation_end(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 1;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hcl(text: &str) -> String {
        translate(text, Schema::Template).unwrap().hcl
    }

    #[test]
    fn blocks_take_their_labels_from_nested_keys() {
        let out = hcl(r#"{"source": {"null": {"a": {"communicator": "none"}, "b": {}}}}"#);
        assert_eq!(
            out,
            "source \"null\" \"a\" {\ncommunicator = \"none\"\n}\nsource \"null\" \"b\" {\n}\n"
        );
    }

    #[test]
    fn arrays_repeat_blocks_and_strings_stay_templates() {
        let out = hcl(r#"{"build": [{"sources": ["source.null.a"],
                "provisioner": [{"shell": {"inline": ["echo \"${var.x}\" $${HOME}"]}},
                                {"shell": {"script": "s.sh"}}]}]}"#);
        assert!(out.contains("sources = [\"source.null.a\"]"), "{out}");
        assert!(
            out.contains(r#"inline = ["echo \"${var.x}\" $${HOME}"]"#),
            "{out}"
        );
        assert_eq!(out.matches("provisioner \"shell\" {").count(), 2, "{out}");
    }

    #[test]
    fn interpolations_keep_their_quotes() {
        let out = hcl(r#"{"locals": {"a": "${upper(\"x}\")}-\"q\""}}"#);
        assert_eq!(out, "locals {\na = \"${upper(\"x}\")}-\\\"q\\\"\"\n}\n");
    }

    #[test]
    fn type_is_an_expression_and_comments_are_skipped() {
        let out =
            hcl(r#"{"//": "note", "variable": {"v": {"type": "list(string)", "default": []}}}"#);
        assert_eq!(
            out,
            "variable \"v\" {\ntype = list(string)\ndefault = []\n}\n"
        );
    }

    #[test]
    fn missing_labels_are_reported_where_they_are_missing() {
        let text = r#"{"source": {"null": "a"}}"#;
        let err = translate(text, Schema::Template).unwrap_err();
        assert!(err.message.contains("1 more label"), "{}", err.message);
        assert_eq!(&text[err.span], "\"a\"");
    }

    #[test]
    fn legacy_templates_are_recognised() {
        assert!(looks_legacy(r#"{"builders": [{"type": "null"}]}"#));
        assert!(!looks_legacy(r#"{"source": {}}"#));
    }
}
