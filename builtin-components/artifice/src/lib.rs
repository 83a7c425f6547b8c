//! The `artifice` post-processor: replaces the artifact with the host files named in
//! `files` (made by an earlier step, say a `file` download), so that later
//! post-processors work on those.

use kiln_guest_sdk::host::{self, PathKind};
use kiln_guest_sdk::{
    Artifact, ArtifactFile, BuildInfo, ConfigError, GrantRequest, PostProcessResult, PostProcessor,
    Step,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    files: Vec<String>,
}

struct Artifice;

impl Step for Artifice {
    type Config = Config;

    fn needs(config: &Config) -> GrantRequest {
        kiln_guest_sdk::needs_read(&config.files)
    }

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        if config.files.is_empty() {
            return Err(vec![ConfigError::on(
                "files",
                "no files specified in artifice configuration",
            )]);
        }
        Ok(())
    }
}

impl PostProcessor for Artifice {
    fn post_process(
        config: Config,
        _build: &BuildInfo,
        _input: Artifact,
    ) -> Result<PostProcessResult, String> {
        let mut files = Vec::with_capacity(config.files.len());
        for path in &config.files {
            match host::kind(path) {
                Ok(PathKind::File) => {}
                Ok(PathKind::Directory) => {
                    return Err(format!("{path} is a directory, not a file"))
                }
                Ok(PathKind::Missing) => {
                    return Err(format!(
                        "{path} does not exist: artifice only names existing files"
                    ))
                }
                Err(e) => return Err(format!("{path}: {}", e.message)),
            }
            files.push(ArtifactFile {
                path: path.clone(),
                size: 0,
                sha256: String::new(),
            });
        }
        Ok(PostProcessResult {
            artifact: Artifact {
                builder_id: "packer.post-processor.artifice".into(),
                id: config.files.join(", "),
                metadata: vec![(
                    "description".into(),
                    format!("Created artifact from files: {}", config.files.join(", ")),
                )],
                files,
            },
            keep_input: false,
        })
    }
}

kiln_guest_sdk::post_processor!(Artifice);
