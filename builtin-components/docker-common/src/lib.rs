//! What the docker post-processors share: Packer's builder ids and artifact texts, the
//! registry a name is pushed to, and the image facts an artifact carries.

use kiln_guest_sdk::images::Image;
use kiln_guest_sdk::{Artifact, ConfigError};
use serde::{Deserialize, Deserializer};

/// Packer's docker builder without `commit` (an exported file, or nothing).
pub const DOCKER_BUILDER: &str = "packer.docker";
/// `docker-import`, and the docker builder's `commit`.
pub const DOCKER_IMPORT: &str = "packer.post-processor.docker-import";
/// `docker-tag`.
pub const DOCKER_TAG: &str = "packer.post-processor.docker-tag";
/// Kiln's own `container` builder.
pub const KILN_CONTAINER: &str = "kiln.container";
/// `artifice`.
pub const ARTIFICE: &str = "packer.post-processor.artifice";

/// Whether the artifact is an image as Packer's docker post-processors take one: from
/// a commit (the docker builder, Kiln's container builder), `docker-import` or
/// `docker-tag`.
pub fn is_image_artifact(artifact: &Artifact) -> bool {
    [DOCKER_IMPORT, DOCKER_TAG, KILN_CONTAINER].contains(&artifact.builder_id.as_str())
}

/// What a step that names images `repository` needs: the network of its registry,
/// where the names it gives may later be pushed.
pub fn needs_registry(repository: &str) -> kiln_guest_sdk::GrantRequest {
    let mut needs = kiln_guest_sdk::needs_nothing();
    if !repository.is_empty() {
        needs.network = vec![registry_endpoint(repository)];
    }
    needs
}

/// The input artifact as an image, or Packer's error naming what it is (`refusal`
/// says what the step can take).
pub fn require_image(artifact: &Artifact, refusal: &str) -> Result<(), String> {
    match is_image_artifact(artifact) {
        true => Ok(()),
        false => Err(format!(
            "Unknown artifact type: {}\n{refusal}",
            artifact.builder_id
        )),
    }
}

/// A string or a list of strings, as Packer's weakly typed decoding takes `"tag":
/// "latest"` for a list.
pub fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => vec![],
        Some(OneOrMany::One(s)) if s.is_empty() => vec![],
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

/// The `host:port` a name (`[registry/]repository[:tag]`) is pushed to, as Docker
/// reads it: the first part is a registry when it has a `.` or `:` or is `localhost`,
/// else Docker Hub (`docker.io:443`). The port is 443, or 80 for a loopback registry
/// without one (those are spoken to over plain http).
pub fn registry_endpoint(name: &str) -> String {
    let registry = match name.split_once('/') {
        Some((host, _)) if host.contains(['.', ':']) || host == "localhost" => host,
        _ => "docker.io",
    };
    let registry = if registry == "index.docker.io" {
        "docker.io"
    } else {
        registry
    };
    if registry.ends_with(']') || !registry.contains(':') {
        let host = registry.trim_start_matches('[').trim_end_matches(']');
        let loopback = host == "localhost" || host == "::1" || host.starts_with("127.");
        format!("{registry}:{}", if loopback { 80 } else { 443 })
    } else {
        registry.to_ascii_lowercase()
    }
}

/// The registry a `login_server` names (`https://index.docker.io/v1/`,
/// `registry.example:5000`): its `host:port`.
pub fn login_endpoint(server: &str) -> String {
    let rest = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    let host = rest.split('/').next().unwrap_or(rest);
    let host = if host == "index.docker.io" || host == "registry-1.docker.io" {
        "docker.io"
    } else {
        host
    };
    registry_endpoint(&format!("{host}/x"))
}

/// Refuses `ecr_login` until Kiln reaches AWS.
pub fn refuse_ecr(ecr_login: bool, login_server: Option<&str>) -> Vec<ConfigError> {
    let mut errors = vec![];
    if ecr_login && login_server.is_none_or(str::is_empty) {
        errors.push(ConfigError::on(
            "login_server",
            "ECR login requires login server to be provided.",
        ));
    }
    if ecr_login {
        errors.push(ConfigError::on(
            "ecr_login",
            "Kiln does not fetch Amazon ECR credentials yet; log in with `aws ecr \
             get-login-password | docker login --username AWS --password-stdin <server>` \
             (Kiln reads Docker's credentials) and remove ecr_login, or pass \
             login_username = \"AWS\" and login_password with login = true",
        ));
    }
    errors
}

/// The artifact's tags, as `docker-tag` records them (`docker_tags`, a JSON list).
pub fn docker_tags(artifact: &Artifact) -> Vec<String> {
    artifact
        .metadata
        .iter()
        .find(|(k, _)| k == "docker_tags")
        .and_then(|(_, v)| serde_json::from_str(v).ok())
        .unwrap_or_default()
}

/// The metadata of an image artifact named `id`: its tags, digest, image id and
/// Packer's description (`Imported Docker image: ID with tags T1 T2`).
pub fn image_metadata(id: &str, tags: &[String], image: Option<&Image>) -> Vec<(String, String)> {
    let description = match tags.is_empty() {
        true => format!("Imported Docker image: {id}"),
        false => format!("Imported Docker image: {id} with tags {}", tags.join(" ")),
    };
    let mut metadata = vec![
        ("description".to_owned(), description),
        (
            "docker_tags".to_owned(),
            serde_json::to_string(tags).expect("strings serialize"),
        ),
    ];
    if let Some(image) = image {
        metadata.push(("image_digest".into(), image.digest.clone()));
        metadata.push(("image_id".into(), image.id.clone()));
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reach_their_registry() {
        assert_eq!(registry_endpoint("hashicorp/learn"), "docker.io:443");
        assert_eq!(registry_endpoint("ubuntu"), "docker.io:443");
        assert_eq!(registry_endpoint("localhost:5000/app"), "localhost:5000");
        assert_eq!(registry_endpoint("localhost/app"), "localhost:80");
        assert_eq!(registry_endpoint("127.0.0.1:5000/a/b"), "127.0.0.1:5000");
        assert_eq!(registry_endpoint("quay.io/org/app"), "quay.io:443");
        assert_eq!(
            login_endpoint("https://index.docker.io/v1/"),
            "docker.io:443"
        );
        assert_eq!(
            login_endpoint("registry.example:5000"),
            "registry.example:5000"
        );
    }
}
