//! The host paths the step was granted.

use crate::bindings::kiln::plugin::host_files;
use crate::Error;

pub use host_files::PathKind;

/// Tells whether the granted host path `path` is a file, a directory, or missing.
pub fn kind(path: &str) -> Result<PathKind, Error> {
    host_files::kind(path)
}

/// The bytes of the granted host file `path`, if it holds at most `limit` bytes (at
/// most 16 MiB). For small files a step must look at; the host moves large ones.
pub fn read(path: &str, limit: u64) -> Result<Vec<u8>, Error> {
    host_files::read(path, limit)
}
