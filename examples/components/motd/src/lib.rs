//! `motd`: writes a message of the day on the machine being built. It needs nothing
//! beyond the communicator and the UI, and declares so (an empty `kiln:grants`).

use kiln_guest_sdk::{remote, ui, BuildInfo, ConfigError, Provisioner, Step};
use serde::Deserialize;

/// The template block.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The message; `{{build}}` is replaced by the build's name.
    message: String,
    /// Where it goes on the machine.
    #[serde(default = "default_path")]
    path: String,
}

fn default_path() -> String {
    "/etc/motd".into()
}

struct Motd;

impl Step for Motd {
    type Config = Config;

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        if config.message.trim().is_empty() {
            errors.push(ConfigError::on("message", "message must not be empty"));
        }
        if !config.path.starts_with('/') {
            errors.push(ConfigError::on("path", format!("path must be absolute, not {:?}", config.path)));
        }
        kiln_guest_sdk::errors_or_ok(errors)
    }
}

impl Provisioner for Motd {
    fn provision(config: Config, build: &BuildInfo) -> Result<(), String> {
        let text = format!(
            "{}\n",
            config.message.replace("{{build}}", &build.build_name)
        );
        remote::upload_bytes(text.as_bytes(), &config.path, Some(0o644))
            .map_err(|e| format!("writing {}: {}", config.path, e.message))?;
        ui::say(&format!("Message of the day written to {}", config.path));
        Ok(())
    }
}

kiln_guest_sdk::provisioner!(Motd);
