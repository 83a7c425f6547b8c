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

pub(super) const FUNCTIONS: &[Def] = &[
    Def::fixed("formatdate", 2, formatdate),
    Def::variadic("legacy_isotime", 0, legacy_isotime),
    Def::variadic("legacy_strftime", 0, legacy_strftime),
    Def::fixed("rfc3339_parse", 1, rfc3339_parse),
    Def::fixed("timeadd", 2, timeadd),
    Def::fixed("timestamp", 0, timestamp),
    Def::fixed("unix_timestamp_parse", 1, unix_timestamp_parse),
];

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
    let nanos = go_duration(&duration)
        .ok_or_else(|| invalid("duration", format!("time: invalid duration {duration:?}")))?;
    let nanos = i64::try_from(nanos).map_err(|_| invalid("duration", "duration is too long"))?;
    let sum = t
        .checked_add_signed(chrono::Duration::nanoseconds(nanos))
        .ok_or_else(|| "the resulting time is out of range".to_owned())?;
    Ok(Value::String(rfc3339(&sum)))
}

/// A Go duration (`[-+]` then number-unit pairs, units ns, us, µs, ms, s, m, h) in
/// nanoseconds.
fn go_duration(s: &str) -> Option<i128> {
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += number.parse::<f64>().ok()? * scale;
        rest = after;
    }
    let nanos = total.round() as i128;
    Some(if negative { -nanos } else { nanos })
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

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

fn month_name(t: &impl Datelike) -> &'static str {
    MONTHS[t.month0() as usize]
}

fn weekday_name(t: &impl Datelike) -> &'static str {
    WEEKDAYS[t.weekday().num_days_from_sunday() as usize]
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
    legacy(&args, go_layout)
}

/// `legacy_strftime([format])`: the run's start time in UTC, formatted with strftime
/// directives (`%Y %m %d %H %M %S %y %B %b %A %a %I %p %Z %z %L`; others stay as they
/// are); RFC 3339 without one.
fn legacy_strftime(args: FuncArgs) -> Result<Value> {
    legacy(&args, strftime)
}

fn legacy(args: &[Value], format: fn(&DateTime<Utc>, &str) -> String) -> Result<Value> {
    let t = start_time();
    match args {
        [] => Ok(Value::String(rfc3339(&t))),
        [layout] => Ok(Value::String(format(&t, &string(layout, "format")?))),
        _ => Err(format!("too many values, 1 needed, got {}", args.len())),
    }
}

pub(super) fn strftime(t: &DateTime<Utc>, spec: &str) -> String {
    let mut out = String::new();
    let mut chars = spec.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let layout = match chars.next() {
            None => "%",
            Some('%') => "%",
            Some('B') => "January",
            Some('b') => "Jan",
            Some('m') => "01",
            Some('A') => "Monday",
            Some('a') => "Mon",
            Some('d') => "02",
            Some('H') => "15",
            Some('I') => "03",
            Some('M') => "04",
            Some('S') => "05",
            Some('Y') => "2006",
            Some('y') => "06",
            Some('p') => "PM",
            Some('Z') => "MST",
            Some('z') => "-0700",
            Some('L') => ".000",
            Some(other) => {
                out.push('%');
                out.push(other);
                continue;
            }
        };
        match layout {
            "%" => out.push('%'),
            layout => out.push_str(&go_layout(t, layout)),
        }
    }
    out
}

/// Formats a UTC time with a Go reference-time layout (`Mon Jan 2 15:04:05 MST 2006`).
pub(super) fn go_layout(t: &DateTime<Utc>, layout: &str) -> String {
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        match layout_element(rest) {
            Some((len, element)) => {
                out.push_str(&element.format(t));
                rest = &rest[len..];
            }
            None => {
                let c = rest.chars().next().unwrap_or_default();
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// One element of a Go layout.
#[derive(Clone, Copy)]
enum Element {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    Pm,
    LowerPm,
    Zone,
    /// A numeric offset; `iso` writes `Z` for UTC. The text is the layout's own.
    Offset {
        iso: bool,
        text: &'static str,
    },
    /// `.000` (keep zeros) or `.999` (trim them), with its separator and digit count.
    Fraction {
        sep: char,
        trim: bool,
        digits: usize,
    },
}

/// The element at the start of `s` and its length, as Go's `nextStdChunk` finds it.
fn layout_element(s: &str) -> Option<(usize, Element)> {
    let lower_follows = |n: usize| s[n..].starts_with(|c: char| c.is_ascii_lowercase());
    let b = s.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let offsets: [(&'static str, bool); 10] = [
        ("Z070000", true),
        ("Z07:00:00", true),
        ("Z0700", true),
        ("Z07:00", true),
        ("Z07", true),
        ("-070000", false),
        ("-07:00:00", false),
        ("-0700", false),
        ("-07:00", false),
        ("-07", false),
    ];
    use Element::*;
    Some(match at(0) {
        b'J' if s.starts_with("January") => (7, LongMonth),
        b'J' if s.starts_with("Jan") && !lower_follows(3) => (3, Month),
        b'M' if s.starts_with("Monday") => (6, LongWeekDay),
        b'M' if s.starts_with("Mon") && !lower_follows(3) => (3, WeekDay),
        b'M' if s.starts_with("MST") => (3, Zone),
        b'0' if (b'1'..=b'6').contains(&at(1)) => {
            let element = [ZeroMonth, ZeroDay, ZeroHour12, ZeroMinute, ZeroSecond, Year];
            (2, element[(at(1) - b'1') as usize])
        }
        b'0' if s.starts_with("002") => (3, ZeroYearDay),
        b'1' if at(1) == b'5' => (2, Hour),
        b'1' => (1, NumMonth),
        b'2' if s.starts_with("2006") => (4, LongYear),
        b'2' => (1, Day),
        b'_' if s.starts_with("_2006") => return None,
        b'_' if at(1) == b'2' => (2, UnderDay),
        b'_' if s.starts_with("__2") => (3, UnderYearDay),
        b'3' => (1, Hour12),
        b'4' => (1, Minute),
        b'5' => (1, Second),
        b'P' if at(1) == b'M' => (2, Pm),
        b'p' if at(1) == b'm' => (2, LowerPm),
        b'Z' | b'-' => {
            let (text, iso) = offsets.into_iter().find(|(text, _)| s.starts_with(text))?;
            (text.len(), Offset { iso, text })
        }
        sep @ (b'.' | b',') if matches!(at(1), b'0' | b'9') => {
            let digit = at(1);
            let digits = b[1..].iter().take_while(|&&c| c == digit).count();
            if at(1 + digits).is_ascii_digit() {
                return None;
            }
            let trim = digit == b'9';
            (
                1 + digits,
                Fraction {
                    sep: sep as char,
                    trim,
                    digits,
                },
            )
        }
        _ => return None,
    })
}

impl Element {
    fn format(self, t: &DateTime<Utc>) -> String {
        use Element::*;
        match self {
            LongMonth => month_name(t).to_owned(),
            Month => month_name(t)[..3].to_owned(),
            NumMonth => t.month().to_string(),
            ZeroMonth => format!("{:02}", t.month()),
            LongWeekDay => weekday_name(t).to_owned(),
            WeekDay => weekday_name(t)[..3].to_owned(),
            Day => t.day().to_string(),
            UnderDay => format!("{:>2}", t.day()),
            ZeroDay => format!("{:02}", t.day()),
            UnderYearDay => format!("{:>3}", t.ordinal()),
            ZeroYearDay => format!("{:03}", t.ordinal()),
            Hour => format!("{:02}", t.hour()),
            Hour12 => t.hour12().1.to_string(),
            ZeroHour12 => format!("{:02}", t.hour12().1),
            Minute => t.minute().to_string(),
            ZeroMinute => format!("{:02}", t.minute()),
            Second => t.second().to_string(),
            ZeroSecond => format!("{:02}", t.second()),
            LongYear => format!("{:04}", t.year()),
            Year => format!("{:02}", t.year().rem_euclid(100)),
            Pm => if t.hour() >= 12 { "PM" } else { "AM" }.to_owned(),
            LowerPm => if t.hour() >= 12 { "pm" } else { "am" }.to_owned(),
            Zone => "UTC".to_owned(),
            // The time is UTC: every offset is zero.
            Offset { iso: true, .. } => "Z".to_owned(),
            Offset { text, .. } => text.replace('7', "0").replacen('-', "+", 1),
            Fraction { sep, trim, digits } => {
                let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
                let mut frac = nanos[..digits.min(9)].to_owned();
                if trim {
                    frac.truncate(frac.trim_end_matches('0').len());
                    if frac.is_empty() {
                        return String::new();
                    }
                }
                format!("{sep}{frac}")
            }
        }
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
