//! The `docker-tag` post-processor, as Packer's: gives the input image
//! `repository:tag` for each of `tags` (or `repository` alone) in Kiln's image store,
//! where Packer asks a Docker daemon. The names may then be pushed (`docker-push`) to
//! the registry of `repository`, which is what the step needs of the network.

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
    /// Kept by Packer for backwards compatibility; joins `tags`.
    #[serde(deserialize_with = "common::one_or_many")]
    tag: Vec<String>,
    #[serde(deserialize_with = "common::one_or_many")]
    tags: Vec<String>,
    /// Docker 1.12 dropped `docker tag --force`; a tag always moves.
    force: bool,
    /// The Docker client's path: there is none, and none is needed.
    docker_path: Option<String>,
}

struct DockerTag;

impl Step for DockerTag {
    type Config = Config;

    fn needs(config: &Config) -> GrantRequest {
        common::needs_registry(&config.repository)
    }

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        if config.repository.is_empty() {
            return Err(vec![ConfigError::on(
                "repository",
                "repository must be set: the name to give the image, e.g. \"registry.example/app\"",
            )]);
        }
        Ok(())
    }
}

impl PostProcessor for DockerTag {
    fn post_process(
        config: Config,
        _build: &BuildInfo,
        input: Artifact,
    ) -> Result<PostProcessResult, String> {
        if !config.tag.is_empty() {
            ui::say(
                "Deprecation warning: \"tag\" option has been replaced with \"tags\". In \
                 future versions of Packer, this configuration may not work. Please call \
                 `packer fix` on your template to update.",
            );
        }
        common::require_image(&input, "Can only tag from Docker builder artifacts.")?;
        let tags: Vec<String> = config.tags.iter().chain(&config.tag).cloned().collect();
        let names: Vec<String> = match tags.is_empty() {
            true => vec![config.repository.clone()],
            false => tags
                .iter()
                .map(|t| format!("{}:{t}", config.repository))
                .collect(),
        };
        for name in &names {
            ui::message(&format!("Tagging image: {}", input.id));
            ui::message(&format!("Repository: {name}"));
            images::tag(std::slice::from_ref(name)).map_err(|e| e.message)?;
        }
        let last = names.last().cloned().unwrap_or_default();
        let repo_tags = if tags.is_empty() { vec![] } else { names };
        let image = images::current();
        Ok(PostProcessResult {
            artifact: Artifact {
                builder_id: common::DOCKER_TAG.into(),
                metadata: common::image_metadata(&last, &repo_tags, image.as_ref()),
                id: last,
                files: vec![],
            },
            // If we tag an image and then delete it, there was no point in tagging it.
            keep_input: true,
        })
    }
}

kiln_guest_sdk::post_processor!(DockerTag);
