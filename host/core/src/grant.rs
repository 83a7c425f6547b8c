//! What a component step may reach beyond the communicator and the UI.

use std::path::PathBuf;

/// The host resources a step was granted. The default grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    /// Host paths (files or directories) the step may read. Absolute.
    pub read: Vec<PathBuf>,
    /// Host paths (files or directories) the step may create or overwrite. Absolute.
    pub write: Vec<PathBuf>,
    /// Names of host environment variables passed through.
    pub env: Vec<String>,
    /// `host:port` pairs the step may connect to.
    pub network: Vec<String>,
}
