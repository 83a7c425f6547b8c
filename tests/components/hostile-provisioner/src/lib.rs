//! A hostile provisioner: each run tries exactly one way of reaching what its step was
//! not granted (host files, the environment, the network, the host's clock and random
//! numbers) or of exhausting the host (CPU, memory, UI output, remote commands in
//! flight, handles, the stack).
//!
//! It answers `Ok` only when the attack worked (after saying `ATTACK SUCCEEDED: ...` on
//! the UI, so that a test failure shows the leak), and `Err` with the host's (or WASI's)
//! refusal otherwise. The informational attacks (`clock`, `random`, `env` when granted)
//! report what they saw on the UI. The attack `none` does what a well-behaved
//! provisioner does with its grant, and must succeed.

use kiln_guest_sdk::remote::{self, ExitStatus, OutputStream, Process};
use kiln_guest_sdk::{host, ui, BuildInfo, Error, Provisioner, Step};
use serde::Deserialize;

/// WASI imports std does not reach: the insecure random generator (to show it is
/// seeded) and the monotonic clock's pollables (a cheap host handle to flood with).
mod wasi_extra {
    wit_bindgen::generate!({
        inline: "
            package hostile:imports;

            world imports {
                import wasi:random/insecure@0.2.0;
                import wasi:random/insecure-seed@0.2.0;
                import wasi:clocks/monotonic-clock@0.2.0;
            }

            package wasi:random@0.2.0 {
                interface insecure {
                    get-insecure-random-bytes: func(len: u64) -> list<u8>;
                    get-insecure-random-u64: func() -> u64;
                }
                interface insecure-seed {
                    insecure-seed: func() -> tuple<u64, u64>;
                }
            }

            package wasi:io@0.2.0 {
                interface poll {
                    resource pollable {
                        ready: func() -> bool;
                        block: func();
                    }
                    poll: func(in: list<borrow<pollable>>) -> list<u32>;
                }
            }

            package wasi:clocks@0.2.0 {
                interface monotonic-clock {
                    use wasi:io/poll@0.2.0.{pollable};
                    type instant = u64;
                    type duration = u64;
                    now: func() -> instant;
                    resolution: func() -> duration;
                    subscribe-instant: func(when: instant) -> pollable;
                    subscribe-duration: func(when: duration) -> pollable;
                }
            }
        ",
        world: "imports",
        generate_all,
    });
}

use wasi_extra::wasi::clocks::monotonic_clock;
use wasi_extra::wasi::random::{insecure, insecure_seed};

/// The attack to run; serde leaves a missing `Option` `None`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Which attack to run.
    attack: String,
    /// The host path (or remote path, for downloads) the attack reads.
    src: Option<String>,
    /// The remote path (or host path, for downloads) the attack writes.
    dest: Option<String>,
    /// A remote directory (for `none`).
    remote_dir: Option<String>,
    /// The environment variable `env` reads.
    name: Option<String>,
    /// The `host:port` `tcp-connect` dials and `dns` resolves.
    addr: Option<String>,
    /// The remote command `leave-process` and `in-flight` start.
    command: Option<String>,
    /// How many processes `in-flight` starts, handles `handles` creates.
    count: Option<u64>,
    /// How many bytes `grow-memory`, `flood-ui`, `upload-bytes`, `panic-mid-upload`,
    /// `huge-error` use.
    bytes: Option<u64>,
    /// What `escape-ui` prints and returns.
    text: Option<String>,
    /// An attack run by `validate` instead: `spin`, `grow-memory` (up to `bytes`).
    validate: Option<String>,
}

fn need<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, String> {
    value
        .as_deref()
        .ok_or_else(|| format!("this attack needs `{name}` in its configuration"))
}

fn need_n(value: Option<u64>, name: &str) -> Result<u64, String> {
    value.ok_or_else(|| format!("this attack needs `{name}` in its configuration"))
}

/// The host refused: says what and why, in the host's words.
fn refused(what: &str, target: &str, e: Error) -> String {
    format!("{what} `{target}` was refused: {:?}: {}", e.kind, e.message)
}

/// The attack worked: says so where the test will see it.
fn succeeded(proof: String) -> Result<(), String> {
    ui::error(&format!("ATTACK SUCCEEDED: {proof}"));
    Ok(())
}

/// Reads `process`'s output until `marker` appears (or the streams close).
fn read_until(process: &Process, marker: &str) -> String {
    let mut seen = Vec::new();
    while let Some(chunk) = process.read_output() {
        seen.extend_from_slice(&chunk.data);
        if String::from_utf8_lossy(&seen).contains(marker) {
            break;
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Recurses without end, keeping every frame alive.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let next = std::hint::black_box(depth.wrapping_add(1));
    if next == 0 {
        return 0;
    }
    std::hint::black_box(recurse(next)).wrapping_add(depth)
}

/// Loops without end, computing.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates (and touches) memory until `max` bytes are held.
fn grow(max: u64) -> u64 {
    let mut held: Vec<Vec<u8>> = Vec::new();
    let mut total: u64 = 0;
    while total < max {
        held.push(vec![0xA5; 1 << 20]);
        total += 1 << 20;
    }
    std::hint::black_box(&held);
    total
}

struct Hostile;

impl Step for Hostile {
    type Config = Config;

    fn validate(config: &Config) -> Result<(), Vec<kiln_guest_sdk::ConfigError>> {
        match config.validate.as_deref() {
            None => Ok(()),
            Some("spin") => spin(),
            Some("grow-memory") => {
                let total = grow(config.bytes.unwrap_or(1 << 30));
                Err(vec![kiln_guest_sdk::ConfigError::block(format!("ATTACK SUCCEEDED: validate allocated {total} bytes"))])
            }
            Some(other) => Err(vec![kiln_guest_sdk::ConfigError::on("validate", format!("unknown validate attack `{other}`"))]),
        }
    }
}

impl Provisioner for Hostile {
    fn provision(config: Config, _build: &BuildInfo) -> Result<(), String> {
        let attack = config.attack.as_str();
        ui::say(&format!("hostile provisioner: attack `{attack}`"));
        match attack {
            "upload-file" => {
                let src = need(&config.src, "src")?;
                let dest = need(&config.dest, "dest")?;
                remote::upload_file(src, dest, None).map_err(|e| refused("upload-file", src, e))?;
                succeeded(format!("upload-file `{src}` -> `{dest}`"))
            }
            "upload-dir" => {
                let src = need(&config.src, "src")?;
                let dest = need(&config.dest, "dest")?;
                remote::upload_dir(src, dest).map_err(|e| refused("upload-dir", src, e))?;
                succeeded(format!("upload-dir `{src}` -> `{dest}`"))
            }
            "download-file" => {
                let src = need(&config.src, "src")?;
                let dest = need(&config.dest, "dest")?;
                remote::download_file(src, dest).map_err(|e| refused("download-file", dest, e))?;
                succeeded(format!("download-file `{src}` -> `{dest}`"))
            }
            "download-dir" => {
                let src = need(&config.src, "src")?;
                let dest = need(&config.dest, "dest")?;
                remote::download_dir(src, dest).map_err(|e| refused("download-dir", dest, e))?;
                succeeded(format!("download-dir `{src}` -> `{dest}`"))
            }
            "kind" => {
                let src = need(&config.src, "src")?;
                let kind = host::kind(src).map_err(|e| refused("kind", src, e))?;
                succeeded(format!("kind `{src}`: {kind:?}"))
            }
            "std-fs-read" => {
                let src = need(&config.src, "src")?;
                let data = std::fs::read(src)
                    .map_err(|e| format!("std::fs::read(`{src}`) failed: {e}"))?;
                succeeded(format!("std::fs::read `{src}`: {} bytes", data.len()))
            }
            "env" => {
                let name = need(&config.name, "name")?;
                let value = std::env::var(name)
                    .map_err(|e| format!("std::env::var(`{name}`) failed: {e}"))?;
                ui::message(&format!("env {name}={value}"));
                Ok(())
            }
            "env-all" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                if vars.is_empty() {
                    return Err("std::env::vars() sees no variables".into());
                }
                succeeded(format!("std::env::vars(): {vars:?}"))
            }
            "tcp-connect" => {
                use std::io::Write;
                let addr = need(&config.addr, "addr")?;
                let mut stream = std::net::TcpStream::connect(addr)
                    .map_err(|e| format!("std::net::TcpStream::connect(`{addr}`) failed: {e}"))?;
                stream
                    .write_all(b"hello from the sandbox\n")
                    .map_err(|e| format!("writing to `{addr}` failed: {e}"))?;
                ui::message(&format!("connected to `{addr}`"));
                Ok(())
            }
            "dns" => {
                use std::net::ToSocketAddrs;
                let addr = need(&config.addr, "addr")?;
                let found: Vec<_> = addr
                    .to_socket_addrs()
                    .map_err(|e| format!("resolving `{addr}` failed: {e}"))?
                    .collect();
                succeeded(format!("resolved `{addr}`: {found:?}"))
            }
            "busy-loop" => spin(),
            "grow-memory" => {
                let total = grow(need_n(config.bytes, "bytes")?);
                succeeded(format!("allocated {total} bytes"))
            }
            "escape-ui" => {
                // Terminal control sequences in every kind of text a component hands
                // over: they must be shown, not obeyed.
                let text = need(&config.text, "text")?;
                ui::say(text);
                ui::message(text);
                ui::error(text);
                Err(text.to_owned())
            }
            "huge-error" => {
                let size = need_n(config.bytes, "bytes")?;
                Err(format!("HUGE-ERROR-START{}", "E".repeat(size as usize)))
            }
            "sockets" => {
                // Holds as many connections to a granted address open as it can.
                let addr = need(&config.addr, "addr")?;
                let count = need_n(config.count, "count")?;
                let mut held = Vec::new();
                for i in 0..count {
                    let stream = std::net::TcpStream::connect(addr).map_err(|e| {
                        format!("connection #{} to `{addr}` failed: {e}", i + 1)
                    })?;
                    held.push(stream);
                }
                succeeded(format!("{} connections held open", held.len()))
            }
            "flood-ui" => {
                let max = need_n(config.bytes, "bytes")?;
                let line = "F".repeat(1023);
                let mut total: u64 = 0;
                while total < max {
                    ui::message(&line);
                    total += line.len() as u64 + 1;
                }
                succeeded(format!("printed {total} bytes to the UI"))
            }
            "upload-bytes" => {
                let size = need_n(config.bytes, "bytes")?;
                let dest = need(&config.dest, "dest")?;
                let data = vec![b'x'; size as usize];
                remote::upload_bytes(&data, dest, None)
                    .map_err(|e| refused("upload-bytes", dest, e))?;
                succeeded(format!("upload-bytes of {size} bytes -> `{dest}`"))
            }
            "leave-process" => {
                // Starts a long remote command, makes sure it runs, and returns without
                // waiting for it (nor dropping its handle).
                let command = need(&config.command, "command")?;
                let process = remote::start(command).map_err(|e| refused("start", command, e))?;
                let seen = read_until(&process, "started");
                ui::message(&format!("left `{command}` running (it said {seen:?})"));
                std::mem::forget(process);
                Ok(())
            }
            "panic-mid-upload" => {
                let size = need_n(config.bytes, "bytes")?;
                let dest = need(&config.dest, "dest")?;
                let data = vec![b'p'; size as usize];
                let half = data.len() / 2;
                remote::upload_bytes(&data[..half], dest, None)
                    .map_err(|e| refused("upload-bytes", dest, e))?;
                ui::message(&format!("uploaded {half} of {size} bytes to `{dest}`"));
                panic!("hostile provisioner panicked mid-upload of `{dest}`");
            }
            "in-flight" => {
                let command = need(&config.command, "command")?;
                let count = need_n(config.count, "count")?;
                let mut held = Vec::new();
                for i in 0..count {
                    let process = remote::start(command)
                        .map_err(|e| refused(&format!("start #{}", i + 1), command, e))?;
                    held.push(process);
                }
                succeeded(format!("{} remote commands in flight", held.len()))
            }
            "start-and-drop" => {
                // Starts commands one after the other, each dropped as soon as it runs:
                // never more than one in flight, as far as the handles go.
                let command = need(&config.command, "command")?;
                let count = need_n(config.count, "count")?;
                for i in 0..count {
                    let process = remote::start(command)
                        .map_err(|e| refused(&format!("start #{}", i + 1), command, e))?;
                    read_until(&process, "started");
                    drop(process);
                }
                ui::message(&format!("started and dropped {count} remote commands"));
                Ok(())
            }
            "handles" => {
                let count = need_n(config.count, "count")?;
                for _ in 0..count {
                    std::mem::forget(monotonic_clock::subscribe_duration(1 << 40));
                }
                succeeded(format!("created {count} host handles"))
            }
            "recurse" => {
                let depth = recurse(0);
                succeeded(format!("recursed without end, and came back: {depth}"))
            }
            "clock" => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_err(|e| format!("the clock is before 1970: {e}"))?;
                ui::message(&format!("clock: {}", now.as_secs()));
                Ok(())
            }
            "random" => {
                let bytes = insecure::get_insecure_random_bytes(32);
                let u = insecure::get_insecure_random_u64();
                let seed = insecure_seed::insecure_seed();
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                ui::message(&format!("random: {hex} {u:016x}"));
                ui::message(&format!("seed: {:016x}{:016x}", seed.0, seed.1));
                Ok(())
            }
            "run" => {
                let command = need(&config.command, "command")?;
                remote::run_checked(command, &[0])
            }
            "none" => {
                // A well-behaved provisioner: uploads the granted script, runs it, and
                // downloads what it made into the granted directory.
                let src = need(&config.src, "src")?;
                let dest = need(&config.dest, "dest")?;
                let dir = need(&config.remote_dir, "remote_dir")?;
                if host::kind(src).map_err(|e| refused("kind", src, e))? != host::PathKind::File {
                    return Err(format!("`{src}` is not a file"));
                }
                let script = format!("{dir}/script.sh");
                let result = format!("{dir}/result.txt");
                remote::upload_file(src, &script, Some(0o755))
                    .map_err(|e| refused("upload-file", src, e))?;
                let process = remote::start(&format!("{script} > {result}; echo done"))
                    .map_err(|e| refused("start", &script, e))?;
                let mut stdout = Vec::new();
                while let Some(chunk) = process.read_output() {
                    if chunk.source == OutputStream::Stdout {
                        stdout.extend_from_slice(&chunk.data);
                    }
                }
                match process.wait().map_err(|e| e.message)? {
                    ExitStatus::Exited(0) => {}
                    other => return Err(format!("the script failed: {other:?}")),
                }
                remote::run_checked(&format!("test -s {result}"), &[0])?;
                remote::download_file(&result, dest)
                    .map_err(|e| refused("download-file", dest, e))?;
                ui::message(&format!(
                    "ran the script ({}), downloaded its result to `{dest}`",
                    String::from_utf8_lossy(&stdout).trim()
                ));
                Ok(())
            }
            other => Err(format!("unknown attack `{other}`")),
        }
    }
}

kiln_guest_sdk::provisioner!(Hostile);
