//! Date and time functions: formatdate, legacy_isotime, legacy_strftime, rfc3339_parse,
//! timeadd, timestamp, unix_timestamp_parse.
//!
//! `legacy_isotime` and `legacy_strftime` format the time Kiln first declared the
//! functions (Packer uses its start time), so every call in a run agrees; `timestamp`
//! is the time of the call.

use std::sync::OnceLock;

use chrono::{DateTime, Datelike, FixedOffset, SecondsFormat, TimeZone, Timelike, Utc};
use hcl::eval::FuncArgs;
use hcl::{Map, Value};

use super::args::{self, invalid, string, Result};
use super::Def;
use crate::gotime::{self, month_name, weekday_name};

pub(super) const FUNCTIONS: &[Def] = super::table! {
    formatdate(2) legacy_isotime(0..) legacy_strftime(0..) rfc3339_parse(1) timeadd(2)
    timestamp(0) unix_timestamp_parse(1)
};

static START: OnceLock<DateTime<Utc>> = OnceLock::new();

/// The run's start time, fixed the first time it is asked for.
pub(super) fn start_time() -> DateTime<Utc> {
    *START.get_or_init(Utc::now)
}

/// RFC 3339 to the second, `Z` for UTC, as Go's `time.RFC3339` layout writes it.
fn rfc3339<Tz: TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_timestamp(s: &str, param: &str) -> Result<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s)
        .map_err(|e| invalid(param, format!("not a valid RFC3339 timestamp: {e}")))
}

fn timestamp(_: FuncArgs) -> Result<Value> {
    Ok(Value::String(rfc3339(&Utc::now())))
}

/// `timeadd(timestamp, duration)`: the duration in Go's syntax (`"1h30m"`, `"-10s"`).
fn timeadd(args: FuncArgs) -> Result<Value> {
    let t = parse_timestamp(&string(&args[0], "timestamp")?, "timestamp")?;
    let duration = string(&args[1], "duration")?;
    let nanos = gotime::parse_duration(&duration)
        .map_err(|_| invalid("duration", format!("time: invalid duration {duration:?}")))?;
    let nanos = i64::try_from(nanos.round() as i128)
        .map_err(|_| invalid("duration", "duration is too long"))?;
    let sum = t
        .checked_add_signed(chrono::Duration::nanoseconds(nanos))
        .ok_or_else(|| "the resulting time is out of range".to_owned())?;
    Ok(Value::String(rfc3339(&sum)))
}

/// `formatdate(spec, timestamp)`, with Terraform's format letters (`YYYY`, `MMM`, `hh`,
/// `ZZZ`, ...) and `'quoted'` literals.
fn formatdate(args: FuncArgs) -> Result<Value> {
    let spec = string(&args[0], "format")?;
    let t = parse_timestamp(&string(&args[1], "time")?, "time")?;
    let mut out = String::new();
    for token in date_tokens(&spec)? {
        match token {
            DateToken::Literal(text) => out.push_str(&text),
            DateToken::Verb(letter, n) => out.push_str(&date_verb(&t, letter, n)?),
        }
    }
    Ok(Value::String(out))
}

enum DateToken {
    Literal(String),
    /// A letter repeated `n` times.
    Verb(char, usize),
}

fn date_tokens(spec: &str) -> Result<Vec<DateToken>> {
    let chars: Vec<char> = spec.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                tokens.push(DateToken::Literal("'".into()));
                i += 2;
                continue;
            }
            let mut literal = String::new();
            i += 1;
            loop {
                match (chars.get(i), chars.get(i + 1)) {
                    (None, _) => return Err(invalid("format", "unterminated literal '")),
                    (Some('\''), Some('\'')) => {
                        literal.push('\'');
                        i += 2;
                    }
                    (Some('\''), _) => {
                        i += 1;
                        break;
                    }
                    (Some(&c), _) => {
                        literal.push(c);
                        i += 1;
                    }
                }
            }
            tokens.push(DateToken::Literal(literal));
        } else if c.is_ascii_alphabetic() {
            let n = chars[i..].iter().take_while(|&&x| x == c).count();
            tokens.push(DateToken::Verb(c, n));
            i += n;
        } else {
            let n = chars[i..]
                .iter()
                .take_while(|&&x| x != '\'' && !x.is_ascii_alphabetic())
                .count();
            tokens.push(DateToken::Literal(chars[i..i + n].iter().collect()));
            i += n;
        }
    }
    Ok(tokens)
}

/// `+hhmm`, `+hh:mm` and friends for an offset in seconds.
fn offset_text(seconds: i32, colon: bool) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let (h, m) = (seconds.abs() / 3600, seconds.abs() / 60 % 60);
    match colon {
        true => format!("{sign}{h:02}:{m:02}"),
        false => format!("{sign}{h:02}{m:02}"),
    }
}

fn date_verb(t: &DateTime<FixedOffset>, letter: char, n: usize) -> Result<String> {
    let bad = |why: &str| {
        let verb: String = std::iter::repeat_n(letter, n).collect();
        Err(invalid(
            "format",
            format!("invalid date format verb {verb:?}{why}"),
        ))
    };
    let two = |v: u32, n: usize, what: &str, forms: &str| match n {
        1 => Ok(v.to_string()),
        2 => Ok(format!("{v:02}")),
        _ => bad(&format!(": {what} must either be {forms}")),
    };
    let offset = t.offset().local_minus_utc();
    match letter {
        'Y' => match n {
            2 => Ok(format!("{:02}", t.year().rem_euclid(100))),
            4 => Ok(format!("{:04}", t.year())),
            _ => bad(": year must either be \"YY\" or \"YYYY\""),
        },
        'M' => match n {
            1 | 2 => two(t.month(), n, "month", ""),
            3 => Ok(month_name(t)[..3].to_owned()),
            4 => Ok(month_name(t).to_owned()),
            _ => bad(": month must be \"M\", \"MM\", \"MMM\", or \"MMMM\""),
        },
        'D' => two(t.day(), n, "day of month", "\"D\" or \"DD\""),
        'E' => match n {
            3 => Ok(weekday_name(t)[..3].to_owned()),
            4 => Ok(weekday_name(t).to_owned()),
            _ => bad(": day of week must either be \"EEE\" or \"EEEE\""),
        },
        'h' => two(t.hour(), n, "24-hour", "\"h\" or \"hh\""),
        'H' => two(t.hour12().1, n, "12-hour", "\"H\" or \"HH\""),
        'A' | 'a' if n == 2 => {
            let pm = t.hour() >= 12;
            Ok(match (letter, pm) {
                ('A', false) => "AM",
                ('A', true) => "PM",
                (_, false) => "am",
                (_, true) => "pm",
            }
            .to_owned())
        }
        'A' | 'a' => bad(&format!(": must be \"{letter}{letter}\"")),
        'm' => two(t.minute(), n, "minute", "\"m\" or \"mm\""),
        's' => two(t.second(), n, "second", "\"s\" or \"ss\""),
        'Z' => match n {
            1 if offset == 0 => Ok("Z".to_owned()),
            1 | 5 => Ok(offset_text(offset, true)),
            3 if offset == 0 => Ok("UTC".to_owned()),
            3 | 4 => Ok(offset_text(offset, false)),
            _ => bad(": timezone must be Z, ZZZZ, or ZZZZZ"),
        },
        _ => bad(""),
    }
}

/// `legacy_isotime([layout])`: the run's start time in UTC, formatted with a Go
/// reference-time layout (`"2006-01-02T15:04:05Z07:00"`); RFC 3339 without one.
fn legacy_isotime(args: FuncArgs) -> Result<Value> {
    legacy(&args, gotime::format)
}

/// `legacy_strftime([format])`: the run's start time in UTC, formatted with strftime
/// directives (`%Y %m %d %H %M %S %y %B %b %A %a %I %p %Z %z %L`; others stay as they
/// are); RFC 3339 without one.
fn legacy_strftime(args: FuncArgs) -> Result<Value> {
    legacy(&args, gotime::strftime)
}

fn legacy(args: &[Value], format: fn(&DateTime<Utc>, &str) -> String) -> Result<Value> {
    let t = start_time();
    match args {
        [] => Ok(Value::String(rfc3339(&t))),
        [layout] => Ok(Value::String(format(&t, &string(layout, "format")?))),
        _ => Err(format!("too many values, 1 needed, got {}", args.len())),
    }
}

/// The fields `rfc3339_parse` and `unix_timestamp_parse` return.
fn date_fields<Tz: TimeZone>(t: &DateTime<Tz>) -> Map<String, Value> {
    let week = t.iso_week();
    let fields: [(&str, Value); 12] = [
        ("year", t.year().into()),
        ("year_day", t.ordinal().into()),
        ("day", t.day().into()),
        ("month", t.month().into()),
        ("month_name", month_name(t).into()),
        ("weekday", t.weekday().num_days_from_sunday().into()),
        ("weekday_name", weekday_name(t).into()),
        ("hour", t.hour().into()),
        ("minute", t.minute().into()),
        ("second", t.second().into()),
        ("iso_year", week.year().into()),
        ("iso_week", week.week().into()),
    ];
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// `rfc3339_parse(timestamp)`: Packer's own; the timestamp's parts in its own offset,
/// and `unix`.
fn rfc3339_parse(args: FuncArgs) -> Result<Value> {
    let text = string(&args[0], "timestamp")?;
    let t = DateTime::parse_from_rfc3339(&text).map_err(|_| {
        invalid(
            "timestamp",
            format!("{text:?} is not a valid RFC3339 timestamp"),
        )
    })?;
    let mut fields = date_fields(&t);
    fields.insert("unix".to_owned(), t.timestamp().into());
    Ok(Value::Object(fields))
}

/// `unix_timestamp_parse(seconds)`: Packer's own; the time's parts in UTC, and `rfc3339`.
fn unix_timestamp_parse(args: FuncArgs) -> Result<Value> {
    let seconds = args::int(&args[0], "unix_timestamp").map_err(|_| {
        invalid(
            "unix_timestamp",
            "unix_timestamp must be a whole number of seconds representable as a 64-bit integer",
        )
    })?;
    let t = Utc
        .timestamp_opt(seconds, 0)
        .single()
        .ok_or_else(|| invalid("unix_timestamp", "the time is out of range"))?;
    let mut fields = date_fields(&t);
    fields.insert("rfc3339".to_owned(), rfc3339(&t).into());
    Ok(Value::Object(fields))
}
