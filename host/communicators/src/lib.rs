//! Communicators: how Kiln reaches the machine being built.
//!
//! Each implements [`kiln_core::Communicator`], so provisioner components run unchanged
//! whatever the transport. The container builder's communicator, into Linux
//! namespaces on this host, is `kiln-container`'s.

pub mod adapter;
pub mod scp;
pub mod ssh;

pub use ssh::{SshCommunicator, SshConfig, SshError};
