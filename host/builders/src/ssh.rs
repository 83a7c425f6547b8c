//! The SSH communicator options builders share, checked as Packer checks them.

use std::path::{Path, PathBuf};
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
        mut self,
        cwd: &Path,
        builder: &str,
        default_host: Option<&str>,
    ) -> Result<Option<SshConfig>, FieldError> {
        if !self.speaks_ssh(builder)? {
            return Ok(None);
        }
        let host = self
            .host
            .take()
            .filter(|h| !h.is_empty())
            .or_else(|| default_host.map(str::to_owned))
            .ok_or_else(|| {
                FieldError::new(
                    "ssh_host",
                    format!("ssh_host must be specified for the {builder} builder"),
                )
            })?;
        let username = self.username()?;
        let private_key_file = self.private_key_file(cwd)?;
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

    /// Whether the source connects over SSH (`communicator` unset or `"ssh"`), not at
    /// all (`"none"`); any other communicator is refused.
    pub fn speaks_ssh(&self, builder: &str) -> Result<bool, FieldError> {
        match self.communicator.as_deref().unwrap_or("ssh") {
            "none" => Ok(false),
            "ssh" => Ok(true),
            other => Err(FieldError::new(
                "communicator",
                format!("communicator {other:?} is not supported by the {builder} builder; use \"ssh\" or \"none\""),
            )),
        }
    }

    /// `ssh_username`, which SSH requires.
    pub fn username(&mut self) -> Result<String, FieldError> {
        self.username
            .take()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| FieldError::new("ssh_username", "an ssh_username must be specified"))
    }

    /// `ssh_private_key_file` against `cwd`, which must exist when given.
    pub fn private_key_file(&mut self, cwd: &Path) -> Result<Option<PathBuf>, FieldError> {
        let file = self.private_key_file.take().map(|p| cwd.join(p));
        if let Some(p) = &file {
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
        Ok(file)
    }
}

/// A failed connection as a build error (cancellation stays cancellation).
pub(crate) fn connect_error(e: SshError) -> BuildError {
    match e {
        SshError::Cancelled => BuildError::Cancelled,
        other => BuildError::Failed(other.to_string()),
    }
}

/// Packer's other communicator options, checked before a builder decodes its own:
/// those Kiln honours as it is (the value Kiln always behaves by) are taken out, any
/// other value of them and those it cannot honour are refused saying why. Returns the
/// configuration without them.
pub(crate) fn other_communicator_options(
    config: &serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Map<String, serde_json::Value>, FieldError> {
    use serde_json::Value;
    let mut rest = config.clone();
    for (key, value) in config {
        let unset = match value {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::Object(o) => o.is_empty(),
        };
        let why = match key.as_str() {
            // Kiln never forwards the agent, and keeps the connection alive itself
            // (every 10 s).
            "ssh_disable_agent_forwarding" | "ssh_keep_alive_interval" => None,
            // Files move with the scp protocol.
            "ssh_file_transfer_method" if value.as_str().is_none_or(|m| m == "scp") => None,
            "ssh_file_transfer_method" => Some("Kiln moves files with the scp protocol only"),
            "ssh_pty" | "ssh_agent_auth" | "ssh_clear_authorized_keys"
            | "ssh_local_tunnels" | "ssh_remote_tunnels" | "ssh_read_write_timeout"
                if unset =>
            {
                None
            }
            "ssh_pty" => Some("Kiln runs commands without a pseudo-terminal (sudo with requiretty needs `Defaults !requiretty`)"),
            "ssh_agent_auth" => Some("Kiln logs in with ssh_password or ssh_private_key_file, not an SSH agent"),
            "ssh_clear_authorized_keys" => Some("Kiln makes no temporary key to clear"),
            "ssh_local_tunnels" | "ssh_remote_tunnels" => Some("Kiln opens no SSH tunnels"),
            "ssh_read_write_timeout" => Some("bound the step with its `timeout` instead"),
            k if k.starts_with("ssh_bastion_") || k.starts_with("ssh_proxy_") => {
                Some("Kiln connects to the machine directly, not through a bastion or proxy")
            }
            "ssh_ciphers" | "ssh_key_exchange_algorithms" | "ssh_certificate_file" => {
                Some("Kiln negotiates SSH's algorithms itself and logs in with a key or a password")
            }
            "temporary_key_pair_type" | "temporary_key_pair_bits" | "temporary_key_pair_name"
            | "ssh_keypair_name" => Some("Kiln makes no temporary key pair"),
            k if k.starts_with("winrm_") => Some("Kiln has no WinRM communicator"),
            _ => continue,
        };
        if let Some(why) = why {
            return Err(FieldError::new(
                key.as_str(),
                format!("{key} is not supported: {why}"),
            ));
        }
        rest.remove(key);
    }
    Ok(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packers_other_communicator_options_are_taken_or_refused_saying_why() {
        let json = |v: serde_json::Value| v.as_object().unwrap().clone();
        let rest = other_communicator_options(&json(serde_json::json!({
            "ssh_username": "u", "ssh_pty": false, "ssh_disable_agent_forwarding": true,
            "ssh_keep_alive_interval": "5s", "ssh_file_transfer_method": "scp",
            "ssh_local_tunnels": [],
        })))
        .unwrap();
        assert_eq!(rest.keys().collect::<Vec<_>>(), ["ssh_username"]);
        for (key, value, why) in [
            ("ssh_pty", serde_json::json!(true), "pseudo-terminal"),
            ("ssh_bastion_host", serde_json::json!("b"), "bastion"),
            ("ssh_file_transfer_method", serde_json::json!("sftp"), "scp"),
            ("winrm_username", serde_json::json!("w"), "WinRM"),
        ] {
            let mut m = serde_json::Map::new();
            m.insert(key.to_owned(), value);
            let e = other_communicator_options(&m).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(key));
            assert!(e.to_string().contains(why), "{e}");
        }
    }
}
