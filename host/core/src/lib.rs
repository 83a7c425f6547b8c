//! The core of Kiln: the typed build plan, the small traits every builder, communicator
//! and UI implements, and the step runner that runs steps in order and cleans up the
//! ones that ran in reverse — on success, on failure and on cancellation.
//!
//! This crate knows nothing about HCL, wasmtime or clap; every other crate depends on it.

pub mod artifact;
pub mod builder;
pub mod checkpoint;
pub mod communicator;
pub mod config;
pub mod confine;
pub use kiln_decode as decode;
pub mod diag;
pub mod grant;
pub mod lease;
pub mod plan;
pub mod steps;
pub mod text;
pub mod ui;

pub use artifact::{Artifact, ArtifactFile, ImageRef};
pub use builder::{BuildContext, BuildError, BuildInfo, Builder, ConnectionInfo, ProvisionHook};
pub use communicator::{CommError, Communicator, ExitStatus, Output, OutputStream, RemoteProcess};
pub use diag::{Diagnostic, Location, Severity};
pub use grant::{network_allows, Grant, Limits};
pub use ui::{DiscardUi, NoProgress, Progress, Ui};

/// Kiln's on-disk cache (compiled components, base images, blobs): `$KILN_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/kiln`, else `~/.cache/kiln`.
pub fn default_cache_dir() -> Option<std::path::PathBuf> {
    if let Some(d) = std::env::var_os("KILN_CACHE_DIR") {
        return Some(std::path::PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(std::path::Path::new(&d).join("kiln"));
    }
    std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache/kiln"))
}

/// `2026-11-21T02:43:32Z` for `secs` since the Unix epoch (UTC).
pub fn rfc3339(secs: u64) -> String {
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The proleptic Gregorian (year, month, day) of the day `days` after 1970-01-01.
pub fn civil_from_days(days: u64) -> (u64, u8, u8) {
    // Count from 0000-03-01 so that the leap day ends each 4/100/400-year cycle.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    // month is 1..=12 and day 1..=31 by construction.
    (year, month as u8, day as u8)
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_utc_rfc3339() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_746_212), "2026-11-27T02:23:32Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(super::rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn civil_dates() {
        use super::civil_from_days;
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(10_957), (2000, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(19_783), (2024, 3, 1));
        assert_eq!(civil_from_days(20_453), (2025, 12, 31));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }
}
