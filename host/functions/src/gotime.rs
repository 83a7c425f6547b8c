//! Go's `time` package, as much of it as templates see: reference-time layouts
//! (`2006-01-02T15:04:05Z07:00`), go-strftime directives and `time.ParseDuration`.
//!
//! One implementation serves both template languages: HCL2's `legacy_isotime`,
//! `legacy_strftime` and `timeadd`, and legacy JSON's `{{isotime}}`, `{{strftime}}`,
//! its duration settings and `hcl2_upgrade`'s translation of layouts to `formatdate`.
//! Packer prints these times in UTC, so the formatters take UTC times.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// Go's `time.RFC3339` layout.
pub const RFC3339: &str = "2006-01-02T15:04:05Z07:00";

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

/// `January`, as Go's `Month.String` writes it.
pub fn month_name(t: &impl Datelike) -> &'static str {
    MONTHS[t.month0() as usize]
}

/// `Sunday`, as Go's `Weekday.String` writes it.
pub fn weekday_name(t: &impl Datelike) -> &'static str {
    WEEKDAYS[t.weekday().num_days_from_sunday() as usize]
}

/// Formats a UTC time with a Go reference-time layout (`Mon Jan 2 15:04:05 MST 2006`).
pub fn format(t: &DateTime<Utc>, layout: &str) -> String {
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

/// Formats a UTC time with strftime directives, as go-strftime does: each known
/// directive is a layout element (`%Y %m %d %H %M %S %y %B %b %A %a %I %p %Z %z %L`),
/// `%%` is a `%`, and unknown ones stay as written.
pub fn strftime(t: &DateTime<Utc>, spec: &str) -> String {
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
            layout => out.push_str(&format(t, layout)),
        }
    }
    out
}

/// The HCL2 `formatdate` spec that prints what Go layout `layout` prints for a UTC time,
/// when there is one (Go's padded `_2`, day of the year and fractional seconds have no
/// equivalent).
pub fn to_formatdate(layout: &str) -> Option<String> {
    let mut out = String::new();
    let mut quoted = String::new();
    let flush = |out: &mut String, quoted: &mut String| {
        if !quoted.is_empty() {
            out.push('\'');
            out.push_str(quoted);
            out.push('\'');
            quoted.clear();
        }
    };
    let mut rest = layout;
    while !rest.is_empty() {
        let Some((len, element)) = layout_element(rest) else {
            let ch = rest.chars().next().unwrap_or_default();
            rest = &rest[ch.len_utf8()..];
            if ch.is_ascii_alphabetic() {
                quoted.push(ch);
            } else {
                flush(&mut out, &mut quoted);
                if ch == '\'' {
                    out.push_str("''");
                } else {
                    out.push(ch);
                }
            }
            continue;
        };
        use Element::*;
        let spec = match element {
            LongMonth => "MMMM",
            Month => "MMM",
            NumMonth => "M",
            ZeroMonth => "MM",
            LongWeekDay => "EEEE",
            WeekDay => "EEE",
            Day => "D",
            ZeroDay => "DD",
            Hour => "hh",
            Hour12 => "H",
            ZeroHour12 => "HH",
            Minute => "m",
            ZeroMinute => "mm",
            Second => "s",
            ZeroSecond => "ss",
            LongYear => "YYYY",
            Year => "YY",
            Pm => "AA",
            LowerPm => "aa",
            Zone => "ZZZ",
            // The time is UTC, which every ISO form writes as `Z`.
            Offset { iso: true, .. } => "Z",
            Offset { text: "-0700", .. } => "ZZZZ",
            Offset { text: "-07:00", .. } => "ZZZZZ",
            UnderDay | UnderYearDay | ZeroYearDay | Offset { .. } | Fraction { .. } => return None,
        };
        flush(&mut out, &mut quoted);
        out.push_str(spec);
        rest = &rest[len..];
    }
    flush(&mut out, &mut quoted);
    Some(out)
}

/// Go's `time.ParseDuration`: `[-+]` then number-unit pairs (units `ns`, `us`, `µs`,
/// `ms`, `s`, `m`, `h`), in nanoseconds, negative for a negative duration; errors say
/// what Go's say.
pub fn parse_duration(s: &str) -> Result<f64, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0.0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
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
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            u => return Err(format!("time: unknown unit {u:?} in duration {s:?}")),
        };
        total += value * scale;
        rest = after;
    }
    Ok(if negative { -total } else { total })
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// 2018-01-02T23:12:01.05Z, a Tuesday.
    fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2018, 1, 2, 23, 12, 1)
            .single()
            .expect("valid")
            + chrono::Duration::milliseconds(50)
    }

    #[test]
    fn go_layouts() {
        for (layout, want) in [
            (RFC3339, "2018-01-02T23:12:01Z"),
            ("2006-01-02", "2018-01-02"),
            ("20060102150405", "20180102231201"),
            (
                "Mon Jan _2 15:04:05 MST 2006",
                "Tue Jan  2 23:12:01 UTC 2018",
            ),
            (
                "Monday, January 2, 2006 3:04PM",
                "Tuesday, January 2, 2018 11:12PM",
            ),
            (
                "06-1-2 03:4:5 pm -0700 -07:00",
                "18-1-2 11:12:1 pm +0000 +00:00",
            ),
            ("060102-150405.999 -0700", "180102-231201.05 +0000"),
            ("15:04:05.000 .999 ,00 .9|", "23:12:01.050 .05 ,05 |"),
            ("002 __2 Janet _2006", "002   2 Janet _2018"),
        ] {
            assert_eq!(format(&t(), layout), want, "{layout}");
        }
    }

    #[test]
    fn strftime_directives() {
        assert_eq!(
            strftime(&t(), "%Y%m%d-%H%M%S%L %a %b %p %Z %z %q %%"),
            "20180102-231201.050 Tue Jan PM UTC +0000 %q %"
        );
        assert_eq!(strftime(&t(), "%A %B %I%p %y%"), "Tuesday January 11PM 18%");
    }

    #[test]
    fn go_layouts_as_formatdate_specs() {
        assert_eq!(to_formatdate("2006-01-02").as_deref(), Some("YYYY-MM-DD"));
        assert_eq!(
            to_formatdate(RFC3339).as_deref(),
            Some("YYYY-MM-DD'T'hh:mm:ssZ")
        );
        assert_eq!(
            to_formatdate("Jan 2 at 3pm").as_deref(),
            Some("MMM D 'at' Haa")
        );
        assert_eq!(to_formatdate("15:04:05.000"), None);
        assert_eq!(to_formatdate("002"), None);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("1h30m"), Ok(5400e9));
        assert_eq!(parse_duration("-1.5s"), Ok(-1.5e9));
        assert_eq!(parse_duration("+10µs"), Ok(10e3));
        assert_eq!(parse_duration("0"), Ok(0.0));
        assert_eq!(
            parse_duration("5"),
            Err("time: missing unit in duration \"5\"".into())
        );
        assert_eq!(
            parse_duration("5d"),
            Err("time: unknown unit \"d\" in duration \"5d\"".into())
        );
        for bad in ["", "-", ".s", "1.2.3s"] {
            assert_eq!(
                parse_duration(bad),
                Err(format!("time: invalid duration {bad:?}"))
            );
        }
    }
}
