//! The `compress` post-processor: its input artifact's files in one archive (tar,
//! tar.gz, tar.zst, tar.xz, zip) or, for one file, one compressed stream (gz, zst, xz).
//! The format comes from `format` or the output's extension, as Packer reads it; an
//! output whose extension names no format is a tar.gz under that very name. The host
//! writes the archive while it streams the files: entries sorted, modification times
//! clamped to the build's epoch, owners zeroed.

use kiln_guest_sdk::artifacts::{self, ArchiveEntry, ArchiveFormat};
use kiln_guest_sdk::{
    ui, Artifact, ArtifactFile, BuildInfo, ConfigError, GrantRequest, PostProcessResult,
    PostProcessor, Step,
};
use serde::Deserialize;

const DEFAULT_OUTPUT: &str = "packer_{{.BuildName}}_{{.BuilderType}}";

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    output: Option<String>,
    format: Option<String>,
    compression_level: Option<i32>,
}

/// (name as written, format); longest suffixes first.
const FORMATS: &[(&str, ArchiveFormat)] = &[
    ("tar.gz", ArchiveFormat::TarGz),
    ("tgz", ArchiveFormat::TarGz),
    ("tar.zst", ArchiveFormat::TarZst),
    ("tar.xz", ArchiveFormat::TarXz),
    ("tar", ArchiveFormat::Tar),
    ("zip", ArchiveFormat::Zip),
    ("gz", ArchiveFormat::Gz),
    ("zst", ArchiveFormat::Zst),
    ("xz", ArchiveFormat::Xz),
];

fn named(name: &str) -> Option<ArchiveFormat> {
    FORMATS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

fn from_extension(output: &str) -> Option<ArchiveFormat> {
    FORMATS
        .iter()
        .find(|(n, _)| output.ends_with(&format!(".{n}")))
        .map(|(_, f)| *f)
}

fn single_stream(f: ArchiveFormat) -> bool {
    matches!(
        f,
        ArchiveFormat::Gz | ArchiveFormat::Zst | ArchiveFormat::Xz
    )
}

/// The levels each format accepts.
fn levels(f: ArchiveFormat) -> Option<(i32, i32)> {
    match f {
        ArchiveFormat::Tar => None,
        ArchiveFormat::TarZst | ArchiveFormat::Zst => Some((1, 19)),
        _ => Some((1, 9)),
    }
}

fn choose(config: &Config, output: &str) -> Result<ArchiveFormat, ConfigError> {
    match &config.format {
        Some(f) => named(f).ok_or_else(|| {
            ConfigError::on(
                "format",
                format!(
                    "unknown format {f:?}: use one of {}",
                    FORMATS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        }),
        None => Ok(from_extension(output).unwrap_or(ArchiveFormat::TarGz)),
    }
}

struct Compress;

impl Step for Compress {
    type Config = Config;

    fn needs(config: &Config) -> GrantRequest {
        kiln_guest_sdk::needs_output(config.output.as_deref(), DEFAULT_OUTPUT)
    }

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        let output = config.output.as_deref().unwrap_or(DEFAULT_OUTPUT);
        let mut errors = Vec::new();
        if let Err(e) =
            artifacts::render_output(output, &[("BuildName", "b"), ("BuilderType", "t")])
        {
            errors.push(ConfigError::on("output", e));
        }
        match choose(config, output) {
            Ok(format) => {
                if let Some(level) = config.compression_level {
                    match levels(format) {
                        Some((lo, hi)) if level < lo || level > hi => errors.push(ConfigError::on("compression_level", format!(
                                "compression_level {level} is out of range: this format takes {lo} through {hi}"
                            ))),
                        _ => {}
                    }
                }
            }
            Err(e) => errors.push(e),
        }
        kiln_guest_sdk::errors_or_ok(errors)
    }
}

impl PostProcessor for Compress {
    fn post_process(
        config: Config,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<PostProcessResult, String> {
        let template = config.output.as_deref().unwrap_or(DEFAULT_OUTPUT);
        let output = artifacts::render_output(
            template,
            &[
                ("BuildName", artifacts::build_name(build)),
                ("BuilderType", &build.source_type),
            ],
        )?;
        let format = choose(&config, &output).map_err(|e| e.message)?;
        if input.files.is_empty() {
            return Err("the input artifact has no files to compress".into());
        }
        if single_stream(format) && input.files.len() > 1 {
            return Err(format!(
                "{output}: a single-file format cannot hold the {} files of the input artifact; \
                 use an archive (.tar.gz, .tar.zst, .tar.xz, .zip)",
                input.files.len()
            ));
        }
        let mut entries: Vec<ArchiveEntry> = input
            .files
            .iter()
            .map(|f| ArchiveEntry {
                source: f.path.clone(),
                name: artifacts::base_name(&f.path).to_owned(),
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = entries.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(format!(
                "two input files are both named {:?} in the archive",
                w[0].name
            ));
        }
        ui::message(&format!(
            "Compressing {} file(s) into {output}",
            entries.len()
        ));
        let size = artifacts::write_archive(&entries, &output, format, config.compression_level)
            .map_err(|e| format!("writing {output}: {}", e.message))?;
        Ok(PostProcessResult {
            artifact: Artifact {
                builder_id: "packer.post-processor.compress".into(),
                id: output.clone(),
                metadata: vec![(
                    "description".into(),
                    format!("compressed artifacts in: {output}"),
                )],
                files: vec![ArtifactFile {
                    path: output,
                    size,
                    sha256: String::new(),
                }],
            },
            keep_input: false,
        })
    }
}

kiln_guest_sdk::post_processor!(Compress);
