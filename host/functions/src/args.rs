//! Reading arguments the way cty converts them, and building results.

use hcl::{Map, Number, Value};

/// What a function body returns; hcl-rs adds the function's name to the message.
pub(super) type Result<T> = std::result::Result<T, String>;

/// The kind of `v`, in the words of error messages.
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// "invalid value for "param" parameter: …"
pub(super) fn invalid(param: &str, why: impl std::fmt::Display) -> String {
    format!("invalid value for \"{param}\" parameter: {why}")
}

fn wrong_kind(param: &str, want: &str, v: &Value) -> String {
    match v {
        Value::Null => invalid(param, "argument must not be null"),
        _ => invalid(param, format!("{want} required, got {}", kind(v))),
    }
}

/// A string argument; numbers and bools convert to their text.
pub(super) fn string(v: &Value, param: &str) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(number_text(n)),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(wrong_kind(param, "string", v)),
    }
}

/// A number argument; a string converts when it is a decimal number.
pub(super) fn number(v: &Value, param: &str) -> Result<f64> {
    match v {
        Value::Number(n) => Ok(n.as_f64().unwrap_or_default()),
        Value::String(s) => parse_number(s).ok_or_else(|| {
            invalid(
                param,
                format!(
                    "cannot convert {s:?} to number; \
                     given string must be a decimal representation of a number"
                ),
            )
        }),
        _ => Err(wrong_kind(param, "number", v)),
    }
}

/// A whole-number argument.
pub(super) fn int(v: &Value, param: &str) -> Result<i64> {
    let n = number(v, param)?;
    if n.fract() != 0.0 || n.abs() >= 9.0e18 {
        return Err(invalid(param, "a whole number is required"));
    }
    Ok(n as i64)
}

/// A bool argument; the strings "true" and "false" convert.
pub(super) fn boolean(v: &Value, param: &str) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        _ => Err(wrong_kind(param, "bool", v)),
    }
}

/// A list (or tuple, or set) argument.
pub(super) fn list<'a>(v: &'a Value, param: &str) -> Result<&'a [Value]> {
    match v {
        Value::Array(items) => Ok(items),
        _ => Err(wrong_kind(param, "list", v)),
    }
}

/// A map (or object) argument.
pub(super) fn object<'a>(v: &'a Value, param: &str) -> Result<&'a Map<String, Value>> {
    match v {
        Value::Object(map) => Ok(map),
        _ => Err(wrong_kind(param, "map", v)),
    }
}

/// A list of strings; numbers and bools convert, nulls are refused.
pub(super) fn strings(v: &Value, param: &str) -> Result<Vec<String>> {
    list(v, param)?
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Null => Err(invalid(
                param,
                format!("element {i} is null; a string is required"),
            )),
            _ => string(item, param).map_err(|_| {
                invalid(
                    param,
                    format!("element {i}: string required, got {}", kind(item)),
                )
            }),
        })
        .collect()
}

/// Refuses more arguments than `max`.
pub(super) fn at_most(args: &[Value], max: usize) -> Result<()> {
    match args.len() > max {
        true => Err(format!("takes at most {max} arguments, got {}", args.len())),
        false => Ok(()),
    }
}

/// A number result; NaN and infinities have no HCL value.
pub(super) fn num(f: f64) -> Result<Value> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| "the result is not a finite number".to_owned())
}

/// Parses a decimal number as cty does: an optional sign, digits, an optional fraction
/// and exponent. `inf`, `NaN` and hexadecimal are not numbers.
pub(super) fn parse_number(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let starts_well = body.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    let only_decimal = body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'));
    match starts_well && only_decimal {
        true => s.parse::<f64>().ok().filter(|f| f.is_finite()),
        false => None,
    }
}

/// A number as cty writes it: integers without a fraction, others in full decimal
/// notation (never with an exponent).
pub(super) fn number_text(n: &Number) -> String {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => i.to_string(),
        (_, Some(u)) => u.to_string(),
        _ => float_text(n.as_f64().unwrap_or_default()),
    }
}

/// A float as cty writes it (Go's `Text('f', -1)`).
pub(super) fn float_text(f: f64) -> String {
    format!("{f}")
}

/// Deduplicates `items` and orders them as cty orders a set: strings lexically, numbers
/// numerically, anything else in the order first seen.
pub(super) fn set_of(items: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    if out.iter().all(Value::is_string) {
        out.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    } else if out.iter().all(Value::is_number) {
        out.sort_by(|a, b| {
            let (a, b) = (
                a.as_f64().unwrap_or_default(),
                b.as_f64().unwrap_or_default(),
            );
            a.total_cmp(&b)
        });
    }
    out
}
