//! The `checksum` post-processor: one checksum file per algorithm listing every file of
//! its input artifact, in the format `sha256sum -c` and its siblings check
//! (`HEX  NAME`). The host computes the digests while it streams each file once for all
//! algorithms; no file byte enters the component.

use kiln_guest_sdk::artifacts::{self, HashAlgorithm};
use kiln_guest_sdk::{
    ui, Artifact, ArtifactFile, BuildInfo, ConfigError, GrantRequest, PostProcessResult,
    PostProcessor, Step,
};
use serde::Deserialize;

const DEFAULT_OUTPUT: &str = "packer_{{.BuildName}}_{{.ChecksumType}}.checksum";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_types")]
    checksum_types: Vec<String>,
    #[serde(default)]
    output: Option<String>,
}

fn default_types() -> Vec<String> {
    vec!["md5".into()]
}

fn algorithm(name: &str) -> Option<HashAlgorithm> {
    Some(match name {
        "md5" => HashAlgorithm::Md5,
        "sha1" => HashAlgorithm::Sha1,
        "sha224" => HashAlgorithm::Sha224,
        "sha256" => HashAlgorithm::Sha256,
        "sha384" => HashAlgorithm::Sha384,
        "sha512" => HashAlgorithm::Sha512,
        _ => return None,
    })
}

struct Checksum;

impl Step for Checksum {
    type Config = Config;

    fn needs(config: &Config) -> GrantRequest {
        kiln_guest_sdk::needs_output(config.output.as_deref(), DEFAULT_OUTPUT)
    }

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        if config.checksum_types.is_empty() {
            errors.push(ConfigError::on(
                "checksum_types",
                "checksum_types must name at least one algorithm",
            ));
        }
        for t in &config.checksum_types {
            if algorithm(t).is_none() {
                errors.push(ConfigError::on("checksum_types", format!(
                        "unrecognized checksum type {t:?}: use md5, sha1, sha224, sha256, sha384 or sha512"
                    )));
            }
        }
        if let Some(o) = &config.output {
            let probe = [
                ("BuildName", "b"),
                ("BuilderType", "t"),
                ("ChecksumType", "c"),
            ];
            if let Err(e) = artifacts::render_output(o, &probe) {
                errors.push(ConfigError::on("output", e));
            }
        }
        kiln_guest_sdk::errors_or_ok(errors)
    }
}

impl PostProcessor for Checksum {
    fn post_process(
        config: Config,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<PostProcessResult, String> {
        let algorithms: Vec<HashAlgorithm> = config
            .checksum_types
            .iter()
            .map(|t| algorithm(t).ok_or_else(|| format!("unrecognized checksum type {t:?}")))
            .collect::<Result<_, _>>()?;
        // digests[file][algorithm]
        let mut digests = Vec::with_capacity(input.files.len());
        for f in &input.files {
            ui::message(&format!(
                "Computing {} of {}",
                config.checksum_types.join(", "),
                f.path
            ));
            let d = artifacts::hash_file(&f.path, &algorithms)
                .map_err(|e| format!("hashing {}: {}", f.path, e.message))?;
            digests.push(d);
        }
        let template = config.output.as_deref().unwrap_or(DEFAULT_OUTPUT);
        let mut files = Vec::new();
        for (i, name) in config.checksum_types.iter().enumerate() {
            let output = artifacts::render_output(
                template,
                &[
                    ("BuildName", artifacts::build_name(build)),
                    ("BuilderType", &build.source_type),
                    ("ChecksumType", name),
                ],
            )?;
            let mut text = String::new();
            for (f, d) in input.files.iter().zip(&digests) {
                text.push_str(&format!("{}  {}\n", d[i], artifacts::base_name(&f.path)));
            }
            artifacts::write_file(&output, text.as_bytes())
                .map_err(|e| format!("writing {output}: {}", e.message))?;
            files.push(ArtifactFile {
                path: output,
                size: text.len() as u64,
                sha256: String::new(),
            });
        }
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        Ok(PostProcessResult {
            artifact: Artifact {
                builder_id: "packer.post-processor.checksum".into(),
                id: names.join(", "),
                metadata: vec![(
                    "description".into(),
                    format!("Created artifact from files: {}", names.join(", ")),
                )],
                files,
            },
            // As Packer's: the checksums are of the input, which stays.
            keep_input: true,
        })
    }
}

kiln_guest_sdk::post_processor!(Checksum);
