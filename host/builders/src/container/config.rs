//! The container builder's options, with Packer's docker builder names where they\n//! mean the same, checked.

use super::*;
use base::{BaseSource, Bootstrap};
use kiln_core::config::{decode, FieldError};
use kiln_registry::{Platform, Reference, RegistryAuth};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    rootfs: Option<String>,
    #[serde(default)]
    bootstrap: Option<OneBlock<Bootstrap>>,
    #[serde(default)]
    pull: Option<bool>,
    #[serde(default)]
    commit: bool,
    #[serde(default)]
    discard: bool,
    #[serde(default)]
    export_path: Option<String>,
    #[serde(default)]
    changes: Vec<String>,
    #[serde(default)]
    output_image: Option<String>,
    #[serde(default)]
    image_tag: Option<String>,
    #[serde(default)]
    push: Option<String>,
    #[serde(default)]
    login_username: Option<String>,
    #[serde(default)]
    login_password: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    network: Option<String>,
    #[serde(default)]
    hostname: Option<String>,
}

/// A nested block: HCL gives a list of one object, JSON templates an object.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneBlock<T> {
    One(T),
    List(Vec<T>),
}

/// What happens to the container once provisioned.
#[derive(Debug, Clone)]
pub(crate) enum Output {
    /// A new image, written to `path` (an `oci-archive` when it ends in `.tar`, else an
    /// OCI image layout directory) and optionally pushed.
    Commit {
        path: PathBuf,
        tag: String,
        push: Option<Reference>,
    },
    /// A tarball of the root filesystem.
    Export(PathBuf),
    /// Nothing.
    Discard,
}

/// The configured `container` builder.
#[derive(Debug)]
pub struct ContainerBuilder {
    pub(super) base: BaseSource,
    pub(super) output: Output,
    pub(super) changes: Vec<changes::Change>,
    pub(super) auth: Option<RegistryAuth>,
    pub(super) author: Option<String>,
    pub(super) message: Option<String>,
    pub(super) env: BTreeMap<String, String>,
    pub(super) host_network: bool,
    pub(super) hostname: String,
    /// The capabilities commands keep (numbers).
    pub(super) caps: Vec<u32>,
    /// Host paths, devices and tmpfs mounted into the container.
    pub(super) mounts: Vec<kiln_container::Mount>,
    /// Who commands run as (`exec_user`); when empty, root, or for `source "docker"`
    /// the container's user.
    pub(super) exec_user: String,
    /// The user the container was started as (`run_command`'s `-u`), instead of the
    /// image's.
    pub(super) run_user: Option<String>,
    /// Uploads are given to the container's user (`fix_upload_owner`).
    pub(super) fix_upload_owner: bool,
    /// The platform a multi-platform base is taken for (`platform`); `None`, the host's.
    pub(super) platform: Option<Platform>,
    pub(super) flavour: Flavour,
}

/// Which template type configured the builder: the artifact speaks its language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    /// `source "container"`: Kiln's own names.
    Kiln,
    /// `source "docker"`: Packer's docker builder's artifact ids and texts.
    Docker,
}

impl ContainerBuilder {
    /// Checks and keeps the source's configuration.
    pub fn new(
        config: &serde_json::Map<String, serde_json::Value>,
        cwd: &Path,
        source_name: &str,
    ) -> Result<Self, FieldError> {
        let c: Config = decode(config)?;
        let bootstrap = match c.bootstrap {
            None => None,
            Some(OneBlock::One(b)) => Some(b),
            Some(OneBlock::List(mut list)) if list.len() == 1 => list.pop(),
            Some(OneBlock::List(_)) => {
                return Err(FieldError::new(
                    "bootstrap",
                    "only one bootstrap block is allowed",
                ))
            }
        };
        let given = [c.image.is_some(), c.rootfs.is_some(), bootstrap.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(FieldError::new(
                "image",
                "exactly one of image, rootfs or a bootstrap block must be specified \
                 (image = \"scratch\" starts from nothing)",
            ));
        }
        let base = if let Some(image) = c.image {
            BaseSource::parse_image(&image, cwd, c.pull.unwrap_or(true))
                .map_err(|e| FieldError::new("image", e.to_string()))?
        } else if let Some(dir) = c.rootfs {
            let dir = cwd.join(dir);
            if !dir.is_dir() {
                return Err(FieldError::new(
                    "rootfs",
                    format!("rootfs {} is not a directory", dir.display()),
                ));
            }
            BaseSource::Rootfs(dir)
        } else {
            let b = bootstrap.expect("counted above");
            b.check()
                .map_err(|e| FieldError::new("bootstrap", e.to_string()))?;
            BaseSource::Bootstrap(b)
        };

        let outputs = [c.commit, c.discard, c.export_path.is_some()];
        if outputs.iter().filter(|o| **o).count() != 1 {
            return Err(FieldError::new(
                "commit",
                "exactly one of commit, discard, or export_path must be specified",
            ));
        }
        let output = if c.commit {
            let path = c
                .output_image
                .map(|p| cwd.join(p))
                .unwrap_or_else(|| cwd.join(format!("output-{source_name}/image.tar")));
            let push = c
                .push
                .map(|p| {
                    p.parse::<Reference>()
                        .map_err(|e| FieldError::new("push", e.to_string()))
                })
                .transpose()?;
            Output::Commit {
                path,
                tag: c.image_tag.unwrap_or_else(|| "latest".into()),
                push,
            }
        } else if let Some(p) = c.export_path {
            for (field, set) in [
                ("output_image", c.output_image.is_some()),
                ("push", c.push.is_some()),
            ] {
                if set {
                    return Err(FieldError::new(
                        field,
                        format!("{field} needs commit = true"),
                    ));
                }
            }
            Output::Export(cwd.join(p))
        } else {
            Output::Discard
        };
        if !matches!(output, Output::Commit { .. }) && !c.changes.is_empty() {
            return Err(FieldError::new("changes", "changes need commit = true"));
        }
        let changes = c
            .changes
            .iter()
            .map(|line| {
                changes::parse(line)
                    .map_err(|e| FieldError::new("changes", format!("{line:?}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let host_network = match c.network.as_deref() {
            None | Some("none") => false,
            Some("host") => true,
            Some(other) => {
                return Err(FieldError::new(
                    "network",
                    format!(
                    "network {other:?} is not supported; use \"none\" (the default) or \"host\""
                ),
                ))
            }
        };
        let auth = match (c.login_username, c.login_password) {
            (Some(username), Some(password)) => Some(RegistryAuth { username, password }),
            (None, None) => None,
            _ => {
                return Err(FieldError::new(
                    "login_username",
                    "login_username and login_password must be given together",
                ))
            }
        };
        Ok(ContainerBuilder {
            base,
            output,
            changes,
            auth,
            author: c.author,
            message: c.message,
            env: c.env,
            host_network,
            hostname: c.hostname.unwrap_or_else(|| source_name.to_owned()),
            caps: kiln_container::DEFAULT_CAPS.to_vec(),
            mounts: Vec::new(),
            exec_user: String::new(),
            run_user: None,
            fix_upload_owner: false,
            platform: None,
            flavour: Flavour::Kiln,
        })
    }
}
