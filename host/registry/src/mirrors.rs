//! Where a pull goes: registry mirrors and remaps, as the daemonless tools (podman,
//! skopeo, buildah) read them from `registries.conf`, and as Docker reads
//! `registry-mirrors` from its daemon's `daemon.json`. CI runners commonly pull Docker Hub
//! images through a pull-through mirror this way; pushes never go to a mirror.
//!
//! Read, in `containers-registries.conf(5)`'s terms: `[[registry]]` tables with
//! `prefix` (default: `location`), `location`, `insecure`, `blocked`, and
//! `[[registry.mirror]]` tables with `location`, `insecure` and `pull-from-mirror`
//! (`all`, `digest-only`, `tag-only`). The file is `$CONTAINERS_REGISTRIES_CONF` when
//! set, else `~/.config/containers/registries.conf` when it exists, else
//! `/etc/containers/registries.conf`. Docker's mirrors come from
//! `/etc/docker/daemon.json` and serve Docker Hub only, before its own endpoint.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, Reference};

/// One place to pull an image from: the reference there and whether to speak plain
/// http to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub reference: Reference,
    pub insecure: bool,
    /// A mirror, not the image's own registry (its failure falls through to the next).
    pub mirror: bool,
}

#[derive(Debug, Default, Deserialize)]
struct RegistriesConf {
    #[serde(default)]
    registry: Vec<RegistryTable>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RegistryTable {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror: Vec<MirrorTable>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct MirrorTable {
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    pull_from_mirror: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DaemonJson {
    #[serde(default, rename = "registry-mirrors")]
    registry_mirrors: Vec<String>,
}

/// The `registries.conf` that applies, if any.
fn registries_conf_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CONTAINERS_REGISTRIES_CONF") {
        return Some(PathBuf::from(p));
    }
    let user = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".config/containers/registries.conf"))
        .filter(|p| p.is_file());
    user.or_else(|| Some(PathBuf::from("/etc/containers/registries.conf")))
        .filter(|p| p.is_file())
}

/// The places to pull `reference` from, in order: its mirrors, then its registry (or
/// where a `[[registry]]` remaps it). A blocked registry is an error.
pub fn pull_sources(reference: &Reference) -> Result<Vec<Source>, Error> {
    let conf = match registries_conf_path() {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::Config {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            toml::from_str::<RegistriesConf>(&text).map_err(|e| Error::Config {
                path: path.clone(),
                reason: e.message().to_owned(),
            })?
        }
        None => RegistriesConf::default(),
    };
    let daemon = std::fs::read("/etc/docker/daemon.json")
        .ok()
        .and_then(|b| serde_json::from_slice::<DaemonJson>(&b).ok())
        .unwrap_or_default();
    sources_from(reference, &conf, &daemon.registry_mirrors)
}

fn sources_from(
    reference: &Reference,
    conf: &RegistriesConf,
    docker_mirrors: &[String],
) -> Result<Vec<Source>, Error> {
    let name = format!("{}/{}", reference.registry(), reference.repository());
    // The longest matching prefix wins, as containers/image decides.
    let table = conf
        .registry
        .iter()
        .filter_map(|t| {
            let prefix = t.prefix.as_deref().or(t.location.as_deref())?;
            matches(prefix, &name).map(|len| (len, prefix, t))
        })
        .max_by_key(|(len, _, _)| *len);
    let mut sources = Vec::new();
    let Some((_, prefix, table)) = table else {
        for m in docker_mirrors
            .iter()
            .filter(|_| reference.registry() == "docker.io")
        {
            let location = m
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/');
            if let Some(r) = rewrite(reference, &name, "docker.io", location) {
                let insecure = m.starts_with("http://");
                sources.push(Source {
                    reference: r,
                    insecure,
                    mirror: true,
                });
            }
        }
        sources.push(Source {
            reference: reference.clone(),
            insecure: false,
            mirror: false,
        });
        return Ok(sources);
    };
    if table.blocked {
        return Err(Error::Blocked {
            reference: reference.to_string(),
            prefix: prefix.to_owned(),
        });
    }
    // A wildcard prefix matches a host; what it matched is what is replaced.
    let matched = match prefix.strip_prefix("*.") {
        Some(_) => reference.registry().to_owned(),
        None => prefix.to_owned(),
    };
    let by_digest = reference.digest().is_some();
    for m in &table.mirror {
        let wanted = match m.pull_from_mirror.as_deref().unwrap_or("all") {
            "digest-only" => by_digest,
            "tag-only" => !by_digest,
            _ => true,
        };
        if !wanted {
            continue;
        }
        if let Some(r) = rewrite(reference, &name, &matched, &m.location) {
            sources.push(Source {
                reference: r,
                insecure: m.insecure,
                mirror: true,
            });
        }
    }
    let location = table.location.as_deref().unwrap_or(&matched);
    let own = rewrite(reference, &name, &matched, location).unwrap_or_else(|| reference.clone());
    sources.push(Source {
        reference: own,
        insecure: table.insecure,
        mirror: false,
    });
    Ok(sources)
}

/// How many characters of `name` (`host/repository`) `prefix` matches, if it does: the
/// whole name, or up to a `/`; `*.example.com` matches any host under example.com.
fn matches(prefix: &str, name: &str) -> Option<usize> {
    let prefix = prefix.trim_end_matches('/');
    if let Some(domain) = prefix.strip_prefix("*.") {
        let host = name.split('/').next().unwrap_or_default();
        let bare = host.split(':').next().unwrap_or_default();
        return bare
            .ends_with(&format!(".{domain}"))
            .then_some(domain.len());
    }
    // Docker Hub's old name is its name.
    let prefix = match prefix.strip_prefix("index.docker.io") {
        Some(rest) => format!("docker.io{rest}"),
        None => prefix.to_owned(),
    };
    match name.strip_prefix(prefix.as_str()) {
        Some("") => Some(prefix.len()),
        Some(rest) if rest.starts_with('/') => Some(prefix.len()),
        _ => None,
    }
}

/// `reference` with the `matched` start of its name replaced by `location`.
fn rewrite(reference: &Reference, name: &str, matched: &str, location: &str) -> Option<Reference> {
    let rest = name.strip_prefix(matched)?;
    let mut text = format!("{}{rest}", location.trim_end_matches('/'));
    // A location that is a bare host keeps its first component a host, as Docker reads it.
    if !text
        .split('/')
        .next()
        .is_some_and(|h| h.contains(['.', ':']) || h == "localhost")
    {
        return None;
    }
    if let Some(tag) = reference.tag() {
        text = format!("{text}:{tag}");
    }
    if let Some(d) = reference.digest() {
        text = format!("{text}@{d}");
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> RegistriesConf {
        toml::from_str(text).unwrap()
    }

    fn names(r: &str, c: &RegistriesConf, docker: &[&str]) -> Vec<String> {
        let docker: Vec<String> = docker.iter().map(|s| s.to_string()).collect();
        sources_from(&r.parse().unwrap(), c, &docker)
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}{}{}",
                    s.reference,
                    if s.insecure { " insecure" } else { "" },
                    if s.mirror { " mirror" } else { "" }
                )
            })
            .collect()
    }

    #[test]
    fn docker_hub_through_a_mirror_then_itself() {
        let c = conf(
            r#"
unqualified-search-registries = ["docker.io"]

[[registry]]
location = "docker.io"

[[registry.mirror]]
location = "127.0.0.1:5000"
insecure = true

[[registry.mirror]]
location = "mirror.example.com/hub"
"#,
        );
        assert_eq!(
            names("ubuntu:xenial", &c, &[]),
            [
                "127.0.0.1:5000/library/ubuntu:xenial insecure mirror",
                "mirror.example.com/hub/library/ubuntu:xenial mirror",
                "docker.io/library/ubuntu:xenial",
            ]
        );
        // Other registries are untouched.
        assert_eq!(names("quay.io/a/b:1", &c, &[]), ["quay.io/a/b:1"]);
    }

    #[test]
    fn the_longest_prefix_wins_and_remaps_and_blocks_apply() {
        let c = conf(
            r#"
[[registry]]
prefix = "example.com"
location = "other.example.net"

[[registry]]
prefix = "example.com/team"
location = "team.example.net/mirror/team"

[[registry]]
prefix = "*.blocked.example"
blocked = true
"#,
        );
        assert_eq!(
            names("example.com/x/y:1", &c, &[]),
            ["other.example.net/x/y:1"]
        );
        assert_eq!(
            names("example.com/team/app:2", &c, &[]),
            ["team.example.net/mirror/team/app:2"]
        );
        // A prefix matches whole components only.
        assert_eq!(
            names("example.com/teamwork/a:1", &c, &[]),
            ["other.example.net/teamwork/a:1"]
        );
        let err = sources_from(&"r.blocked.example/a:1".parse().unwrap(), &c, &[]).unwrap_err();
        assert!(err.to_string().contains("blocked"), "{err}");
    }

    #[test]
    fn pull_from_mirror_chooses_by_tag_or_digest() {
        let c = conf(
            r#"
[[registry]]
location = "docker.io"
[[registry.mirror]]
location = "digests.example.com"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tags.example.com"
pull-from-mirror = "tag-only"
"#,
        );
        let digest = format!("busybox@sha256:{}", "a".repeat(64));
        assert_eq!(
            names(&digest, &c, &[]),
            [
                format!(
                    "digests.example.com/library/busybox@sha256:{} mirror",
                    "a".repeat(64)
                ),
                format!("docker.io/library/busybox@sha256:{}", "a".repeat(64)),
            ]
        );
        assert_eq!(
            names("busybox", &c, &[]),
            [
                "tags.example.com/library/busybox:latest mirror",
                "docker.io/library/busybox:latest"
            ]
        );
    }

    #[test]
    fn dockers_registry_mirrors_serve_docker_hub_alone() {
        let none = RegistriesConf::default();
        assert_eq!(
            names(
                "ubuntu",
                &none,
                &["https://mirror.gcr.io", "http://127.0.0.1:5000/"]
            ),
            [
                "mirror.gcr.io/library/ubuntu:latest mirror",
                "127.0.0.1:5000/library/ubuntu:latest insecure mirror",
                "docker.io/library/ubuntu:latest",
            ]
        );
        assert_eq!(
            names("ghcr.io/o/r:1", &none, &["https://mirror.gcr.io"]),
            ["ghcr.io/o/r:1"]
        );
    }
}
