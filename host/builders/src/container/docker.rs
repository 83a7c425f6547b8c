//! `source "docker"`: Packer's docker builder, option for option, on the container
//! builder's daemonless runtime. The options are read here and turned into a
//! [`ContainerBuilder`]; what runs is the same.
//!
//! What a Docker daemon does that this runtime does not (yet) is refused by name, with
//! what to write instead, rather than silently ignored.

use std::collections::BTreeMap;
use std::path::Path;

use kiln_core::config::{decode, FieldError};
use kiln_registry::{Platform, RegistryAuth};
use serde::Deserialize;

use kiln_container::{Mount, MountSource};

use super::base::BaseSource;
use super::{ContainerBuilder, Flavour, Output};
use kiln_registry::changes;

/// The block a template writes, with Packer's names (and Kiln's `env`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DockerConfig {
    image: Option<String>,
    build: Option<serde_json::Value>,
    pull: Option<bool>,
    commit: bool,
    discard: bool,
    export_path: Option<String>,
    changes: Vec<String>,
    author: Option<String>,
    message: Option<String>,
    platform: Option<String>,
    run_command: Option<Vec<String>>,
    volumes: BTreeMap<String, String>,
    container_dir: Option<String>,
    privileged: bool,
    cap_add: Vec<String>,
    cap_drop: Vec<String>,
    device: Vec<String>,
    tmpfs: Vec<String>,
    runtime: Option<String>,
    exec_user: Option<String>,
    fix_upload_owner: Option<bool>,
    windows_container: bool,
    docker_path: Option<String>,
    pty: bool,
    login: bool,
    login_server: Option<String>,
    login_username: Option<String>,
    login_password: Option<String>,
    ecr_login: bool,
    aws_access_key: Option<String>,
    aws_secret_key: Option<String>,
    aws_token: Option<String>,
    aws_profile: Option<String>,
    aws_force_use_public_ecr: bool,
    communicator: Option<String>,
    /// Kiln's: variables every command in the container gets.
    env: BTreeMap<String, String>,
}

/// What a `run_command` can say to a runtime without a daemon.
#[derive(Debug, Default, PartialEq, Eq)]
struct RunCommand {
    env: BTreeMap<String, String>,
    user: Option<String>,
    hostname: Option<String>,
    host_network: Option<bool>,
}

/// Reads a `run_command`: the flags that keep a container alive for `docker exec`
/// (`-d`, `-i`, `-t`, `--entrypoint`, `--rm`, `--init`, `--name`) mean nothing here and
/// are accepted; `-e`, `-u`, `--hostname` and `--network` are honoured; the image must
/// appear as `{{.Image}}`, and the command after it (the container's main process, which
/// Kiln's init stands in for) is passed over. Anything else is refused, naming the word.
fn run_command(words: &[String]) -> Result<RunCommand, String> {
    let mut out = RunCommand::default();
    let mut image_seen = false;
    let mut it = words.iter().map(String::as_str).peekable();
    // A flag's value: `--flag=value`, or the next word.
    fn value<'a>(
        word: &'a str,
        inline: Option<&'a str>,
        it: &mut dyn Iterator<Item = &'a str>,
    ) -> Result<&'a str, String> {
        match inline {
            Some(v) => Ok(v),
            None => it.next().ok_or_else(|| format!("{word} needs a value")),
        }
    }
    let mut after_dashes = false;
    while let Some(word) = it.next() {
        if image_seen {
            // The container's main command (Packer's fixtures end with /bin/sh): what
            // keeps a Docker container alive, whose place Kiln's own init takes.
            break;
        }
        if word.replace(' ', "") == "{{.Image}}" {
            image_seen = true;
            continue;
        }
        if after_dashes || !word.starts_with('-') {
            return Err(format!(
                "{word:?}: the image is named by `image`; write {{{{.Image}}}} where it goes"
            ));
        }
        if word == "--" {
            after_dashes = true;
            continue;
        }
        let (flag, inline) = match word.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (word, None),
        };
        match flag {
            "--detach" | "--interactive" | "--tty" | "--rm" | "--init" => {}
            f if f.len() > 1
                && !f.starts_with("--")
                && f[1..].chars().all(|c| matches!(c, 'd' | 'i' | 't')) => {}
            "--entrypoint" | "--name" => {
                value(flag, inline, &mut it)?;
            }
            "-e" | "--env" => {
                let pair = value(flag, inline, &mut it)?;
                let (k, v) = match pair.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    // `-e NAME` passes the variable on from the environment Kiln runs in.
                    None => (pair.to_owned(), std::env::var(pair).unwrap_or_default()),
                };
                out.env.insert(k, v);
            }
            // `docker exec` runs as the user the container was started as.
            "-u" | "--user" => out.user = Some(value(flag, inline, &mut it)?.to_owned()),
            "-h" | "--hostname" => out.hostname = Some(value(flag, inline, &mut it)?.to_owned()),
            "--network" | "--net" => {
                out.host_network = Some(match value(flag, inline, &mut it)? {
                    "host" => true,
                    "none" => false,
                    other => {
                        return Err(format!(
                            "--network {other:?}: the container has either no network (\"none\") \
                             or the host's (\"host\")"
                        ))
                    }
                })
            }
            _ => {
                return Err(format!(
                    "{word:?} cannot apply without a Docker daemon; run_command may hold -d, -i, \
                     -t, --entrypoint, --rm, --init, --name, -e, -u, --hostname, --network \
                     and {{{{.Image}}}}"
                ))
            }
        }
    }
    if !image_seen {
        return Err("run_command must name the image as {{.Image}}".into());
    }
    Ok(out)
}

/// A refusal of an option this runtime does not provide.
fn not_yet(field: &str, what: &str) -> FieldError {
    FieldError::new(
        field,
        format!(
            "{what} is not supported by Kiln's daemonless container runtime yet; remove \
             {field} (provisioners run as root, on the image's filesystem alone)"
        ),
    )
}

impl ContainerBuilder {
    /// Checks a `source "docker"` block and makes the container builder that runs it.
    pub fn from_docker(
        config: &serde_json::Map<String, serde_json::Value>,
        cwd: &Path,
        source_name: &str,
    ) -> Result<Self, FieldError> {
        let c: DockerConfig = decode(config)?;
        // Options with no effect here, accepted as Packer accepts them: where the host's
        // temporary directory is mounted (uploads are copied straight in), the docker
        // executable, a pseudo-terminal for exec, and AWS keys for a login that is refused
        // below.
        let _ = (
            &c.container_dir,
            &c.docker_path,
            c.pty,
            &c.aws_access_key,
            &c.aws_secret_key,
            &c.aws_token,
            &c.aws_profile,
            c.aws_force_use_public_ecr,
        );
        if c.build.is_some() {
            return Err(FieldError::new(
                "build",
                "a `build` block (docker build from a Dockerfile) is not supported yet; \
                 build the base elsewhere and name it in `image`",
            ));
        }
        let Some(image) = c.image else {
            return Err(FieldError::block(
                "missing 'image' attribute or 'build' section, either needs to be specified \
                 for a build to run.",
            ));
        };
        if c.windows_container {
            return Err(FieldError::new(
                "windows_container",
                "Windows containers cannot run on this Linux host",
            ));
        }
        if let Some(comm) = c.communicator.as_deref() {
            if comm != "docker" && comm != "none" {
                return Err(FieldError::new(
                    "communicator",
                    format!(
                        "communicator {comm:?}: provisioners reach the container directly; \
                         use \"docker\" (the default) or \"none\""
                    ),
                ));
            }
        }
        let platform = match c.platform.as_deref().filter(|p| !p.is_empty()) {
            None => None,
            Some(p) => Some(
                p.parse::<Platform>()
                    .map_err(|e| FieldError::new("platform", e))?
                    .normalized(),
            ),
        };
        if let Some(p) = platform.as_ref().filter(|p| p.os != "linux") {
            return Err(FieldError::new(
                "platform",
                format!("platform {p}: only Linux containers run on this host"),
            ));
        }
        if c.ecr_login {
            if c.login_server.is_none() {
                return Err(FieldError::new(
                    "ecr_login",
                    "ECR login requires login server to be provided.",
                ));
            }
            return Err(FieldError::new(
                "ecr_login",
                "logging in to Amazon ECR is not supported yet; give login_username and \
                 login_password (from `aws ecr get-login-password`) with login = true",
            ));
        }
        if c.runtime.is_some() {
            return Err(not_yet("runtime", "choosing an OCI runtime"));
        }
        let mut mounts = Vec::new();
        for (host, target) in &c.volumes {
            mounts.push(volume(host, target, cwd).map_err(|e| FieldError::new("volumes", e))?);
        }
        for entry in &c.tmpfs {
            mounts.push(tmpfs(entry).map_err(|e| FieldError::new("tmpfs", e))?);
        }
        for entry in &c.device {
            mounts.push(device(entry).map_err(|e| FieldError::new("device", e))?);
        }
        let caps = capabilities(c.privileged, &c.cap_add, &c.cap_drop)?;
        let run = match &c.run_command {
            Some(words) => run_command(words).map_err(|e| FieldError::new("run_command", e))?,
            None => RunCommand::default(),
        };
        let exec_user = match c.exec_user.as_deref().map(str::trim) {
            None | Some("") => String::new(),
            Some(u) if u.contains(char::is_whitespace) || u.matches(':').count() > 1 => {
                return Err(FieldError::new(
                    "exec_user",
                    format!("{u:?} is not user[:group] (names or numbers)"),
                ))
            }
            Some(u) => u.to_owned(),
        };

        let outputs = [c.commit, c.discard, c.export_path.is_some()];
        match outputs.iter().filter(|o| **o).count() {
            0 => {
                return Err(FieldError::block(
                    "No instructions given for handling the artifact; expected commit, \
                     discard, or export_path",
                ))
            }
            1 => {}
            _ => {
                return Err(FieldError::block(
                    "Cannot specify more than one of commit, discard, and export_path",
                ))
            }
        }
        let output = if c.commit {
            Output::Commit {
                path: cwd.join(format!("output-{source_name}/image.tar")),
                tag: "latest".into(),
                push: None,
            }
        } else if let Some(p) = c.export_path {
            let path = cwd.join(&p);
            if path.is_dir() {
                return Err(FieldError::new(
                    "export_path",
                    "export_path must be a file, not a directory",
                ));
            }
            Output::Export(path)
        } else {
            Output::Discard
        };
        // Read and applied by a commit alone: Packer's docker builder passes `changes`
        // to `docker commit` and nowhere else.
        let changes: Vec<_> = c
            .changes
            .iter()
            .filter(|_| c.commit)
            .map(|line| {
                changes::parse(line)
                    .map_err(|e| FieldError::new("changes", format!("{line:?}: {e}")))
            })
            .collect::<Result<_, _>>()?;

        let base = BaseSource::parse_image(&image, cwd, c.pull.unwrap_or(true))
            .map_err(|e| FieldError::new("image", e.to_string()))?;
        let auth = if c.login {
            match (c.login_username, c.login_password) {
                (Some(username), Some(password)) => login_applies(c.login_server.as_deref(), &base)
                    .then_some(RegistryAuth { username, password }),
                _ => {
                    return Err(FieldError::new(
                        "login",
                        "login = true needs login_username and login_password",
                    ))
                }
            }
        } else {
            None
        };
        let mut env = run.env;
        env.extend(c.env);
        Ok(ContainerBuilder {
            base,
            output,
            changes,
            auth,
            author: c.author,
            message: c.message,
            env,
            host_network: run.host_network.unwrap_or(false),
            hostname: run.hostname.unwrap_or_else(|| source_name.to_owned()),
            caps,
            mounts,
            exec_user,
            run_user: run.user,
            fix_upload_owner: c.fix_upload_owner.unwrap_or(true),
            platform,
            flavour: Flavour::Docker,
        })
    }
}

/// An absolute path in the container: Docker's form of a mount's target.
fn container_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') || path.split('/').any(|p| p == "..") {
        return Err(format!(
            "{path:?}: the path in the container must be absolute, without .."
        ));
    }
    Ok(path.to_owned())
}

/// One of `volumes` (host path = container path, with `:ro` or `:rw` after it, as in
/// `docker run -v`): `~/` is the home directory, `./` and `../` start from the template's
/// directory; the host path must exist (a plain name would be a Docker named volume,
/// which has no meaning here).
fn volume(host: &str, target: &str, cwd: &Path) -> Result<Mount, String> {
    let source = if let Some(rest) = host.strip_prefix("~/") {
        std::env::var_os("HOME")
            .map(std::path::PathBuf::from)
            .ok_or_else(|| format!("{host:?}: HOME is not set"))?
            .join(rest)
    } else if host.starts_with('/') {
        std::path::PathBuf::from(host)
    } else if host.starts_with("./") || host.starts_with("../") || host == "." {
        cwd.join(host)
    } else {
        return Err(format!(
            "{host:?} is a Docker named volume, which has no meaning without a daemon; give \
             a host path (absolute, ~/, or ./ from the template's directory)"
        ));
    };
    if !source.exists() {
        return Err(format!(
            "{}: no such file or directory on this host",
            source.display()
        ));
    }
    let mut parts = target.split(':');
    let path = container_path(parts.next().unwrap_or_default())?;
    let mut read_only = false;
    for option in parts.flat_map(|o| o.split(',')) {
        match option {
            "ro" => read_only = true,
            // SELinux relabelling and propagation have nothing to change here.
            "rw" | "z" | "Z" | "" | "rprivate" | "private" => {}
            other => {
                return Err(format!(
                    "{target:?}: unknown mount option {other:?} (ro or rw)"
                ))
            }
        }
    }
    Ok(Mount {
        target: path,
        source: MountSource::Bind(source),
        read_only,
    })
}

/// One of `tmpfs`: `/path` or `/path:size=64m,mode=1777`, as `docker run --tmpfs`.
fn tmpfs(entry: &str) -> Result<Mount, String> {
    let (path, options) = entry.split_once(':').unwrap_or((entry, ""));
    Ok(Mount {
        target: container_path(path)?,
        source: MountSource::Tmpfs(options.to_owned()),
        read_only: false,
    })
}

/// One of `device`: `/dev/host[:/dev/container[:rwm]]`, as `docker run --device`; a
/// device without `w` in its permissions is bound read-only.
fn device(entry: &str) -> Result<Mount, String> {
    let mut parts = entry.split(':');
    let host = parts.next().unwrap_or_default();
    let (target, perms) = match (parts.next(), parts.next()) {
        (Some(t), p) if t.starts_with('/') => (t, p),
        (Some(p), None) => (host, Some(p)),
        (None, _) => (host, None),
        (Some(t), _) => return Err(format!("{entry:?}: {t:?} is not a path in the container")),
    };
    if let Some(p) = perms {
        if p.is_empty() || !p.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(format!("{entry:?}: permissions are letters of rwm"));
        }
    }
    let source = std::path::PathBuf::from(host);
    if !host.starts_with('/') || !source.exists() {
        return Err(format!("{host:?}: no such device on this host"));
    }
    Ok(Mount {
        target: container_path(target)?,
        source: MountSource::Bind(source),
        read_only: perms.is_some_and(|p| !p.contains('w')),
    })
}

/// The capabilities commands keep, as Docker computes them: the default set, less
/// `cap_drop` (`ALL` empties it), plus `cap_add` (`ALL` is every one but those dropped by
/// name); `privileged` is every one.
fn capabilities(privileged: bool, add: &[String], drop: &[String]) -> Result<Vec<u32>, FieldError> {
    let all: Vec<u32> = (0..kiln_container::CAPABILITIES.len())
        .filter_map(|i| u32::try_from(i).ok())
        .collect();
    if privileged {
        return Ok(all);
    }
    let is_all = |n: &String| n.eq_ignore_ascii_case("ALL");
    let named = |field: &str, names: &[String]| -> Result<Vec<u32>, FieldError> {
        names
            .iter()
            .filter(|n| !is_all(n))
            .map(|n| {
                kiln_container::capability(n).ok_or_else(|| {
                    FieldError::new(
                        field,
                        format!(
                            "{n:?} is not a capability; the names are {}",
                            kiln_container::CAPABILITIES.join(", ")
                        ),
                    )
                })
            })
            .collect()
    };
    let (added, dropped) = (named("cap_add", add)?, named("cap_drop", drop)?);
    let mut caps: Vec<u32> = if add.iter().any(is_all) {
        all
    } else if drop.iter().any(is_all) {
        Vec::new()
    } else {
        kiln_container::DEFAULT_CAPS.to_vec()
    };
    caps.retain(|c| !dropped.contains(c));
    caps.extend(added);
    caps.sort_unstable();
    caps.dedup();
    Ok(caps)
}

/// Whether credentials for `server` are the ones the base's registry takes (Docker logs
/// in to that server; pulls from any other stay anonymous).
fn login_applies(server: Option<&str>, base: &BaseSource) -> bool {
    let (Some(server), BaseSource::Registry { reference, .. }) = (server, base) else {
        return true;
    };
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    let registry = reference.registry();
    host == registry
        || (matches!(
            host,
            "docker.io" | "index.docker.io" | "registry-1.docker.io"
        ) && matches!(
            registry,
            "docker.io" | "index.docker.io" | "registry-1.docker.io"
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn packers_default_run_command_and_the_flags_that_mean_something_are_read() {
        let default = words(&["-d", "-i", "-t", "--entrypoint=/bin/sh", "--", "{{.Image}}"]);
        assert_eq!(run_command(&default).unwrap(), RunCommand::default());
        let r = run_command(&words(&[
            "-dit",
            "-e",
            "A=1",
            "--env=B=2",
            "--hostname",
            "web",
            "--network=host",
            "--name",
            "x",
            "{{ .Image }}",
        ]))
        .unwrap();
        assert_eq!(r.env.get("A").map(String::as_str), Some("1"));
        assert_eq!(r.env.get("B").map(String::as_str), Some("2"));
        assert_eq!(r.hostname.as_deref(), Some("web"));
        assert_eq!(r.host_network, Some(true));
        // Packer's own fixture: a user, and the container's command after the image.
        let r = run_command(&words(&[
            "-d",
            "-i",
            "-t",
            "-u",
            "42",
            "{{.Image}}",
            "/bin/sh",
        ]))
        .unwrap();
        assert_eq!(r.user.as_deref(), Some("42"));
    }

    #[test]
    fn a_run_command_that_cannot_apply_is_refused_naming_the_word() {
        for (cmd, needle) in [
            (&["-d", "-v", "/a:/b", "{{.Image}}"][..], "\"-v\""),
            (&["-d", "ubuntu"][..], "\"ubuntu\""),
            (&["-d"][..], "must name the image"),
            (&["--network=bridge", "{{.Image}}"][..], "bridge"),
            (&["-e"][..], "-e needs a value"),
        ] {
            let e = run_command(&words(cmd)).unwrap_err();
            assert!(e.contains(needle), "{cmd:?}: {e}");
        }
    }

    #[test]
    fn capabilities_are_computed_as_docker_computes_them() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        let default = kiln_container::DEFAULT_CAPS.to_vec();
        assert_eq!(capabilities(false, &[], &[]).unwrap(), default);
        let c = capabilities(false, &s(&["SYS_ADMIN", "cap_mknod"]), &s(&["CHOWN"])).unwrap();
        assert!(
            c.contains(&21) && c.contains(&27) && !c.contains(&0),
            "{c:?}"
        );
        assert_eq!(
            capabilities(false, &s(&["NET_ADMIN"]), &s(&["ALL"])).unwrap(),
            vec![12]
        );
        let all = capabilities(false, &s(&["ALL"]), &s(&["SYS_ADMIN"])).unwrap();
        assert!(!all.contains(&21) && all.contains(&16), "{all:?}");
        assert_eq!(capabilities(true, &[], &s(&["ALL"])).unwrap().len(), 41);
        let e = capabilities(false, &s(&["SYS_ADMN"]), &[]).unwrap_err();
        assert!(e.to_string().contains("SYS_ADMN"), "{e}");
    }

    #[test]
    fn volumes_tmpfs_and_devices_are_read_as_docker_reads_them() {
        let cwd = Path::new("/tmp");
        let v = volume("/tmp", "/data:ro", cwd).unwrap();
        assert_eq!((v.target.as_str(), v.read_only), ("/data", true));
        assert_eq!(v.source, MountSource::Bind("/tmp".into()));
        assert_eq!(
            volume("./", "/w", cwd).unwrap().source,
            MountSource::Bind("/tmp/./".into())
        );
        assert!(volume("cache", "/c", cwd)
            .unwrap_err()
            .contains("named volume"));
        assert!(volume("/no/such/dir", "/c", cwd)
            .unwrap_err()
            .contains("no such file"));
        assert!(volume("/tmp", "relative", cwd)
            .unwrap_err()
            .contains("absolute"));
        assert!(volume("/tmp", "/c:exec", cwd)
            .unwrap_err()
            .contains("unknown mount option"));
        let t = tmpfs("/run:size=64m,noexec").unwrap();
        assert_eq!(t.source, MountSource::Tmpfs("size=64m,noexec".into()));
        let d = device("/dev/null:/dev/nothing:r").unwrap();
        assert_eq!((d.target.as_str(), d.read_only), ("/dev/nothing", true));
        assert_eq!(device("/dev/null:rw").unwrap().target, "/dev/null");
        assert!(device("/dev/nonexistent")
            .unwrap_err()
            .contains("no such device"));
        assert!(device("/dev/null:/dev/x:rwx").unwrap_err().contains("rwm"));
    }

    #[test]
    fn login_applies_to_the_registry_it_names() {
        let base = |r: &str| BaseSource::Registry {
            reference: r.parse().unwrap(),
            pull: true,
        };
        assert!(login_applies(None, &base("quay.io/a/b:1")));
        assert!(login_applies(
            Some("https://quay.io"),
            &base("quay.io/a/b:1")
        ));
        assert!(!login_applies(Some("quay.io"), &base("ghcr.io/a/b:1")));
        assert!(login_applies(
            Some("https://index.docker.io/v1/"),
            &base("ubuntu:22.04")
        ));
    }
}
