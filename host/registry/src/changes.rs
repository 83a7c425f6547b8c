//! The `changes` option: Dockerfile instructions applied to the committed image's
//! configuration, as `docker commit --change` (and Packer's docker builder) take them.

use std::collections::BTreeMap;

use crate::ContainerConfig;
use kiln_core::diag::did_you_mean;

/// The instructions `changes` accepts.
const INSTRUCTIONS: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// One parsed instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Cmd(Vec<String>),
    Entrypoint(Vec<String>),
    Env(Vec<(String, String)>),
    Expose(Vec<String>),
    Label(Vec<(String, String)>),
    /// The image's author (deprecated in Dockerfiles, still taken by Packer's docs).
    Maintainer(String),
    /// An instruction kept for builds that start from this image.
    OnBuild(String),
    StopSignal(String),
    User(String),
    Volume(Vec<String>),
    Workdir(String),
}

/// What is wrong with a `changes` entry, and what would be right.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// An instruction with nothing after it.
    #[error("{instruction} needs an argument")]
    MissingArgument {
        /// The instruction, upper case.
        instruction: String,
    },
    /// A Dockerfile instruction that does not change an image's configuration.
    #[error("{instruction} cannot be applied to a committed image; use one of {}", INSTRUCTIONS.join(", "))]
    NotApplicable {
        /// The instruction, upper case.
        instruction: String,
    },
    /// A word that is no Dockerfile instruction.
    #[error(
        "unknown instruction {word:?}{}; changes accepts {}",
        .suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default(),
        INSTRUCTIONS.join(", ")
    )]
    UnknownInstruction {
        /// The word as written.
        word: String,
        /// The instruction it is closest to, if any.
        suggestion: Option<String>,
    },
    /// `CMD` or `ENTRYPOINT` without a command.
    #[error("needs a command, as [\"executable\", \"arg\"] or a shell command")]
    MissingCommand,
    /// A `[...]` argument that is not a JSON list of strings.
    #[error("{text} is not a JSON list of strings ({source})")]
    NotJsonList {
        /// The argument.
        text: String,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// A `"` without its closing `"`.
    #[error("unterminated quote in {text:?}")]
    UnterminatedQuote {
        /// The argument.
        text: String,
    },
    /// An `ENV` or `LABEL` word without `=`, or with nothing before it.
    #[error("{word:?} is not of the form key=value")]
    NotKeyValue {
        /// The word.
        word: String,
    },
    /// An `EXPOSE` word that is not a port with an optional protocol.
    #[error("{text:?} is not a port (like 8080 or 53/udp)")]
    NotAPort {
        /// The word.
        text: String,
    },
}

/// Parses one `changes` entry; the error says what is wrong and what would be right.
pub fn parse(line: &str) -> Result<Change, ChangeError> {
    let line = line.trim();
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let upper = word.to_ascii_uppercase();
    let need_args = || {
        if rest.is_empty() {
            Err(ChangeError::MissingArgument {
                instruction: upper.clone(),
            })
        } else {
            Ok(())
        }
    };
    Ok(match upper.as_str() {
        "CMD" => Change::Cmd(command_form(rest)?),
        "ENTRYPOINT" => Change::Entrypoint(command_form(rest)?),
        "ENV" => {
            need_args()?;
            Change::Env(pairs(rest, true)?)
        }
        "LABEL" => {
            need_args()?;
            Change::Label(pairs(rest, false)?)
        }
        "EXPOSE" => {
            need_args()?;
            let ports = words(rest)?
                .into_iter()
                .map(|p| port(&p))
                .collect::<Result<_, _>>()?;
            Change::Expose(ports)
        }
        "VOLUME" => {
            need_args()?;
            Change::Volume(if rest.starts_with('[') {
                json_list(rest)?
            } else {
                words(rest)?
            })
        }
        "USER" => {
            need_args()?;
            Change::User(rest.to_owned())
        }
        "WORKDIR" => {
            need_args()?;
            Change::Workdir(rest.to_owned())
        }
        "STOPSIGNAL" => {
            need_args()?;
            Change::StopSignal(rest.to_owned())
        }
        "MAINTAINER" => {
            need_args()?;
            Change::Maintainer(rest.to_owned())
        }
        "ONBUILD" => {
            need_args()?;
            let (inner, _) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let inner = inner.to_ascii_uppercase();
            // As Docker: a trigger cannot chain another, nor set the base or maintainer.
            if matches!(inner.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(ChangeError::NotApplicable {
                    instruction: format!("ONBUILD {inner}"),
                });
            }
            Change::OnBuild(rest.to_owned())
        }
        "RUN" | "COPY" | "ADD" | "FROM" | "ARG" | "HEALTHCHECK" | "SHELL" => {
            return Err(ChangeError::NotApplicable { instruction: upper })
        }
        _ => {
            return Err(ChangeError::UnknownInstruction {
                word: word.to_owned(),
                suggestion: did_you_mean(&upper, INSTRUCTIONS.iter().copied()).map(str::to_owned),
            });
        }
    })
}

/// Applies `change` to `config`.
pub fn apply(change: &Change, config: &mut ContainerConfig) {
    match change.clone() {
        Change::Cmd(c) => config.cmd = Some(c),
        Change::Entrypoint(e) => {
            config.entrypoint = Some(e);
            // As in a Dockerfile, a new entrypoint drops the inherited command.
            config.cmd = None;
        }
        Change::Env(vars) => {
            let env = config.env.get_or_insert_with(Vec::new);
            for (k, v) in vars {
                env.retain(|e| e.split_once('=').map(|(n, _)| n) != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
        }
        Change::Expose(ports) => {
            let exposed = config.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in ports {
                exposed.insert(p, Default::default());
            }
        }
        Change::Label(labels) => {
            let map = config.labels.get_or_insert_with(BTreeMap::new);
            map.extend(labels);
        }
        Change::StopSignal(s) => config.stop_signal = Some(s),
        // The image's author is not part of this configuration: the commit sets it.
        Change::Maintainer(_) => {}
        Change::OnBuild(trigger) => {
            let list = config
                .extra
                .entry("OnBuild".into())
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            match list {
                serde_json::Value::Array(items) => items.push(trigger.into()),
                other => *other = serde_json::Value::Array(vec![trigger.into()]),
            }
        }
        Change::User(u) => config.user = Some(u),
        Change::Volume(vols) => {
            let map = config.volumes.get_or_insert_with(BTreeMap::new);
            for v in vols {
                map.insert(v, Default::default());
            }
        }
        Change::Workdir(w) => config.working_dir = Some(w),
    }
}

/// `["a", "b"]` (exec form) or `a b` (shell form, run with `/bin/sh -c`).
fn command_form(rest: &str) -> Result<Vec<String>, ChangeError> {
    if rest.starts_with('[') {
        json_list(rest)
    } else if rest.is_empty() {
        Err(ChangeError::MissingCommand)
    } else {
        Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()])
    }
}

fn json_list(rest: &str) -> Result<Vec<String>, ChangeError> {
    serde_json::from_str(rest).map_err(|source| ChangeError::NotJsonList {
        text: rest.to_owned(),
        source,
    })
}

/// Splits on whitespace, honouring double quotes and backslash escapes.
fn words(text: &str) -> Result<Vec<String>, ChangeError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut any) = (false, false);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            '\\' => cur.extend(chars.next()),
            c if c.is_whitespace() && !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err(ChangeError::UnterminatedQuote {
            text: text.to_owned(),
        });
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// `K=V K2="v 2"`, or for ENV also the old `K value with spaces` form.
fn pairs(rest: &str, env: bool) -> Result<Vec<(String, String)>, ChangeError> {
    let first = rest.split_whitespace().next().unwrap_or("");
    if env && !first.contains('=') {
        let value = rest[first.len()..].trim();
        return Ok(vec![(first.to_owned(), value.to_owned())]);
    }
    words(rest)?
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(ChangeError::NotKeyValue { word: w }),
        })
        .collect()
}

fn port(text: &str) -> Result<String, ChangeError> {
    let (num, proto) = text.split_once('/').unwrap_or((text, "tcp"));
    if num.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(ChangeError::NotAPort {
            text: text.to_owned(),
        });
    }
    Ok(format!("{num}/{proto}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_docker_accepts() {
        assert_eq!(
            parse(r#"CMD ["nginx", "-g", "daemon off;"]"#).unwrap(),
            Change::Cmd(vec!["nginx".into(), "-g".into(), "daemon off;".into()])
        );
        assert_eq!(
            parse("entrypoint /start.sh --now").unwrap(),
            Change::Entrypoint(vec![
                "/bin/sh".into(),
                "-c".into(),
                "/start.sh --now".into()
            ])
        );
        assert_eq!(
            parse(r#"ENV A=1 B="two words""#).unwrap(),
            Change::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into())
            ])
        );
        assert_eq!(
            parse("ENV GREETING hello world").unwrap(),
            Change::Env(vec![("GREETING".into(), "hello world".into())])
        );
        assert_eq!(
            parse("EXPOSE 80 53/udp").unwrap(),
            Change::Expose(vec!["80/tcp".into(), "53/udp".into()])
        );
        assert_eq!(
            parse("WORKDIR /srv").unwrap(),
            Change::Workdir("/srv".into())
        );
        assert_eq!(
            parse("VOLUME [\"/data\"]").unwrap(),
            Change::Volume(vec!["/data".into()])
        );
    }

    #[test]
    fn rejects_what_it_cannot_apply() {
        let e = parse("ENTRYPIONT [\"x\"]").unwrap_err().to_string();
        assert!(e.contains("did you mean ENTRYPOINT?"), "{e}");
        assert!(parse("RUN apt-get update")
            .unwrap_err()
            .to_string()
            .contains("cannot be applied"));
        assert!(parse("EXPOSE http")
            .unwrap_err()
            .to_string()
            .contains("not a port"));
        assert!(parse("LABEL novalue")
            .unwrap_err()
            .to_string()
            .contains("key=value"));
        assert!(parse("CMD [\"unterminated\"")
            .unwrap_err()
            .to_string()
            .contains("JSON list"));
    }

    #[test]
    fn entrypoint_resets_cmd_and_env_replaces() {
        let mut c = ContainerConfig {
            cmd: Some(vec!["bash".into()]),
            env: Some(vec!["PATH=/bin".into(), "A=0".into()]),
            ..Default::default()
        };
        apply(&parse("ENTRYPOINT [\"/init\"]").unwrap(), &mut c);
        apply(&parse("ENV A=1").unwrap(), &mut c);
        assert_eq!(c.cmd, None);
        assert_eq!(c.env, Some(vec!["PATH=/bin".into(), "A=1".into()]));
    }

    #[test]
    fn onbuild_triggers_are_kept_in_order_and_maintainer_is_read() {
        let mut c = ContainerConfig::default();
        apply(&parse("ONBUILD RUN make").unwrap(), &mut c);
        apply(&parse("onbuild COPY . /src").unwrap(), &mut c);
        assert_eq!(
            c.extra.get("OnBuild"),
            Some(&serde_json::json!(["RUN make", "COPY . /src"]))
        );
        assert_eq!(
            parse("MAINTAINER Ada <ada@example.org>").unwrap(),
            Change::Maintainer("Ada <ada@example.org>".into())
        );
        let e = parse("ONBUILD ONBUILD RUN x").unwrap_err().to_string();
        assert!(e.contains("ONBUILD ONBUILD cannot be applied"), "{e}");
    }
}
