//! The one time a template load sees, printed the Go ways `{{isotime}}` and
//! `{{strftime}}` print it ([`kiln_functions::gotime`]). Packer renders every time in UTC.

use chrono::{DateTime, Utc};

use kiln_functions::gotime;

/// A point in time, fixed for one load so that `{{timestamp}}` is the same everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Seconds since the Unix epoch.
    pub unix: i64,
    /// Nanoseconds into the second.
    pub nanos: u32,
}

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

    /// The time in UTC; one beyond chrono's range of some 262,000 years either side of
    /// year 0 (an odd `SOURCE_DATE_EPOCH`) is clamped to it.
    fn utc(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.unix, self.nanos).unwrap_or(if self.unix < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
    }

    /// Formats with a Go reference-time layout (`2006-01-02T15:04:05Z07:00`), in UTC.
    pub fn format_go(&self, layout: &str) -> String {
        gotime::format(&self.utc(), layout)
    }

    /// Formats with strftime directives, as Packer's `strftime` (go-strftime) does.
    pub fn strftime(&self, format: &str) -> String {
        gotime::strftime(&self.utc(), format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_functions::gotime::RFC3339;

    #[test]
    fn formats_in_utc_before_and_after_leap_days() {
        let at = |unix| Clock { unix, nanos: 0 }.format_go("2006-01-02 Mon");
        assert_eq!(at(0), "1970-01-01 Thu");
        assert_eq!(at(951_782_400), "2000-02-29 Tue");
        assert_eq!(at(-86_400), "1969-12-31 Wed");
        let t = Clock {
            unix: 1_607_501_226,
            nanos: 120_000_000,
        };
        assert_eq!(t.format_go(RFC3339), "2020-12-09T08:07:06Z");
        assert_eq!(t.format_go("Jan _2 15:04:05.000"), "Dec  9 08:07:06.120");
        assert_eq!(t.strftime("%a %b %I%p"), "Wed Dec 08AM");
    }

    #[test]
    fn source_date_epoch_fixes_the_clock() {
        let env = [("SOURCE_DATE_EPOCH".to_owned(), "1607501226".to_owned())];
        assert_eq!(Clock::from_env(&env).unix, 1_607_501_226);
    }
}
