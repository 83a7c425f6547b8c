//! The `docker-push` post-processor, as Packer's: pushes the input image under its
//! name and every tag `docker-tag` gave it, straight from Kiln's image store to the
//! registry, where Packer asks a Docker daemon. The registry is reached by the host,
//! only where the step's grant, or the name's own grant (`docker-tag`'s repository),
//! allows it.

use kiln_docker_common as common;
use kiln_guest_sdk::images::{self, Login};
use kiln_guest_sdk::{
    ui, Artifact, BuildInfo, ConfigError, GrantRequest, PostProcessResult, PostProcessor, Step,
};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    login: bool,
    login_username: Option<String>,
    login_password: Option<String>,
    login_server: Option<String>,
    ecr_login: bool,
    /// Amazon credentials for `ecr_login`.
    aws_access_key: Option<String>,
    aws_secret_key: Option<String>,
    aws_token: Option<String>,
    aws_profile: Option<String>,
    /// Which image of a multi-platform name to push: Kiln's images are one platform.
    platform: Option<String>,
    /// The Docker client's path: there is none, and none is needed.
    docker_path: Option<String>,
}

struct DockerPush;

impl Step for DockerPush {
    type Config = Config;

    fn needs(config: &Config) -> GrantRequest {
        let mut needs = kiln_guest_sdk::needs_nothing();
        if let Some(server) = config.login_server.as_deref().filter(|s| !s.is_empty()) {
            needs.network = vec![common::login_endpoint(server)];
        }
        needs
    }

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        kiln_guest_sdk::errors_or_ok(common::refuse_ecr(
            config.ecr_login,
            config.login_server.as_deref(),
        ))
    }
}

impl PostProcessor for DockerPush {
    fn post_process(
        config: Config,
        _build: &BuildInfo,
        input: Artifact,
    ) -> Result<PostProcessResult, String> {
        common::require_image(
            &input,
            "Can only import from docker-import and docker-tag \
                 artifacts.",
        )?;
        let login = config.login.then(|| {
            ui::message("Logging in...");
            Login {
                server: config.login_server.clone().unwrap_or_default(),
                username: config.login_username.clone().unwrap_or_default(),
                password: config.login_password.clone().unwrap_or_default(),
            }
        });
        let tags = common::docker_tags(&input);
        let names: Vec<String> = std::iter::once(input.id.clone())
            .chain(tags.clone())
            .collect();
        let mut digest = String::new();
        for name in &names {
            if name.starts_with("sha256:") {
                return Err(format!(
                    "the image {name} has no name to push it by: put a docker-tag with a \
                     repository before docker-push in the chain"
                ));
            }
            ui::message(&format!("Pushing: {name}"));
            digest = images::push(name, login.as_ref()).map_err(|e| e.message)?;
        }
        let image = images::current();
        let mut metadata = common::image_metadata(&names[0], &tags, image.as_ref());
        metadata.push(("Digest".into(), digest));
        Ok(PostProcessResult {
            artifact: Artifact {
                builder_id: common::DOCKER_IMPORT.into(),
                id: names[0].clone(),
                files: vec![],
                metadata,
            },
            keep_input: true,
        })
    }
}

kiln_guest_sdk::post_processor!(DockerPush);
