//! The `docker-save` post-processor, as Packer's: writes the input image to `path` as
//! a `docker save` archive (which `docker load` and `podman load` read), from Kiln's
//! image store, and passes the input artifact on unchanged.

use kiln_docker_common as common;
use kiln_guest_sdk::{
    images, ui, Artifact, BuildInfo, ConfigError, GrantRequest, PostProcessResult, PostProcessor,
    Step,
};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    path: String,
    /// The Docker client's path: there is none, and none is needed.
    docker_path: Option<String>,
}

struct DockerSave;

impl Step for DockerSave {
    type Config = Config;

    fn needs(config: &Config) -> GrantRequest {
        match config.path.is_empty() {
            true => kiln_guest_sdk::needs_nothing(),
            false => kiln_guest_sdk::needs_write([config.path.clone()]),
        }
    }

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        if config.path.is_empty() {
            return Err(vec![ConfigError::on(
                "path",
                "path must be set: the file to write the image to",
            )]);
        }
        Ok(())
    }
}

impl PostProcessor for DockerSave {
    fn post_process(
        config: Config,
        _build: &BuildInfo,
        input: Artifact,
    ) -> Result<PostProcessResult, String> {
        common::require_image(&input, "Can only save Docker builder artifacts.")?;
        ui::message(&format!("Saving image: {}", input.id));
        // The archive names the image as `docker save NAME` does: by the name the
        // artifact stands for, and the tags docker-tag gave it.
        let mut names: Vec<String> = vec![];
        for name in std::iter::once(input.id.clone()).chain(common::docker_tags(&input)) {
            if !name.starts_with("sha256:") && !names.contains(&name) {
                names.push(name);
            }
        }
        images::save(&names, &config.path).map_err(|e| e.message)?;
        ui::message(&format!("Saved to: {}", config.path));
        Ok(PostProcessResult {
            artifact: input,
            keep_input: true,
        })
    }
}

kiln_guest_sdk::post_processor!(DockerSave);
