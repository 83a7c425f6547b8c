//! The template loader fuzzed on stable Rust, in every test run, for a bounded time.
//!
//! Inputs are the corpus of `tests/fuzz/corpus/template` (HCL2 templates, `*.pkr.json`,
//! legacy JSON templates, variables files) and mutations of them: bytes flipped,
//! inserted, deleted and repeated, pieces spliced from other inputs, and tokens of the
//! languages (braces, interpolations, `for`, deep nesting) dropped in. Each input is
//! loaded as a template of its kind (legacy JSON also through `hcl2_upgrade`, a
//! variables file as the `-var-file` of a small template); loading must give a plan or
//! diagnostics, never panic, overflow the stack or hang. A failure saves the input
//! under `target/fuzz-failures/` and names the seed that reproduces the run.
//!
//! `KILN_FUZZ_SECONDS` sets the time (default 20), `KILN_FUZZ_SEED` the seed (default:
//! from the clock, printed). The libFuzzer targets of `tests/fuzz` (cargo-fuzz, nightly)
//! search deeper; what they find belongs in the corpus.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_template::{LoadOptions, VarArg};

/// A small xorshift generator: reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Pieces of the languages a mutation drops in.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\"",
    "${",
    "%{",
    "}",
    "\n",
    "=",
    ":",
    ",",
    ".",
    "*",
    "for ",
    " in ",
    " : ",
    "if ",
    "endif",
    "endfor",
    "=>",
    "...",
    "?",
    "null",
    "true",
    "-1",
    "1e308",
    "9999999999999999999999",
    "\\u0000",
    "\\\"",
    "\u{feff}",
    "\u{1b}[2J",
    "variable \"x\" {}",
    "locals {",
    "source \"null\" \"a\" {",
    "build {",
    "dynamic \"x\" {",
    "{{user `a`}}",
    "{{ timestamp }}",
    "{{",
    "}}",
    "var.",
    "local.",
    "source.",
    "path.root",
    "file(\"/dev/zero\")",
    "range(1000)",
    "yamldecode(",
    "jsondecode(",
    "templatefile(",
    "<<EOF\n",
    "\nEOF\n",
    "#",
    "//",
    "/*",
    "*/",
];

/// Every file of the corpus: (name, bytes). The seeds are templates kept in the
/// repository: the conformance cases and the corpus of real templates (`cargo fuzz`
/// keeps its own, uncommitted corpus in `tests/fuzz/corpus`).
fn corpus() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for dir in ["tests/conformance", "tests/corpus"] {
        let dir = root.join(dir);
        let mut pending = vec![dir.clone()];
        while let Some(d) = pending.pop() {
            let entries = std::fs::read_dir(&d)
                .unwrap_or_else(|e| panic!("the fuzz seeds {}: {e}", d.display()));
            for e in entries.flatten() {
                let path = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    pending.push(path);
                } else if name.ends_with(".pkr.hcl")
                    || name.ends_with(".pkr.json")
                    || name.ends_with(".pkrvars.hcl")
                    || (name.ends_with(".json") && !name.starts_with('.'))
                {
                    let rel = path.strip_prefix(&dir).unwrap_or(&path);
                    let unique = rel.display().to_string().replace('/', "_");
                    files.push((unique, std::fs::read(&path).unwrap()));
                }
            }
        }
    }
    files.sort();
    assert!(
        files.len() >= 10,
        "the corpus is too small: {}",
        files.len()
    );
    files
}

/// One mutation of `input`, `other` a second corpus input to splice from.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => out.insert(at, rng.next() as u8),
            2 if !out.is_empty() => {
                let end = (at + 1 + rng.below(64)).min(out.len());
                out.drain(at.min(end)..end);
            }
            3 if !out.is_empty() => {
                let start = rng.below(out.len());
                let end = (start + 1 + rng.below(256)).min(out.len());
                let piece = out[start..end].to_vec();
                out.splice(at..at, piece);
            }
            4 if !other.is_empty() => {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(512)).min(other.len());
                out.splice(at..at, other[start..end].iter().copied());
            }
            5 => {
                // Deep nesting, of a depth a parser must bound.
                let open = ["[", "{\"a\":", "(", "{"][rng.below(4)];
                let depth = 1 + rng.below(5000);
                out.splice(at..at, open.repeat(depth).into_bytes());
            }
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.bytes());
            }
        }
    }
    out
}

/// Loads `bytes` as the corpus file `name` would be loaded, in `dir`.
fn load(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let opts = LoadOptions {
        cwd: dir.to_owned(),
        ..LoadOptions::default()
    };
    if name.contains(".pkrvars.") {
        let template = dir.join("with-vars.pkr.hcl");
        std::fs::write(
            &template,
            "variable \"name\" {\n  default = \"x\"\n}\nvariable \"count\" {\n  type = number\n  default = 1\n}\n\
             variable \"tags\" {\n  default = []\n}\nvariable \"options\" {\n  default = {}\n}\n",
        )
        .unwrap();
        let opts = LoadOptions {
            var_args: vec![VarArg::File(path.clone())],
            ..opts
        };
        let _ = kiln_template::load(&template, &opts);
    } else {
        let _ = kiln_template::load(&path, &opts);
        if name.ends_with(".json") && !name.ends_with(".pkr.json") {
            let _ = kiln_template::hcl2_upgrade(&path);
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// Saves a failing input and fails the test, saying how to reproduce it.
fn failed(name: &str, bytes: &[u8], seed: u64, what: &str) -> ! {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let saved = dir.join(format!("{seed:016x}-{name}"));
    std::fs::write(&saved, bytes).unwrap();
    panic!(
        "the template loader {what} on a mutation of {name} (saved as {}); reproduce with \
         KILN_FUZZ_SEED={seed}",
        saved.display()
    );
}

#[test]
fn the_template_loader_survives_mutated_templates() {
    let seconds: u64 = std::env::var("KILN_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("KILN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("fuzzing the template loader for {seconds} s, KILN_FUZZ_SEED={seed}");
    let corpus = corpus();
    let dir = tempfile::tempdir().unwrap();
    let work: PathBuf = dir.path().to_owned();
    // The corpus itself first, then mutations until the time is up.
    for (name, bytes) in &corpus {
        run_one(&work, name, bytes.clone(), seed);
    }
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs = 0u64;
    while Instant::now() < deadline {
        let (name, input) = &corpus[rng.below(corpus.len())];
        let (_, other) = &corpus[rng.below(corpus.len())];
        let mutated = mutate(&mut rng, input, other);
        run_one(&work, name, mutated, seed);
        runs += 1;
    }
    eprintln!("{runs} mutated inputs loaded");
    assert!(runs > 0);
}

/// Loads one input on a thread of its own (a stack as large as the CLI's main thread),
/// failing on a panic or on an input that takes longer than 20 s.
fn run_one(work: &Path, name: &str, bytes: Vec<u8>, seed: u64) {
    // What is being loaded is on disk before it is loaded: a stack overflow aborts the
    // whole process, leaving only this to look at.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-failures");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("last-input"), format!("{name}\n")).unwrap();
    std::fs::write(dir.join("last-input.bytes"), &bytes).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (w, n, b) = (work.to_owned(), name.to_owned(), bytes.clone());
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let outcome = std::panic::catch_unwind(|| load(&w, &n, &b));
            let _ = tx.send(outcome.is_ok());
        })
        .unwrap();
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(true) => {}
        Ok(false) => failed(name, &bytes, seed, "panicked"),
        Err(_) => failed(name, &bytes, seed, "hung (over 20 s)"),
    }
}
