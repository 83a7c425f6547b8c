//! The `file` provisioner: copies files and directories between the host and the
//! machine, with Packer's trailing-slash rules.
//!
//! It reads and writes host paths only through the grant the host derives from this
//! very configuration: the `source`/`sources` it names (read) or the `destination` of a
//! download (write). The bytes are moved by the host; none cross the sandbox.

use kiln_guest_sdk::host::{self, PathKind};
use kiln_guest_sdk::remote;
use kiln_guest_sdk::{ui, BuildInfo, ConfigError, GrantRequest, Provisioner, Step};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    sources: Option<Vec<String>>,
    #[serde(default)]
    content: Option<String>,
    destination: String,
    #[serde(default)]
    direction: Direction,
    /// Packer's `generated`: the source is created by an earlier step, so it is not
    /// checked at validation time.
    #[serde(default)]
    generated: bool,
}

#[derive(Debug, Default, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Direction {
    #[default]
    Upload,
    Download,
}

struct File;

impl Step for File {
    type Config = Config;

    fn needs(config: &Config) -> GrantRequest {
        match config.direction {
            Direction::Download => kiln_guest_sdk::needs_write([config.destination.as_str()]),
            Direction::Upload => kiln_guest_sdk::needs_read(
                config.source.iter().chain(config.sources.iter().flatten()),
            ),
        }
    }

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        let given = [
            config.source.is_some(),
            config.sources.is_some(),
            config.content.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given != 1 {
            errors.push(ConfigError::block(
                "exactly one of `source`, `sources` or `content` must be specified",
            ));
        }
        if config.destination.is_empty() {
            errors.push(ConfigError::on(
                "destination",
                "destination must be specified",
            ));
        }
        if config.direction == Direction::Download {
            if config.content.is_some() {
                errors.push(ConfigError::on(
                    "content",
                    "`content` cannot be used with direction = \"download\"",
                ));
            }
        } else if !config.generated {
            let field = if config.source.is_some() {
                "source"
            } else {
                "sources"
            };
            for src in sources(config) {
                match host::kind(src) {
                    Ok(PathKind::File | PathKind::Directory) => {}
                    Ok(PathKind::Missing) => errors.push(ConfigError::on(
                        field,
                        format!("bad source {src:?}: no such file or directory"),
                    )),
                    Err(e) => errors.push(ConfigError::on(
                        field,
                        format!("bad source {src:?}: {}", e.message),
                    )),
                }
            }
        }
        kiln_guest_sdk::errors_or_ok(errors)
    }
}

impl Provisioner for File {
    fn provision(config: Config, _build: &BuildInfo) -> Result<(), String> {
        match config.direction {
            Direction::Upload => upload(&config),
            Direction::Download => download(&config),
        }
    }
}

fn sources(config: &Config) -> Vec<&str> {
    let mut all: Vec<&str> = config.source.iter().map(String::as_str).collect();
    all.extend(config.sources.iter().flatten().map(String::as_str));
    all
}

fn base_name(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

fn join(dir: &str, name: &str) -> String {
    format!("{}/{}", dir.trim_end_matches('/'), name)
}

fn upload(config: &Config) -> Result<(), String> {
    let dst = config.destination.as_str();
    if let Some(content) = &config.content {
        ui::say(&format!("Uploading content => {dst}"));
        return remote::upload_bytes(content.as_bytes(), dst, None)
            .map_err(|e| format!("uploading content to {dst}: {}", e.message));
    }
    let many = config.sources.is_some();
    for src in sources(config) {
        ui::say(&format!("Uploading {src} => {dst}"));
        let kind = host::kind(src).map_err(|e| format!("{src}: {}", e.message))?;
        match kind {
            PathKind::Missing => return Err(format!("{src}: no such file or directory")),
            PathKind::Directory => {
                // Packer: `dir/` copies the contents into the destination; `dir` copies
                // the directory itself into it.
                let target = if src.ends_with('/') {
                    dst.to_owned()
                } else {
                    join(dst, base_name(src))
                };
                remote::upload_dir(src, &target)
                    .map_err(|e| format!("uploading directory {src}: {}", e.message))?;
            }
            PathKind::File => {
                let target = if dst.ends_with('/') || many {
                    join(dst, base_name(src))
                } else {
                    dst.to_owned()
                };
                remote::upload_file(src, &target, None)
                    .map_err(|e| format!("uploading {src}: {}", e.message))?;
            }
        }
    }
    Ok(())
}

fn download(config: &Config) -> Result<(), String> {
    let dst = config.destination.as_str();
    for src in sources(config) {
        ui::say(&format!("Downloading {src} => {dst}"));
        if src.ends_with('/') {
            remote::download_dir(src, dst)
                .map_err(|e| format!("downloading directory {src}: {}", e.message))?;
        } else {
            let target = if dst.ends_with('/') {
                join(dst, base_name(src))
            } else {
                dst.to_owned()
            };
            remote::download_file(src, &target)
                .map_err(|e| format!("downloading {src}: {}", e.message))?;
        }
    }
    Ok(())
}

kiln_guest_sdk::provisioner!(File);
