//! What a confined host command sees: the request the runtime (`host-exec`'s
//! `run-confined`) hands to the helper that builds the view (`kiln_confine`): the
//! `kiln-confine` binary beside kiln's own ([`HELPER_SUFFIX`]), or the kiln binary run
//! with [`CONFINE_ARG`] first, before any thread starts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The hidden first argument that makes the kiln binary the confining helper.
pub const CONFINE_ARG: &str = "__kiln-confine";

/// The confining helper's file name is the running binary's with this after it
/// (`kiln-confine` beside `kiln`); it takes the view as its only argument.
pub const HELPER_SUFFIX: &str = "-confine";

/// One confined command and the host paths it sees besides the system's directories.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct View {
    /// An empty host directory on which the view's root is built (inside the helper's own
    /// mount namespace: nothing is mounted on the host).
    pub root: PathBuf,
    /// The program, absolute, as found on this host's `PATH`.
    pub program: PathBuf,
    /// Its arguments, `argv[0]` first (as the command named it).
    pub argv: Vec<String>,
    /// Where it starts; an empty directory when nothing shows it.
    pub cwd: PathBuf,
    /// Its home: an empty, private, writable directory at this path.
    pub home: PathBuf,
    /// The host paths it sees, at the same paths.
    pub paths: Vec<Visible>,
}

/// A host path a confined command sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visible {
    /// Absolute and normalized.
    pub path: PathBuf,
    /// Read-only unless set.
    pub writable: bool,
}

/// The directories of this host's own installation every confined command sees,
/// read-only (`/etc` without the files that hold its secrets).
pub const SYSTEM_DIRS: &[&str] = &[
    "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc",
];
