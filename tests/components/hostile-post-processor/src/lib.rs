//! A hostile post-processor: each run tries exactly one way of reaching host files
//! outside its grant (its input artifact's files to read, its output directory to write).
//!
//! It answers `Ok` only when the attack worked (with what it got in the metadata under
//! `attack-succeeded`, so that a test failure shows the leak), and `Err` with the host's
//! (or WASI's) refusal otherwise. The attack `none` does what a well-behaved
//! post-processor does with its grant, and must succeed.

use kiln_guest_sdk::artifacts::{self, ArchiveEntry, ArchiveFormat, HashAlgorithm};
use kiln_guest_sdk::{
    host, ui, Artifact, ArtifactFile, BuildInfo, Error, PostProcessResult, PostProcessor, Step};
use serde::Deserialize;

/// The attack to run; serde leaves a missing `Option` `None`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Which attack to run.
    attack: String,
    /// The host file the attack reads (or, for `return-artifact`, lists).
    path: Option<String>,
    /// The host file the attack writes.
    dest: Option<String>,
    /// The output directory (for `none`).
    output_dir: Option<String>,
    /// The name of the entry `write-archive` writes (`loot` when not given).
    name: Option<String>,
    /// The format `write-archive` writes: `tar` (the default) or `zip`.
    format: Option<String>,
    /// The `host:port` `tcp-connect` dials.
    addr: Option<String>,
    /// How many entries `archive-flood` writes.
    count: Option<u64>,
    /// How many bytes `write-big` writes.
    bytes: Option<u64>,
    /// What `escape-artifact` puts in its artifact's id and description.
    text: Option<String>,
    /// An attack run by `validate` instead: `spin`.
    validate: Option<String>,
}

/// What the write attacks try to put on the host.
const PAYLOAD: &[u8] = b"written by the hostile post-processor\n";

fn need<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, String> {
    value
        .as_deref()
        .ok_or_else(|| format!("this attack needs `{name}` in its configuration"))
}

/// The host refused: says what and why, in the host's words.
fn refused(what: &str, target: &str, e: Error) -> String {
    format!("{what} `{target}` was refused: {:?}: {}", e.kind, e.message)
}

/// The attack worked: an artifact that carries the proof.
fn succeeded(proof: String, files: Vec<ArtifactFile>) -> PostProcessResult {
    ui::error(&format!("ATTACK SUCCEEDED: {proof}"));
    PostProcessResult {
        artifact: Artifact {
            builder_id: "kiln.test.hostile".into(),
            id: "hostile".into(),
            files,
            metadata: vec![("attack-succeeded".into(), proof)],
        },
        keep_input: true,
    }
}

/// At most a few hundred bytes of `data`, readable.
fn show(data: &[u8]) -> String {
    let shown = &data[..data.len().min(256)];
    format!("{} bytes: {:?}", data.len(), String::from_utf8_lossy(shown))
}

fn file(path: &str) -> ArtifactFile {
    ArtifactFile {
        path: path.to_owned(),
        size: 0,
        sha256: String::new(),
    }
}

/// Loops without end, computing.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

struct Hostile;

impl Step for Hostile {
    type Config = Config;

    fn validate(config: &Config) -> Result<(), Vec<kiln_guest_sdk::ConfigError>> {
        match config.validate.as_deref() {
            None => Ok(()),
            Some("spin") => spin(),
            Some(other) => Err(vec![kiln_guest_sdk::ConfigError::on("validate", format!("unknown validate attack `{other}`"))]),
        }
    }
}

impl PostProcessor for Hostile {
    fn post_process(
        config: Config,
        _build: &BuildInfo,
        input: Artifact,
    ) -> Result<PostProcessResult, String> {
        let attack = config.attack.as_str();
        ui::say(&format!("hostile post-processor: attack `{attack}`"));
        match attack {
            "read-file" => {
                let path = need(&config.path, "path")?;
                let data = artifacts::read_file(path).map_err(|e| refused("read-file", path, e))?;
                Ok(succeeded(
                    format!("read-file `{path}`: {}", show(&data)),
                    vec![],
                ))
            }
            "hash-file" => {
                let path = need(&config.path, "path")?;
                let digests = artifacts::hash_file(path, &[HashAlgorithm::Sha256])
                    .map_err(|e| refused("hash-file", path, e))?;
                Ok(succeeded(
                    format!("hash-file `{path}`: {digests:?}"),
                    vec![],
                ))
            }
            "file-size" => {
                let path = need(&config.path, "path")?;
                let size = artifacts::file_size(path).map_err(|e| refused("file-size", path, e))?;
                Ok(succeeded(format!("file-size `{path}`: {size}"), vec![]))
            }
            "kind" => {
                let path = need(&config.path, "path")?;
                let kind = host::kind(path).map_err(|e| refused("kind", path, e))?;
                Ok(succeeded(format!("kind `{path}`: {kind:?}"), vec![]))
            }
            "write-file" => {
                let dest = need(&config.dest, "dest")?;
                artifacts::write_file(dest, PAYLOAD).map_err(|e| refused("write-file", dest, e))?;
                Ok(succeeded(format!("write-file `{dest}`"), vec![]))
            }
            "write-archive" => {
                let source = need(&config.path, "path")?;
                let dest = need(&config.dest, "dest")?;
                let entries = [ArchiveEntry {
                    source: source.to_owned(),
                    name: config.name.clone().unwrap_or_else(|| "loot".into()),
                }];
                let format = match config.format.as_deref() {
                    None | Some("tar") => ArchiveFormat::Tar,
                    Some("zip") => ArchiveFormat::Zip,
                    Some(other) => return Err(format!("unknown format `{other}`")),
                };
                let size = artifacts::write_archive(&entries, dest, format, None)
                    .map_err(|e| refused("write-archive", &format!("{source} -> {dest}"), e))?;
                Ok(succeeded(
                    format!("write-archive `{source}` -> `{dest}`: {size} bytes"),
                    vec![],
                ))
            }
            "std-fs-read" => {
                let path = need(&config.path, "path")?;
                let data = std::fs::read(path)
                    .map_err(|e| format!("std::fs::read(`{path}`) failed: {e}"))?;
                Ok(succeeded(
                    format!("std::fs::read `{path}`: {}", show(&data)),
                    vec![],
                ))
            }
            "std-fs-write" => {
                let dest = need(&config.dest, "dest")?;
                std::fs::write(dest, PAYLOAD)
                    .map_err(|e| format!("std::fs::write(`{dest}`) failed: {e}"))?;
                Ok(succeeded(format!("std::fs::write `{dest}`"), vec![]))
            }
            "std-fs-read-dir" => {
                let path = need(&config.path, "path")?;
                let names: Vec<String> = std::fs::read_dir(path)
                    .map_err(|e| format!("std::fs::read_dir(`{path}`) failed: {e}"))?
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                Ok(succeeded(
                    format!("std::fs::read_dir `{path}`: {names:?}"),
                    vec![],
                ))
            }
            "std-env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                let args: Vec<String> = std::env::args().collect();
                if vars.is_empty() && args.is_empty() {
                    return Err("std::env sees no variables and no arguments".into());
                }
                Ok(succeeded(
                    format!("std::env: variables {vars:?}, arguments {args:?}"),
                    vec![],
                ))
            }
            "tcp-connect" => {
                let addr = need(&config.addr, "addr")?;
                let stream = std::net::TcpStream::connect(addr)
                    .map_err(|e| format!("std::net::TcpStream::connect(`{addr}`) failed: {e}"))?;
                Ok(succeeded(
                    format!("connected to `{addr}`: {stream:?}"),
                    vec![],
                ))
            }
            "busy-loop" => spin(),
            "archive-flood" => {
                // The same input under `count` names: to fill the disk (each entry a copy)
                // or to exhaust the host's file descriptors (each entry a source).
                let source = need(&config.path, "path")?;
                let dest = need(&config.dest, "dest")?;
                let count = config.count.ok_or("this attack needs `count`")?;
                let entries: Vec<ArchiveEntry> = (0..count)
                    .map(|i| ArchiveEntry {
                        source: source.to_owned(),
                        name: format!("copy-{i:06}"),
                    })
                    .collect();
                let size = artifacts::write_archive(&entries, dest, ArchiveFormat::Tar, None)
                    .map_err(|e| refused("write-archive", &format!("{source} -> {dest}"), e))?;
                ui::message(&format!("wrote {count} entries, {size} bytes, to `{dest}`"));
                Ok(PostProcessResult {
                    artifact: Artifact {
                        builder_id: "kiln.test.hostile".into(),
                        id: "flood".into(),
                        files: vec![file(dest)],
                        metadata: vec![],
                    },
                    keep_input: true,
                })
            }
            "write-big" => {
                let dest = need(&config.dest, "dest")?;
                let size = config.bytes.ok_or("this attack needs `bytes`")?;
                artifacts::write_file(dest, &vec![b'b'; size as usize])
                    .map_err(|e| refused("write-file", dest, e))?;
                Ok(succeeded(format!("write-file of {size} bytes to `{dest}`"), vec![]))
            }
            "escape-artifact" => {
                let text = need(&config.text, "text")?;
                Ok(PostProcessResult {
                    artifact: Artifact {
                        builder_id: format!("kiln.test{text}"),
                        id: text.to_owned(),
                        files: vec![],
                        metadata: vec![("description".into(), text.to_owned())],
                    },
                    keep_input: true,
                })
            }
            "return-artifact" => {
                // Claims a host file it never could reach, hoping the host measures (and
                // so vouches for, or later deletes) it.
                let path = need(&config.path, "path")?;
                Ok(succeeded(
                    format!("the host accepted an artifact listing `{path}`"),
                    vec![file(path)],
                ))
            }
            "none" => {
                // A well-behaved post-processor: everything through its grant.
                let path = need(&config.path, "path")?;
                let out = need(&config.output_dir, "output_dir")?;
                if !input.files.iter().any(|f| f.path == path) {
                    return Err(format!(
                        "`{path}` is not among the input artifact's files {:?}",
                        input.files.iter().map(|f| &f.path).collect::<Vec<_>>()
                    ));
                }
                let data = artifacts::read_file(path)
                    .map_err(|e| format!("read-file `{path}`: {}", e.message))?;
                let digest = artifacts::hash_file(path, &[HashAlgorithm::Sha256])
                    .map_err(|e| format!("hash-file `{path}`: {}", e.message))?
                    .remove(0);
                let copy = format!("{out}/copy/{}", artifacts::base_name(path));
                artifacts::write_file(&copy, &data)
                    .map_err(|e| format!("write-file `{copy}`: {}", e.message))?;
                let archive = format!("{out}/input.tar");
                let entries = [ArchiveEntry {
                    source: path.to_owned(),
                    name: artifacts::base_name(path).to_owned(),
                }];
                artifacts::write_archive(&entries, &archive, ArchiveFormat::Tar, None)
                    .map_err(|e| format!("write-archive `{archive}`: {}", e.message))?;
                // What it wrote, it may read back.
                let back = artifacts::read_file(&copy)
                    .map_err(|e| format!("reading back `{copy}`: {}", e.message))?;
                if back != data {
                    return Err(format!("`{copy}` does not hold what was written"));
                }
                ui::message(&format!("copied {} bytes of `{path}`", data.len()));
                Ok(PostProcessResult {
                    artifact: Artifact {
                        builder_id: "kiln.test.hostile".into(),
                        id: "hostile".into(),
                        files: vec![file(&copy), file(&archive)],
                        metadata: vec![
                            ("input-sha256".into(), digest),
                            ("input-size".into(), data.len().to_string()),
                        ],
                    },
                    keep_input: false,
                })
            }
            other => Err(format!("unknown attack `{other}`")),
        }
    }
}

kiln_guest_sdk::post_processor!(Hostile);
