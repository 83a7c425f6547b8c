//! The core of Kiln: the typed build plan, the small traits every builder, communicator
//! and UI implements, and the step runner that runs steps in order and cleans up the
//! ones that ran in reverse — on success, on failure and on cancellation.
//!
//! This crate knows nothing about HCL, wasmtime or clap; every other crate depends on it.

pub mod artifact;
pub mod builder;
pub mod communicator;
pub mod config;
pub mod diag;
pub mod grant;
pub mod plan;
pub mod steps;
pub mod ui;

pub use artifact::{Artifact, ArtifactFile};
pub use builder::{BuildContext, BuildError, BuildInfo, Builder, ConnectionInfo, ProvisionHook};
pub use communicator::{CommError, Communicator, ExitStatus, Output, OutputStream, RemoteProcess};
pub use diag::{Diagnostic, Location, Severity};
pub use grant::{network_allows, Grant, Limits};
pub use ui::{DiscardUi, Ui};

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
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_utc_rfc3339() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_746_212), "2026-11-27T02:23:32Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
