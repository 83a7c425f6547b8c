//! The `ansible-local` provisioner, as Packer's: uploads the playbooks, roles, variables
//! and inventory the template names into a staging directory on the machine being
//! built, then runs `ansible-playbook` there, against the machine itself (`-c local`),
//! through the communicator. What it reads on the host is what its configuration names.

use std::hash::{BuildHasher, Hasher};

use kiln_guest_sdk::remote;
use kiln_guest_sdk::{host, ui, BuildInfo, ConfigError, GrantRequest, Provisioner, Step};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    command: Option<String>,
    extra_arguments: Vec<String>,
    group_vars: Option<String>,
    host_vars: Option<String>,
    playbook_dir: Option<String>,
    playbook_file: Option<String>,
    playbook_files: Vec<String>,
    playbook_paths: Vec<String>,
    role_paths: Vec<String>,
    collection_paths: Vec<String>,
    staging_directory: Option<String>,
    clean_staging_directory: bool,
    inventory_file: Option<String>,
    inventory_groups: Vec<String>,
    galaxy_file: Option<String>,
    galaxy_command: Option<String>,
    galaxy_force_install: bool,
    galaxy_roles_path: Option<String>,
    galaxy_collections_path: Option<String>,
}

const DEFAULT_COMMAND: &str = "ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook";
const DEFAULT_STAGING: &str = "/tmp/packer-provisioner-ansible-local";
/// The inventory Kiln writes when the template names none.
const INVENTORY_NAME: &str = "packer-provisioner-ansible-local-inventory";
/// What Packer's builders without an HTTP server give as `PackerHTTPAddr`.
const NO_HTTP_ADDR: &str = "ERR_HTTP_ADDR_NOT_IMPLEMENTED_BY_BUILDER";

struct AnsibleLocal;

fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

impl Config {
    /// Every host path the configuration names, each read by the step.
    fn host_paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = [
            &self.playbook_file,
            &self.playbook_dir,
            &self.group_vars,
            &self.host_vars,
            &self.inventory_file,
            &self.galaxy_file,
        ]
        .into_iter()
        .filter_map(set)
        .map(str::to_owned)
        .collect();
        for list in [
            &self.playbook_files,
            &self.playbook_paths,
            &self.role_paths,
            &self.collection_paths,
        ] {
            paths.extend(list.iter().filter(|p| !p.is_empty()).cloned());
        }
        paths
    }
}

impl Step for AnsibleLocal {
    type Config = Config;

    fn needs(config: &Config) -> GrantRequest {
        kiln_guest_sdk::needs_read(config.host_paths())
    }

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        let mut errors = vec![];
        match (set(&config.playbook_file), config.playbook_files.is_empty()) {
            (Some(_), false) => errors.push(ConfigError::on(
                "playbook_files",
                "Either playbook_file or playbook_files can be specified, not both",
            )),
            (None, true) => errors.push(ConfigError::on(
                "playbook_file",
                "Either playbook_file or playbook_files must be specified",
            )),
            _ => {}
        }
        kiln_guest_sdk::errors_or_ok(errors)
    }
}

/// The last component of `path`.
fn base(path: &str) -> &str {
    kiln_guest_sdk::artifacts::base_name(path)
}

/// `path` as a relative path below the staging directory: `..` and a leading `/` cannot
/// leave it.
fn below(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != "." && *c != "..")
        .collect::<Vec<_>>()
        .join("/")
}

/// Checks that each `(attribute, path)` is a file (or, with `dir`, a directory) on the
/// host, with Packer's messages.
fn check_paths(paths: &[(&str, &str)], dir: bool) -> Result<(), String> {
    for (attribute, path) in paths {
        let kind = host::kind(path)
            .map_err(|e| format!("{attribute}: {path} is invalid: {}", e.message))?;
        match (kind, dir) {
            (host::PathKind::Missing, _) => {
                return Err(format!(
                    "{attribute}: {path} is invalid: stat {path}: no such file or directory"
                ))
            }
            (host::PathKind::Directory, false) => {
                return Err(format!("{attribute}: {path} must point to a file"))
            }
            (host::PathKind::File, true) => {
                return Err(format!("{attribute}: {path} must point to a directory"))
            }
            _ => {}
        }
    }
    Ok(())
}

fn create_dir(dir: &str) -> Result<(), String> {
    ui::say(&format!("Creating directory: {dir}"));
    match remote::run_code(&format!("mkdir -p {}", remote::quote(dir)))? {
        0 => Ok(()),
        _ => Err("Non-zero exit status. See output above for more information.".into()),
    }
}

fn upload_dir(dst: &str, src: &str) -> Result<(), String> {
    create_dir(dst)?;
    remote::upload_dir(src, dst).map_err(|e| e.message)
}

fn upload_file(dst: &str, src: &str) -> Result<(), String> {
    remote::upload_file(src, dst, None).map_err(|e| format!("Error uploading {src}: {}", e.message))
}

/// A name for this build's staging directory. Packer names it by a time-ordered UUID.
fn staging_name(build: &BuildInfo) -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(build.build_name.as_bytes());
    let a = h.finish();
    h.write_u64(a);
    let b = h.finish();
    format!(
        "{DEFAULT_STAGING}/{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// Claims a staging directory of this build's own on the machine: its name, made there
/// at once (`mkdir` refuses one that exists). The name comes from the step's seeded
/// generator, the same for two runs of one template started in the same second (or
/// with one SOURCE_DATE_EPOCH); when it is taken, the machine's `mktemp` makes one.
/// Parallel builds and such runs never share a directory.
fn claim_staging(build: &BuildInfo) -> Result<String, String> {
    let name = staging_name(build);
    let base = remote::quote(DEFAULT_STAGING);
    let make = format!(
        "mkdir -p {base} && mkdir {} 2>/dev/null",
        remote::quote(&name)
    );
    if remote::run_code(&make)? == 0 {
        return Ok(name);
    }
    let made = remote::output(&format!("mktemp -d {base}/XXXXXXXXXXXX"))
        .map_err(|e| format!("Error creating staging directory: {e}"))?;
    let made = String::from_utf8_lossy(&made).trim().to_owned();
    if made.is_empty() {
        return Err("Error creating staging directory: mktemp named none".into());
    }
    Ok(made)
}

impl Provisioner for AnsibleLocal {
    fn provision(config: Config, build: &BuildInfo) -> Result<(), String> {
        // Packer checks the host paths before anything runs; so does Kiln.
        let mut files = vec![];
        if let Some(f) = set(&config.playbook_file) {
            files.push(("playbook_file", f));
        }
        files.extend(
            config
                .playbook_files
                .iter()
                .map(|f| ("playbook_files", f.as_str())),
        );
        if let Some(f) = set(&config.inventory_file) {
            files.push(("inventory_file", f));
        }
        if let Some(f) = set(&config.galaxy_file) {
            files.push(("galaxy_file", f));
        }
        check_paths(&files, false)?;
        let mut dirs = vec![];
        for (attribute, value) in [
            ("playbook_dir", &config.playbook_dir),
            ("group_vars", &config.group_vars),
            ("host_vars", &config.host_vars),
        ] {
            if let Some(d) = set(value) {
                dirs.push((attribute, d));
            }
        }
        for (attribute, list) in [
            ("playbook_paths", &config.playbook_paths),
            ("role_paths", &config.role_paths),
            ("collection_paths", &config.collection_paths),
        ] {
            dirs.extend(list.iter().map(|d| (attribute, d.as_str())));
        }
        check_paths(&dirs, true)?;

        let staging = match set(&config.staging_directory) {
            Some(dir) => dir.to_owned(),
            None => claim_staging(build)?,
        };
        let staging = staging.trim_end_matches('/').to_owned();
        let in_staging = |rel: &str| format!("{staging}/{rel}");
        let command = set(&config.command).unwrap_or(DEFAULT_COMMAND);
        let galaxy_command = set(&config.galaxy_command).unwrap_or("ansible-galaxy");
        let roles_path = set(&config.galaxy_roles_path)
            .map_or_else(|| in_staging("galaxy_roles"), str::to_owned);
        let collections_path = set(&config.galaxy_collections_path)
            .map_or_else(|| in_staging("galaxy_collections"), str::to_owned);

        ui::say("Provisioning with Ansible...");
        match set(&config.playbook_dir) {
            Some(dir) => {
                ui::say("Uploading Playbook directory to Ansible staging directory...");
                upload_dir(&staging, dir)
                    .map_err(|e| format!("Error uploading playbook_dir directory: {e}"))?;
            }
            None => {
                ui::say("Creating Ansible staging directory...");
                create_dir(&staging)
                    .map_err(|e| format!("Error creating staging directory: {e}"))?;
            }
        }
        // The playbooks to run, as paths below the staging directory.
        let mut playbooks = vec![];
        if let Some(file) = set(&config.playbook_file) {
            ui::say("Uploading main Playbook file...");
            let dst = in_staging(base(file));
            upload_file(&dst, file).map_err(|e| format!("Error uploading main playbook: {e}"))?;
            playbooks.push(dst);
        }
        let playbook_dir = set(&config.playbook_dir).map(|d| below(d) + "/");
        for file in &config.playbook_files {
            let rel = below(file);
            // A playbook inside playbook_dir is already there.
            if let Some(inside) = playbook_dir.as_deref().and_then(|d| rel.strip_prefix(d)) {
                playbooks.push(in_staging(inside));
                continue;
            }
            ui::say(&format!("Uploading playbook file: {file}"));
            let dst = in_staging(&rel);
            if let Some((dir, _)) = dst.rsplit_once('/') {
                create_dir(dir)
                    .map_err(|e| format!("Error uploading playbook file: {file} [{e}]"))?;
            }
            upload_file(&dst, file)
                .map_err(|e| format!("Error uploading playbook: {file} [{e}]"))?;
            playbooks.push(dst);
        }
        let inventory = match set(&config.inventory_file) {
            Some(file) => {
                ui::say("Uploading inventory file...");
                let dst = in_staging(base(file));
                upload_file(&dst, file)
                    .map_err(|e| format!("Error uploading inventory file: {e}"))?;
                dst
            }
            None => {
                let content = match config.inventory_groups.is_empty() {
                    true => "127.0.0.1".to_owned(),
                    false => config
                        .inventory_groups
                        .iter()
                        .map(|g| format!("[{g}]\n127.0.0.1\n"))
                        .collect(),
                };
                ui::say("Uploading inventory file...");
                let dst = in_staging(INVENTORY_NAME);
                remote::upload_bytes(content.as_bytes(), &dst, None)
                    .map_err(|e| format!("Error uploading inventory file: {}", e.message))?;
                dst
            }
        };
        let mut galaxy = None;
        if let Some(file) = set(&config.galaxy_file) {
            ui::say("Uploading galaxy file...");
            let dst = in_staging(base(file));
            upload_file(&dst, file).map_err(|e| format!("Error uploading galaxy file: {e}"))?;
            let text =
                host::read(file, 1 << 20).map_err(|e| format!("galaxy_file: {}", e.message))?;
            let text = String::from_utf8_lossy(&text).into_owned();
            let has = |key: &str| text.lines().any(|l| l.starts_with(key));
            galaxy = Some((dst, has("roles:"), has("collections:")));
        }
        for (attribute, value, dst) in [
            ("group_vars", &config.group_vars, "group_vars"),
            ("host_vars", &config.host_vars, "host_vars"),
        ] {
            if let Some(src) = set(value) {
                ui::say(&format!("Uploading {dst} directory..."));
                upload_dir(&in_staging(dst), src)
                    .map_err(|e| format!("Error uploading {attribute} directory: {e}"))?;
            }
        }
        if !config.role_paths.is_empty() {
            ui::say("Uploading role directories...");
            for src in &config.role_paths {
                upload_dir(&in_staging(&format!("roles/{}", base(src))), src)
                    .map_err(|e| format!("Error uploading roles: {e}"))?;
            }
        }
        if !config.collection_paths.is_empty() {
            ui::say("Uploading collection directories...");
            for src in &config.collection_paths {
                upload_dir(&in_staging(&format!("collections/{}", base(src))), src)
                    .map_err(|e| format!("Error uploading collections: {e}"))?;
            }
        }
        if !config.playbook_paths.is_empty() {
            ui::say("Uploading additional Playbooks...");
            create_dir(&in_staging("playbooks"))
                .map_err(|e| format!("Error creating playbooks directory: {e}"))?;
            for src in &config.playbook_paths {
                upload_dir(&in_staging(&format!("playbooks/{}", base(src))), src)
                    .map_err(|e| format!("Error uploading playbooks: {e}"))?;
            }
        }

        // Packer's extra variables, word for word (the `-o IdentitiesOnly=yes` inside
        // the quotes included).
        let build_name = kiln_guest_sdk::artifacts::build_name(build);
        let builder_type = kiln_guest_sdk::artifacts::variable(build, "PACKER_BUILDER_TYPE")
            .unwrap_or(&build.source_type);
        let http_addr =
            kiln_guest_sdk::artifacts::variable(build, "PACKER_HTTP_ADDR").unwrap_or(NO_HTTP_ADDR);
        let mut extra = format!(
            " --extra-vars \"packer_build_name={build_name} packer_builder_type={builder_type} \
             packer_http_addr={http_addr} -o IdentitiesOnly=yes\" "
        );
        extra.push_str(&config.extra_arguments.join(" "));
        let mut env = String::new();
        if let Some((file, has_roles, has_collections)) = &galaxy {
            let force = if config.galaxy_force_install {
                " -f"
            } else {
                ""
            };
            if *has_roles || !has_collections {
                galaxy_run(
                    &staging,
                    galaxy_command,
                    &format!("install -r {file} -p {roles_path}{force}"),
                )?;
            }
            if *has_collections {
                galaxy_run(
                    &staging,
                    galaxy_command,
                    &format!("collection install -r {file} -p {collections_path}{force}"),
                )?;
                env.push_str(&format!(
                    " ANSIBLE_COLLECTIONS_PATH=$ANSIBLE_COLLECTIONS_PATH:{collections_path}"
                ));
            }
            if *has_roles {
                env.push_str(&format!(
                    " ANSIBLE_ROLES_PATH=$ANSIBLE_ROLES_PATH:{roles_path}"
                ));
            }
        }
        for playbook in &playbooks {
            let line = format!(
                "cd {staging} && {env} {command} {playbook}{extra} -c local -i {inventory}"
            );
            ui::say(&format!("Executing Ansible: {line}"));
            match remote::run_code(&line)? {
                0 => {}
                127 => {
                    return Err(format!(
                        "Error executing Ansible: {command} could not be found. Verify that it \
                         is available on the\nPATH after connecting to the machine."
                    ))
                }
                code => {
                    return Err(format!(
                        "Error executing Ansible: Non-zero exit status: {code}"
                    ))
                }
            }
        }
        if config.clean_staging_directory {
            ui::say("Removing staging directory...");
            ui::say(&format!("Removing directory: {staging}"));
            if remote::run_code(&format!("rm -rf {}", remote::quote(&staging)))? != 0 {
                return Err(
                    "Error removing staging directory: Non-zero exit status. See output \
                            above for more information."
                        .into(),
                );
            }
        }
        Ok(())
    }
}

/// Runs `ansible-galaxy` in the staging directory.
fn galaxy_run(staging: &str, galaxy: &str, args: &str) -> Result<(), String> {
    let line = format!("cd {staging} && {galaxy} {args}");
    ui::say(&format!("Executing Ansible Galaxy: {line}"));
    match remote::run_code(&line)? {
        0 => Ok(()),
        code => Err(format!(
            "Error executing Ansible: Error executing Ansible Galaxy: Non-zero exit status: {code}"
        )),
    }
}

kiln_guest_sdk::provisioner!(AnsibleLocal);
