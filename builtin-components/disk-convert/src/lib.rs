//! The `disk-convert` post-processor: the input artifact's disk in other hypervisors'
//! formats, all at once: `qcow2`, `raw`, `vmdk` (VMware Workstation's monolithicSparse,
//! or `vmdk_subformat`), `vdi` (VirtualBox), `vhdx` (Hyper-V), `vpc` (a fixed VHD, as
//! Azure takes it), and appliances: `ova` (an OVF descriptor, 1.0 or `ovf_version` 2.0,
//! its SHA-256 manifest and a streamOptimized VMDK in one tar, in the order the OVF
//! specification requires) or `ovf` (the same three files side by side). Each conversion is `qemu-img convert`
//! (sparse-aware, streamed) run on the host, confined; the conversions run in parallel.

mod ovf;

use kiln_guest_sdk::artifacts::{self, HashAlgorithm};
use kiln_guest_sdk::exec::{self, TempContent};
use kiln_guest_sdk::remote::ExitStatus;
use kiln_guest_sdk::{
    ui, Artifact, ArtifactFile, BuildInfo, ConfigError, GrantRequest, PostProcessResult,
    PostProcessor, Step,
};
use serde::Deserialize;

const DEFAULT_OUTPUT: &str = "{{.BuildName}}.{{.Extension}}";

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    formats: Vec<String>,
    output: Option<String>,
    vmdk_subformat: Option<String>,
    vhdx_subformat: Option<String>,
    vpc_subformat: Option<String>,
    vm_name: Option<String>,
    ovf_version: Option<String>,
}

/// The input's metadata that describes the machine, passed on with the disks.
const PASSED_ON: &[&str] = &[
    "cpus",
    "memory",
    "firmware",
    "diskVirtualSize",
    "domainType",
];

/// The formats, each with its file extension.
const FORMATS: &[(&str, &str)] = &[
    ("qcow2", "qcow2"),
    ("raw", "raw"),
    ("vmdk", "vmdk"),
    ("vdi", "vdi"),
    ("vhdx", "vhdx"),
    ("vpc", "vhd"),
    ("ova", "ova"),
    ("ovf", "ovf"),
];

fn extension(format: &str) -> Option<&'static str> {
    FORMATS.iter().find(|(f, _)| *f == format).map(|(_, e)| *e)
}

fn choice_error(key: &str, value: &str, allowed: &[&str]) -> Option<ConfigError> {
    (!allowed.contains(&value)).then(|| {
        ConfigError::on(
            key,
            format!("{key} {value:?} is not one of {}", allowed.join(", ")),
        )
    })
}

struct DiskConvert;

impl Step for DiskConvert {
    type Config = Config;

    fn needs(config: &Config) -> GrantRequest {
        let mut needs = kiln_guest_sdk::needs_output(config.output.as_deref(), DEFAULT_OUTPUT);
        // qemu-img (and tar for an OVA) run on the host, confined to the input disk and
        // the output's place.
        needs.exec_host = true;
        needs
    }

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        if config.formats.is_empty() {
            errors.push(ConfigError::on(
                "formats",
                format!(
                    "formats must name at least one of: {}",
                    FORMATS
                        .iter()
                        .map(|(f, _)| *f)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        for (i, f) in config.formats.iter().enumerate() {
            if extension(f).is_none() {
                errors.push(ConfigError::on(
                    "formats",
                    format!(
                        "unknown format {f:?}: use {}",
                        FORMATS
                            .iter()
                            .map(|(f, _)| *f)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            } else if config.formats[..i].contains(f) {
                errors.push(ConfigError::on("formats", format!("{f} is listed twice")));
            }
        }
        let output = config.output.as_deref().unwrap_or(DEFAULT_OUTPUT);
        if let Err(e) = artifacts::render_output(output, &vars("b", "t", "f", "e")) {
            errors.push(ConfigError::on("output", e));
        }
        if config.formats.len() > 1 && !output.contains("Extension") && !output.contains("Format") {
            errors.push(ConfigError::on(
                "output",
                "with several formats, output must name {{.Extension}} or {{.Format}} so that each gets its own file",
            ));
        }
        if let Some(v) = &config.vmdk_subformat {
            errors.extend(choice_error(
                "vmdk_subformat",
                v,
                &[
                    "monolithicSparse",
                    "monolithicFlat",
                    "streamOptimized",
                    "twoGbMaxExtentSparse",
                    "twoGbMaxExtentFlat",
                ],
            ));
        }
        if let Some(v) = &config.vhdx_subformat {
            errors.extend(choice_error("vhdx_subformat", v, &["dynamic", "fixed"]));
        }
        if let Some(v) = &config.ovf_version {
            errors.extend(choice_error("ovf_version", v, &["1.0", "2.0"]));
        }
        if let Some(v) = &config.vpc_subformat {
            errors.extend(choice_error("vpc_subformat", v, &["fixed", "dynamic"]));
        }
        kiln_guest_sdk::errors_or_ok(errors)
    }
}

fn vars<'a>(
    build: &'a str,
    builder: &'a str,
    format: &'a str,
    ext: &'a str,
) -> [(&'static str, &'a str); 4] {
    [
        ("BuildName", build),
        ("BuilderType", builder),
        ("Format", format),
        ("Extension", ext),
    ]
}

/// `qemu-img convert`'s `-O` and `-o` for a format.
fn qemu_format(config: &Config, format: &str) -> (&'static str, String) {
    match format {
        "vmdk" => (
            "vmdk",
            format!(
                "subformat={}",
                config
                    .vmdk_subformat
                    .as_deref()
                    .unwrap_or("monolithicSparse")
            ),
        ),
        // An appliance's disk is always streamOptimized, as OVF tools expect.
        "ova" | "ovf" => ("vmdk", "subformat=streamOptimized".into()),
        "vhdx" => (
            "vhdx",
            format!(
                "subformat={}",
                config.vhdx_subformat.as_deref().unwrap_or("dynamic")
            ),
        ),
        // Azure takes fixed VHDs; force_size keeps the size exact instead of rounding
        // it to a CHS geometry.
        "vpc" => (
            "vpc",
            format!(
                "subformat={},force_size=on",
                config.vpc_subformat.as_deref().unwrap_or("fixed")
            ),
        ),
        "vdi" => ("vdi", String::new()),
        "raw" => ("raw", String::new()),
        _ => ("qcow2", String::new()),
    }
}

/// Runs `argv` on the host confined to `view`; an error unless it exits 0.
fn run(what: &str, argv: &[String], view: &[(String, bool)]) -> Result<(), String> {
    let status =
        exec::run_confined(argv, &[], None, view).map_err(|e| format!("{what}: {}", e.message))?;
    exited_well(what, &status)
}

/// Nothing unless `status` is a clean exit; otherwise how `what` ended.
fn exited_well(what: &str, status: &ExitStatus) -> Result<(), String> {
    match status {
        ExitStatus::Exited(0) => Ok(()),
        ExitStatus::Exited(code) => Err(format!("{what} failed (exit status {code})")),
        ExitStatus::Killed(sig) => Err(format!("{what} was killed by signal {sig}")),
        ExitStatus::Disconnected => Err(format!("{what}: its output was lost")),
    }
}

/// The script that packs an OVA (descriptor, manifest, disk, in that order, as
/// ustar) and removes the loose files.
const PACK: &str = r#"#!/bin/sh
set -eu
dir="$1"; ova="$2"; shift 2
rm -f "$ova"
tar --format=ustar --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$dir" -cf "$ova" "$@"
rm -rf "$dir"
"#;

fn dir_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(at) => &path[..at],
        None => ".",
    }
}

/// The file of the input artifact that holds the disk: the one the builder's metadata
/// names (`diskName`), else the largest.
fn input_disk(input: &Artifact) -> Result<&ArtifactFile, String> {
    let meta = |k: &str| {
        input
            .metadata
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    if let Some(name) = meta("diskName") {
        if let Some(f) = input
            .files
            .iter()
            .find(|f| artifacts::base_name(&f.path) == name)
        {
            return Ok(f);
        }
    }
    input
        .files
        .iter()
        .max_by_key(|f| f.size)
        .ok_or_else(|| "the input artifact has no files: there is no disk to convert".into())
}

/// One planned output.
struct Planned {
    format: String,
    /// Where the artifact file goes (the OVA, or the disk).
    output: String,
    /// Where qemu-img writes (an appliance's disk beside its descriptor).
    disk: String,
}

impl PostProcessor for DiskConvert {
    fn post_process(
        config: Config,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<PostProcessResult, String> {
        let disk = input_disk(&input)?;
        let meta = |k: &str| {
            input
                .metadata
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        let in_format = meta("diskType").unwrap_or_else(|| "raw".into());
        let template = config.output.as_deref().unwrap_or(DEFAULT_OUTPUT);
        let build_name = artifacts::build_name(build).to_owned();
        let mut planned = Vec::new();
        for format in &config.formats {
            let ext = extension(format).ok_or_else(|| format!("unknown format {format:?}"))?;
            let output = artifacts::render_output(
                template,
                &vars(&build_name, &build.source_type, format, ext),
            )?;
            let absolute =
                exec::absolute(&output).map_err(|e| format!("{output}: {}", e.message))?;
            let stem = absolute
                .strip_suffix(&format!(".{ext}"))
                .unwrap_or(&absolute)
                .to_owned();
            let disk_path = match format.as_str() {
                "ovf" => format!("{stem}-disk001.vmdk"),
                // An OVA's files are made in a directory of their own beside it, packed,
                // and removed.
                "ova" => {
                    let name = artifacts::base_name(&stem).to_owned();
                    format!("{}/.{name}.ova.d/{name}-disk001.vmdk", dir_of(&absolute))
                }
                _ => absolute.clone(),
            };
            planned.push(Planned {
                format: format.clone(),
                output: absolute,
                disk: disk_path,
            });
        }
        // Each output's directory must exist for the confined command to see it:
        // writing the (empty) file creates it; qemu-img replaces the file (tar an
        // OVA's). What the step wrote is its own: the host removes it if the step fails.
        for p in &planned {
            let mut made = vec![&p.disk];
            if p.format == "ova" {
                made.push(&p.output);
            }
            for path in made {
                artifacts::write_file(path, b"").map_err(|e| format!("{path}: {}", e.message))?;
            }
        }
        let mut view = vec![(disk.path.clone(), false)];
        for p in &planned {
            view.push((dir_of(&p.output).to_owned(), true));
        }
        // One qemu-img per format, all at once, each reporting its progress (`-p`) when
        // a bar shows it.
        let progress = ui::progress_shown();
        let commands: Vec<exec::HostCommand> = planned
            .iter()
            .map(|p| {
                let (fmt, opts) = qemu_format(&config, &p.format);
                let mut argv = vec!["qemu-img".to_owned(), "convert".to_owned()];
                if progress {
                    argv.push("-p".to_owned());
                }
                argv.extend(["-f", &in_format, "-O", fmt].map(str::to_owned));
                if !opts.is_empty() {
                    argv.extend(["-o".to_owned(), opts]);
                }
                argv.extend([disk.path.clone(), p.disk.clone()]);
                exec::HostCommand {
                    argv,
                    env: Vec::new(),
                    cwd: None,
                }
            })
            .collect();
        ui::say(&format!(
            "Converting {} ({in_format}) to {}...",
            artifacts::base_name(&disk.path),
            config.formats.join(", ")
        ));
        // A step that fails leaves nothing: the host removes every file it wrote (the
        // placeholders qemu-img filled) and the directories made for them.
        let statuses = exec::run_confined_each(&commands, &view)
            .map_err(|e| format!("qemu-img convert: {}", e.message))?;
        let mut failed = Vec::new();
        for (p, status) in planned.iter().zip(&statuses) {
            if let Err(why) = exited_well("qemu-img convert", status) {
                failed.push(format!("{} ({}): {why}", p.format, p.disk));
            }
        }
        if !failed.is_empty() {
            return Err(failed.join("; "));
        }

        // Each output's artifact files: the disk, or the appliance's.
        let describe = |p: &Planned| -> Result<Vec<ArtifactFile>, String> {
            let mut files = Vec::new();
            if p.format != "ova" && p.format != "ovf" {
                let size = artifacts::file_size(&p.output).map_err(|e| e.message)?;
                files.push(ArtifactFile {
                    path: p.output.clone(),
                    size,
                    sha256: String::new(),
                });
                return Ok(files);
            }
            // The appliance: descriptor and manifest beside the disk.
            let capacity = meta("diskVirtualSize")
                .and_then(|s| s.parse::<u64>().ok())
                .or_else(|| (in_format == "raw").then_some(disk.size).filter(|s| *s > 0))
                .ok_or("an appliance needs the disk's virtual size: the input artifact must come from the qemu builder (its diskVirtualSize), or be a raw disk")?;
            let stem_path = p
                .disk
                .strip_suffix("-disk001.vmdk")
                .unwrap_or(&p.disk)
                .to_owned();
            let stem = artifacts::base_name(&stem_path).to_owned();
            let disk_name = artifacts::base_name(&p.disk).to_owned();
            let disk_size = artifacts::file_size(&p.disk).map_err(|e| e.message)?;
            let name = config.vm_name.clone().unwrap_or_else(|| build_name.clone());
            let descriptor = ovf::descriptor(&ovf::Machine {
                version: config.ovf_version.as_deref().unwrap_or("1.0"),
                name: &name,
                cpus: meta("cpus").and_then(|c| c.parse().ok()).unwrap_or(1),
                memory: meta("memory").and_then(|m| m.parse().ok()).unwrap_or(512),
                efi: meta("firmware").as_deref() == Some("efi"),
                disk_file: &disk_name,
                disk_file_size: disk_size,
                capacity,
            });
            let ovf_path = format!("{stem_path}.ovf");
            let mf_path = format!("{stem_path}.mf");
            artifacts::write_file(&ovf_path, descriptor.as_bytes()).map_err(|e| e.message)?;
            let hash = |path: &str| -> Result<String, String> {
                artifacts::hash_file(path, &[HashAlgorithm::Sha256])
                    .map_err(|e| format!("{path}: {}", e.message))?
                    .pop()
                    .ok_or_else(|| format!("{path}: no digest"))
            };
            let ovf_name = format!("{stem}.ovf");
            let mf_name = format!("{stem}.mf");
            let manifest = ovf::manifest(&[
                (&ovf_name, &hash(&ovf_path)?),
                (&disk_name, &hash(&p.disk)?),
            ]);
            artifacts::write_file(&mf_path, manifest.as_bytes()).map_err(|e| e.message)?;
            if p.format == "ovf" {
                for path in [&ovf_path, &mf_path, &p.disk] {
                    let size = artifacts::file_size(path).map_err(|e| e.message)?;
                    files.push(ArtifactFile {
                        path: path.clone(),
                        size,
                        sha256: String::new(),
                    });
                }
                return Ok(files);
            }
            ui::message(&format!("Packing {}", artifacts::base_name(&p.output)));
            let staging = dir_of(&p.disk).to_owned();
            let argv = vec![
                "sh".to_owned(),
                exec::temp_file(&TempContent::Bytes(PACK.as_bytes().to_vec()), 0o700, ".sh")
                    .map_err(|e| e.message)?,
                staging,
                p.output.clone(),
                ovf_name,
                mf_name,
                disk_name,
            ];
            run(
                "packing the OVA",
                &argv,
                &[(dir_of(&p.output).to_owned(), true)],
            )?;
            let size = artifacts::file_size(&p.output).map_err(|e| e.message)?;
            files.push(ArtifactFile {
                path: p.output.clone(),
                size,
                sha256: String::new(),
            });
            Ok(files)
        };
        let mut files = Vec::new();
        for p in &planned {
            files.extend(describe(p)?);
        }
        let listed: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        // The machine the disks come from, for the next step (a vagrant box's
        // configuration): the input's processors, memory, firmware and disk size.
        let mut metadata: Vec<(String, String)> = input
            .metadata
            .iter()
            .filter(|(k, _)| PASSED_ON.contains(&k.as_str()))
            .cloned()
            .collect();
        metadata.push(("formats".into(), config.formats.join(",")));
        metadata.push((
            "description".into(),
            format!("disk images in: {}", listed.join(", ")),
        ));
        Ok(PostProcessResult {
            artifact: Artifact {
                builder_id: "kiln.post-processor.disk-convert".into(),
                id: listed.join(","),
                metadata,
                files,
            },
            keep_input: false,
        })
    }
}

kiln_guest_sdk::post_processor!(DiskConvert);
