//! The `shell` provisioner: uploads scripts (inline lines or host files) to the machine
//! and runs them with Packer's `execute_command` rules.

use std::collections::BTreeMap;
use std::time::Duration;

use kiln_guest_sdk::duration::duration_opt;
use kiln_guest_sdk::remote::{self, ExitStatus};
use kiln_guest_sdk::{host, ui, BuildInfo, ConfigError, GrantRequest, Provisioner, Step};
use serde::Deserialize;

/// The block a template writes, with Packer's attribute names.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    inline: Option<Vec<String>>,
    script: Option<String>,
    scripts: Option<Vec<String>>,
    environment_vars: Vec<String>,
    env: BTreeMap<String, String>,
    execute_command: Option<String>,
    env_var_format: Option<String>,
    inline_shebang: Option<String>,
    valid_exit_codes: Option<Vec<i32>>,
    remote_folder: Option<String>,
    remote_file: Option<String>,
    remote_path: Option<String>,
    expect_disconnect: bool,
    skip_clean: bool,
    /// Scripts are binary: their CRLF line endings are left alone (otherwise they become
    /// LF, as Packer does).
    binary: bool,
    /// Environment variables go into a file the command sources (`{{.EnvVarFile}}`).
    use_env_var_file: bool,
    /// Waited after the last script.
    #[serde(deserialize_with = "duration_opt::deserialize")]
    pause_after: Option<Duration>,
    /// How long starting a script is retried (the machine may be rebooting); 5m.
    #[serde(deserialize_with = "duration_opt::deserialize")]
    start_retry_timeout: Option<Duration>,
}

const DEFAULT_EXECUTE_COMMAND: &str = "chmod +x {{.Path}}; {{.Vars}} {{.Path}}";
/// Packer's default with `use_env_var_file`.
const ENV_FILE_EXECUTE_COMMAND: &str = "chmod +x {{.Path}}; . {{.EnvVarFile}} && {{.Path}}";
/// Packer's default start_retry_timeout, and the pause between tries.
const START_RETRY: Duration = Duration::from_secs(300);
const RETRY_PAUSE: Duration = Duration::from_secs(2);
/// Scripts up to this size have their line endings converted (larger ones are sent as
/// they are, streamed by the host).
const MAX_CONVERTED: u64 = 8 << 20;

/// At most this many bytes of script and environment file travel inside the command that
/// runs them (Linux takes one argument of up to 128 KiB: the remote shell's `-c` string).
const EMBED_MAX: usize = 96 << 10;
/// The signal a remote shell sends itself when it cannot write a script it was handed:
/// a status no script's exit code can be mistaken for.
const WRITE_FAILED: &str = "USR2";

/// Where a script's text comes from.
enum Script {
    Inline(String),
    HostFile(String),
}

struct Shell;

impl Step for Shell {
    type Config = Config;

    fn needs(config: &Config) -> GrantRequest {
        kiln_guest_sdk::needs_read(config.script.iter().chain(config.scripts.iter().flatten()))
    }

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        let given = [
            config.inline.is_some(),
            config.script.is_some(),
            config.scripts.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given != 1 {
            errors.push(ConfigError::block(
                "exactly one of `inline`, `script` or `scripts` must be specified",
            ));
        }
        for (i, var) in config.environment_vars.iter().enumerate() {
            if !var.contains('=') {
                errors.push(ConfigError::on(
                    "environment_vars",
                    format!("environment variable not in format 'key=value' (entry {i}): {var:?}"),
                ));
            }
        }
        for path in script_paths(config) {
            match host::kind(path) {
                Ok(host::PathKind::File) => {}
                Ok(host::PathKind::Directory) => errors.push(ConfigError::on(
                    script_field(config),
                    format!("bad script {path:?}: is a directory"),
                )),
                Ok(host::PathKind::Missing) => errors.push(ConfigError::on(
                    script_field(config),
                    format!("bad script {path:?}: no such file"),
                )),
                Err(e) => errors.push(ConfigError::on(
                    script_field(config),
                    format!("bad script {path:?}: {}", e.message),
                )),
            }
        }
        kiln_guest_sdk::errors_or_ok(errors)
    }
}

impl Provisioner for Shell {
    fn provision(config: Config, build: &BuildInfo) -> Result<(), String> {
        let scripts: Vec<Script> = match (&config.inline, &config.script, &config.scripts) {
            (Some(lines), _, _) => {
                let shebang = config.inline_shebang.as_deref().unwrap_or("/bin/sh -e");
                let mut text = format!("#!{shebang}\n");
                for line in lines {
                    text.push_str(line);
                    text.push('\n');
                }
                vec![Script::Inline(text)]
            }
            (_, Some(one), _) => vec![Script::HostFile(one.clone())],
            (_, _, Some(many)) => many.iter().cloned().map(Script::HostFile).collect(),
            _ => unreachable!("validate requires one of inline, script, scripts"),
        };

        // Packer picks a random number; two builds on one machine (or two runs at once)
        // must not overwrite each other's scripts. This sandbox's random numbers are
        // seeded deterministically, so the number comes from the build's name and the
        // run's PACKER_RUN_UUID instead.
        let build_number = {
            let run = build.variables.iter().find(|(k, _)| k == "PACKER_RUN_UUID");
            let key = format!(
                "{}/{}",
                build.build_name,
                run.map_or("", |(_, v)| v.as_str())
            );
            // FNV-1a: a fixed hash, the same in every run given the same key.
            let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            (hash % 1_000_000_000) as u32
        };
        let remote_path = remote_path(&config, build_number);
        // With use_env_var_file the variables go to a file the command sources, and
        // {{.Vars}} is empty.
        let (template_default, vars, env_file): (_, _, Option<String>) = if config.use_env_var_file
        {
            let folder = config.remote_folder.as_deref().unwrap_or("/tmp");
            let file = format!("{}/varfile_{build_number}.sh", folder.trim_end_matches('/'));
            (ENV_FILE_EXECUTE_COMMAND, String::new(), Some(file))
        } else {
            (DEFAULT_EXECUTE_COMMAND, flatten_vars(&config, build)?, None)
        };
        let env_text = match env_file {
            Some(_) => Some(env_file_text(&config, build)?),
            None => None,
        };
        let template = config
            .execute_command
            .as_deref()
            .unwrap_or(template_default);
        let command = render_execute_command(
            template,
            &vars,
            &remote_path,
            env_file.as_deref().unwrap_or(""),
        );
        let valid = config.valid_exit_codes.clone().unwrap_or_else(|| vec![0]);

        // The environment file travels inside each script's command when it is small
        // enough (and is removed with the script); otherwise it is uploaded once here.
        let env_write = match (&env_file, &env_text) {
            (Some(file), Some(text)) => match write_lines(text, file, 0o600) {
                Some(lines) => Some(lines),
                None => {
                    remote::upload_bytes(text.as_bytes(), file, Some(0o600)).map_err(|e| {
                        format!("error uploading the environment file: {}", e.message)
                    })?;
                    None
                }
            },
            _ => None,
        };
        let env_uploaded = env_file.is_some() && env_write.is_none();

        for script in &scripts {
            let text = match script {
                Script::Inline(text) => {
                    ui::say("Provisioning with shell script: <inline>");
                    Some(text.clone())
                }
                Script::HostFile(path) => {
                    ui::say(&format!("Provisioning with shell script: {path}"));
                    host_script_text(path, config.binary)
                }
            };
            let room = EMBED_MAX.saturating_sub(env_write.as_ref().map_or(0, String::len));
            // A script small enough goes to the machine inside the command that runs it:
            // one SSH session per script. Larger or non-text ones are uploaded first.
            let script_write = text
                .as_deref()
                .filter(|t| t.len() <= room)
                .and_then(|t| write_lines(t, &remote_path, 0o755));
            if script_write.is_none() {
                let sent = match (script, &text) {
                    (_, Some(text)) => {
                        remote::upload_bytes(text.as_bytes(), &remote_path, Some(0o755))
                    }
                    (Script::HostFile(path), None) => {
                        remote::upload_file(path, &remote_path, Some(0o755))
                    }
                    (Script::Inline(_), None) => unreachable!("inline scripts have text"),
                };
                sent.map_err(|e| match script {
                    Script::Inline(_) => format!("error uploading inline script: {}", e.message),
                    Script::HostFile(path) => {
                        format!("error uploading script {path:?}: {}", e.message)
                    }
                })?;
            }
            let writes = format!(
                "{}{}",
                env_write.as_deref().unwrap_or(""),
                script_write.as_deref().unwrap_or("")
            );
            // The temporary script is removed by the same remote shell that ran it (on its
            // own lines, so a trailing comment in execute_command cannot swallow it): one
            // session fewer per script than a separate `rm`, with the exit status kept.
            // A build cancelled mid-script stops the command with TERM (then KILL): the
            // trap removes the script then too, so that no inline command (which may hold
            // a secret) stays on the machine.
            let full = if config.skip_clean {
                format!("{writes}{command}")
            } else {
                let remove = match (&env_file, env_write.is_some()) {
                    (Some(file), true) => format!("\"$__kiln_script\" {}", remote::quote(file)),
                    _ => "\"$__kiln_script\"".to_owned(),
                };
                format!(
                    "__kiln_script={}\ntrap 'rm -f {remove}; exit 143' HUP INT TERM\n\
                     {writes}{command}\n__kiln_status=$?\nrm -f {remove}\nexit $__kiln_status",
                    remote::quote(&remote_path)
                )
            };
            let status = run_retrying(&full, config.start_retry_timeout.unwrap_or(START_RETRY))?;
            match status {
                ExitStatus::Exited(code) if valid.contains(&code) => {}
                ExitStatus::Disconnected if config.expect_disconnect => {
                    ui::message("Remote end disconnected as expected (expect_disconnect)");
                }
                ExitStatus::Exited(code) => {
                    return Err(format!(
                        "script exited with non-zero exit status: {code}. Allowed exit codes are: {valid:?}"
                    ))
                }
                ExitStatus::Killed(sig) if sig == WRITE_FAILED && script_write.is_some() => {
                    return Err(format!(
                        "error uploading script to {remote_path:?}: the machine could not \
                         write it (its message is above)"
                    ))
                }
                ExitStatus::Killed(sig) => {
                    return Err(format!("script was killed by signal {sig}"))
                }
                ExitStatus::Disconnected => {
                    return Err("remote end disconnected while the script ran; \
                                set expect_disconnect = true if the script reboots the machine"
                        .into())
                }
            }
        }
        if let (Some(file), true, false) = (&env_file, env_uploaded, config.skip_clean) {
            let _ = remote::run(&format!("rm -f {}", remote::quote(file)));
        }
        if let Some(pause) = config.pause_after.filter(|p| !p.is_zero()) {
            ui::say(&format!("Pausing {pause:?} after this provisioner..."));
            std::thread::sleep(pause);
        }
        Ok(())
    }
}

/// Runs `command`, trying again while it cannot be started (the machine may be
/// rebooting) until `timeout` has passed, as Packer's start_retry_timeout.
fn run_retrying(command: &str, timeout: Duration) -> Result<ExitStatus, String> {
    let started = std::time::Instant::now();
    loop {
        match remote::run(command) {
            Ok(status) => return Ok(status),
            Err(e) if started.elapsed() + RETRY_PAUSE < timeout => {
                ui::message(&format!("Retrying to start the script: {}", e.message));
                std::thread::sleep(RETRY_PAUSE);
            }
            Err(e) => return Err(e.message),
        }
    }
}

fn script_paths(config: &Config) -> Vec<&str> {
    let mut paths: Vec<&str> = config.script.iter().map(String::as_str).collect();
    paths.extend(config.scripts.iter().flatten().map(String::as_str));
    paths
}

fn script_field(config: &Config) -> &'static str {
    if config.script.is_some() {
        "script"
    } else {
        "scripts"
    }
}

/// Packer's default remote path is `/tmp/script_<n>.sh`, `<n>` different for every build
/// of every run.
fn remote_path(config: &Config, build_number: u32) -> String {
    if let Some(p) = &config.remote_path {
        return p.clone();
    }
    let folder = config.remote_folder.as_deref().unwrap_or("/tmp");
    let file = match &config.remote_file {
        Some(f) => f.clone(),
        None => format!("script_{}.sh", build_number),
    };
    format!("{}/{}", folder.trim_end_matches('/'), file)
}

/// Packer's variables, then `environment_vars`, then `env`, sorted by name.
fn all_vars(config: &Config, build: &BuildInfo) -> Result<BTreeMap<String, String>, String> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &build.variables {
        vars.insert(k.clone(), v.clone());
    }
    for entry in &config.environment_vars {
        let (k, v) = entry
            .split_once('=')
            .ok_or_else(|| format!("environment variable not in format 'key=value': {entry:?}"))?;
        vars.insert(k.to_owned(), v.to_owned());
    }
    for (k, v) in &config.env {
        vars.insert(k.clone(), v.clone());
    }
    Ok(vars)
}

/// The `{{.Vars}}` string: every variable as `KEY='value'` (or `env_var_format`) with
/// single quotes escaped.
fn flatten_vars(config: &Config, build: &BuildInfo) -> Result<String, String> {
    Ok(format_vars(config, build, "%s='%s' ")?
        .trim_end()
        .to_owned())
}

/// The environment file of `use_env_var_file`: one `export KEY='value'` line per
/// variable (or `env_var_format` per variable).
fn env_file_text(config: &Config, build: &BuildInfo) -> Result<String, String> {
    format_vars(config, build, "export %s='%s'\n")
}

/// Every variable through `env_var_format`, or `default` when it is unset.
fn format_vars(config: &Config, build: &BuildInfo, default: &str) -> Result<String, String> {
    let format = config.env_var_format.as_deref().unwrap_or(default);
    let mut out = String::new();
    for (k, v) in all_vars(config, build)? {
        let escaped = v.replace('\'', r#"'"'"'"#);
        out.push_str(&format.replacen("%s", &k, 1).replacen("%s", &escaped, 1));
    }
    Ok(out)
}

/// Replaces `{{.Vars}}`, `{{.Path}}` and `{{.EnvVarFile}}` (spaces inside the braces
/// allowed).
fn render_execute_command(template: &str, vars: &str, path: &str, env_file: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                match after[..end].trim() {
                    ".Vars" => out.push_str(vars),
                    ".Path" => out.push_str(path),
                    ".EnvVarFile" => out.push_str(env_file),
                    other => {
                        out.push_str("{{");
                        out.push_str(other);
                        out.push_str("}}");
                    }
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text of a host script, its CRLF line endings made LF unless `binary`; `None` when
/// it is not UTF-8 or too large to pass through the step (the host streams it instead).
fn host_script_text(path: &str, binary: bool) -> Option<String> {
    let limit = if binary {
        EMBED_MAX as u64
    } else {
        MAX_CONVERTED
    };
    let bytes = host::read(path, limit).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    Some(if !binary && text.contains("\r\n") {
        text.replace("\r\n", "\n")
    } else {
        text
    })
}

/// Shell lines that write `text` to `path` with `mode` before the command runs, as a
/// here-document; `None` when the text cannot pass that way exactly (too large, a NUL,
/// or no final newline, which a here-document would add). A failed write prints the
/// shell's message and ends the session with `WRITE_FAILED`.
fn write_lines(text: &str, path: &str, mode: u32) -> Option<String> {
    if text.len() > EMBED_MAX || text.contains('\0') || !(text.is_empty() || text.ends_with('\n')) {
        return None;
    }
    let mut marker = "KILN_EOF".to_owned();
    let mut n = 0;
    while text.lines().any(|line| line == marker) {
        n += 1;
        marker = format!("KILN_EOF_{n}");
    }
    let path = remote::quote(path);
    Some(format!(
        "(umask 077 && cat > {path} <<'{marker}'\n{text}{marker}\n) && chmod {mode:o} {path} \
         || {{ printf 'kiln: cannot write %s\\n' {path} >&2; kill -{WRITE_FAILED} $$; }}\n"
    ))
}

kiln_guest_sdk::provisioner!(Shell);
