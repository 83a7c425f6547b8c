//! `format` and `formatlist`: printf-style verbs as cty implements them on top of Go's
//! `fmt`.
//!
//! A verb is `%`, then flags (`0 # - + space`), a width, a `.precision`, an argument index
//! `[n]` and a letter: `%v` (any value; collections as JSON), `%#v` (JSON), `%t` (bool),
//! `%b %d %o %x %X` (integers), `%e %E %f %g %G` (numbers), `%s` and `%q` (strings, `%q`
//! JSON-quoted); `%%` is a percent sign. Widths and string precisions count grapheme
//! clusters.

use hcl::eval::FuncArgs;
use hcl::Value;
use unicode_segmentation::UnicodeSegmentation;

use super::args::{self, string, Result};
use super::encoding::{json_string, json_text};
use super::Def;

pub(super) const FUNCTIONS: &[Def] = super::table! {
    format(1..) formatlist(1..)
};

fn format(args: FuncArgs) -> Result<Value> {
    let spec = string(&args[0], "format")?;
    sprintf(&spec, &args[1..]).map(Value::String)
}

/// `formatlist(spec, args...)`: list arguments are iterated together (they must have the
/// same length), other arguments repeat.
fn formatlist(args: FuncArgs) -> Result<Value> {
    let spec = string(&args[0], "format")?;
    let rest = &args[1..];
    let mut length: Option<(usize, usize)> = None;
    for (i, arg) in rest.iter().enumerate() {
        if let Value::Array(items) = arg {
            match length {
                None => length = Some((items.len(), i)),
                Some((len, first)) if len != items.len() => {
                    return Err(format!(
                        "argument {} has length {}, which is inconsistent with argument {} of length {len}",
                        i + 1,
                        items.len(),
                        first + 1
                    ))
                }
                Some(_) => {}
            }
        }
    }
    let rows = length.map_or(1, |(len, _)| len);
    (0..rows)
        .map(|row| {
            let row_args: Vec<Value> = rest
                .iter()
                .map(|arg| match arg {
                    Value::Array(items) => items[row].clone(),
                    other => other.clone(),
                })
                .collect();
            sprintf(&spec, &row_args)
                .map(Value::String)
                .map_err(|e| match length {
                    Some(_) => format!("error on format iteration {row}: {e}"),
                    None => e,
                })
        })
        .collect::<Result<Vec<_>>>()
        .map(Value::Array)
}

/// One parsed verb.
#[derive(Default)]
struct Verb {
    raw: String,
    offset: usize,
    /// 1-based.
    arg: usize,
    mode: char,
    zero: bool,
    sharp: bool,
    plus: bool,
    minus: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn sprintf(spec: &str, args: &[Value]) -> Result<String> {
    let mut out = String::new();
    let mut chars = spec.char_indices().peekable();
    let mut next_arg = 1;
    let mut highest = 0;
    while let Some((offset, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.next_if(|&(_, c)| c == '%').is_some() {
            out.push('%');
            continue;
        }
        let verb = parse_verb(spec, offset, &mut chars, next_arg)?;
        highest = highest.max(verb.arg);
        append(&mut out, &verb, args)?;
        next_arg = verb.arg + 1;
    }
    match highest {
        h if h >= args.len() => Ok(out),
        0 => Err("too many arguments; no verbs in format string".to_owned()),
        h => Err(format!(
            "too many arguments; only {h} used by format string"
        )),
    }
}

fn parse_verb(
    spec: &str,
    offset: usize,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    next_arg: usize,
) -> Result<Verb> {
    let mut verb = Verb {
        offset,
        arg: next_arg,
        ..Verb::default()
    };
    let digits = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        let mut n: Option<usize> = None;
        while let Some((_, d)) = chars.next_if(|(_, c)| c.is_ascii_digit()) {
            n = Some(n.unwrap_or(0) * 10 + d.to_digit(10).unwrap_or(0) as usize);
        }
        n
    };
    while let Some((_, flag)) = chars.next_if(|(_, c)| matches!(c, '0' | '#' | '-' | '+' | ' ')) {
        match flag {
            '0' => verb.zero = true,
            '#' => verb.sharp = true,
            '-' => verb.minus = true,
            '+' => verb.plus = true,
            _ => verb.space = true,
        }
    }
    verb.width = digits(chars);
    if chars.next_if(|&(_, c)| c == '.').is_some() {
        verb.prec = Some(digits(chars).unwrap_or(0));
    }
    if let Some((at, _)) = chars.next_if(|&(_, c)| c == '[') {
        match (digits(chars), chars.next()) {
            (Some(n), Some((_, ']'))) if n > 0 => verb.arg = n,
            _ => {
                return Err(format!(
                    "invalid argument index in format string at offset {at}"
                ))
            }
        }
    }
    match chars.next() {
        Some((end, mode)) if mode.is_ascii_alphabetic() => {
            verb.mode = mode;
            verb.raw = spec[offset..end + 1].to_owned();
            Ok(verb)
        }
        Some((at, other)) => Err(format!(
            "unrecognized format character {other:?} at offset {at}"
        )),
        None => Err(format!("invalid format string starting at offset {offset}")),
    }
}

fn append(out: &mut String, verb: &Verb, args: &[Value]) -> Result<()> {
    let arg = args.get(verb.arg - 1).ok_or_else(|| {
        format!(
            "not enough arguments for {:?} at {}: need index {} but have {} total",
            verb.raw,
            verb.offset,
            verb.arg,
            args.len()
        )
    })?;
    let unsupported = |why: &str| {
        format!(
            "unsupported value for {:?} at {}: {why}",
            verb.raw, verb.offset
        )
    };
    if verb.mode != 'v' && arg.is_null() {
        return Err(unsupported("null value cannot be formatted"));
    }
    let text = match verb.mode {
        'v' => pad(verb, &as_is(verb, arg)),
        't' => match args::boolean(arg, "") {
            Ok(b) => b.to_string(),
            Err(_) => return Err(unsupported("bool required")),
        },
        'b' | 'd' | 'o' | 'x' | 'X' => {
            let n = args::number(arg, "").map_err(|_| unsupported("number required"))?;
            if n.fract() != 0.0 || n.abs() > 1.0e38 {
                return Err(unsupported("an integer is required"));
            }
            integer(verb, n as i128)
        }
        'e' | 'E' | 'f' | 'g' | 'G' => {
            let n = args::number(arg, "").map_err(|_| unsupported("number required"))?;
            float(verb, n)
        }
        's' | 'q' => {
            let mut s = match arg {
                Value::String(_) | Value::Number(_) | Value::Bool(_) => string(arg, "")?,
                _ => return Err(unsupported("string required")),
            };
            if let Some(prec) = verb.prec.filter(|&p| p > 0) {
                s = s.graphemes(true).take(prec).collect();
            }
            match verb.mode {
                's' => pad(verb, &s),
                _ => pad(verb, &json_string(&s)),
            }
        }
        mode => {
            return Err(format!(
                "unsupported format verb {mode:?} in {:?} at offset {}",
                verb.raw, verb.offset
            ))
        }
    };
    out.push_str(&text);
    Ok(())
}

/// `%v`: strings and numbers as themselves, anything else (and anything with `#`) as JSON.
fn as_is(verb: &Verb, arg: &Value) -> String {
    match arg {
        Value::String(s) if !verb.sharp => s.clone(),
        Value::Number(n) if !verb.sharp => go_float_text(n.as_f64().unwrap_or_default(), 'g', None),
        other => json_text(other),
    }
}

/// Pads to the verb's width in grapheme clusters, as cty's `formatPadWidth` does.
fn pad(verb: &Verb, s: &str) -> String {
    let len = s.graphemes(true).count();
    let Some(width) = verb.width.filter(|&w| w > len) else {
        return s.to_owned();
    };
    let fill = if verb.zero { "0" } else { " " }.repeat(width - len);
    match verb.minus {
        true => format!("{s}{fill}"),
        false => format!("{fill}{s}"),
    }
}

/// Go's formatting of a big integer with `%b %d %o %x %X`.
fn integer(verb: &Verb, n: i128) -> String {
    let magnitude = n.unsigned_abs();
    let mut digits = match verb.mode {
        'b' => format!("{magnitude:b}"),
        'o' => format!("{magnitude:o}"),
        'x' => format!("{magnitude:x}"),
        'X' => format!("{magnitude:X}"),
        _ => magnitude.to_string(),
    };
    let mut zeros = 0;
    if let Some(prec) = verb.prec {
        if prec == 0 && n == 0 {
            return String::new();
        }
        zeros = prec.saturating_sub(digits.len());
    }
    let prefix = match (verb.sharp, verb.mode) {
        (true, 'b') => "0b",
        (true, 'o') => "0",
        (true, 'x') => "0x",
        (true, 'X') => "0X",
        _ => "",
    };
    let sign = sign(verb, n < 0);
    let length = sign.len() + prefix.len() + zeros + digits.len();
    let (mut left, mut right) = (0, 0);
    if let Some(width) = verb.width.filter(|&w| w > length) {
        let d = width - length;
        match (verb.minus, verb.zero && verb.prec.is_none()) {
            (true, _) => right = d,
            (false, true) => zeros = d,
            (false, false) => left = d,
        }
    }
    digits.insert_str(0, &"0".repeat(zeros));
    format!(
        "{}{sign}{prefix}{digits}{}",
        " ".repeat(left),
        " ".repeat(right)
    )
}

fn sign(verb: &Verb, negative: bool) -> &'static str {
    match (negative, verb.plus, verb.space) {
        (true, _, _) => "-",
        (false, true, _) => "+",
        (false, false, true) => " ",
        _ => "",
    }
}

/// Go's formatting of a big float with `%e %E %f %g %G`.
fn float(verb: &Verb, n: f64) -> String {
    let mode = verb.mode.to_ascii_lowercase();
    let prec = match mode {
        'g' => verb.prec,
        _ => Some(verb.prec.unwrap_or(6)),
    };
    let mut body = go_float_text(n.abs(), mode, prec);
    if verb.mode.is_ascii_uppercase() {
        body = body.to_ascii_uppercase();
    }
    let sign = sign(verb, n.is_sign_negative() && n != 0.0);
    let padding = verb
        .width
        .map_or(0, |w| w.saturating_sub(sign.len() + body.len()));
    match (verb.zero, verb.minus) {
        (true, _) => format!("{sign}{}{body}", "0".repeat(padding)),
        (false, true) => format!("{sign}{body}{}", " ".repeat(padding)),
        (false, false) => format!("{}{sign}{body}", " ".repeat(padding)),
    }
}

/// The decimal digits of `f` (no trailing zeros, empty for zero) and the position of the
/// decimal point relative to them, rounded to `significant` digits when given, else the
/// shortest that reads back as `f`.
fn decimal(f: f64, significant: Option<usize>) -> (Vec<u8>, i32) {
    if f == 0.0 {
        return (Vec::new(), 0);
    }
    let sci = match significant {
        None => format!("{:e}", f.abs()),
        Some(n) => format!("{:.*e}", n.max(1) - 1, f.abs()),
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp.parse::<i32>().unwrap_or(0) + 1)
}

/// Go's `big.Float.Text(mode, prec)` for a non-negative `f`; `prec` of `None` means the
/// shortest representation.
fn go_float_text(f: f64, mode: char, prec: Option<usize>) -> String {
    match mode {
        'f' => match prec {
            Some(p) => format!("{f:.p$}"),
            None => args::float_text(f),
        },
        'e' => {
            let (digits, exp) = decimal(f, prec.map(|p| p + 1));
            let prec = prec.unwrap_or(digits.len().saturating_sub(1));
            fmt_e(&digits, exp, prec)
        }
        _ => {
            let (digits, exp) = decimal(f, prec.map(|p| p.max(1)));
            let shortest = prec.is_none();
            let mut prec = prec.map_or(digits.len(), |p| p.max(1));
            let mut eprec = prec;
            if eprec > digits.len() && digits.len() as i32 >= exp {
                eprec = digits.len();
            }
            if shortest {
                eprec = 6;
            }
            let x = exp - 1;
            if x < -4 || x >= eprec as i32 {
                prec = prec.min(digits.len());
                return fmt_e(&digits, exp, prec.saturating_sub(1));
            }
            if prec as i32 > exp {
                prec = digits.len();
            }
            fmt_f(&digits, exp, (prec as i32 - exp).max(0) as usize)
        }
    }
}

/// `d.ddddde±XX` with `prec` digits after the point.
fn fmt_e(digits: &[u8], exp: i32, prec: usize) -> String {
    let mut out = String::new();
    out.push(digits.first().map_or('0', |&d| d as char));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(digits.get(i).map_or('0', |&d| d as char));
        }
    }
    let x = if digits.is_empty() { 0 } else { exp - 1 };
    out.push_str(&format!("e{}{:02}", if x < 0 { '-' } else { '+' }, x.abs()));
    out
}

/// `ddd.ddd` with `prec` digits after the point.
fn fmt_f(digits: &[u8], exp: i32, prec: usize) -> String {
    let at = |i: i32| {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .map_or('0', |&d| d as char)
    };
    let mut out: String = match exp > 0 {
        true => (0..exp).map(at).collect(),
        false => "0".to_owned(),
    };
    if prec > 0 {
        out.push('.');
        out.extend((0..prec as i32).map(|i| at(exp + i)));
    }
    out
}
