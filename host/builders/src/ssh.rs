//! The SSH communicator options builders share, checked as Packer checks them.

use std::path::Path;
use std::time::Duration;

use kiln_communicators::{SshConfig, SshError};
use kiln_core::config::FieldError;
use kiln_core::BuildError;

/// A source's `communicator` and `ssh_*` options as written.
#[derive(Debug, Default)]
pub(crate) struct SshOptions {
    pub communicator: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub private_key_file: Option<String>,
    pub timeout: Option<Duration>,
    pub handshake_attempts: Option<u32>,
}

impl SshOptions {
    /// The SSH configuration (`None` for `communicator = "none"`). Without `ssh_host`,
    /// `default_host` is used; without that either, the host is required. Key files
    /// resolve against `cwd`; `builder` names the builder in messages.
    pub fn resolve(
        self,
        cwd: &Path,
        builder: &str,
        default_host: Option<&str>,
    ) -> Result<Option<SshConfig>, FieldError> {
        match self.communicator.as_deref().unwrap_or("ssh") {
            "none" => return Ok(None),
            "ssh" => {}
            other => {
                return Err(FieldError::new(
                    "communicator",
                    format!("communicator {other:?} is not supported by the {builder} builder; use \"ssh\" or \"none\""),
                ))
            }
        }
        let host = self
            .host
            .filter(|h| !h.is_empty())
            .or_else(|| default_host.map(str::to_owned))
            .ok_or_else(|| {
                FieldError::new(
                    "ssh_host",
                    format!("ssh_host must be specified for the {builder} builder"),
                )
            })?;
        let username = self
            .username
            .filter(|u| !u.is_empty())
            .ok_or_else(|| FieldError::new("ssh_username", "an ssh_username must be specified"))?;
        let private_key_file = self.private_key_file.map(|p| cwd.join(p));
        if let Some(p) = &private_key_file {
            if !p.is_file() {
                return Err(FieldError::new(
                    "ssh_private_key_file",
                    format!(
                        "ssh_private_key_file is invalid: {} does not exist",
                        p.display()
                    ),
                ));
            }
        }
        if self.password.is_none() && private_key_file.is_none() {
            return Err(FieldError::new(
                "ssh_password",
                "one of ssh_password or ssh_private_key_file must be specified",
            ));
        }
        Ok(Some(SshConfig {
            host,
            port: self.port.unwrap_or(22),
            username,
            password: self.password,
            private_key_file,
            timeout: self.timeout.unwrap_or(Duration::from_secs(300)),
            handshake_attempts: self.handshake_attempts.unwrap_or(10),
        }))
    }
}

/// A failed connection as a build error (cancellation stays cancellation).
pub(crate) fn connect_error(e: SshError) -> BuildError {
    match e {
        SshError::Cancelled => BuildError::Cancelled,
        other => BuildError::Failed(other.to_string()),
    }
}
