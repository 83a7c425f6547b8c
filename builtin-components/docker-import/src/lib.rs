//! The `docker-import` post-processor, as Packer's: makes the root filesystem tarball
//! of the docker builder's `export_path` (or of `artifice`) an image named
//! `repository[:tag]`, with Dockerfile `changes` and `platform`, in Kiln's image store,
//! where Packer asks a Docker daemon.

use kiln_docker_common as common;
use kiln_guest_sdk::{
    images, ui, Artifact, BuildInfo, ConfigError, GrantRequest, PostProcessResult, PostProcessor,
    Step,
};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    repository: String,
    tag: String,
    changes: Vec<String>,
    platform: Option<String>,
    /// The Docker client's path: there is none, and none is needed.
    docker_path: Option<String>,
}

/// The Dockerfile instructions `changes` takes, as `docker import --change` does.
const INSTRUCTIONS: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

struct DockerImport;

impl Step for DockerImport {
    type Config = Config;

    fn needs(config: &Config) -> GrantRequest {
        common::needs_registry(&config.repository)
    }

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        let mut errors = vec![];
        for change in &config.changes {
            let word = change.split_whitespace().next().unwrap_or_default();
            if !INSTRUCTIONS.contains(&word.to_ascii_uppercase().as_str()) {
                errors.push(ConfigError::on(
                    "changes",
                    format!(
                        "{change:?} is not an instruction docker import takes; these are: {}",
                        INSTRUCTIONS.join(", ")
                    ),
                ));
            }
        }
        if config.repository.is_empty() && !config.tag.is_empty() {
            errors.push(ConfigError::on("repository", "a tag needs a repository"));
        }
        kiln_guest_sdk::errors_or_ok(errors)
    }
}

impl PostProcessor for DockerImport {
    fn post_process(
        config: Config,
        _build: &BuildInfo,
        input: Artifact,
    ) -> Result<PostProcessResult, String> {
        let accepted = [
            common::DOCKER_BUILDER,
            common::ARTIFICE,
            common::KILN_CONTAINER,
        ];
        let Some(tarball) = input
            .files
            .first()
            .filter(|_| accepted.contains(&input.builder_id.as_str()))
        else {
            return Err(format!(
                "Unknown artifact type: {}\nCan only import from Docker builder and Artifice \
                 post-processor artifacts. If you are getting this error after having run the \
                 docker builder, it may be because you set commit: true in your Docker \
                 builder, so the image is already imported. ",
                input.builder_id
            ));
        };
        let mut name = config.repository.clone();
        if !config.tag.is_empty() {
            name = format!("{name}:{}", config.tag);
        }
        ui::message(&format!("Importing image: {}", input.id));
        ui::message(&format!("Repository: {name}"));
        let image = images::import(&tarball.path, &config.changes, config.platform.as_deref())
            .map_err(|e| e.message)?;
        if !name.is_empty() {
            images::tag(std::slice::from_ref(&name)).map_err(|e| e.message)?;
        }
        ui::message(&format!("Imported ID: {}", image.id));
        let id = if name.is_empty() {
            image.id.clone()
        } else {
            name
        };
        Ok(PostProcessResult {
            artifact: Artifact {
                builder_id: common::DOCKER_IMPORT.into(),
                metadata: common::image_metadata(&id, &[], Some(&image)),
                id,
                files: vec![],
            },
            keep_input: false,
        })
    }
}

kiln_guest_sdk::post_processor!(DockerImport);
