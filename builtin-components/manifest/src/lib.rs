//! The `manifest` post-processor: records what a build produced in a JSON file of the
//! shape Packer writes (`builds`, each with name, builder_type, build_time, files,
//! artifact_id, packer_run_uuid, custom_data; `last_run_uuid`), each file also with its
//! sha256. An existing manifest is read and the build appended, as Packer does. The
//! artifact passes through unchanged.

use std::collections::BTreeMap;

use kiln_guest_sdk::artifacts;
use kiln_guest_sdk::host::{self, PathKind};
use kiln_guest_sdk::{
    ui, Artifact, BuildInfo, GrantRequest, PostProcessResult, PostProcessor, Step,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_output")]
    output: String,
    #[serde(default)]
    strip_path: bool,
    #[serde(default)]
    strip_time: bool,
    #[serde(default)]
    custom_data: Option<BTreeMap<String, String>>,
}

fn default_output() -> String {
    "packer-manifest.json".into()
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    builds: Vec<Build>,
    last_run_uuid: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Build {
    name: String,
    builder_type: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    build_time: i64,
    files: Vec<File>,
    artifact_id: String,
    packer_run_uuid: String,
    custom_data: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    name: String,
    size: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    sha256: String,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// `data` with every sensitive value of the template masked: a manifest is a file
/// people share, and Kiln never writes a sensitive value where people read.
fn masked(data: &BTreeMap<String, String>, sensitive: &[String]) -> BTreeMap<String, String> {
    let mask = |text: &str| {
        sensitive
            .iter()
            .filter(|s| !s.is_empty())
            .fold(text.to_owned(), |t, s| t.replace(s.as_str(), "<sensitive>"))
    };
    data.iter().map(|(k, v)| (mask(k), mask(v))).collect()
}

struct ManifestPp;

impl Step for ManifestPp {
    type Config = Config;

    fn needs(config: &Config) -> GrantRequest {
        kiln_guest_sdk::needs_write([kiln_guest_sdk::output_location(&config.output)])
    }
}

impl PostProcessor for ManifestPp {
    fn post_process(
        config: Config,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<PostProcessResult, String> {
        let mut files = Vec::with_capacity(input.files.len());
        for f in &input.files {
            let name = if config.strip_path {
                artifacts::base_name(&f.path).to_owned()
            } else {
                f.path.clone()
            };
            // A file no step wrote through the host has no digest yet: taken here, once.
            let sha256 = if f.sha256.is_empty() {
                artifacts::hash_file(&f.path, &[artifacts::HashAlgorithm::Sha256])
                    .map_err(|e| format!("hashing {}: {}", f.path, e.message))?
                    .pop()
                    .unwrap_or_default()
            } else {
                f.sha256.clone()
            };
            files.push(File {
                name,
                size: f.size,
                sha256,
            });
        }
        // The clock is the build's (SOURCE_DATE_EPOCH when set), never the host's.
        let build_time = if config.strip_time {
            0
        } else {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        };
        let run_uuid = kiln_guest_sdk::artifacts::variable(build, "PACKER_RUN_UUID")
            .unwrap_or_default()
            .to_owned();
        let entry = Build {
            name: kiln_guest_sdk::artifacts::variable(build, "PACKER_BUILD_NAME")
                .unwrap_or(&build.build_name)
                .to_owned(),
            builder_type: kiln_guest_sdk::artifacts::variable(build, "PACKER_BUILDER_TYPE")
                .unwrap_or(&build.source_type)
                .to_owned(),
            build_time,
            files,
            artifact_id: input.id.clone(),
            packer_run_uuid: run_uuid.clone(),
            custom_data: config
                .custom_data
                .as_ref()
                .map(|data| masked(data, &build.sensitive)),
        };
        // Parallel builds share the manifest: each adds its entry under the lock.
        artifacts::lock_file(&config.output)
            .map_err(|e| format!("{}: {}", config.output, e.message))?;
        let mut manifest = match host::kind(&config.output) {
            Ok(PathKind::File) => {
                let data = artifacts::read_file(&config.output)
                    .map_err(|e| format!("reading {}: {}", config.output, e.message))?;
                serde_json::from_slice::<Manifest>(&data).map_err(|e| {
                    format!(
                        "{} is not a manifest this post-processor can extend: {e}",
                        config.output
                    )
                })?
            }
            Ok(_) => Manifest::default(),
            Err(e) => return Err(format!("{}: {}", config.output, e.message)),
        };
        manifest.builds.push(entry);
        manifest.last_run_uuid = run_uuid;
        let mut text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
        text.push('\n');
        artifacts::write_file(&config.output, text.as_bytes())
            .map_err(|e| format!("writing {}: {}", config.output, e.message))?;
        artifacts::unlock_file(&config.output);
        ui::message(&format!("Build recorded in {}", config.output));
        Ok(PostProcessResult {
            artifact: input,
            keep_input: true,
        })
    }
}

kiln_guest_sdk::post_processor!(ManifestPp);
