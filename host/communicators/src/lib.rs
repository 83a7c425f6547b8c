//! Communicators: how Kiln reaches the machine being built.
//!
//! Each implements [`kiln_core::Communicator`], so provisioner components run unchanged
//! whatever the transport.

pub mod container;
pub mod scp;
pub mod ssh;

pub use container::{Container, ContainerCommunicator, InitConfig};
pub use ssh::{SshCommunicator, SshConfig, SshError};
