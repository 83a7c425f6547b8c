//! The `ansible` provisioner, as Packer's: `ansible-playbook` runs on this host against
//! the machine being built, with an inventory Kiln writes. Host execution comes with the
//! builtin (as with `shell-local`: what runs is what the template's author wrote).
//!
//! Where Packer puts an SSH proxy of its own between Ansible and its communicator, Kiln
//! connects Ansible straight to the machine when the build's communicator is SSH (with
//! `use_proxy` unset or false): the same login, no adapter in between. For any other
//! communicator (the container builder's), and when the template sets `use_proxy = true`,
//! Kiln serves the machine over SSH on a loopback port for the step (a russh server that
//! runs each command through the communicator, with a fresh host key and a one-time
//! client key), and Ansible is told to pipeline modules and to move files `piped`, over
//! plain commands.
//!
//! `ansible-playbook` and `ansible-galaxy` run confined (`run-confined`, and never
//! `run`, so that `kiln inspect` can say so): where the host allows namespaces they see
//! its system directories read-only, their own installation, what [`view`] lists, the
//! step's temporary files, a private home and `/tmp`, and the host's network.

use kiln_guest_sdk::exec::{self, TempContent};
use kiln_guest_sdk::remote::{self, ExitStatus};
use kiln_guest_sdk::{host, ui, BuildInfo, ConfigError, GrantRequest, Provisioner, Step};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    command: Option<String>,
    extra_arguments: Vec<String>,
    ansible_env_vars: Vec<String>,
    playbook_file: Option<String>,
    ansible_ssh_extra_args: Vec<String>,
    groups: Vec<String>,
    empty_groups: Vec<String>,
    host_alias: Option<String>,
    user: Option<String>,
    local_port: Option<u32>,
    ssh_host_key_file: Option<String>,
    ssh_authorized_key_file: Option<String>,
    ansible_proxy_key_type: Option<String>,
    sftp_command: Option<String>,
    skip_version_check: bool,
    use_sftp: bool,
    inventory_directory: Option<String>,
    inventory_file_template: Option<String>,
    inventory_file: Option<String>,
    keep_inventory_file: bool,
    galaxy_file: Option<String>,
    galaxy_command: Option<String>,
    galaxy_force_install: bool,
    galaxy_force_with_deps: bool,
    roles_path: Option<String>,
    collections_path: Option<String>,
    use_proxy: Option<bool>,
    ansible_winrm_use_http: bool,
}

/// Packer's inventory line for an SSH host.
const INVENTORY_TEMPLATE: &str =
    "{{ .HostAlias }} ansible_host={{ .Host }} ansible_user={{ .User }} ansible_port={{ .Port }}\n";

struct Ansible;

fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

impl Step for Ansible {
    type Config = Config;

    fn needs(config: &Config) -> GrantRequest {
        let mut needs = kiln_guest_sdk::needs_read(
            [
                &config.playbook_file,
                &config.galaxy_file,
                &config.inventory_file,
                &config.ssh_host_key_file,
                &config.ssh_authorized_key_file,
            ]
            .into_iter()
            .filter_map(set)
            .map(str::to_owned)
            // Whether the template's directory holds an Ansible configuration.
            .chain(["ansible.cfg".to_owned()]),
        );
        needs.exec_host = true;
        needs
    }

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        let mut errors = vec![];
        if set(&config.playbook_file).is_none() {
            errors.push(ConfigError::on(
                "playbook_file",
                "playbook_file must be specified.",
            ));
        }
        if config.local_port.is_some_and(|p| p > 65535) {
            errors.push(ConfigError::on(
                "local_port",
                format!(
                    "local_port: {} must be a valid port",
                    config.local_port.unwrap_or(0)
                ),
            ));
        }
        if let Some(t) = set(&config.inventory_file_template) {
            if let Err(e) = render(t, &[]) {
                errors.push(ConfigError::on("inventory_file_template", e));
            }
        }
        kiln_guest_sdk::errors_or_ok(errors)
    }
}

/// The inventory line's values, by Packer's names.
const INVENTORY_NAMES: [&str; 5] = ["HostAlias", "Host", "User", "Port", "ConnType"];

/// Renders an inventory template (`{{ .Host }}`, ...) with `values`, which name every
/// one of [`INVENTORY_NAMES`].
fn render(template: &str, values: &[(&str, String)]) -> Result<String, String> {
    let vars: Vec<(&str, &str)> = INVENTORY_NAMES
        .iter()
        .map(|n| {
            let value = values
                .iter()
                .find(|(k, _)| k == n)
                .map_or("", |(_, v)| v.as_str());
            (*n, value)
        })
        .collect();
    kiln_guest_sdk::artifacts::render_output(template, &vars)
}

fn check_file(attribute: &str, path: &str) -> Result<(), String> {
    match host::kind(path) {
        Ok(host::PathKind::File) => Ok(()),
        Ok(host::PathKind::Directory) => Err(format!("{attribute}: {path} must point to a file")),
        Ok(host::PathKind::Missing) => Err(format!(
            "{attribute}: {path} is invalid: stat {path}: no such file or directory"
        )),
        Err(e) => Err(format!("{attribute}: {path} is invalid: {}", e.message)),
    }
}

/// Whether `name` is set in `args` as Packer checks it (`name=` anywhere in an argument).
fn has_arg(name: &str, args: &[String]) -> bool {
    args.iter().any(|a| a.contains(&format!("{name}=")))
}

/// What `ansible-playbook` and `ansible-galaxy` see of this host besides its system
/// directories and their own installation (`(path, writable)`): the playbook's
/// directory (writable, as Ansible writes there), every file and directory the configuration names (roles and collections
/// writable when `galaxy_file` installs into them), the login's key, `ansible.cfg` here
/// and in the home, the user's installed roles and collections, and the paths the
/// Ansible variables and arguments name (`ANSIBLE_*_PATH`, `@vars` files, vault password
/// files, keys, inventories).
fn view(
    config: &Config,
    playbook: &str,
    env: &[(String, String)],
    key: Option<&str>,
) -> Vec<(String, bool)> {
    let installs = set(&config.galaxy_file).is_some();
    let dir = match playbook.rfind('/') {
        Some(0) => "/".to_owned(),
        Some(i) => playbook[..i].to_owned(),
        None => ".".to_owned(),
    };
    // Writable: Ansible writes there (`fetch` to a relative `dest`, retry files).
    let mut seen = vec![(dir, true)];
    for paths in [&config.roles_path, &config.collections_path] {
        for path in set(paths).into_iter().flat_map(|p| p.split(':')) {
            seen.push((path.to_owned(), installs));
        }
    }
    let files = [
        &config.galaxy_file,
        &config.inventory_file,
        &config.ssh_host_key_file,
        &config.ssh_authorized_key_file,
    ];
    seen.extend(
        files
            .into_iter()
            .filter_map(set)
            .map(|f| (f.to_owned(), false)),
    );
    seen.extend(key.map(|k| (k.to_owned(), false)));
    // Ansible resolves the relative paths of a configuration file (`roles_path =
    // ../roles`) against its directory: with an ansible.cfg here, the template's
    // directory is shown, and the directory of one named by ANSIBLE_CONFIG.
    if matches!(host::kind("ansible.cfg"), Ok(host::PathKind::File)) {
        seen.push((".".to_owned(), false));
    }
    seen.push(("~/.ansible.cfg".to_owned(), false));
    if let Some((_, file)) = env.iter().find(|(k, _)| k == "ANSIBLE_CONFIG") {
        let dir = file.rfind('/').map_or(".", |i| &file[..i.max(1)]);
        seen.push((dir.to_owned(), false));
    }
    for path in ["~/.ansible/roles", "~/.ansible/collections"] {
        seen.push((path.to_owned(), installs));
    }
    if set(&config.ssh_host_key_file).is_some() {
        seen.push(("~/.ssh/known_hosts".to_owned(), false));
    }
    for (name, value) in env {
        let names_paths = ["PATH", "PATHS", "FILE", "CONFIG", "DIR"]
            .iter()
            .any(|end| name.ends_with(end));
        if name.starts_with("ANSIBLE_") && names_paths {
            seen.extend(
                value
                    .split(':')
                    .filter(|p| !p.is_empty())
                    .map(|p| (p.to_owned(), false)),
            );
        }
    }
    seen.extend(
        argument_paths(&config.extra_arguments)
            .into_iter()
            .map(|p| (p, false)),
    );
    seen
}

/// The host paths `ansible-playbook` arguments name: `@file` extra variables, vault
/// password files and ids, private keys and inventories.
fn argument_paths(args: &[String]) -> Vec<String> {
    const TAKES_PATH: [&str; 7] = [
        "--vault-password-file",
        "--vault-pass-file",
        "--private-key",
        "--key-file",
        "-i",
        "--inventory",
        "--inventory-file",
    ];
    let mut paths = vec![];
    let mut args = args.iter().peekable();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let value = |args: &mut std::iter::Peekable<std::slice::Iter<'_, String>>| {
            inline.clone().or_else(|| args.next().cloned())
        };
        if TAKES_PATH.contains(&flag) {
            paths.extend(value(&mut args));
        } else if flag == "--vault-id" {
            if let Some(v) = value(&mut args) {
                let path = v.rsplit_once('@').map_or(v.as_str(), |(_, p)| p);
                if path != "prompt" {
                    paths.push(path.to_owned());
                }
            }
        } else if flag == "-e" || flag == "--extra-vars" {
            if let Some(file) = value(&mut args)
                .as_deref()
                .and_then(|v| v.strip_prefix('@'))
            {
                paths.push(file.to_owned());
            }
        } else if let Some(file) = flag.strip_prefix("-e@") {
            paths.push(file.to_owned());
        }
    }
    paths
}

/// Runs a host command, confined to `view`; its output streams to the UI. Its exit
/// code.
fn run(argv: &[String], env: &[(String, String)], view: &[(String, bool)]) -> Result<i32, String> {
    match exec::run_confined(argv, env, None, view).map_err(|e| e.message)? {
        ExitStatus::Exited(code) => Ok(code),
        ExitStatus::Killed(sig) => Err(format!("killed by signal {sig}")),
        ExitStatus::Disconnected => Err("the command's output was lost".into()),
    }
}

impl Provisioner for Ansible {
    fn provision(config: Config, build: &BuildInfo) -> Result<(), String> {
        let playbook = set(&config.playbook_file).ok_or("playbook_file must be specified.")?;
        check_file("playbook_file", playbook)?;
        for (attribute, value) in [
            ("galaxy_file", &config.galaxy_file),
            ("inventory_file", &config.inventory_file),
            ("ssh_authorized_key_file", &config.ssh_authorized_key_file),
            ("ssh_host_key_file", &config.ssh_host_key_file),
        ] {
            if let Some(path) = set(value) {
                check_file(attribute, path)?;
            }
        }
        let conn_type = build
            .connection
            .as_ref()
            .map_or("none", |c| c.conn_type.as_str());
        // Packer's proxy when the template asks for it in so many words; otherwise
        // Ansible goes straight to an SSH communicator's machine.
        let proxied = config.use_proxy == Some(true);
        let endpoint = match proxied {
            true => remote::ssh_adapter(),
            false => remote::ssh_endpoint(),
        };
        let login = endpoint.ok_or_else(|| {
            format!(
                "the ansible provisioner reaches the machine through the build's \
                 communicator, and this build has none ({conn_type:?}); use a builder with \
                 a communicator"
            )
        })?;
        // Kiln's adapter, which runs commands and nothing else.
        let adapted = proxied || conn_type != "ssh";
        let mut env_vars: Vec<String> = config.ansible_env_vars.clone();
        if set(&config.ssh_host_key_file).is_none() {
            env_vars.push("ANSIBLE_HOST_KEY_CHECKING=False".into());
        }
        if adapted {
            env_vars.push("ANSIBLE_PIPELINING=True".into());
            env_vars.push("ANSIBLE_SSH_TRANSFER_METHOD=piped".into());
            if config.use_sftp || config.local_port.is_some() {
                ui::message(
                    "use_sftp and local_port are not honoured through Kiln's SSH adapter: \
                     files travel piped, over commands, and the adapter takes a free port",
                );
            }
        } else if !config.use_sftp {
            env_vars.push("ANSIBLE_SCP_IF_SSH=True".into());
        }
        let mut env = Vec::with_capacity(env_vars.len() + 2);
        for var in &env_vars {
            let (k, v) = var
                .split_once('=')
                .ok_or_else(|| format!("ansible_env_vars: {var:?} is not NAME=value"))?;
            env.push((k.to_owned(), v.to_owned()));
        }
        if let Some(path) = set(&config.roles_path) {
            env.push((
                "ANSIBLE_ROLES_PATH".into(),
                exec::absolute(path).map_err(|e| e.message)?,
            ));
        }
        if let Some(path) = set(&config.collections_path) {
            env.push((
                "ANSIBLE_COLLECTIONS_PATH".into(),
                exec::absolute(path).map_err(|e| e.message)?,
            ));
        }

        let seen = view(&config, playbook, &env, login.private_key_file.as_deref());
        ui::say("Provisioning with Ansible...");
        if config.use_proxy != Some(false) && !adapted {
            ui::message(&format!(
                "Connecting Ansible straight to the machine's SSH ({}:{}); Kiln needs no \
                 proxy for an SSH communicator",
                login.host, login.port
            ));
        }
        let inventory = match set(&config.inventory_file) {
            Some(file) => exec::absolute(file).map_err(|e| e.message)?,
            None => {
                let user = set(&config.user).unwrap_or(&login.user).to_owned();
                let alias = set(&config.host_alias).unwrap_or("default");
                let values = [
                    ("HostAlias", alias.to_owned()),
                    ("Host", login.host.clone()),
                    ("User", user),
                    ("Port", login.port.to_string()),
                    ("ConnType", conn_type.to_owned()),
                ];
                let template = set(&config.inventory_file_template).unwrap_or(INVENTORY_TEMPLATE);
                let host_line = render(template, &values)?;
                let mut content = host_line.clone();
                for group in &config.groups {
                    content.push_str(&format!("[{group}]\n{host_line}"));
                }
                for group in &config.empty_groups {
                    content.push_str(&format!("[{group}]\n"));
                }
                if config.keep_inventory_file || set(&config.inventory_directory).is_some() {
                    ui::message(
                        "keep_inventory_file and inventory_directory are not honoured: the \
                         generated inventory lives in the step's private directory and goes \
                         with the step (name your own with inventory_file to keep one)",
                    );
                }
                exec::temp_file(&TempContent::Bytes(content.into_bytes()), 0o600, "")
                    .map_err(|e| format!("Error preparing inventory file: {}", e.message))?
            }
        };
        if let Some(file) = set(&config.galaxy_file) {
            let galaxy = set(&config.galaxy_command)
                .unwrap_or("ansible-galaxy")
                .to_owned();
            let file = exec::absolute(file).map_err(|e| e.message)?;
            let text =
                host::read(&file, 1 << 20).map_err(|e| format!("galaxy_file: {}", e.message))?;
            let text = String::from_utf8_lossy(&text).into_owned();
            let has = |key: &str| text.lines().any(|l| l.starts_with(key));
            let mut force = vec![];
            if config.galaxy_force_with_deps {
                force.push("--force-with-deps".to_owned());
            } else if config.galaxy_force_install {
                force.push("-f".to_owned());
            }
            let mut runs = vec![];
            if has("roles:") || !has("collections:") {
                let mut argv = vec![galaxy.clone(), "install".into(), "-r".into(), file.clone()];
                if let Some(p) = set(&config.roles_path) {
                    argv.extend(["-p".into(), p.to_owned()]);
                }
                runs.push(argv);
            }
            if has("collections:") {
                let mut argv = vec![
                    galaxy.clone(),
                    "collection".into(),
                    "install".into(),
                    "-r".into(),
                    file.clone(),
                ];
                if let Some(p) = set(&config.collections_path) {
                    argv.extend(["-p".into(), p.to_owned()]);
                }
                runs.push(argv);
            }
            for mut argv in runs {
                argv.extend(force.iter().cloned());
                ui::message(&format!("Executing Ansible Galaxy: {}", argv.join(" ")));
                let code = run(&argv, &env, &seen)?;
                if code != 0 {
                    return Err(format!(
                        "Error executing Ansible: Error executing Ansible Galaxy: Non-zero exit status: {code}"
                    ));
                }
            }
        }

        let mut args: Vec<String> = vec![];
        let build_name = kiln_guest_sdk::artifacts::build_name(build);
        args.extend(["-e".into(), format!("packer_build_name={build_name:?}")]);
        let builder_type = kiln_guest_sdk::artifacts::variable(build, "PACKER_BUILDER_TYPE")
            .unwrap_or(&build.source_type);
        args.extend(["-e".into(), format!("packer_builder_type={builder_type}")]);
        if let Some(addr) = kiln_guest_sdk::artifacts::variable(build, "PACKER_HTTP_ADDR") {
            args.extend(["-e".into(), format!("packer_http_addr={addr}")]);
        }
        let key = login.private_key_file.clone();
        if key.is_some() {
            let extra = match config.ansible_ssh_extra_args.is_empty() {
                true => "'-o IdentitiesOnly=yes'".to_owned(),
                false => format!("'{}'", config.ansible_ssh_extra_args.join("' '")),
            };
            args.extend(["--ssh-extra-args".into(), extra]);
        }
        args.extend(config.extra_arguments.iter().cloned());
        if let (false, Some(key)) = (has_arg("ansible_password", &args), &key) {
            args.extend(["-e".into(), format!("ansible_ssh_private_key_file={key}")]);
        }
        if key.is_none() {
            match &login.password {
                Some(password) if !has_arg("ansible_password", &args) => {
                    args.extend(["-e".into(), format!("ansible_password={password}")]);
                }
                _ => {}
            }
        }
        if has_arg("ansible_password", &args)
            && !has_arg("ansible_host_key_checking", &args)
            && !has_arg("ANSIBLE_HOST_KEY_CHECKING", &env_vars)
        {
            args.extend(["-e".into(), "ansible_host_key_checking=False".into()]);
        }
        let playbook_abs = exec::absolute(playbook).map_err(|e| e.message)?;
        args.extend(["-i".into(), inventory, playbook_abs]);
        let command = set(&config.command)
            .unwrap_or("ansible-playbook")
            .to_owned();
        let mut argv = vec![command.clone()];
        argv.extend(args);
        // Shown without the passwords, as Packer shows it: the login's, and the values of
        // extra arguments whose name says password or secret.
        let mut shown = argv.join(" ");
        let mut secrets: Vec<&str> = login.password.as_deref().into_iter().collect();
        for arg in &config.extra_arguments {
            if let Some((name, value)) = arg.split_once('=') {
                let name = name.to_ascii_lowercase();
                if name.contains("password") || name.contains("secret") {
                    secrets.push(value);
                }
            }
        }
        for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
            shown = shown.replace(secret, "*****");
        }
        ui::say(&format!("Executing Ansible: {shown}"));
        ui::message(
            "ansible-playbook sees the playbook's directory (and may write there) and the \
             paths this provisioner names; a playbook that reads other files of this host needs them granted \
             (grant { read = [\"...\"] } in the provisioner)",
        );
        match run(&argv, &env, &seen) {
            Ok(0) => Ok(()),
            Ok(127) => Err(format!(
                "Error executing Ansible: {command} could not be found on this host; install \
                 Ansible (Debian: apt-get install ansible-core) or set command"
            )),
            Ok(code) => Err(format!(
                "Error executing Ansible: Non-zero exit status: exit status {code}"
            )),
            Err(e) => Err(format!("Error executing Ansible: {e}")),
        }
    }
}

kiln_guest_sdk::provisioner!(Ansible);
