//! A JSON reader that remembers where every key and value is.
//!
//! serde_json forgets positions, and a template diagnostic must point at the key or
//! value that caused it. The grammar is RFC 8259; errors are worded as Go's
//! `encoding/json` words them, since that is what Packer prints for the same file.

use std::ops::Range;

/// A JSON value and the byte range of its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it is written, from its first to its last byte.
    pub span: Range<usize>,
}

/// An object member: a key, where it is written, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The key, unescaped.
    pub key: String,
    /// Where the key is written, quotes included.
    pub key_span: Range<usize>,
    /// The value.
    pub value: Node,
}

/// A JSON value whose children carry their positions.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number, integers kept apart from floats.
    Number(serde_json::Number),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Node>),
    /// An object; members in file order, duplicates kept.
    Object(Vec<Member>),
}

impl Node {
    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The members, if the value is an object.
    pub fn members(&self) -> Option<&[Member]> {
        match &self.value {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The items, if the value is an array.
    pub fn items(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The member called `key` (the last one, as Go's decoder keeps the last).
    pub fn get(&self, key: &str) -> Option<&Member> {
        self.members()?.iter().rev().find(|m| m.key == key)
    }

    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// The value as serde_json's, positions dropped.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::Value::Number(n.clone()),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            Value::Object(members) => serde_json::Value::Object(
                members
                    .iter()
                    .map(|m| (m.key.clone(), m.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// A syntax error: Go's message and the byte offset it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What is wrong, as Go's `encoding/json` says it.
    pub message: String,
    /// The offending byte.
    pub offset: usize,
}

/// Parses `text` as one JSON value.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut p = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    let node = p.value("looking for beginning of value")?;
    p.skip_ws();
    if p.pos < text.len() {
        return Err(p.invalid("after top-level value"));
    }
    Ok(node)
}

/// Object keys that appear more than once in the same object, anywhere in `node`, in
/// file order (the second and later occurrences).
pub fn duplicate_keys(node: &Node) -> Vec<&Member> {
    let mut out = Vec::new();
    collect_duplicates(node, &mut out);
    out
}

fn collect_duplicates<'a>(node: &'a Node, out: &mut Vec<&'a Member>) {
    match &node.value {
        Value::Object(members) => {
            let mut seen = std::collections::BTreeSet::new();
            for m in members {
                if !seen.insert(m.key.as_str()) {
                    out.push(m);
                }
                collect_duplicates(&m.value, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|n| collect_duplicates(n, out)),
        _ => {}
    }
}

/// How deeply objects and lists may nest. Templates nest a handful of levels; the bound
/// keeps the parser (and everything that walks what it made) off the end of the stack.
pub const MAX_DEPTH: usize = 256;

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    /// Objects and lists open at the cursor.
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if matches!(c, ' ' | '\t' | '\n' | '\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// Go's "invalid character 'x' <context>" for the character at the cursor, or
    /// "unexpected end of JSON input" at the end.
    fn invalid(&self, context: &str) -> SyntaxError {
        match self.peek() {
            Some(c) => SyntaxError {
                message: format!("invalid character {} {context}", quote_char(c)),
                offset: self.pos,
            },
            None => SyntaxError {
                message: "unexpected end of JSON input".into(),
                offset: self.pos,
            },
        }
    }

    fn value(&mut self, context: &str) -> Result<Node, SyntaxError> {
        let start = self.pos;
        let value = match self.peek() {
            Some('{' | '[') if self.depth >= MAX_DEPTH => {
                return Err(SyntaxError {
                    message: format!(
                        "exceeded max depth: objects and lists nest more than {MAX_DEPTH} levels"
                    ),
                    offset: self.pos,
                })
            }
            Some('{') => {
                self.depth += 1;
                let v = self.object();
                self.depth -= 1;
                v?
            }
            Some('[') => {
                self.depth += 1;
                let v = self.array();
                self.depth -= 1;
                v?
            }
            Some('"') => Value::String(self.string()?),
            Some('-' | '0'..='9') => self.number()?,
            Some('t') => self.literal("true", Value::Bool(true))?,
            Some('f') => self.literal("false", Value::Bool(false))?,
            Some('n') => self.literal("null", Value::Null)?,
            _ => return Err(self.invalid(context)),
        };
        Ok(Node {
            value,
            span: start..self.pos,
        })
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, SyntaxError> {
        for expected in word.chars() {
            match self.peek() {
                Some(c) if c == expected => self.pos += c.len_utf8(),
                _ => {
                    return Err(self.invalid(&format!("in literal {word} (expecting '{expected}')")))
                }
            }
        }
        Ok(value)
    }

    fn object(&mut self) -> Result<Value, SyntaxError> {
        self.pos += 1;
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some('}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            if self.peek() != Some('"') {
                return Err(self.invalid("looking for beginning of object key string"));
            }
            let key_start = self.pos;
            let key = self.string()?;
            let key_span = key_start..self.pos;
            self.skip_ws();
            if self.peek() != Some(':') {
                return Err(self.invalid("after object key"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value("looking for beginning of value")?;
            members.push(Member {
                key,
                key_span,
                value,
            });
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some('}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.invalid("after object key:value pair")),
            }
        }
    }

    fn array(&mut self) -> Result<Value, SyntaxError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value("looking for beginning of value")?);
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.invalid("after array element")),
            }
        }
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.invalid(""));
            };
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                '\\' => {
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.invalid(""));
                    };
                    let plain = match e {
                        '"' => Some('"'),
                        '\\' => Some('\\'),
                        '/' => Some('/'),
                        'b' => Some('\u{8}'),
                        'f' => Some('\u{c}'),
                        'n' => Some('\n'),
                        'r' => Some('\r'),
                        't' => Some('\t'),
                        'u' => None,
                        _ => return Err(self.invalid("in string escape code")),
                    };
                    self.pos += 1;
                    match plain {
                        Some(p) => out.push(p),
                        None => out.push(self.unicode_escape()?),
                    }
                }
                c if (c as u32) < 0x20 => return Err(self.invalid("in string literal")),
                c => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    /// The four hex digits after `\u`, joined with a following low surrogate; lone
    /// surrogates become U+FFFD as in Go.
    fn unicode_escape(&mut self) -> Result<char, SyntaxError> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.text[self.pos..].starts_with("\\u") {
            let save = self.pos;
            self.pos += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{fffd}'));
            }
            self.pos = save;
        }
        Ok(char::from_u32(hi).unwrap_or('\u{fffd}'))
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut v = 0;
        for _ in 0..4 {
            match self.peek().and_then(|c| c.to_digit(16)) {
                Some(d) => {
                    v = v * 16 + d;
                    self.pos += 1;
                }
                None => return Err(self.invalid("in \\u hexadecimal character escape")),
            }
        }
        Ok(v)
    }

    fn number(&mut self) -> Result<Value, SyntaxError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while matches!(p.peek(), Some('0'..='9')) {
                p.pos += 1;
            }
            p.pos > from
        };
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        match self.peek() {
            Some('0') => self.pos += 1,
            Some('1'..='9') => {
                digits(self);
            }
            _ => return Err(self.invalid("in numeric literal")),
        }
        if self.peek() == Some('.') {
            self.pos += 1;
            if !digits(self) {
                return Err(self.invalid("after decimal point in numeric literal"));
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some('+' | '-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return Err(self.invalid("in exponent of numeric literal"));
            }
        }
        let text = &self.text[start..self.pos];
        text.parse::<serde_json::Number>()
            .map(Value::Number)
            .map_err(|_| SyntaxError {
                message: format!("number {text} is out of range"),
                offset: start,
            })
    }
}

/// Go's `quoteChar`: `'x'`, with quotes and control characters escaped.
fn quote_char(c: char) -> String {
    match c {
        '\'' => r"'\''".to_owned(),
        '"' => "'\"'".to_owned(),
        c if c.is_control() => format!("'{}'", c.escape_default()),
        c => format!("'{c}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_spans_of_keys_and_values() {
        let text = r#"{"a": [1, "x"], "b": {"c": null}}"#;
        let node = parse(text).unwrap();
        let a = node.get("a").unwrap();
        assert_eq!(&text[a.key_span.clone()], "\"a\"");
        assert_eq!(&text[a.value.span.clone()], "[1, \"x\"]");
        let x = &a.value.items().unwrap()[1];
        assert_eq!(&text[x.span.clone()], "\"x\"");
        let c = node.get("b").unwrap().value.get("c").unwrap();
        assert_eq!(c.value.value, Value::Null);
    }

    #[test]
    fn integers_stay_integers() {
        let node = parse(r#"[1, 1.5, -2, 2e3]"#).unwrap();
        assert_eq!(node.to_json(), serde_json::json!([1, 1.5, -2, 2e3]));
        assert!(node.items().unwrap()[0].to_json().is_u64());
    }

    #[test]
    fn unescapes_strings() {
        let node = parse(r#""a\"b\\c\n\u00e9\ud83d\ude00""#).unwrap();
        assert_eq!(node.as_str(), Some("a\"b\\c\né😀"));
    }

    #[test]
    fn errors_read_like_go() {
        let err = |t: &str| parse(t).unwrap_err();
        assert_eq!(
            err("{\"a\": 1,}"),
            SyntaxError {
                message: "invalid character '}' looking for beginning of object key string".into(),
                offset: 8
            }
        );
        assert_eq!(
            err("[1 2]").message,
            "invalid character '2' after array element"
        );
        assert_eq!(
            err("{\"a\" 1}").message,
            "invalid character '1' after object key"
        );
        assert_eq!(err("{\"a\": 1").message, "unexpected end of JSON input");
        assert_eq!(
            err("{} x").message,
            "invalid character 'x' after top-level value"
        );
        assert_eq!(
            err("[tru]").message,
            "invalid character ']' in literal true (expecting 'e')"
        );
        assert_eq!(
            err("\"a\nb\"").message,
            "invalid character '\\n' in string literal"
        );
    }

    /// Regression: 50,000 nested lists overflowed the stack.
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
        let e = parse(&deep).unwrap_err();
        assert!(e.message.contains("exceeded max depth"), "{e:?}");
        assert_eq!(e.offset, MAX_DEPTH);
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn finds_duplicate_keys_at_any_depth() {
        let node = parse(r#"{"a": {"x": 1, "x": 2}, "b": [{"y": 1, "y": 1}], "a": 3}"#).unwrap();
        let keys: Vec<&str> = duplicate_keys(&node)
            .iter()
            .map(|m| m.key.as_str())
            .collect();
        assert_eq!(keys, ["x", "y", "a"]);
    }
}
