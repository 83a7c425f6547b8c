//! `shell-local`, as a provisioner and as a post-processor: scripts run on the host
//! running Kiln, with Packer's options and rules. Each script runs through
//! `execute_command` (by default `/bin/sh -c "{{.Vars}} {{.Script}}"`) with
//! `{{.Vars}}` the environment variables in `env_var_format` and `{{.Script}}` the
//! script's absolute path; inline commands (or `command`) become one temporary script
//! that starts with `inline_shebang`.
//!
//! Running commands on the host is complete trust: Kiln refuses the step unless the
//! template grants it `exec_host`, and the host says so when the first command runs.

use std::collections::BTreeMap;

use kiln_guest_sdk::exec::{self, TempContent};
use kiln_guest_sdk::host::{self, PathKind};
use kiln_guest_sdk::remote::ExitStatus;
use kiln_guest_sdk::{
    ui, Artifact, BuildInfo, ConfigError, GrantRequest, PostProcessResult, PostProcessor,
    Provisioner, Step,
};
use serde::Deserialize;

/// The block a template writes, with Packer's attribute names.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    /// One command (Packer keeps it for compatibility; it is an `inline` of one line).
    command: Option<String>,
    inline: Option<Vec<String>>,
    script: Option<String>,
    scripts: Option<Vec<String>>,
    environment_vars: Vec<String>,
    env: BTreeMap<String, String>,
    env_var_format: Option<String>,
    execute_command: Option<Vec<String>>,
    inline_shebang: Option<String>,
    only_on: Vec<String>,
    tempfile_extension: Option<String>,
    use_linux_pathing: bool,
    valid_exit_codes: Option<Vec<i32>>,
}

/// The operating system Kiln runs on (Kiln builds for Linux hosts only), as Go names
/// it in `only_on`.
const HOST_OS: &str = "linux";

/// The names `only_on` accepts, as Packer lists them.
const KNOWN_OS: &[&str] = &[
    "darwin", "freebsd", "linux", "openbsd", "solaris", "windows",
];

const DEFAULT_EXECUTE_COMMAND: [&str; 3] = ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"];

impl Config {
    /// The script attributes given, by name.
    fn sources_given(&self) -> Vec<&'static str> {
        [
            ("command", self.command.is_some()),
            ("inline", self.inline.is_some()),
            ("script", self.script.is_some()),
            ("scripts", self.scripts.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    /// The host scripts to run, as written.
    fn script_paths(&self) -> impl Iterator<Item = &String> {
        self.script.iter().chain(self.scripts.iter().flatten())
    }

    fn check(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        match self.sources_given().len() {
            0 => errors.push(ConfigError::block(
                "one of command, inline, script or scripts must be specified",
            )),
            1 => {}
            _ => errors.push(ConfigError::block(format!(
                "only one of command, inline, script or scripts may be specified (this block \
                 has {})",
                self.sources_given().join(", ")
            ))),
        }
        let field = if self.script.is_some() {
            "script"
        } else {
            "scripts"
        };
        for path in self.script_paths() {
            let problem = match host::kind(path) {
                Ok(PathKind::File) => continue,
                Ok(PathKind::Directory) => "is a directory".to_owned(),
                Ok(PathKind::Missing) => "no such file".to_owned(),
                Err(e) => e.message,
            };
            errors.push(ConfigError::on(
                field,
                format!("bad script {path:?}: {problem}"),
            ));
        }
        for var in &self.environment_vars {
            if var.split_once('=').is_none_or(|(k, _)| k.is_empty()) {
                errors.push(ConfigError::on(
                    "environment_vars",
                    format!("environment variable not in format 'key=value': {var:?}"),
                ));
            }
        }
        for os in &self.only_on {
            if !KNOWN_OS.contains(&os.as_str()) {
                errors.push(ConfigError::on(
                    "only_on",
                    format!(
                        "unknown operating system {os:?}; the names are {}",
                        KNOWN_OS.join(", ")
                    ),
                ));
            }
        }
        if self.execute_command.as_ref().is_some_and(Vec::is_empty) {
            errors.push(ConfigError::on(
                "execute_command",
                "execute_command must name a program",
            ));
        }
        if self.use_linux_pathing {
            errors.push(ConfigError::on(
                "use_linux_pathing",
                "use_linux_pathing runs scripts through the Windows Subsystem for Linux; \
                 this host runs Linux itself, so remove it",
            ));
        }
        if let Some(ext) = &self.tempfile_extension {
            if ext.len() > 32 || ext.contains('/') {
                errors.push(ConfigError::on(
                    "tempfile_extension",
                    "the extension is at most 32 characters, without `/`",
                ));
            }
        }
        errors
    }

    /// `{{.Vars}}`: every variable in `env_var_format` (default `KEY='value' `), sorted
    /// by name, single quotes in values escaped for the shell.
    fn flattened_vars(&self, vars: &BTreeMap<String, String>) -> String {
        let format = self.env_var_format.as_deref().unwrap_or("%s='%s' ");
        vars.iter()
            .map(|(k, v)| {
                let v = v.replace('\'', "'\"'\"'");
                format.replacen("%s", k, 1).replacen("%s", &v, 1)
            })
            .collect()
    }

    /// The variables every script gets: Packer's, then `environment_vars`, then `env`.
    fn variables(&self, build: &BuildInfo) -> BTreeMap<String, String> {
        let mut vars = BTreeMap::new();
        for name in ["PACKER_BUILD_NAME", "PACKER_BUILDER_TYPE"] {
            if let Some((_, v)) = build.variables.iter().find(|(k, _)| k == name) {
                vars.insert(name.to_owned(), v.clone());
            }
        }
        for kv in &self.environment_vars {
            if let Some((k, v)) = kv.split_once('=') {
                vars.insert(k.to_owned(), v.to_owned());
            }
        }
        vars.extend(self.env.clone());
        vars
    }

    /// Runs every script in order; the first that fails fails the step.
    fn run(&self, build: &BuildInfo, extra: &[(String, String)]) -> Result<(), String> {
        if !self.only_on.is_empty() && !self.only_on.iter().any(|os| os == HOST_OS) {
            ui::say("Skipping shell-local due to runtime OS");
            return Ok(());
        }
        // (as shown, the file to run)
        let mut scripts: Vec<(String, String)> = Vec::new();
        for path in self.script_paths() {
            let file =
                exec::absolute(path).map_err(|e| format!("bad script {path:?}: {}", e.message))?;
            scripts.push((path.clone(), file));
        }
        let inline = match (&self.command, &self.inline) {
            (Some(command), _) => Some(std::slice::from_ref(command)),
            (None, Some(lines)) => Some(lines.as_slice()),
            (None, None) => None,
        };
        if let Some(lines) = inline {
            let shebang = self.inline_shebang.as_deref().unwrap_or("/bin/sh -e");
            let mut text = format!("#!{shebang}\n");
            for line in lines {
                text.push_str(line);
                text.push('\n');
            }
            let suffix = match self.tempfile_extension.as_deref() {
                Some(ext) if !ext.is_empty() => format!(".{}", ext.trim_start_matches('.')),
                _ => String::new(),
            };
            let path = exec::temp_file(&TempContent::Bytes(text.into_bytes()), 0o700, &suffix)
                .map_err(|e| format!("writing the inline script: {}", e.message))?;
            scripts.push((path.clone(), path));
        }
        let vars = self.variables(build);
        let flattened = self.flattened_vars(&vars);
        let mut env: Vec<(String, String)> = vars.into_iter().collect();
        env.extend(extra.iter().cloned());
        let template: Vec<String> = match &self.execute_command {
            Some(c) => c.clone(),
            None => DEFAULT_EXECUTE_COMMAND.map(str::to_owned).to_vec(),
        };
        let codes = self.valid_exit_codes.clone().unwrap_or_else(|| vec![0]);
        for (shown, file) in scripts {
            let argv: Vec<String> = template
                .iter()
                .map(|a| {
                    a.replace("{{.Vars}}", &flattened)
                        .replace("{{.Script}}", &file)
                        .replace("{{.Command}}", &file)
                })
                .collect();
            ui::say(&format!("Running local shell script: {shown}"));
            let status = exec::run(&argv, &env, None)
                .map_err(|e| format!("running {shown}: {}", e.message))?;
            match status {
                ExitStatus::Exited(code) if codes.contains(&code) => {}
                ExitStatus::Exited(code) => {
                    return Err(format!(
                        "script {shown} exited with code {code}; expected one of {codes:?}"
                    ))
                }
                ExitStatus::Killed(signal) => {
                    return Err(format!("script {shown} was killed by signal {signal}"))
                }
                ExitStatus::Disconnected => {
                    return Err(format!("script {shown} ended without an exit status"))
                }
            }
        }
        Ok(())
    }
}

struct ShellLocal;

impl Step for ShellLocal {
    type Config = Config;

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        kiln_guest_sdk::errors_or_ok(config.check())
    }

    /// The scripts to read, and to run commands (which only the template can grant).
    fn needs(config: &Config) -> GrantRequest {
        GrantRequest {
            exec_host: true,
            ..kiln_guest_sdk::needs_read(config.script_paths())
        }
    }
}

impl Provisioner for ShellLocal {
    fn provision(config: Config, build: &BuildInfo) -> Result<(), String> {
        config.run(build, &[])
    }
}

impl PostProcessor for ShellLocal {
    fn post_process(
        config: Config,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<PostProcessResult, String> {
        config.run(
            build,
            &[("PACKER_ARTIFACT_ID".to_owned(), input.id.clone())],
        )?;
        // The input passes through, kept: Packer's shell-local keeps its input.
        Ok(PostProcessResult {
            artifact: input,
            keep_input: true,
        })
    }
}

kiln_guest_sdk::plugin!(provisioner: ShellLocal, post_processor: ShellLocal);
