//! The lexer of Go's `text/template` as Packer's interpolation uses it: text and
//! actions, with Go's trimming markers, strings, characters and numbers.

use super::parse::{NumConst, ParseError};

/// Text and actions, before control structures are matched up.
#[derive(Debug)]
pub(crate) enum Item {
    Text(String),
    Action { tokens: Vec<Tok>, raw: String },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Field(Vec<String>),
    Variable(String),
    Str(String),
    Char(char),
    Number(String),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

pub(crate) fn lex(src: &str) -> Result<Vec<Item>, ParseError> {
    let mut items = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            push_text(&mut items, rest, trim_next, false);
            break;
        };
        let after = &rest[open + 2..];
        let trim_left = after.starts_with('-') && after[1..].starts_with([' ', '\t', '\n', '\r']);
        push_text(&mut items, &rest[..open], trim_next, trim_left);
        let body_start = open + 2 + usize::from(trim_left);
        let (tokens, body_len, trim_right) = lex_action(&rest[body_start..])?;
        let end = body_start + body_len;
        let raw = rest[open..end].to_owned();
        if let Some(tokens) = tokens {
            items.push(Item::Action { tokens, raw });
        }
        trim_next = trim_right;
        rest = &rest[end..];
    }
    Ok(items)
}

pub(crate) fn push_text(items: &mut Vec<Item>, text: &str, trim_start: bool, trim_end: bool) {
    let mut t = text;
    if trim_start {
        t = t.trim_start_matches([' ', '\t', '\n', '\r']);
    }
    if trim_end {
        t = t.trim_end_matches([' ', '\t', '\n', '\r']);
    }
    if !t.is_empty() {
        items.push(Item::Text(t.to_owned()));
    }
}

pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Lexes an action body up to and including its `}}`. Returns the tokens (`None` for a
/// comment), the length consumed and whether it ended with a right trim marker.
#[allow(clippy::type_complexity)]
pub(crate) fn lex_action(s: &str) -> Result<(Option<Vec<Tok>>, usize, bool), ParseError> {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let off = |i: usize| chars.get(i).map_or(s.len(), |&(o, _)| o);
    let mut i = 0;
    // Comments: {{/* ... */}}, with optional trim markers.
    let mut j = i;
    while at(j).is_some_and(is_space) {
        j += 1;
    }
    if s[off(j)..].starts_with("/*") {
        let from = off(j) + 2;
        let Some(close) = s[from..].find("*/") else {
            return Err(ParseError::new("unclosed comment"));
        };
        let after = from + close + 2;
        let tail = &s[after..];
        let trimmed = tail.trim_start_matches(is_space);
        if let Some(t) = trimmed.strip_prefix("-}}") {
            if trimmed.len() < tail.len() {
                return Ok((None, s.len() - t.len(), true));
            }
        }
        if let Some(t) = tail.strip_prefix("}}") {
            return Ok((None, s.len() - t.len(), false));
        }
        return Err(ParseError::new("comment ends before closing delimiter"));
    }
    let mut tokens = Vec::new();
    loop {
        let Some(c) = at(i) else {
            return Err(ParseError::new("unclosed action"));
        };
        if is_space(c) {
            let mut j = i;
            while at(j).is_some_and(is_space) {
                j += 1;
            }
            if s[off(j)..].starts_with("-}}") {
                return Ok((Some(tokens), off(j) + 3, true));
            }
            i = j;
            continue;
        }
        if s[off(i)..].starts_with("}}") {
            return Ok((Some(tokens), off(i) + 2, false));
        }
        match c {
            '|' => {
                tokens.push(Tok::Pipe);
                i += 1;
            }
            '(' => {
                tokens.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                tokens.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                tokens.push(Tok::Comma);
                i += 1;
            }
            ':' if at(i + 1) == Some('=') => {
                tokens.push(Tok::Declare);
                i += 2;
            }
            '=' => {
                tokens.push(Tok::Assign);
                i += 1;
            }
            '"' => {
                let mut out = String::new();
                i += 1;
                loop {
                    match at(i) {
                        None | Some('\n') => {
                            return Err(ParseError::new("unterminated quoted string"))
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => {
                            let (ch, used) = escape(&chars[i + 1..])?;
                            out.push(ch);
                            i += 1 + used;
                        }
                        Some(ch) => {
                            out.push(ch);
                            i += 1;
                        }
                    }
                }
                tokens.push(Tok::Str(out));
            }
            '`' => {
                let from = off(i + 1);
                let Some(len) = s[from..].find('`') else {
                    return Err(ParseError::new("unterminated raw quoted string"));
                };
                tokens.push(Tok::Str(s[from..from + len].to_owned()));
                let end = from + len + 1;
                while off(i) < end {
                    i += 1;
                }
            }
            '\'' => {
                let (ch, used) = match at(i + 1) {
                    Some('\\') => escape(&chars[i + 2..]).map(|(c, n)| (c, n + 1))?,
                    Some(ch) if ch != '\'' && ch != '\n' => (ch, 1),
                    _ => return Err(ParseError::new("malformed character constant")),
                };
                if at(i + 1 + used) != Some('\'') {
                    return Err(ParseError::new("unterminated character constant"));
                }
                tokens.push(Tok::Char(ch));
                i += used + 2;
            }
            '.' if at(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                let n = number_len(&chars[i..]);
                tokens.push(Tok::Number(chars[i..i + n].iter().map(|p| p.1).collect()));
                i += n;
            }
            '.' => {
                let mut fields = Vec::new();
                while at(i) == Some('.') {
                    let mut j = i + 1;
                    while at(j).is_some_and(is_ident_char) {
                        j += 1;
                    }
                    if j == i + 1 {
                        if !fields.is_empty() {
                            return Err(ParseError::new("bad character '.' in field"));
                        }
                        i = j;
                        break;
                    }
                    fields.push(chars[i + 1..j].iter().map(|p| p.1).collect());
                    i = j;
                }
                tokens.push(Tok::Field(fields));
            }
            '$' => {
                let mut j = i + 1;
                while at(j).is_some_and(is_ident_char) {
                    j += 1;
                }
                tokens.push(Tok::Variable(chars[i..j].iter().map(|p| p.1).collect()));
                i = j;
            }
            '+' | '-' | '0'..='9' => {
                let n = number_len(&chars[i..]);
                if n == 0 || (n == 1 && !c.is_ascii_digit()) {
                    return Err(ParseError::new(format!("bad number syntax: {c:?}")));
                }
                tokens.push(Tok::Number(chars[i..i + n].iter().map(|p| p.1).collect()));
                i += n;
            }
            c if is_ident_char(c) => {
                let mut j = i;
                while at(j).is_some_and(is_ident_char) {
                    j += 1;
                }
                tokens.push(Tok::Ident(chars[i..j].iter().map(|p| p.1).collect()));
                i = j;
            }
            c => {
                return Err(ParseError::new(format!(
                    "unexpected {:?} in command",
                    c.to_string()
                )))
            }
        }
    }
}

pub(crate) fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// How many characters of `chars` make a Go number (sign, digits, `.`, exponent,
/// hex/octal/binary prefixes, underscores).
pub(crate) fn number_len(chars: &[(usize, char)]) -> usize {
    let mut i = 0;
    let at = |i: usize| chars.get(i).map(|p| p.1);
    if matches!(at(0), Some('+' | '-')) {
        i += 1;
    }
    let mut digits = "0123456789_";
    if at(i) == Some('0') && matches!(at(i + 1), Some('x' | 'X' | 'o' | 'O' | 'b' | 'B')) {
        i += 2;
        digits = "0123456789abcdefABCDEF_";
    }
    while at(i).is_some_and(|c| digits.contains(c)) {
        i += 1;
    }
    if at(i) == Some('.') {
        i += 1;
        while at(i).is_some_and(|c| digits.contains(c)) {
            i += 1;
        }
    }
    if digits.len() == 11 && matches!(at(i), Some('e' | 'E')) {
        i += 1;
        if matches!(at(i), Some('+' | '-')) {
            i += 1;
        }
        while at(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
    }
    i
}

/// A Go escape sequence after the backslash: the character and how many characters of
/// `chars` it used.
pub(crate) fn escape(chars: &[(usize, char)]) -> Result<(char, usize), ParseError> {
    let at = |i: usize| chars.get(i).map(|p| p.1);
    let bad = || ParseError::new("invalid syntax in quoted string");
    let hex = |from: usize, n: usize| -> Result<char, ParseError> {
        let mut v = 0u32;
        for k in 0..n {
            v = v * 16 + at(from + k).and_then(|c| c.to_digit(16)).ok_or_else(bad)?;
        }
        char::from_u32(v).ok_or_else(bad)
    };
    Ok(match at(0).ok_or_else(bad)? {
        'a' => ('\u{7}', 1),
        'b' => ('\u{8}', 1),
        'f' => ('\u{c}', 1),
        'n' => ('\n', 1),
        'r' => ('\r', 1),
        't' => ('\t', 1),
        'v' => ('\u{b}', 1),
        '\\' => ('\\', 1),
        '"' => ('"', 1),
        '\'' => ('\'', 1),
        'x' => (hex(1, 2)?, 3),
        'u' => (hex(1, 4)?, 5),
        'U' => (hex(1, 8)?, 9),
        '0'..='7' => {
            let mut v = 0u32;
            for k in 0..3 {
                v = v * 8 + at(k).and_then(|c| c.to_digit(8)).ok_or_else(bad)?;
            }
            (char::from_u32(v).ok_or_else(bad)?, 3)
        }
        _ => return Err(bad()),
    })
}

pub(crate) fn number_const(text: &str) -> Result<NumConst, ParseError> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let lower = body.to_ascii_lowercase();
    let radix_int = |digits: &str, radix: u32| i64::from_str_radix(digits, radix).ok();
    let mut int = if let Some(h) = lower.strip_prefix("0x") {
        radix_int(h, 16)
    } else if let Some(o) = lower.strip_prefix("0o") {
        radix_int(o, 8)
    } else if let Some(b) = lower.strip_prefix("0b") {
        radix_int(b, 2)
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        radix_int(&lower[1..], 8)
    } else if lower.bytes().all(|b| b.is_ascii_digit()) {
        lower.parse().ok()
    } else {
        None
    };
    if neg {
        int = int.map(|i| -i);
    }
    let float = match int {
        Some(i) => Some(i as f64),
        None if lower.starts_with("0x") => None,
        None => clean.parse::<f64>().ok(),
    };
    if int.is_none() {
        if let Some(f) = float {
            if !lower.contains(['.', 'e']) {
                return Err(ParseError::new(format!("integer overflow: {text:?}")));
            }
            if f.fract() == 0.0 && f.abs() < 9.2e18 {
                int = Some(f as i64);
            }
        }
    }
    if int.is_none() && float.is_none() {
        return Err(ParseError::new(format!("bad number syntax: {text:?}")));
    }
    Ok(NumConst {
        text: text.to_owned(),
        int,
        float,
    })
}
