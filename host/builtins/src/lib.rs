//! The builtin components Kiln embeds (`shell`, `file`), and the grant each one's
//! configuration implies: a builtin reaches exactly the host paths its configuration
//! names, and nothing else.

use std::path::{Path, PathBuf};

use kiln_core::Grant;

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The bytes of the builtin component `name`.
pub fn component(name: &str) -> Option<&'static [u8]> {
    EMBEDDED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}

/// The names of every builtin provisioner.
pub fn names() -> impl Iterator<Item = &'static str> {
    EMBEDDED.iter().map(|(n, _)| *n)
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
