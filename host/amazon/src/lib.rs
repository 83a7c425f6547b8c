//! Amazon EC2 for Kiln: the access options Packer's amazon plugins share
//! ([`access::AccessConfig`]), credentials found as AWS users keep them
//! ([`credentials`]), a SigV4-signed Query API client with retries ([`client`]), the EC2
//! calls the `amazon-ebs` builder and the `amazon-ami` data source make ([`ec2`]), and
//! waiters bounded by `aws_polling` ([`wait`]).

pub mod access;
pub mod ami;
pub mod client;
pub mod credentials;
pub mod ec2;
mod sts;
pub mod wait;
mod xml;

pub use access::{AccessConfig, Polling, Session};
pub use client::Client;
pub use credentials::Credentials;

/// What went wrong talking to AWS. Messages never hold a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AwsError {
    /// AWS answered with an error code.
    #[error("{action}: {code}: {message}{}", request_id.as_ref().map(|r| format!(" (request {r})")).unwrap_or_default())]
    Api {
        action: String,
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    /// An error status without AWS's error document.
    #[error("{action}: HTTP {status}: {body}")]
    Http {
        action: String,
        status: u16,
        body: String,
    },
    /// The request could not be sent or its answer read.
    #[error("{action}: {message}")]
    Transport { action: String, message: String },
    /// The answer was not the XML expected.
    #[error("{action}: unexpected answer: {message}")]
    Answer { action: String, message: String },
    /// No usable credentials, or a credentials file that cannot be read.
    #[error("{0}")]
    Credentials(String),
    /// The request could not be signed.
    #[error("signing the request: {0}")]
    Signing(String),
    /// A waiter ran out of attempts.
    #[error("{0}")]
    Timeout(String),
    /// A configuration value AWS would refuse, caught before calling.
    #[error("{0}")]
    Config(String),
}
