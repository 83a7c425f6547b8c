//! Encoding functions: base64decode, base64encode, base64gzip, csvdecode, jsondecode,
//! jsonencode, textdecodebase64, textencodebase64, urlencode. (`yamldecode` and
//! `yamlencode` are in [`super::yaml`].)

use std::io::Write;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hcl::eval::FuncArgs;
use hcl::{Map, Value};

use super::args::{invalid, number_text, string, Result};
use super::Def;

pub(super) const FUNCTIONS: &[Def] = super::table! {
    base64decode(1) base64encode(1) base64gzip(1) csvdecode(1) jsondecode(1) jsonencode(1)
    textdecodebase64(2) textencodebase64(2) urlencode(1)
};

fn base64encode(args: FuncArgs) -> Result<Value> {
    Ok(Value::String(STANDARD.encode(string(&args[0], "str")?)))
}

/// Decodes standard, padded base64 (line breaks are ignored, as Go ignores them); the
/// result must be UTF-8.
fn base64decode(args: FuncArgs) -> Result<Value> {
    let bytes = decode_base64(&string(&args[0], "str")?, "str")?;
    String::from_utf8(bytes).map(Value::String).map_err(|_| {
        invalid(
            "str",
            "the result of decoding the provided string is not valid UTF-8",
        )
    })
}

fn decode_base64(s: &str, param: &str) -> Result<Vec<u8>> {
    let compact: String = s.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    STANDARD
        .decode(compact)
        .map_err(|e| invalid(param, format!("failed to decode base64 data: {e}")))
}

/// `base64gzip(str)`: gzip-compresses the string, then encodes it in base64.
fn base64gzip(args: FuncArgs) -> Result<Value> {
    let s = string(&args[0], "str")?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(s.as_bytes())
        .and_then(|()| gz.finish())
        .map(|bytes| Value::String(STANDARD.encode(bytes)))
        .map_err(|e| format!("failed to compress: {e}"))
}

/// `urlencode(str)`, as Go's `url.QueryEscape`: spaces become `+`.
fn urlencode(args: FuncArgs) -> Result<Value> {
    let s = string(&args[0], "str")?;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    Ok(Value::String(out))
}

/// `csvdecode(str)`: a list of objects, one per record, keyed by the header row.
fn csvdecode(args: FuncArgs) -> Result<Value> {
    let s = string(&args[0], "str")?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .from_reader(s.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(header) => header.map_err(csv_error)?,
        None => return Err(invalid("str", "missing header line")),
    };
    let columns: Vec<String> = header.iter().map(str::to_owned).collect();
    for (i, name) in columns.iter().enumerate() {
        if columns[..i].contains(name) {
            return Err(invalid("str", format!("duplicate column name {name:?}")));
        }
    }
    records
        .map(|record| {
            let record = record.map_err(csv_error)?;
            Ok(Value::Object(
                columns
                    .iter()
                    .cloned()
                    .zip(record.iter().map(Value::from))
                    .collect::<Map<_, _>>(),
            ))
        })
        .collect::<Result<Vec<_>>>()
        .map(Value::Array)
}

fn csv_error(e: csv::Error) -> String {
    let line = e.position().map_or(0, csv::Position::line);
    let why = match e.kind() {
        csv::ErrorKind::UnequalLengths { .. } => "wrong number of fields".to_owned(),
        _ => e.to_string(),
    };
    invalid("str", format!("CSV parse error on line {line}: {why}"))
}

/// `jsondecode(str)`.
fn jsondecode(args: FuncArgs) -> Result<Value> {
    let s = string(&args[0], "str")?;
    serde_json::from_str::<Value>(&s).map_err(|e| invalid("str", e))
}

/// `jsonencode(value)`.
fn jsonencode(args: FuncArgs) -> Result<Value> {
    Ok(Value::String(json_text(&args[0])))
}

/// A value as cty writes JSON: object keys sorted, numbers in full decimal notation, and
/// strings escaped as Go escapes them (`<`, `>` and `&` too).
pub(super) fn json_text(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_text(n),
        Value::String(s) => json_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(json_text).collect();
            format!("[{}]", items.join(","))
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let entries: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", json_string(k), json_text(v)))
                .collect();
            format!("{{{}}}", entries.join(","))
        }
    }
}

/// A JSON string literal, escaped as Go's `encoding/json` escapes it.
pub(super) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The text encodings `textencodebase64` and `textdecodebase64` know.
#[derive(Clone, Copy)]
enum TextEncoding {
    Utf8,
    /// With a byte-order mark; big-endian when encoding.
    Utf16,
    Utf16Le,
    Utf16Be,
}

impl TextEncoding {
    fn named(name: &str) -> Result<TextEncoding> {
        match name.to_ascii_uppercase().replace('_', "-").as_str() {
            "UTF-8" | "UTF8" => Ok(TextEncoding::Utf8),
            "UTF-16" | "UTF16" => Ok(TextEncoding::Utf16),
            "UTF-16LE" | "UTF16LE" => Ok(TextEncoding::Utf16Le),
            "UTF-16BE" | "UTF16BE" => Ok(TextEncoding::Utf16Be),
            _ => Err(invalid(
                "encoding",
                format!(
                    "{name:?} is not a supported encoding; \
                     Kiln supports UTF-8, UTF-16, UTF-16LE and UTF-16BE"
                ),
            )),
        }
    }

    fn encode(self, s: &str) -> Vec<u8> {
        let units = s.encode_utf16();
        match self {
            TextEncoding::Utf8 => s.as_bytes().to_vec(),
            TextEncoding::Utf16Le => units.flat_map(u16::to_le_bytes).collect(),
            TextEncoding::Utf16Be => units.flat_map(u16::to_be_bytes).collect(),
            TextEncoding::Utf16 => [0xFE, 0xFF]
                .into_iter()
                .chain(units.flat_map(u16::to_be_bytes))
                .collect(),
        }
    }

    fn decode(self, bytes: &[u8]) -> Option<String> {
        let units = |bytes: &[u8], from: fn([u8; 2]) -> u16| -> Option<String> {
            let pairs = bytes.chunks(2);
            let units: Option<Vec<u16>> = pairs
                .map(|p| <[u8; 2]>::try_from(p).ok().map(from))
                .collect();
            String::from_utf16(&units?).ok()
        };
        match self {
            TextEncoding::Utf8 => String::from_utf8(bytes.to_vec()).ok(),
            TextEncoding::Utf16Le => units(bytes, u16::from_le_bytes),
            TextEncoding::Utf16Be => units(bytes, u16::from_be_bytes),
            TextEncoding::Utf16 => match bytes {
                [0xFF, 0xFE, rest @ ..] => units(rest, u16::from_le_bytes),
                [0xFE, 0xFF, rest @ ..] => units(rest, u16::from_be_bytes),
                _ => units(bytes, u16::from_be_bytes),
            },
        }
    }
}

/// `textencodebase64(string, encoding)`: the string in `encoding`, in base64.
fn textencodebase64(args: FuncArgs) -> Result<Value> {
    let s = string(&args[0], "string")?;
    let encoding = TextEncoding::named(&string(&args[1], "encoding")?)?;
    Ok(Value::String(STANDARD.encode(encoding.encode(&s))))
}

/// `textdecodebase64(source, encoding)`: base64 of text in `encoding`, as a string.
fn textdecodebase64(args: FuncArgs) -> Result<Value> {
    let bytes = decode_base64(&string(&args[0], "source")?, "source")?;
    let name = string(&args[1], "encoding")?;
    let encoding = TextEncoding::named(&name)?;
    encoding
        .decode(&bytes)
        .map(Value::String)
        .ok_or_else(|| invalid("source", format!("the given value is not valid {name}")))
}
