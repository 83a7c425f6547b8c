//! The host paths the step was granted.

use crate::bindings::kiln::plugin::host_files;
use crate::Error;

pub use host_files::PathKind;

/// Tells whether the granted host path `path` is a file, a directory, or missing.
pub fn kind(path: &str) -> Result<PathKind, Error> {
    host_files::kind(path)
}
