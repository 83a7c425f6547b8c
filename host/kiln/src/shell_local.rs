//! The `shell-local` post-processor: scripts run on this host with `/bin/sh`, as
//! Packer's runs them (`execute_command` with `{{.Vars}}` and `{{.Script}}`, inline
//! commands written to a script that starts with `inline_shebang`), with
//! `PACKER_BUILD_NAME` and `PACKER_BUILDER_TYPE` in the environment. Its output goes to
//! the build's UI; Ctrl-C kills it.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

use kiln_core::config::FieldError;
use kiln_core::plan::BuildPlan;
use kiln_core::{Artifact, BuildError, Ui};

/// A checked `shell-local` configuration.
#[derive(Debug, Clone)]
pub struct Config {
    inline: Vec<String>,
    scripts: Vec<PathBuf>,
    environment_vars: Vec<(String, String)>,
    execute_command: Vec<String>,
    inline_shebang: String,
    valid_exit_codes: Vec<i32>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    inline: Vec<String>,
    #[serde(default)]
    script: Option<String>,
    #[serde(default)]
    scripts: Vec<String>,
    #[serde(default)]
    environment_vars: Vec<String>,
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    execute_command: Option<Vec<String>>,
    #[serde(default)]
    inline_shebang: Option<String>,
    #[serde(default)]
    valid_exit_codes: Option<Vec<i32>>,
}

fn field(name: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(name, message)
}

impl Config {
    /// Checks `config` as Packer's shell-local checks it.
    pub fn parse(
        config: &serde_json::Map<String, serde_json::Value>,
        cwd: &Path,
    ) -> Result<Self, FieldError> {
        let raw: Raw = kiln_core::config::decode(config)?;
        let mut scripts: Vec<String> = raw.script.into_iter().collect();
        scripts.extend(raw.scripts);
        let given = [!raw.inline.is_empty(), !scripts.is_empty()];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(FieldError::block(
                "exactly one of inline, script or scripts must be specified",
            ));
        }
        let scripts: Vec<PathBuf> = scripts.iter().map(|s| cwd.join(s)).collect();
        for s in &scripts {
            if !s.is_file() {
                return Err(field(
                    "scripts",
                    format!("bad script '{}': no such file", s.display()),
                ));
            }
        }
        let mut environment_vars = Vec::new();
        for kv in &raw.environment_vars {
            match kv.split_once('=') {
                Some((k, v)) if !k.is_empty() => {
                    environment_vars.push((k.to_owned(), v.to_owned()))
                }
                _ => {
                    return Err(field(
                        "environment_vars",
                        format!("environment variable not in format 'key=value': {kv}"),
                    ))
                }
            }
        }
        environment_vars.extend(raw.env);
        let execute_command = raw.execute_command.unwrap_or_else(|| {
            vec![
                "/bin/sh".into(),
                "-c".into(),
                "{{.Vars}} {{.Script}}".into(),
            ]
        });
        if execute_command.is_empty() {
            return Err(field(
                "execute_command",
                "execute_command must not be empty",
            ));
        }
        Ok(Config {
            inline: raw.inline,
            scripts,
            environment_vars,
            execute_command,
            inline_shebang: raw.inline_shebang.unwrap_or_else(|| "/bin/sh -e".into()),
            valid_exit_codes: raw.valid_exit_codes.unwrap_or_else(|| vec![0]),
        })
    }
}

/// Single-quotes `s` for `/bin/sh`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// Runs every script of `config` in order; the first failure fails the step.
pub async fn run(
    config: &Config,
    build: &BuildPlan,
    input: &Artifact,
    ui: &dyn Ui,
    cwd: &Path,
    cancel: &CancellationToken,
) -> Result<(), BuildError> {
    let mut vars = vec![
        ("PACKER_BUILD_NAME".to_owned(), build.source_name.clone()),
        ("PACKER_BUILDER_TYPE".to_owned(), build.source_type.clone()),
    ];
    vars.extend(config.environment_vars.iter().cloned());
    let vars_text = vars
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect::<Vec<_>>()
        .join(" ");
    // Inline commands become one script in a private directory, removed afterwards.
    let tmp = tempfile::tempdir()
        .map_err(|e| BuildError::Failed(format!("shell-local: temporary directory: {e}")))?;
    // Each script runs from an executable copy, so the user's files are never changed.
    let mut sources: Vec<(String, Vec<u8>)> = Vec::new();
    for s in &config.scripts {
        let data = std::fs::read(s).map_err(|e| {
            BuildError::Failed(format!("shell-local: reading {}: {e}", s.display()))
        })?;
        sources.push((
            s.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            data,
        ));
    }
    if !config.inline.is_empty() {
        let text = format!(
            "#!{}\n{}\n",
            config.inline_shebang,
            config.inline.join("\n")
        );
        sources.push(("inline.sh".into(), text.into_bytes()));
    }
    let mut scripts = Vec::new();
    for (i, (name, data)) in sources.into_iter().enumerate() {
        use std::os::unix::fs::PermissionsExt;
        let path = tmp.path().join(format!("{i}-{name}"));
        std::fs::write(&path, data)
            .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)))
            .map_err(|e| BuildError::Failed(format!("shell-local: writing the script: {e}")))?;
        scripts.push(path);
    }
    for script in &scripts {
        let script_text = script.display().to_string();
        let argv: Vec<String> = config
            .execute_command
            .iter()
            .map(|a| {
                a.replace("{{.Vars}}", &vars_text)
                    .replace("{{.Script}}", &quote(&script_text))
            })
            .collect();
        ui.say(&format!("Running local shell script: {script_text}"));
        let mut child = tokio::process::Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(cwd)
            .envs(vars.iter().cloned())
            .env("PACKER_ARTIFACT_ID", &input.id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BuildError::Failed(format!("shell-local: starting {}: {e}", argv[0])))?;
        let mut out = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut err = BufReader::new(child.stderr.take().expect("piped")).lines();
        let (mut out_done, mut err_done) = (false, false);
        while !(out_done && err_done) {
            tokio::select! {
                _ = cancel.cancelled() => return Err(BuildError::Cancelled),
                line = out.next_line(), if !out_done => match line {
                    Ok(Some(l)) => ui.message(&l),
                    _ => out_done = true,
                },
                line = err.next_line(), if !err_done => match line {
                    Ok(Some(l)) => ui.message(&l),
                    _ => err_done = true,
                },
            }
        }
        let status = tokio::select! {
            _ = cancel.cancelled() => return Err(BuildError::Cancelled),
            s = child.wait() => s.map_err(|e| BuildError::Failed(format!("shell-local: {e}")))?,
        };
        let code = status.code().unwrap_or(-1);
        if !config.valid_exit_codes.contains(&code) {
            return Err(BuildError::Failed(format!(
                "Post-processor failed: shell-local: script {script_text} exited with code {code}; \
                 expected one of {:?}",
                config.valid_exit_codes
            )));
        }
    }
    Ok(())
}
