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
pub use grant::Grant;
pub use ui::Ui;
