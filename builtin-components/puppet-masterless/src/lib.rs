//! The `puppet-masterless` provisioner, as Packer's: uploads the manifests, modules and
//! hiera configuration the template names into a staging directory on the machine being
//! built and runs `puppet apply` there through the communicator. Puppet's
//! `--detailed-exitcodes` 2 (changes were made) is success, as in Packer.

use std::collections::BTreeMap;

use kiln_guest_sdk::remote;
use kiln_guest_sdk::{host, ui, BuildInfo, ConfigError, GrantRequest, Provisioner, Step};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    clean_staging_directory: bool,
    guest_os_type: Option<String>,
    execute_command: Option<String>,
    extra_arguments: Vec<String>,
    facter: BTreeMap<String, String>,
    hiera_config_path: Option<String>,
    ignore_exit_codes: bool,
    module_paths: Vec<String>,
    manifest_file: Option<String>,
    manifest_dir: Option<String>,
    prevent_sudo: bool,
    puppet_bin_dir: Option<String>,
    staging_directory: Option<String>,
    working_directory: Option<String>,
    elevated_user: Option<String>,
    elevated_password: Option<String>,
}

const DEFAULT_STAGING: &str = "/tmp/packer-puppet-masterless";

/// Packer's default `execute_command` on a Unix guest.
const DEFAULT_EXECUTE: &str = "cd {{.WorkingDir}} && \
    {{if ne .FacterVars \"\"}}{{.FacterVars}} {{end}}\
    {{if .Sudo}}sudo -E {{end}}\
    {{if ne .PuppetBinDir \"\"}}{{.PuppetBinDir}}/{{end}}\
    puppet apply --detailed-exitcodes \
    {{if .Debug}}--debug {{end}}\
    {{if ne .ModulePath \"\"}}--modulepath='{{.ModulePath}}' {{end}}\
    {{if ne .HieraConfigPath \"\"}}--hiera_config='{{.HieraConfigPath}}' {{end}}\
    {{if ne .ManifestDir \"\"}}--manifestdir='{{.ManifestDir}}' {{end}}\
    {{if ne .ExtraArguments \"\"}}{{.ExtraArguments}} {{end}}\
    {{.ManifestFile}}";

struct PuppetMasterless;

fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

impl Step for PuppetMasterless {
    type Config = Config;

    fn needs(config: &Config) -> GrantRequest {
        let mut paths: Vec<String> = [
            &config.manifest_file,
            &config.manifest_dir,
            &config.hiera_config_path,
        ]
        .into_iter()
        .filter_map(set)
        .map(str::to_owned)
        .collect();
        paths.extend(config.module_paths.iter().cloned());
        kiln_guest_sdk::needs_read(paths)
    }

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        let mut errors = vec![];
        if set(&config.manifest_file).is_none() {
            errors.push(ConfigError::on(
                "manifest_file",
                "A manifest_file must be specified.",
            ));
        }
        if let Some(os) = set(&config.guest_os_type) {
            if os != "unix" {
                errors.push(ConfigError::on(
                    "guest_os_type",
                    format!(
                        "guest_os_type {os:?} is not available in Kiln, which runs puppet on \
                         Unix guests only (\"unix\", the default)"
                    ),
                ));
            }
        }
        if set(&config.elevated_user).is_some() || set(&config.elevated_password).is_some() {
            errors.push(ConfigError::on(
                "elevated_user",
                "elevated_user and elevated_password apply to Windows guests, which Kiln \
                 does not provision",
            ));
        }
        if let Some(command) = set(&config.execute_command) {
            if let Err(e) = render(command, &Values::checking()) {
                errors.push(ConfigError::on("execute_command", e));
            }
        }
        kiln_guest_sdk::errors_or_ok(errors)
    }
}

/// The values `execute_command` may name.
#[derive(Default)]
struct Values {
    text: BTreeMap<&'static str, String>,
    sudo: bool,
}

/// The names `execute_command` may use.
const NAMES: [&str; 9] = [
    "WorkingDir",
    "FacterVars",
    "PuppetBinDir",
    "ModulePath",
    "ModulePathJoiner",
    "HieraConfigPath",
    "ManifestDir",
    "ManifestFile",
    "ExtraArguments",
];

impl Values {
    /// Every name, empty: what a command is checked against before the build runs.
    fn checking() -> Values {
        Values {
            text: NAMES.iter().map(|n| (*n, String::new())).collect(),
            sudo: true,
        }
    }
}

/// Renders the Go template forms Packer's puppet commands use: `{{.Name}}`,
/// `{{if .Sudo}}…{{end}}`, `{{if .Debug}}…{{end}}` and `{{if ne .Name ""}}…{{end}}`.
fn render(template: &str, values: &Values) -> Result<String, String> {
    let mut out = String::new();
    // Whether each open `if` shows its body.
    let mut shown: Vec<bool> = vec![];
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if shown.iter().all(|s| *s) {
            out.push_str(&rest[..start]);
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed \"{{{{\" in {template:?}"))?;
        let action = after[..end].trim();
        rest = &after[end + 2..];
        let lookup = |name: &str| -> Result<String, String> {
            let key = name
                .strip_prefix('.')
                .ok_or_else(|| format!("{{{{{action}}}}} names no value"))?;
            match key {
                "Sudo" => Ok(values.sudo.to_string()),
                "Debug" => Ok(String::new()),
                _ => values.text.get(key).cloned().ok_or_else(|| {
                    format!(
                        "unknown variable {{{{.{key}}}}}; known: .WorkingDir, .FacterVars, .Sudo, \
                         .PuppetBinDir, .ModulePath, .ModulePathJoiner, .HieraConfigPath, \
                         .ManifestDir, .ManifestFile, .ExtraArguments, .Debug"
                    )
                }),
            }
        };
        if let Some(cond) = action.strip_prefix("if ") {
            let cond = cond.trim();
            let truth = if let Some(args) = cond.strip_prefix("ne ") {
                let (name, other) = args
                    .trim()
                    .split_once(' ')
                    .ok_or_else(|| format!("{{{{{action}}}}}: ne takes two values"))?;
                lookup(name)? != other.trim().trim_matches('"')
            } else {
                let v = lookup(cond)?;
                !v.is_empty() && v != "false"
            };
            shown.push(truth);
        } else if action == "end" {
            shown
                .pop()
                .ok_or_else(|| format!("{{{{end}}}} without {{{{if}}}} in {template:?}"))?;
        } else if shown.iter().all(|s| *s) {
            out.push_str(&lookup(action)?);
        } else {
            lookup(action)?;
        }
    }
    if !shown.is_empty() {
        return Err(format!("{{{{if}}}} without {{{{end}}}} in {template:?}"));
    }
    out.push_str(rest);
    Ok(out)
}

/// Creates `dir` open to every user (puppet may run as another user through sudo).
fn create_dir(dir: &str, sudo: bool) -> Result<(), String> {
    ui::message(&format!("Creating directory: {dir}"));
    let sudo = if sudo { "sudo " } else { "" };
    if remote::run_code(&format!("{sudo}mkdir -p {}", remote::quote(dir)))? != 0 {
        return Err("Non-zero exit status.".into());
    }
    if remote::run_code(&format!("{sudo}chmod 0777 {}", remote::quote(dir)))? != 0 {
        return Err("Non-zero exit status. See output above for more info.".into());
    }
    Ok(())
}

fn upload_dir(dst: &str, src: &str, sudo: bool) -> Result<(), String> {
    create_dir(dst, sudo)?;
    remote::upload_dir(src, dst).map_err(|e| e.message)
}

fn kind(attribute: &str, path: &str) -> Result<host::PathKind, String> {
    match host::kind(path) {
        Ok(host::PathKind::Missing) => Err(format!(
            "{attribute} is invalid: stat {path}: no such file or directory"
        )),
        Ok(k) => Ok(k),
        Err(e) => Err(format!("{attribute} is invalid: {}", e.message)),
    }
}

impl Provisioner for PuppetMasterless {
    fn provision(config: Config, build: &BuildInfo) -> Result<(), String> {
        // Packer's checks of the host paths, before anything runs.
        let manifest = set(&config.manifest_file).ok_or("A manifest_file must be specified.")?;
        let manifest_is_dir = kind("manifest_file", manifest)? == host::PathKind::Directory;
        if let Some(hiera) = set(&config.hiera_config_path) {
            if kind("hiera_config_path", hiera)? == host::PathKind::Directory {
                return Err("hiera_config_path must point to a file".into());
            }
        }
        if let Some(dir) = set(&config.manifest_dir) {
            if kind("manifest_dir", dir)? != host::PathKind::Directory {
                return Err("manifest_dir must point to a directory".into());
            }
        }
        for (i, path) in config.module_paths.iter().enumerate() {
            if kind(&format!("module_path[{i}]"), path)? != host::PathKind::Directory {
                return Err(format!("module_path[{i}] must point to a directory"));
            }
        }
        let sudo = !config.prevent_sudo;
        let staging = set(&config.staging_directory)
            .unwrap_or(DEFAULT_STAGING)
            .trim_end_matches('/')
            .to_owned();
        let working = set(&config.working_directory)
            .unwrap_or(&staging)
            .to_owned();

        ui::say("Provisioning with Puppet...");
        ui::message("Creating Puppet staging directory...");
        create_dir(&staging, sudo).map_err(|e| format!("Error creating staging directory: {e}"))?;
        let mut hiera_remote = String::new();
        if let Some(hiera) = set(&config.hiera_config_path) {
            ui::message("Uploading hiera configuration...");
            hiera_remote = format!("{staging}/hiera.yaml");
            remote::upload_file(hiera, &hiera_remote, None)
                .map_err(|e| format!("Error uploading hiera config: {}", e.message))?;
        }
        let mut manifest_dir_remote = String::new();
        if let Some(dir) = set(&config.manifest_dir) {
            ui::message(&format!("Uploading manifest directory from: {dir}"));
            manifest_dir_remote = format!("{staging}/manifests");
            upload_dir(&manifest_dir_remote, dir, sudo)
                .map_err(|e| format!("Error uploading manifest dir: {e}"))?;
        }
        let mut module_paths = vec![];
        for (i, path) in config.module_paths.iter().enumerate() {
            ui::message(&format!("Uploading local modules from: {path}"));
            let target = format!("{staging}/module-{i}");
            upload_dir(&target, path, sudo).map_err(|e| format!("Error uploading modules: {e}"))?;
            module_paths.push(target);
        }
        ui::message("Uploading manifests...");
        let manifests = format!("{staging}/manifests");
        create_dir(&manifests, sudo).map_err(|e| {
            format!("Error uploading manifests: Error creating manifests directory: {e}")
        })?;
        let manifest_remote = if manifest_is_dir {
            ui::message(&format!("Uploading manifest directory from: {manifest}"));
            upload_dir(&manifests, manifest, sudo).map_err(|e| {
                format!("Error uploading manifests: Error uploading manifest dir: {e}")
            })?;
            manifests.clone()
        } else {
            ui::message(&format!("Uploading manifest file from: {manifest}"));
            let dst = format!(
                "{manifests}/{}",
                kiln_guest_sdk::artifacts::base_name(manifest)
            );
            remote::upload_file(manifest, &dst, None)
                .map_err(|e| format!("Error uploading manifests: {}", e.message))?;
            dst
        };

        let mut facter = config.facter.clone();
        facter.insert(
            "packer_build_name".into(),
            kiln_guest_sdk::artifacts::build_name(build).to_owned(),
        );
        facter.insert("packer_builder_type".into(), build.source_type.clone());
        let facter_vars: Vec<String> = facter
            .iter()
            .map(|(k, v)| format!("FACTER_{k}='{v}'"))
            .collect();
        let mut values = Values {
            sudo,
            ..Values::default()
        };
        let t = &mut values.text;
        t.insert("WorkingDir", working);
        t.insert("FacterVars", facter_vars.join(" "));
        t.insert(
            "PuppetBinDir",
            set(&config.puppet_bin_dir).unwrap_or_default().to_owned(),
        );
        t.insert("ModulePath", module_paths.join(":"));
        t.insert("ModulePathJoiner", ":".into());
        t.insert("HieraConfigPath", hiera_remote);
        t.insert("ManifestDir", manifest_dir_remote);
        t.insert("ManifestFile", manifest_remote);
        let extra = render(&config.extra_arguments.join(" "), &values)?;
        values.text.insert("ExtraArguments", extra);
        let template = set(&config.execute_command).unwrap_or(DEFAULT_EXECUTE);
        let command = render(template, &values)?;
        ui::message(&format!("Running Puppet: {command}"));
        let code = remote::run_code(&command)
            .map_err(|e| format!("Got an error starting command: {e}"))?;
        if code != 0 && code != 2 && !config.ignore_exit_codes {
            return Err(format!("Puppet exited with a non-zero exit status: {code}"));
        }
        if config.clean_staging_directory {
            let sudo = if sudo { "sudo " } else { "" };
            if remote::run_code(&format!("{sudo}rm -fr {}", remote::quote(&staging)))? != 0 {
                return Err("Error removing staging directory: Non-zero exit status.".into());
            }
        }
        Ok(())
    }
}

kiln_guest_sdk::provisioner!(PuppetMasterless);
