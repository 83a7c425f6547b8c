//! `yamldecode` and `yamlencode`, matching Packer's go-cty-yaml.
//!
//! Decoding resolves plain scalars with YAML 1.1's rules as go-cty-yaml v1.0 (the release
//! Packer pins) does: `yes`, `on`, `n` are bools, even as keys; `1_000`, `1e3` and
//! `0b101` are numbers, `0x1f` is a string; timestamps become RFC 3339 strings. Quoted
//! scalars are strings. Encoding
//! writes what go-cty-yaml's libyaml emitter writes: block style, every string
//! double-quoted unless it spans lines (then a literal block), and `...` after a document
//! that is a lone plain scalar. (Keys longer than 128 characters, which libyaml writes as
//! explicit `?` keys, are written as ordinary keys.)

use std::collections::HashMap;

use hcl::eval::FuncArgs;
use hcl::{Map, Value};
use yaml_rust2::parser::{Event, EventReceiver, Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

use super::args::{self, invalid, num, number_text, string, Result};
use super::Def;

pub(super) const FUNCTIONS: &[Def] = super::table! {
    yamldecode(1) yamlencode(1)
};

fn yamlencode(args: FuncArgs) -> Result<Value> {
    let mut out = Emitter::default();
    out.root(&args[0]);
    Ok(Value::String(out.text))
}

/// Writes block-style YAML.
#[derive(Default)]
struct Emitter {
    text: String,
    /// Whether the document ended in a way that needs an explicit `...` end marker.
    open_ended: bool,
}

impl Emitter {
    fn root(&mut self, v: &Value) {
        match v {
            Value::Object(map) if !map.is_empty() => self.mapping(map, 0, false),
            Value::Array(items) if !items.is_empty() => self.sequence(items, 0, false),
            scalar => {
                let plain = !matches!(
                    scalar,
                    Value::String(_) | Value::Object(_) | Value::Array(_)
                );
                self.scalar(scalar, 2);
                self.open_ended |= plain;
            }
        }
        if self.open_ended {
            self.text.push_str("...\n");
        }
    }

    /// A non-empty mapping, keys sorted as cty sorts them, at column `indent`; the first
    /// key continues the current line when `inline`.
    fn mapping(&mut self, map: &Map<String, Value>, indent: usize, inline: bool) {
        let mut entries: Vec<_> = map.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (i, (key, value)) in entries.into_iter().enumerate() {
            if i > 0 || !inline {
                self.indent(indent);
            }
            self.text.push_str(&double_quoted(key));
            self.text.push(':');
            match value {
                Value::Object(inner) if !inner.is_empty() => {
                    self.text.push('\n');
                    self.mapping(inner, indent + 2, false);
                }
                Value::Array(items) if !items.is_empty() => {
                    self.text.push('\n');
                    self.sequence(items, indent, false);
                }
                scalar => {
                    self.text.push(' ');
                    self.scalar(scalar, indent + 2);
                }
            }
        }
    }

    /// A non-empty sequence whose dashes sit at column `indent`.
    fn sequence(&mut self, items: &[Value], indent: usize, inline: bool) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 || !inline {
                self.indent(indent);
            }
            self.text.push_str("- ");
            match item {
                Value::Object(inner) if !inner.is_empty() => self.mapping(inner, indent + 2, true),
                Value::Array(inner) if !inner.is_empty() => self.sequence(inner, indent + 2, true),
                scalar => self.scalar(scalar, indent + 2),
            }
        }
    }

    fn indent(&mut self, n: usize) {
        self.text.extend(std::iter::repeat_n(' ', n));
    }

    /// A scalar (or empty collection) and the line break after it; a literal block's
    /// lines are indented to `indent`.
    fn scalar(&mut self, v: &Value, indent: usize) {
        match v {
            Value::Null => self.text.push_str("null"),
            Value::Bool(b) => self.text.push_str(&b.to_string()),
            Value::Number(n) => self.text.push_str(&number_text(n)),
            Value::Array(_) => self.text.push_str("[]"),
            Value::Object(_) => self.text.push_str("{}"),
            Value::String(s) if s.contains('\n') && literal_allowed(s) => {
                return self.literal(s, indent)
            }
            Value::String(s) => self.text.push_str(&double_quoted(s)),
        }
        self.text.push('\n');
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.text.push('|');
        if s.starts_with([' ', '\n']) {
            self.text.push('2');
        }
        let trailing_breaks = s.len() - s.trim_end_matches('\n').len();
        match trailing_breaks {
            0 => self.text.push('-'),
            1 if s.len() > 1 => {}
            _ => {
                self.text.push('+');
                self.open_ended = true;
            }
        }
        self.text.push('\n');
        let mut line_start = true;
        for c in s.chars() {
            if c == '\n' {
                line_start = true;
            } else if line_start {
                self.indent(indent);
                line_start = false;
            }
            self.text.push(c);
        }
        if !s.ends_with('\n') {
            self.text.push('\n');
        }
    }
}

/// Whether libyaml may write `s` as a literal block: only printable characters, and no
/// space before a line break or at the end.
fn literal_allowed(s: &str) -> bool {
    s.chars().all(|c| printable(c) && c != '\u{FEFF}') && !s.contains(" \n") && !s.ends_with(' ')
}

/// libyaml's notion of a printable character (a tab is not one).
fn printable(c: char) -> bool {
    matches!(c as u32,
        0x0A | 0x20..=0x7E | 0x85 | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// `s` double-quoted, escaped as libyaml escapes it.
fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        let escape = match c {
            '\0' => "\\0",
            '\u{7}' => "\\a",
            '\u{8}' => "\\b",
            '\t' => "\\t",
            '\n' => "\\n",
            '\u{b}' => "\\v",
            '\u{c}' => "\\f",
            '\r' => "\\r",
            '\u{1b}' => "\\e",
            '"' => "\\\"",
            '\\' => "\\\\",
            '\u{85}' => "\\N",
            '\u{2028}' => "\\L",
            '\u{2029}' => "\\P",
            c if printable(c) && c != '\u{FEFF}' => {
                out.push(c);
                continue;
            }
            c => {
                let n = c as u32;
                out.push_str(&match n {
                    0..=0xFF => format!("\\x{n:02X}"),
                    0x100..=0xFFFF => format!("\\u{n:04X}"),
                    _ => format!("\\U{n:08X}"),
                });
                continue;
            }
        };
        out.push_str(escape);
    }
    out.push('"');
    out
}

/// Collects the parser's events.
#[derive(Default)]
struct Events(Vec<Event>);

impl EventReceiver for Events {
    fn on_event(&mut self, ev: Event) {
        self.0.push(ev);
    }
}

/// `yamldecode(src)`: one YAML document into a value (an empty source is null).
fn yamldecode(args: FuncArgs) -> Result<Value> {
    let src = string(&args[0], "src")?;
    let mut events = Events::default();
    Parser::new_from_str(&src)
        .load(&mut events, true)
        .map_err(|e| {
            invalid(
                "src",
                format!("on line {}: {}", e.marker().line(), e.info()),
            )
        })?;
    let mut builder = Builder {
        events: events.0.into_iter(),
        anchors: HashMap::new(),
        values: 0,
        depth: 0,
    };
    let mut value = Value::Null;
    let mut documents = 0;
    while let Some(event) = builder.events.next() {
        match event {
            Event::DocumentStart => documents += 1,
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
            node => value = builder.node(node)?,
        }
    }
    match documents {
        0 | 1 => Ok(value),
        _ => Err(invalid(
            "src",
            "unexpected extra content after value: only one YAML document is allowed",
        )),
    }
}

/// The most values one document may stand for, its aliases expanded: a few aliases of
/// aliases (the "billion laughs") would otherwise stand for billions.
const MAX_VALUES: usize = 1_000_000;

/// How deeply sequences and mappings may nest.
const MAX_DEPTH: usize = 256;

/// Builds values from parser events.
struct Builder {
    events: std::vec::IntoIter<Event>,
    /// Each anchor's value and how many values it holds.
    anchors: HashMap<usize, (Value, usize)>,
    /// Values made so far, aliases counted expanded.
    values: usize,
    /// Sequences and mappings open.
    depth: usize,
}

/// How many values `v` holds, itself included.
fn count(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(count).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(count).sum::<usize>(),
        _ => 1,
    }
}

impl Builder {
    fn next(&mut self) -> Result<Event> {
        self.events
            .next()
            .ok_or_else(|| invalid("src", "unexpected end of YAML"))
    }

    fn node(&mut self, event: Event) -> Result<Value> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(too_many());
        }
        if matches!(event, Event::SequenceStart(..) | Event::MappingStart(..)) {
            if self.depth >= MAX_DEPTH {
                return Err(invalid(
                    "src",
                    format!("sequences and mappings nest more than {MAX_DEPTH} levels"),
                ));
            }
            self.depth += 1;
            let built = self.collection(event);
            self.depth -= 1;
            return built;
        }
        self.collection(event)
    }

    fn collection(&mut self, event: Event) -> Result<Value> {
        let (value, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                (scalar(&text, style, tag.as_ref())?, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    match self.next()? {
                        Event::SequenceEnd => break,
                        item => items.push(self.node(item)?),
                    }
                }
                (Value::Array(items), anchor)
            }
            Event::MappingStart(anchor, _) => (self.mapping()?, anchor),
            Event::Alias(id) => {
                let (value, values) = self
                    .anchors
                    .get(&id)
                    .ok_or_else(|| invalid("src", "alias to an unknown anchor"))?;
                self.values += values;
                if self.values > MAX_VALUES {
                    return Err(too_many());
                }
                return Ok(value.clone());
            }
            other => return Err(invalid("src", format!("unexpected YAML event {other:?}"))),
        };
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), count(&value)));
        }
        Ok(value)
    }

    /// A mapping's entries, up to its end; `<<` merge keys fill in keys not given.
    fn mapping(&mut self) -> Result<Value> {
        let mut map = Map::new();
        let mut merged = Vec::new();
        loop {
            let key_event = self.next()?;
            if key_event == Event::MappingEnd {
                break;
            }
            let is_merge =
                matches!(&key_event, Event::Scalar(k, TScalarStyle::Plain, _, None) if k == "<<");
            let key = self.node(key_event)?;
            let value_event = self.next()?;
            let value = self.node(value_event)?;
            if is_merge {
                match value {
                    Value::Object(m) => merged.push(m),
                    Value::Array(items) => {
                        merged.extend(items.into_iter().filter_map(|i| match i {
                            Value::Object(m) => Some(m),
                            _ => None,
                        }))
                    }
                    _ => return Err(invalid("src", "a << merge key needs a mapping")),
                }
                continue;
            }
            let key = match key {
                Value::String(s) => s,
                Value::Null => return Err(invalid("src", "mapping key cannot be null")),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => number_text(&n),
                _ => return Err(invalid("src", "only strings are allowed as mapping keys")),
            };
            map.insert(key, value);
        }
        for m in merged {
            for (k, v) in m {
                map.entry(k).or_insert(v);
            }
        }
        Ok(Value::Object(map))
    }
}

fn too_many() -> String {
    invalid(
        "src",
        format!(
            "the document stands for more than {MAX_VALUES} values once its aliases are \
             expanded; Kiln stops there"
        ),
    )
}

/// A scalar's value: tags decide, then quoting (quoted scalars are strings), then YAML
/// 1.1's plain-scalar rules.
fn scalar(text: &str, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value> {
    let core = match tag {
        None => None,
        Some(t) if t.handle == "tag:yaml.org,2002:" || t.handle == "!!" => Some(t.suffix.as_str()),
        Some(t) => {
            return Err(invalid(
                "src",
                format!("unsupported tag \"{}{}\"", t.handle, t.suffix),
            ))
        }
    };
    match core {
        Some("str") => Ok(Value::from(text)),
        Some("binary") => {
            use base64::Engine;
            let compact: String = text.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| invalid("src", format!("invalid !!binary value: {e}")))?;
            String::from_utf8(bytes)
                .map(Value::String)
                .map_err(|_| invalid("src", "a !!binary value is not valid UTF-8"))
        }
        Some("int" | "float" | "bool" | "null" | "timestamp") => plain(text),
        Some(other) => Err(invalid("src", format!("unsupported tag \"!!{other}\""))),
        None if style == TScalarStyle::Plain => plain(text),
        None => Ok(Value::from(text)),
    }
}

fn plain(text: &str) -> Result<Value> {
    Ok(match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Value::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Value::Bool(false)
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" => {
            return Err(invalid("src", "infinity cannot be represented"))
        }
        ".nan" | ".NaN" | ".NAN" => {
            return Err(invalid("src", "floating point NaN is not supported"))
        }
        _ => match (timestamp(text), number(text)) {
            (Some(t), _) => Value::String(t),
            (None, Some(n)) => n?,
            (None, None) => Value::from(text),
        },
    })
}

/// A plain scalar that reads as a timestamp (`2001-12-14`, `2001-12-14t21:59:43.10-05:00`,
/// `2001-12-14 21:59:43.10`), as RFC 3339.
fn timestamp(text: &str) -> Option<String> {
    let number = |s: &str, max: usize| {
        (!s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    let (date, time) = match text.find(['T', 't', ' ']) {
        Some(i) => (&text[..i], Some((&text[i..i + 1], &text[i + 1..]))),
        None => (text, None),
    };
    let mut parts = date.splitn(3, '-');
    let year = parts
        .next()
        .filter(|y| y.len() == 4)
        .and_then(|y| number(y, 4))?;
    let month = number(parts.next()?, 2)?;
    let day = number(parts.next()?, 2)?;
    let date = chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let Some((sep, time)) = time else {
        return Some(format!("{date}T00:00:00Z"));
    };
    let (clock, zone) = match sep {
        " " => (time, None),
        _ => {
            let at = time.rfind(['Z', '+', '-'])?;
            (&time[..at], Some(&time[at..]))
        }
    };
    let (clock, frac) = clock.split_once('.').unwrap_or((clock, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let mut hms = clock.splitn(3, ':');
    let (h, m, s) = (
        number(hms.next()?, 2)?,
        number(hms.next()?, 2)?,
        number(hms.next()?, 2)?,
    );
    let offset = match zone {
        None | Some("Z") => 0,
        Some(zone) => {
            let (sign, hhmm) = zone.split_at(1);
            let (zh, zm) = hhmm.split_once(':')?;
            let secs = (number(zh, 2)? * 3600 + number(zm, 2)? * 60) as i32;
            if sign == "-" {
                -secs
            } else {
                secs
            }
        }
    };
    let offset = chrono::FixedOffset::east_opt(offset)?;
    let t = date
        .and_hms_opt(h, m, s)?
        .and_local_timezone(offset)
        .single()?;
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// A plain scalar that reads as a number: a decimal (underscores ignored when it starts
/// with a digit or sign) or a `0b` binary integer.
fn number(text: &str) -> Option<Result<Value>> {
    let plain = match text.starts_with('.') {
        true => text.to_owned(),
        false if text.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-') => {
            text.replace('_', "")
        }
        false => return None,
    };
    if let Some(n) = args::parse_number(&plain) {
        return Some(num(n));
    }
    let (negative, binary) = match plain.strip_prefix('-') {
        Some(rest) => (true, rest.strip_prefix("0b")?),
        None => (false, plain.strip_prefix("0b")?),
    };
    let n = i64::from_str_radix(binary, 2).ok()?;
    Some(Ok(Value::from(if negative { -n } else { n })))
}
