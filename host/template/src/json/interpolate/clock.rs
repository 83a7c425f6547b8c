//! The one time a template load sees, and Go's ways of printing it: reference-time
//! layouts (`isotime`) and strftime (`strftime`). Packer renders every time in UTC.

/// A point in time, fixed for one load so that `{{timestamp}}` is the same everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Seconds since the Unix epoch.
    pub unix: i64,
    /// Nanoseconds into the second.
    pub nanos: u32,
}

/// A time broken down into calendar fields (UTC).
struct Civil {
    year: i64,
    month: usize,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    weekday: usize,
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

/// Go's `time.RFC3339`, what `{{isotime}}` prints without a layout.
pub const RFC3339: &str = "2006-01-02T15:04:05Z07:00";

impl Clock {
    /// `SOURCE_DATE_EPOCH` from `env` when it is set (reproducible builds), else now.
    pub fn from_env(env: &[(String, String)]) -> Clock {
        let fixed = env
            .iter()
            .find(|(k, _)| k == "SOURCE_DATE_EPOCH")
            .and_then(|(_, v)| v.trim().parse::<i64>().ok());
        match fixed {
            Some(unix) => Clock { unix, nanos: 0 },
            None => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Clock {
                    unix: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
                    nanos: now.subsec_nanos(),
                }
            }
        }
    }

    fn civil(&self) -> Civil {
        let days = self.unix.div_euclid(86_400);
        let secs = self.unix.rem_euclid(86_400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month: usize::try_from(month - 1).unwrap_or(0),
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
            weekday: usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0),
        }
    }

    /// Formats with a Go reference-time layout (`2006-01-02T15:04:05Z07:00`), in UTC.
    pub fn format_go(&self, layout: &str) -> String {
        let c = self.civil();
        let mut out = String::new();
        let mut rest = layout;
        while !rest.is_empty() {
            let (token, len) = next_token(rest);
            match token {
                Token::Literal => {
                    let ch = rest.chars().next().unwrap_or_default();
                    out.push(ch);
                    rest = &rest[ch.len_utf8()..];
                    continue;
                }
                Token::LongMonth => out.push_str(MONTHS[c.month]),
                Token::Month => out.push_str(&MONTHS[c.month][..3]),
                Token::NumMonth => out.push_str(&(c.month + 1).to_string()),
                Token::ZeroMonth => out.push_str(&format!("{:02}", c.month + 1)),
                Token::LongWeekDay => out.push_str(WEEKDAYS[c.weekday]),
                Token::WeekDay => out.push_str(&WEEKDAYS[c.weekday][..3]),
                Token::Day => out.push_str(&c.day.to_string()),
                Token::UnderDay => out.push_str(&format!("{:>2}", c.day)),
                Token::ZeroDay => out.push_str(&format!("{:02}", c.day)),
                Token::Hour => out.push_str(&format!("{:02}", c.hour)),
                Token::Hour12 => out.push_str(&hour12(c.hour).to_string()),
                Token::ZeroHour12 => out.push_str(&format!("{:02}", hour12(c.hour))),
                Token::Minute => out.push_str(&c.minute.to_string()),
                Token::ZeroMinute => out.push_str(&format!("{:02}", c.minute)),
                Token::Second => out.push_str(&c.second.to_string()),
                Token::ZeroSecond => out.push_str(&format!("{:02}", c.second)),
                Token::LongYear => out.push_str(&format!("{:04}", c.year)),
                Token::Year => out.push_str(&format!("{:02}", c.year.rem_euclid(100))),
                Token::PM => out.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
                Token::Pm => out.push_str(if c.hour >= 12 { "pm" } else { "am" }),
                Token::Zone => out.push_str("UTC"),
                // UTC prints as "Z" in the ISO 8601 forms.
                Token::IsoZone => out.push('Z'),
                Token::NumZone {
                    colon,
                    minutes,
                    seconds,
                } => {
                    out.push_str("+00");
                    if minutes {
                        out.push_str(if colon { ":00" } else { "00" });
                    }
                    if seconds {
                        out.push_str(if colon { ":00" } else { "00" });
                    }
                }
                Token::Fraction { digits, trim } => {
                    let frac = format!("{:09}", self.nanos);
                    let mut f = frac[..digits.min(9)].to_owned();
                    if trim {
                        while f.ends_with('0') {
                            f.pop();
                        }
                        if !f.is_empty() {
                            out.push('.');
                        }
                    } else {
                        out.push('.');
                    }
                    out.push_str(&f);
                }
            }
            rest = &rest[len..];
        }
        out
    }

    /// Formats with strftime directives, as Packer's `strftime` (go-strftime) does:
    /// each known directive is a Go layout element; unknown ones stay as written.
    pub fn strftime(&self, format: &str) -> String {
        let mut out = String::new();
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let Some(d) = chars.next() else {
                out.push('%');
                break;
            };
            let layout = match d {
                '%' => {
                    out.push('%');
                    continue;
                }
                'B' => "January",
                'b' => "Jan",
                'm' => "01",
                'A' => "Monday",
                'a' => "Mon",
                'd' => "02",
                'H' => "15",
                'I' => "03",
                'M' => "04",
                'S' => "05",
                'Y' => "2006",
                'y' => "06",
                'p' => "PM",
                'Z' => "MST",
                'z' => "-0700",
                'L' => ".000",
                other => {
                    out.push('%');
                    out.push(other);
                    continue;
                }
            };
            out.push_str(&self.format_go(layout));
        }
        out
    }
}

/// The HCL2 `formatdate` spec that prints what Go layout `layout` prints, when there is
/// one (Go's padded `_2` and fractional seconds have no equivalent).
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
        let (token, len) = next_token(rest);
        let spec = match token {
            Token::Literal => {
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
            }
            Token::LongMonth => "MMMM",
            Token::Month => "MMM",
            Token::NumMonth => "M",
            Token::ZeroMonth => "MM",
            Token::LongWeekDay => "EEEE",
            Token::WeekDay => "EEE",
            Token::Day => "D",
            Token::ZeroDay => "DD",
            Token::Hour => "hh",
            Token::Hour12 => "H",
            Token::ZeroHour12 => "HH",
            Token::Minute => "m",
            Token::ZeroMinute => "mm",
            Token::Second => "s",
            Token::ZeroSecond => "ss",
            Token::LongYear => "YYYY",
            Token::Year => "YY",
            Token::PM => "AA",
            Token::Pm => "aa",
            Token::Zone => "ZZZ",
            Token::IsoZone => "Z",
            Token::NumZone {
                colon: false,
                minutes: true,
                seconds: false,
            } => "ZZZZ",
            Token::NumZone {
                colon: true,
                minutes: true,
                seconds: false,
            } => "ZZZZZ",
            Token::UnderDay | Token::NumZone { .. } | Token::Fraction { .. } => return None,
        };
        flush(&mut out, &mut quoted);
        out.push_str(spec);
        rest = &rest[len..];
    }
    flush(&mut out, &mut quoted);
    Some(out)
}

fn hour12(h: i64) -> i64 {
    match h % 12 {
        0 => 12,
        h => h,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal,
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    Zone,
    IsoZone,
    NumZone {
        colon: bool,
        minutes: bool,
        seconds: bool,
    },
    Fraction {
        digits: usize,
        trim: bool,
    },
}

/// The layout element at the start of `s` and its length, following Go's
/// `nextStdChunk`.
fn next_token(s: &str) -> (Token, usize) {
    let table: &[(&str, Token)] = &[
        ("January", Token::LongMonth),
        ("Jan", Token::Month),
        ("Monday", Token::LongWeekDay),
        ("Mon", Token::WeekDay),
        ("MST", Token::Zone),
        ("01", Token::ZeroMonth),
        ("02", Token::ZeroDay),
        ("03", Token::ZeroHour12),
        ("04", Token::ZeroMinute),
        ("05", Token::ZeroSecond),
        ("06", Token::Year),
        ("15", Token::Hour),
        ("2006", Token::LongYear),
        ("_2006", Token::Literal),
        ("_2", Token::UnderDay),
        ("PM", Token::PM),
        ("pm", Token::Pm),
        (
            "-07:00:00",
            Token::NumZone {
                colon: true,
                minutes: true,
                seconds: true,
            },
        ),
        (
            "-070000",
            Token::NumZone {
                colon: false,
                minutes: true,
                seconds: true,
            },
        ),
        (
            "-07:00",
            Token::NumZone {
                colon: true,
                minutes: true,
                seconds: false,
            },
        ),
        (
            "-0700",
            Token::NumZone {
                colon: false,
                minutes: true,
                seconds: false,
            },
        ),
        (
            "-07",
            Token::NumZone {
                colon: false,
                minutes: false,
                seconds: false,
            },
        ),
        ("Z07:00:00", Token::IsoZone),
        ("Z070000", Token::IsoZone),
        ("Z07:00", Token::IsoZone),
        ("Z0700", Token::IsoZone),
        ("Z07", Token::IsoZone),
    ];
    for (pat, tok) in table {
        if let Some(after) = s.strip_prefix(pat) {
            // "Mon" must not be the start of "Month"-like words Go leaves alone
            // ("Monday" is matched first); Go only checks "Jan"/"Mon" against a
            // following lower-case letter.
            if matches!(tok, Token::Month | Token::WeekDay)
                && after.starts_with(|c: char| c.is_ascii_lowercase())
            {
                continue;
            }
            if *tok == Token::Literal {
                // "_2006": a literal underscore, then the year.
                return (Token::Literal, 1);
            }
            return (*tok, pat.len());
        }
    }
    let b = s.as_bytes();
    match b[0] {
        b'1' => (Token::NumMonth, 1),
        b'2' => (Token::Day, 1),
        b'3' => (Token::Hour12, 1),
        b'4' => (Token::Minute, 1),
        b'5' => (Token::Second, 1),
        b'.' | b',' if b.len() > 1 && (b[1] == b'0' || b[1] == b'9') => {
            let digit = b[1];
            let n = b[1..].iter().take_while(|&&c| c == digit).count();
            // Only a fraction when no digit follows the run.
            if b.get(1 + n).is_some_and(u8::is_ascii_digit) {
                (Token::Literal, 1)
            } else {
                (
                    Token::Fraction {
                        digits: n,
                        trim: digit == b'9',
                    },
                    1 + n,
                )
            }
        }
        _ => (Token::Literal, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2020-12-09T08:07:06Z, a Wednesday.
    const T: Clock = Clock {
        unix: 1_607_501_226,
        nanos: 120_000_000,
    };

    #[test]
    fn go_layouts() {
        assert_eq!(T.format_go(RFC3339), "2020-12-09T08:07:06Z");
        assert_eq!(T.format_go("2006-01-02"), "2020-12-09");
        assert_eq!(T.format_go("Jan _2 15:04:05.000"), "Dec  9 08:07:06.120");
        assert_eq!(
            T.format_go("Monday, January 2 2006 3:04PM MST"),
            "Wednesday, December 9 2020 8:07AM UTC"
        );
        assert_eq!(
            T.format_go("060102-150405.999 -0700"),
            "201209-080706.12 +0000"
        );
        assert_eq!(T.format_go("20060102150405"), "20201209080706");
    }

    #[test]
    fn go_layouts_as_formatdate_specs() {
        assert_eq!(to_formatdate("2006-01-02").as_deref(), Some("YYYY-MM-DD"));
        assert_eq!(
            to_formatdate("2006-01-02T15:04:05Z07:00").as_deref(),
            Some("YYYY-MM-DD'T'hh:mm:ssZ")
        );
        assert_eq!(
            to_formatdate("Jan 2 at 3pm").as_deref(),
            Some("MMM D 'at' Haa")
        );
        assert_eq!(to_formatdate("15:04:05.000"), None);
    }

    #[test]
    fn strftime_directives() {
        assert_eq!(
            T.strftime("%Y-%m-%d %H:%M:%S %% %q"),
            "2020-12-09 08:07:06 % %q"
        );
        assert_eq!(T.strftime("%a %b %I%p"), "Wed Dec 08AM");
    }

    #[test]
    fn civil_dates_before_and_after_leap_days() {
        let at = |unix| Clock { unix, nanos: 0 }.format_go("2006-01-02 Mon");
        assert_eq!(at(0), "1970-01-01 Thu");
        assert_eq!(at(951_782_400), "2000-02-29 Tue");
        assert_eq!(at(-86_400), "1969-12-31 Wed");
    }

    #[test]
    fn source_date_epoch_fixes_the_clock() {
        let env = [("SOURCE_DATE_EPOCH".to_owned(), "1607501226".to_owned())];
        assert_eq!(Clock::from_env(&env).unix, 1_607_501_226);
    }
}
