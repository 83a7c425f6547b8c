//! The `salt-masterless` provisioner, as Packer's: uploads the local state tree (and
//! pillar roots, minion configuration, grains) to the machine being built, moves them
//! where `salt-call --local` looks, and runs it through the communicator.

use kiln_guest_sdk::remote;
use kiln_guest_sdk::{host, ui, BuildInfo, ConfigError, GrantRequest, Provisioner, Step};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    skip_bootstrap: bool,
    bootstrap_args: Option<String>,
    disable_sudo: bool,
    custom_state: Option<String>,
    minion_config: Option<String>,
    grains_file: Option<String>,
    local_state_tree: Option<String>,
    local_pillar_roots: Option<String>,
    remote_state_tree: Option<String>,
    remote_pillar_roots: Option<String>,
    temp_config_dir: Option<String>,
    no_exit_on_failure: bool,
    log_level: Option<String>,
    salt_call_args: Option<String>,
    salt_bin_dir: Option<String>,
    guest_os_type: Option<String>,
    formulas: Vec<String>,
}

const CONFIG_DIR: &str = "/etc/salt";
const TEMP_DIR: &str = "/tmp/salt";
const STATE_ROOT: &str = "/srv/salt";
const PILLAR_ROOT: &str = "/srv/pillar";
const BOOTSTRAP_FETCH: &str = "curl -L https://bootstrap.saltproject.io -o /tmp/install_salt.sh || wget -O /tmp/install_salt.sh https://bootstrap.saltproject.io";
const BOOTSTRAP_RUN: &str = "sh /tmp/install_salt.sh";

struct SaltMasterless;

fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

impl Config {
    /// `salt-call`'s arguments after `--local`, as Packer builds them.
    fn cmd_args(&self) -> String {
        let mut args = match set(&self.custom_state) {
            None => " state.highstate".to_owned(),
            Some(state) => format!(" state.sls {state}"),
        };
        if set(&self.minion_config).is_none() {
            let files = set(&self.remote_state_tree).unwrap_or(STATE_ROOT);
            let pillar = set(&self.remote_pillar_roots).unwrap_or(PILLAR_ROOT);
            args.push_str(&format!(" --file-root={files} --pillar-root={pillar}"));
        }
        if !self.no_exit_on_failure {
            args.push_str(" --retcode-passthrough");
        }
        args.push_str(&format!(" -l {}", set(&self.log_level).unwrap_or("info")));
        if let Some(extra) = set(&self.salt_call_args) {
            args.push(' ');
            args.push_str(extra);
        }
        args
    }
}

impl Step for SaltMasterless {
    type Config = Config;

    fn needs(config: &Config) -> GrantRequest {
        let paths: Vec<String> = [
            &config.local_state_tree,
            &config.local_pillar_roots,
            &config.minion_config,
            &config.grains_file,
        ]
        .into_iter()
        .filter_map(set)
        .map(str::to_owned)
        .collect();
        kiln_guest_sdk::needs_read(paths)
    }

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        let mut errors = vec![];
        if set(&config.local_state_tree).is_none() {
            errors.push(ConfigError::on(
                "local_state_tree",
                "local_state_tree cannot be empty",
            ));
        }
        if set(&config.minion_config).is_some()
            && (set(&config.remote_state_tree).is_some()
                || set(&config.remote_pillar_roots).is_some())
        {
            errors.push(ConfigError::on(
                "minion_config",
                "remote_state_tree and remote_pillar_roots only apply when minion_config is not used",
            ));
        }
        if let Some(os) = set(&config.guest_os_type) {
            if !os.eq_ignore_ascii_case("unix") {
                errors.push(ConfigError::on(
                    "guest_os_type",
                    format!("guest_os_type {os:?} is not available in Kiln, which runs salt on Unix guests only"),
                ));
            }
        }
        if !config.formulas.is_empty() {
            errors.push(ConfigError::on(
                "formulas",
                "Kiln does not download Salt formulas from git yet: clone them into \
                 local_state_tree before the build and remove formulas",
            ));
        }
        kiln_guest_sdk::errors_or_ok(errors)
    }
}

struct Salt {
    sudo: bool,
}

impl Salt {
    fn sudo(&self, command: &str) -> String {
        if self.sudo {
            format!("sudo {command}")
        } else {
            command.to_owned()
        }
    }

    fn create_dir(&self, dir: &str) -> Result<(), String> {
        ui::message(&format!("Creating directory: {dir}"));
        match remote::run_code(&format!("mkdir -p {}", remote::quote(dir)))? {
            0 => Ok(()),
            _ => Err("Non-zero exit status.".into()),
        }
    }

    fn move_path(&self, dst: &str, src: &str) -> Result<(), String> {
        ui::message(&format!("Moving {src} to {dst}"));
        match remote::run_code(&self.sudo(&format!(
            "mv {} {}",
            remote::quote(src),
            remote::quote(dst)
        )))? {
            0 => Ok(()),
            code => Err(format!(
                "Unable to move {src} to {dst}: Bad exit status: {code}"
            )),
        }
    }

    /// Replaces `dst` with the uploaded tree `src`, as Packer does: what was at `dst` is
    /// removed first.
    fn replace_tree(&self, dst: &str, src: &str, what: &str) -> Result<(), String> {
        ui::message(&format!("Verifying Path: {dst}"));
        if remote::run_code(&format!("stat {}", remote::quote(dst)))? == 0 {
            match remote::run_code(&self.sudo(&format!("rm -rf {}", remote::quote(dst))))? {
                0 => {}
                _ => return Err(format!("Unable to clear {what}: Non-zero exit status.")),
            }
        }
        self.move_path(dst, src)
    }

    fn upload_config(&self, src: &str, temp: &str, name: &str, what: &str) -> Result<(), String> {
        let dst = format!("{temp}/{name}");
        remote::upload_file(src, &dst, None).map_err(|e| {
            format!(
                "Error uploading local {what} file to remote: Error uploading {src}: {}",
                e.message
            )
        })?;
        ui::message(&format!("Make sure directory {CONFIG_DIR} exists"));
        self.create_dir_sudo(CONFIG_DIR)
            .map_err(|e| format!("Error creating remote salt configuration directory: {e}"))?;
        self.move_path(&format!("{CONFIG_DIR}/{name}"), &dst)
            .map_err(|e| format!("Unable to move {temp}/{name} to {CONFIG_DIR}/{name}: {e}"))
    }

    fn create_dir_sudo(&self, dir: &str) -> Result<(), String> {
        ui::message(&format!("Creating directory: {dir}"));
        match remote::run_code(&self.sudo(&format!("mkdir -p {}", remote::quote(dir))))? {
            0 => Ok(()),
            _ => Err("Non-zero exit status.".into()),
        }
    }
}

fn check(attribute: &str, path: &str, dir: bool) -> Result<(), String> {
    match host::kind(path) {
        Ok(host::PathKind::Missing) => Err(format!(
            "{attribute}: path '{path}' is invalid: stat {path}: no such file or directory"
        )),
        Ok(host::PathKind::File) if dir => Err(format!(
            "{attribute}: path '{path}' must point to a directory"
        )),
        Ok(host::PathKind::Directory) if !dir => {
            Err(format!("{attribute}: path '{path}' must point to a file"))
        }
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "{attribute}: path '{path}' is invalid: {}",
            e.message
        )),
    }
}

impl Provisioner for SaltMasterless {
    fn provision(config: Config, _build: &BuildInfo) -> Result<(), String> {
        let states = set(&config.local_state_tree).ok_or("local_state_tree cannot be empty")?;
        check("local_state_tree", states, true)?;
        if let Some(p) = set(&config.local_pillar_roots) {
            check("local_pillar_roots", p, true)?;
        }
        if let Some(f) = set(&config.minion_config) {
            check("minion_config", f, false)?;
        }
        if let Some(f) = set(&config.grains_file) {
            check("grains_file", f, false)?;
        }
        let salt = Salt {
            sudo: !config.disable_sudo,
        };
        let temp = set(&config.temp_config_dir)
            .unwrap_or(TEMP_DIR)
            .trim_end_matches('/')
            .to_owned();

        ui::say("Provisioning with Salt...");
        if !config.skip_bootstrap {
            ui::message("Downloading saltstack bootstrap to /tmp/install_salt.sh");
            if remote::run_code(BOOTSTRAP_FETCH)? != 0 {
                return Err(
                    "Unable to download Salt: the bootstrap script could not be fetched".into(),
                );
            }
            let command = format!(
                "{} {}",
                salt.sudo(BOOTSTRAP_RUN),
                set(&config.bootstrap_args).unwrap_or_default()
            );
            ui::message(&format!("Installing Salt with command {command}"));
            if remote::run_code(&command)? != 0 {
                return Err("Unable to install Salt: the bootstrap script failed".into());
            }
        }
        ui::message(&format!("Creating remote temporary directory: {temp}"));
        salt.create_dir(&temp)
            .map_err(|e| format!("Error creating remote temporary directory: {e}"))?;
        if let Some(minion) = set(&config.minion_config) {
            ui::message(&format!("Uploading minion config: {minion}"));
            salt.upload_config(minion, &temp, "minion", "minion config")?;
        }
        if let Some(grains) = set(&config.grains_file) {
            ui::message(&format!("Uploading grains file: {grains}"));
            salt.upload_config(grains, &temp, "grains", "grains")?;
        }
        ui::message(&format!("Uploading local state tree: {states}"));
        let uploaded = format!("{temp}/states");
        salt.create_dir(&uploaded)
            .and_then(|()| remote::upload_dir(states, &uploaded).map_err(|e| e.message))
            .map_err(|e| format!("Error uploading local state tree to remote: {e}"))?;
        let state_root = set(&config.remote_state_tree).unwrap_or(STATE_ROOT);
        salt.replace_tree(state_root, &uploaded, "salt tree")
            .map_err(|e| format!("Unable to move {temp}/states to {state_root}: {e}"))?;
        if let Some(pillar) = set(&config.local_pillar_roots) {
            ui::message(&format!("Uploading local pillar roots: {pillar}"));
            let uploaded = format!("{temp}/pillar");
            salt.create_dir(&uploaded)
                .and_then(|()| remote::upload_dir(pillar, &uploaded).map_err(|e| e.message))
                .map_err(|e| format!("Error uploading local pillar roots to remote: {e}"))?;
            let pillar_root = set(&config.remote_pillar_roots).unwrap_or(PILLAR_ROOT);
            salt.replace_tree(pillar_root, &uploaded, "pillar root")
                .map_err(|e| format!("Unable to move {temp}/pillar to {pillar_root}: {e}"))?;
        }
        let args = config.cmd_args();
        ui::message(&format!("Running: salt-call --local{args}"));
        let salt_call = match set(&config.salt_bin_dir) {
            Some(dir) => format!("{}/salt-call", dir.trim_end_matches('/')),
            None => "salt-call".to_owned(),
        };
        let code = remote::run_code(&salt.sudo(&format!("{salt_call} --local{args}")))?;
        if code != 0 && !config.no_exit_on_failure {
            return Err(format!(
                "Error executing salt-call: Bad exit status: {code}"
            ));
        }
        Ok(())
    }
}

kiln_guest_sdk::provisioner!(SaltMasterless);
