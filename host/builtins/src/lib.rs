//! The builtin components Kiln embeds (provisioners `shell`, `file`; post-processors
//! `checksum`, `compress`, `manifest`, `artifice`), and the grant each one's
//! configuration implies: a builtin reaches exactly the host paths its configuration
//! names, and nothing else.

use std::path::{Path, PathBuf};

use kiln_core::Grant;

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

fn find(world: &str, name: &str) -> Option<&'static [u8]> {
    EMBEDDED
        .iter()
        .find(|(w, n, _)| *w == world && *n == name)
        .map(|(_, _, bytes)| *bytes)
}

/// The bytes of the builtin provisioner `name`.
pub fn component(name: &str) -> Option<&'static [u8]> {
    find("provisioner", name)
}

/// The bytes of the builtin post-processor `name`.
pub fn post_processor(name: &str) -> Option<&'static [u8]> {
    find("post-processor", name)
}

/// The names of every builtin provisioner.
pub fn names() -> impl Iterator<Item = &'static str> {
    EMBEDDED
        .iter()
        .filter(|(w, _, _)| *w == "provisioner")
        .map(|(_, n, _)| *n)
}

/// The names of every builtin post-processor component.
pub fn post_processor_names() -> impl Iterator<Item = &'static str> {
    EMBEDDED
        .iter()
        .filter(|(w, _, _)| *w == "post-processor")
        .map(|(_, n, _)| *n)
}

/// Where a post-processor may write, given its `output` (or `default`): the output file
/// itself, or, when the name is a template (`packer_{{.BuildName}}.tar.gz`), the
/// directory the fixed part of it names.
fn output_grant(
    config: &serde_json::Map<String, serde_json::Value>,
    default: &str,
    cwd: &Path,
) -> PathBuf {
    let output = config
        .get("output")
        .and_then(|o| o.as_str())
        .unwrap_or(default);
    match output.find("{{") {
        None => cwd.join(output),
        Some(at) => {
            let fixed = &output[..at];
            match fixed.rfind('/') {
                Some(slash) => cwd.join(&fixed[..=slash]),
                None => cwd.to_owned(),
            }
        }
    }
}

/// The grant a builtin post-processor's configuration implies, on top of reading its
/// input artifact (which every post-processor gets).
pub fn post_processor_grant(
    name: &str,
    config: &serde_json::Map<String, serde_json::Value>,
    cwd: &Path,
) -> Grant {
    match name {
        "checksum" => Grant {
            write: vec![output_grant(
                config,
                "packer_{{.BuildName}}_{{.ChecksumType}}.checksum",
                cwd,
            )],
            ..Grant::default()
        },
        "compress" => Grant {
            write: vec![output_grant(
                config,
                "packer_{{.BuildName}}_{{.BuilderType}}",
                cwd,
            )],
            ..Grant::default()
        },
        "manifest" => Grant {
            write: vec![output_grant(config, "packer-manifest.json", cwd)],
            ..Grant::default()
        },
        "artifice" => Grant {
            read: strings(config, "files")
                .iter()
                .map(|p| cwd.join(p))
                .collect(),
            ..Grant::default()
        },
        _ => Grant::default(),
    }
}

fn strings(config: &serde_json::Map<String, serde_json::Value>, key: &str) -> Vec<String> {
    match config.get(key) {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}

/// The grant a builtin's configuration implies. Paths stay as written (relative to
/// `cwd` when relative), so that what the component names and what was granted compare
/// equal.
pub fn derived_grant(
    name: &str,
    config: &serde_json::Map<String, serde_json::Value>,
    cwd: &Path,
) -> Grant {
    let abs = |p: &str| -> PathBuf { cwd.join(p) };
    match name {
        "shell" => Grant {
            read: strings(config, "script")
                .iter()
                .chain(&strings(config, "scripts"))
                .map(|p| abs(p))
                .collect(),
            ..Grant::default()
        },
        "file" => {
            let download = config.get("direction").and_then(|d| d.as_str()) == Some("download");
            if download {
                Grant {
                    write: strings(config, "destination")
                        .iter()
                        .map(|p| abs(p))
                        .collect(),
                    ..Grant::default()
                }
            } else {
                Grant {
                    read: strings(config, "source")
                        .iter()
                        .chain(&strings(config, "sources"))
                        .map(|p| abs(p))
                        .collect(),
                    ..Grant::default()
                }
            }
        }
        _ => Grant::default(),
    }
}

/// Host-side preparation a builtin's configuration implies before it runs: the `file`
/// provisioner's download into `dir/` creates `dir`, as Packer does.
pub fn prepare_host(
    name: &str,
    config: &serde_json::Map<String, serde_json::Value>,
    cwd: &Path,
) -> std::io::Result<()> {
    if name == "file" && config.get("direction").and_then(|d| d.as_str()) == Some("download") {
        for dest in strings(config, "destination") {
            let path = cwd.join(&dest);
            let dir = if dest.ends_with('/') {
                Some(path.as_path())
            } else {
                path.parent()
            };
            if let Some(dir) = dir {
                std::fs::create_dir_all(dir)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_embedded_components() {
        for name in ["shell", "file"] {
            let bytes = component(name).expect(name);
            // The component-model layer of the binary format: `\0asm`, then version 0x0d, layer 1.
            assert_eq!(&bytes[..4], b"\0asm");
            assert_eq!(
                &bytes[4..8],
                &[0x0d, 0x00, 0x01, 0x00],
                "{name} is not a component"
            );
        }
    }

    #[test]
    fn post_processors_write_only_where_their_output_goes() {
        let cwd = Path::new("/w");
        let grant = |name: &str, cfg: serde_json::Value| {
            post_processor_grant(name, cfg.as_object().unwrap(), cwd)
        };
        assert_eq!(
            grant(
                "compress",
                serde_json::json!({"output": "out/{{.BuildName}}.tar.gz"})
            )
            .write,
            [PathBuf::from("/w/out/")]
        );
        assert_eq!(
            grant("manifest", serde_json::json!({})).write,
            [PathBuf::from("/w/packer-manifest.json")]
        );
        assert_eq!(
            grant("checksum", serde_json::json!({})).write,
            [PathBuf::from("/w")]
        );
        let artifice = grant("artifice", serde_json::json!({"files": ["a.img"]}));
        assert_eq!(artifice.read, [PathBuf::from("/w/a.img")]);
        assert!(artifice.write.is_empty());
        for name in ["checksum", "compress", "manifest", "artifice"] {
            assert!(post_processor(name).is_some(), "{name} is not embedded");
        }
    }

    #[test]
    fn file_grant_is_exactly_the_named_paths() {
        let cfg = serde_json::json!({"sources": ["a.txt", "dir/"], "destination": "/tmp/x"});
        let g = derived_grant("file", cfg.as_object().unwrap(), Path::new("/w"));
        assert_eq!(
            g.read,
            [PathBuf::from("/w/a.txt"), PathBuf::from("/w/dir/")]
        );
        assert!(g.write.is_empty());
        let cfg =
            serde_json::json!({"source": "/etc/x", "destination": "out/", "direction": "download"});
        let g = derived_grant("file", cfg.as_object().unwrap(), Path::new("/w"));
        assert_eq!(g.write, [PathBuf::from("/w/out/")]);
        assert!(g.read.is_empty());
    }
}
