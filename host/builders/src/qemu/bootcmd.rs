//! Packer's `boot_command` for the `qemu` builder: renders its template variables and
//! parses it into key presses (QEMU `QKeyCode` names, as QMP `input-send-event` takes
//! them) and waits.
//!
//! Specials such as `<enter>`, `<leftCtrlOn>` and `<wait1m30s>` are recognised
//! case-insensitively; every other character is typed with a US keyboard layout.

use std::time::Duration;

/// One thing typing a boot command does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Press and release `key` (a QKeyCode name), holding shift around it when `shift`.
    Tap {
        /// The QKeyCode name of the key.
        key: &'static str,
        /// Whether shift is held while the key is pressed.
        shift: bool,
    },
    /// Press (`down`) or release a key and leave it so: `<leftCtrlOn>`, `<leftCtrlOff>`.
    Hold {
        /// The QKeyCode name of the key.
        key: &'static str,
        /// `true` to press the key, `false` to release it.
        down: bool,
    },
    /// `<wait>`, `<wait5>`, `<wait1m30s>`: pause typing.
    Wait(Duration),
}

/// Packer's special key names (matched case-insensitively) and their QKeyCode names.
/// Each may also take an `On` or `Off` suffix to press or release it alone.
const SPECIALS: &[(&str, &str)] = &[
    ("bs", "backspace"),
    ("del", "delete"),
    ("enter", "ret"),
    ("return", "ret"),
    ("esc", "esc"),
    ("tab", "tab"),
    ("spacebar", "spc"),
    ("insert", "insert"),
    ("home", "home"),
    ("end", "end"),
    ("pageUp", "pgup"),
    ("pageDown", "pgdn"),
    ("up", "up"),
    ("down", "down"),
    ("left", "left"),
    ("right", "right"),
    ("menu", "menu"),
    ("f1", "f1"),
    ("f2", "f2"),
    ("f3", "f3"),
    ("f4", "f4"),
    ("f5", "f5"),
    ("f6", "f6"),
    ("f7", "f7"),
    ("f8", "f8"),
    ("f9", "f9"),
    ("f10", "f10"),
    ("f11", "f11"),
    ("f12", "f12"),
    ("leftAlt", "alt"),
    ("rightAlt", "alt_r"),
    ("leftCtrl", "ctrl"),
    ("rightCtrl", "ctrl_r"),
    ("leftShift", "shift"),
    ("rightShift", "shift_r"),
    ("leftSuper", "meta_l"),
    ("rightSuper", "meta_r"),
];

const LETTERS: [&str; 26] = [
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s",
    "t", "u", "v", "w", "x", "y", "z",
];

const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// What is wrong with a boot command (or a `qemuargs` value, which renders the same
/// template variables). Each message says where and what can be written instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootCommandError {
    /// A `{{` without its `}}`.
    #[error(
        "unclosed `{{{{` in boot_command: `{excerpt}` has no matching `}}}}`; known variables: {}",
        known_vars(.known)
    )]
    Unclosed {
        /// The text from the `{{` on (at most 40 characters).
        excerpt: String,
        /// The variables that can be used (without the dot).
        known: Vec<String>,
    },
    /// `{{ ... }}` holding something other than a variable.
    #[error(
        "unsupported template expression `{{{{ {expression} }}}}` in boot_command: only variables \
         such as `{{{{ .HTTPIP }}}}` can be used; known variables: {}",
        known_vars(.known)
    )]
    UnsupportedExpression {
        /// What is between the braces.
        expression: String,
        /// The variables that can be used (without the dot).
        known: Vec<String>,
    },
    /// `{{ .Name }}` naming no known variable.
    #[error(
        "unknown variable `.{name}` in boot_command; known variables: {}",
        known_vars(.known)
    )]
    UnknownVariable {
        /// The name, without the dot.
        name: String,
        /// The variables that can be used (without the dot).
        known: Vec<String>,
    },
    /// An ASCII control character, which has no key of its own.
    #[error(
        "boot_command cannot type control character U+{:04X} at position {position}: \
         it can only type US-keyboard ASCII (use a special such as <enter> for other keys)",
        u32::from(*.character)
    )]
    ControlCharacter {
        /// The character.
        character: char,
        /// Its 1-based position in the rendered command.
        position: usize,
    },
    /// A character beyond ASCII, which a US keyboard cannot type.
    #[error(
        "boot_command cannot type {character:?} (U+{:04X}) at position {position}: \
         it can only type US-keyboard ASCII",
        u32::from(*.character)
    )]
    NotAscii {
        /// The character.
        character: char,
        /// Its 1-based position in the rendered command.
        position: usize,
    },
    /// A `<waitXX>` special whose duration does not parse.
    #[error(
        "bad duration in `<{special}>` at position {position}: {reason}; write a Go duration \
         such as <wait500ms> or <wait1m30s>, or seconds such as <wait5>"
    )]
    BadWait {
        /// The special without its angle brackets (`wait5x`).
        special: String,
        /// The 1-based position of its `<`.
        position: usize,
        /// What is wrong with the duration.
        #[source]
        reason: WaitError,
    },
}

/// Why the duration of a `<waitXX>` special does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// No digits at all (`<wait+>`, `<wait->`).
    #[error("missing number")]
    MissingNumber,
    /// A negative duration.
    #[error("a wait cannot be negative")]
    Negative,
    /// A unit with no number before it.
    #[error("expected a number before `{unit}`")]
    NumberExpected {
        /// The unit.
        unit: String,
    },
    /// A number with no unit after it, in a duration that has units.
    #[error("missing unit after `{number}`")]
    MissingUnit {
        /// The number.
        number: String,
    },
    /// A unit Go durations do not have.
    #[error("unknown unit `{unit}` (use h, m, s, ms, us, µs or ns)")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
    },
    /// Digits with more than one `.`, or only a `.`.
    #[error("`{number}` is not a number")]
    NotANumber {
        /// The text.
        number: String,
    },
    /// More than Go's durations hold (about 292 years).
    #[error("the duration is too long")]
    TooLong,
}

/// Renders Packer's template variables in a boot command: `{{ .HTTPIP }}`, `{{.HTTPPort}}`, `{{ .Name }}` and whatever else is in `vars` (name without the dot). Whitespace inside the braces is optional. An unknown variable or an unclosed `{{` is an error naming it and listing the known variables. Text outside `{{ }}` is kept as is.
///
/// Go's trim markers (`{{- .Name -}}`) trim the whitespace around the action as Go does.
pub fn render(command: &str, vars: &[(&str, String)]) -> Result<String, BootCommandError> {
    let mut out = String::with_capacity(command.len());
    let mut rest = command;
    while let Some(open) = rest.find("{{") {
        let mut text = &rest[..open];
        let after_open = &rest[open + 2..];
        let Some(close) = after_open.find("}}") else {
            return Err(BootCommandError::Unclosed {
                excerpt: rest[open..].chars().take(40).collect(),
                known: var_names(vars),
            });
        };
        let mut inner = &after_open[..close];
        let mut tail = &after_open[close + 2..];
        if let Some(trimmed) = inner.strip_prefix('-') {
            if trimmed.starts_with(is_go_space) {
                text = text.trim_end_matches(is_go_space);
                inner = trimmed;
            }
        }
        if let Some(trimmed) = inner.strip_suffix('-') {
            if trimmed.ends_with(is_go_space) {
                tail = tail.trim_start_matches(is_go_space);
                inner = trimmed;
            }
        }
        out.push_str(text);
        out.push_str(lookup(inner.trim_matches(is_go_space), vars)?);
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn var_names(vars: &[(&str, String)]) -> Vec<String> {
    vars.iter().map(|(name, _)| (*name).to_owned()).collect()
}

/// `.A, .B` for error messages, or `none`.
fn known_vars(names: &[String]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names
        .iter()
        .map(|name| format!(".{name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn lookup<'a>(expr: &str, vars: &'a [(&str, String)]) -> Result<&'a str, BootCommandError> {
    let name = expr.strip_prefix('.').filter(|name| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    let Some(name) = name else {
        return Err(BootCommandError::UnsupportedExpression {
            expression: expr.to_owned(),
            known: var_names(vars),
        });
    };
    vars.iter()
        .find(|(known, _)| *known == name)
        .map(|(_, value)| value.as_str())
        .ok_or_else(|| BootCommandError::UnknownVariable {
            name: name.to_owned(),
            known: var_names(vars),
        })
}

/// Parses one rendered boot command string into actions.
///
/// A `<` that does not start a recognised special is typed literally. Characters that
/// are not US-keyboard ASCII are an error.
pub fn parse(command: &str) -> Result<Vec<Action>, BootCommandError> {
    let mut actions = Vec::new();
    let mut chars = command.char_indices().peekable();
    // 1-based position of the current character, for errors.
    let mut pos = 0usize;
    while let Some((i, c)) = chars.next() {
        pos += 1;
        if c == '<' {
            if let Some((action, len)) = special(&command[i + 1..], pos)? {
                actions.push(action);
                let end = i + 1 + len;
                while chars.next_if(|&(j, _)| j < end).is_some() {
                    pos += 1;
                }
                continue;
            }
        }
        if c == '\r' {
            // A CRLF line ending is one Enter.
            if chars.next_if(|&(_, next)| next == '\n').is_some() {
                pos += 1;
            }
            actions.push(Action::Tap {
                key: "ret",
                shift: false,
            });
            continue;
        }
        match char_key(c) {
            Some((key, shift)) => actions.push(Action::Tap { key, shift }),
            None if c.is_ascii() => {
                return Err(BootCommandError::ControlCharacter {
                    character: c,
                    position: pos,
                })
            }
            None => {
                return Err(BootCommandError::NotAscii {
                    character: c,
                    position: pos,
                })
            }
        }
    }
    Ok(actions)
}

/// Recognises a special at the start of `rest` (the text after a `<` at `pos`). Returns
/// the action and the bytes it spans up to and including its `>`, or `None` when the
/// `<` is literal.
fn special(rest: &str, pos: usize) -> Result<Option<(Action, usize)>, BootCommandError> {
    let Some(close) = rest.find('>') else {
        return Ok(None);
    };
    let name = &rest[..close];
    if name.is_empty() || name.contains('<') {
        return Ok(None);
    }
    let consumed = close + 1;
    let wait_spec = name
        .get(..4)
        .filter(|prefix| prefix.eq_ignore_ascii_case("wait"))
        .map(|_| &name[4..]);
    if let Some(spec) = wait_spec {
        if spec.is_empty() {
            return Ok(Some((Action::Wait(Duration::from_secs(1)), consumed)));
        }
        if spec.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '.' | '+' | '-')) {
            return match parse_wait(spec) {
                Ok(duration) => Ok(Some((Action::Wait(duration), consumed))),
                Err(reason) => Err(BootCommandError::BadWait {
                    special: name.to_owned(),
                    position: pos,
                    reason,
                }),
            };
        }
        return Ok(None);
    }
    Ok(named(name).map(|action| (action, consumed)))
}

fn special_key(name: &str) -> Option<&'static str> {
    SPECIALS
        .iter()
        .find(|(special, _)| special.eq_ignore_ascii_case(name))
        .map(|&(_, key)| key)
}

fn named(name: &str) -> Option<Action> {
    if !name.is_ascii() {
        return None;
    }
    if let Some(key) = special_key(name) {
        return Some(Action::Tap { key, shift: false });
    }
    for (suffix, down) in [("on", true), ("off", false)] {
        let Some(split) = name.len().checked_sub(suffix.len()).filter(|&n| n > 0) else {
            continue;
        };
        if name[split..].eq_ignore_ascii_case(suffix) {
            if let Some(key) = special_key(&name[..split]) {
                return Some(Action::Hold { key, down });
            }
        }
    }
    None
}

/// Parses the text after `wait`: a Go duration (`1m30s`, `500ms`, `0.5s`) or a bare
/// number of seconds.
fn parse_wait(spec: &str) -> Result<Duration, WaitError> {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    if let Some(rest) = spec.strip_prefix('-') {
        return Err(if rest.is_empty() {
            WaitError::MissingNumber
        } else {
            WaitError::Negative
        });
    }
    let unsigned = spec.strip_prefix('+').unwrap_or(spec);
    if unsigned.is_empty() {
        return Err(WaitError::MissingNumber);
    }
    let total = if unsigned.chars().all(|c| c.is_ascii_digit() || c == '.') {
        component(unsigned, NANOS_PER_SEC)?
    } else {
        let mut total: u128 = 0;
        let mut s = unsigned;
        while !s.is_empty() {
            let number_len = s
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(s.len());
            let (number, after) = s.split_at(number_len);
            let unit_len = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (unit, after) = after.split_at(unit_len);
            s = after;
            if number.is_empty() {
                return Err(WaitError::NumberExpected {
                    unit: unit.to_owned(),
                });
            }
            if unit.is_empty() {
                return Err(WaitError::MissingUnit {
                    number: number.to_owned(),
                });
            }
            let per = unit_nanos(unit).ok_or_else(|| WaitError::UnknownUnit {
                unit: unit.to_owned(),
            })?;
            total = total
                .checked_add(component(number, per)?)
                .ok_or(WaitError::TooLong)?;
        }
        total
    };
    // Go's durations are at most i64::MAX nanoseconds (about 292 years).
    let nanos = u64::try_from(total)
        .ok()
        .filter(|&nanos| nanos <= i64::MAX.unsigned_abs())
        .ok_or(WaitError::TooLong)?;
    Ok(Duration::from_nanos(nanos))
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        _ => return None,
    })
}

/// `number` (digits with at most one `.`) times `per` nanoseconds.
fn component(number: &str, per: u128) -> Result<u128, WaitError> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.contains('.') || (whole.is_empty() && fraction.is_empty()) {
        return Err(WaitError::NotANumber {
            number: number.to_owned(),
        });
    }
    let mut value: u128 = 0;
    for digit in whole.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(digit - b'0')))
            .ok_or(WaitError::TooLong)?;
    }
    let mut nanos = value.checked_mul(per).ok_or(WaitError::TooLong)?;
    // Digits past the 20th cannot change a whole number of nanoseconds.
    let mut fraction_value: u128 = 0;
    let mut scale: u128 = 1;
    for digit in fraction.bytes().take(20) {
        fraction_value = fraction_value * 10 + u128::from(digit - b'0');
        scale *= 10;
    }
    nanos = nanos
        .checked_add(fraction_value * per / scale)
        .ok_or(WaitError::TooLong)?;
    Ok(nanos)
}

/// The key and shift state that type `c` on a US keyboard.
fn char_key(c: char) -> Option<(&'static str, bool)> {
    let key = match c {
        'a'..='z' => (LETTERS[usize::from(c as u8 - b'a')], false),
        'A'..='Z' => (LETTERS[usize::from(c as u8 - b'A')], true),
        '0'..='9' => (DIGITS[usize::from(c as u8 - b'0')], false),
        ' ' => ("spc", false),
        '\n' => ("ret", false),
        '\t' => ("tab", false),
        '-' => ("minus", false),
        '=' => ("equal", false),
        '[' => ("bracket_left", false),
        ']' => ("bracket_right", false),
        '\\' => ("backslash", false),
        ';' => ("semicolon", false),
        '\'' => ("apostrophe", false),
        '`' => ("grave_accent", false),
        ',' => ("comma", false),
        '.' => ("dot", false),
        '/' => ("slash", false),
        '!' => ("1", true),
        '@' => ("2", true),
        '#' => ("3", true),
        '$' => ("4", true),
        '%' => ("5", true),
        '^' => ("6", true),
        '&' => ("7", true),
        '*' => ("8", true),
        '(' => ("9", true),
        ')' => ("0", true),
        '_' => ("minus", true),
        '+' => ("equal", true),
        '{' => ("bracket_left", true),
        '}' => ("bracket_right", true),
        '|' => ("backslash", true),
        ':' => ("semicolon", true),
        '"' => ("apostrophe", true),
        '~' => ("grave_accent", true),
        '<' => ("comma", true),
        '>' => ("dot", true),
        '?' => ("slash", true),
        _ => return None,
    };
    Some(key)
}

#[cfg(test)]
mod tests;
