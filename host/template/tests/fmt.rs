//! `kiln fmt` against `packer fmt`: every file under `tests/fmt/` (and a copy of it with
//! all indentation removed) must come out of [`format_hcl`] byte for byte as Packer
//! formats it, and formatting must be stable.
//!
//! The reference is `/usr/bin/packer` (1.6.6, which has no stdin mode: the inputs are
//! copied into a temporary directory and formatted there). A missing Packer fails the
//! tests; it never skips them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_template::fmt::format_hcl;

/// The corpus, by file name.
fn corpus() -> BTreeMap<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fmt");
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("read tests/fmt") {
        let path = entry.expect("list tests/fmt").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".pkr.hcl") {
            files.insert(
                name,
                std::fs::read_to_string(&path).expect("read corpus file"),
            );
        }
    }
    files
}

/// The corpus plus, for every file, a variant with each line's leading blanks removed.
fn inputs() -> BTreeMap<String, String> {
    let mut inputs = corpus();
    let dedented: Vec<(String, String)> = inputs
        .iter()
        .map(|(name, text)| {
            let flat: String = text
                .split_inclusive('\n')
                .map(|l| l.trim_start_matches([' ', '\t']))
                .collect();
            (format!("dedented-{name}"), flat)
        })
        .collect();
    inputs.extend(dedented);
    inputs
}

/// What `packer fmt` makes of each input.
fn packer_fmt(inputs: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in inputs {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let out = kiln_test_tools::command("packer")
        .arg("fmt")
        .arg(dir.path())
        .output()
        .expect("run packer fmt");
    assert!(
        out.status.success(),
        "packer fmt failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let path = |name: &String| -> PathBuf { dir.path().join(name) };
    inputs
        .keys()
        .map(|name| (name.clone(), std::fs::read_to_string(path(name)).unwrap()))
        .collect()
}

#[test]
fn corpus_covers_the_rules() {
    assert!(
        corpus().len() >= 30,
        "the corpus should have at least 30 cases"
    );
}

#[test]
fn matches_packer_fmt_byte_for_byte() {
    let inputs = inputs();
    let expected = packer_fmt(&inputs);
    let mut failures = Vec::new();
    for (name, text) in &inputs {
        let ours = format_hcl(text, name).unwrap_or_else(|d| panic!("{name}: {}", d.summary));
        if ours != expected[name] {
            failures.push(format!(
                "── {name}\n── packer fmt:\n{}\n── kiln:\n{ours}",
                expected[name]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} inputs differ from packer fmt:\n{}",
        failures.len(),
        inputs.len(),
        failures.join("\n")
    );
}

#[test]
fn formatting_is_stable() {
    for (name, text) in inputs() {
        let once = format_hcl(&text, &name).unwrap();
        let twice = format_hcl(&once, &name).unwrap();
        assert_eq!(once, twice, "{name}: formatting the output changed it");
    }
}

#[test]
fn formatted_input_is_left_alone() {
    let text = "locals {\n  a   = 1 # one\n  bbb = [1, 2]\n}\n";
    assert_eq!(format_hcl(text, "x.pkr.hcl").unwrap(), text);
}

#[test]
fn unparseable_input_is_an_error_at_file_line_col() {
    let err = format_hcl("locals {\n  a = = 1\n}\n", "bad.pkr.hcl").unwrap_err();
    let loc = err.location.as_ref().expect("a location");
    assert_eq!(
        (loc.file.to_str(), loc.line),
        (Some("bad.pkr.hcl"), 2),
        "{err:?}"
    );
    assert!(loc.to_string().starts_with("bad.pkr.hcl:2:"), "{loc}");
}

/// Inputs the fuzzer (tests/fuzz, target `fmt`) found: formatting must either refuse them
/// or give text that parses and formats to itself.
#[test]
fn fuzz_regressions_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fmt-regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        if let Ok(once) = format_hcl(&text, "case.pkr.hcl") {
            let twice = format_hcl(&once, "case.pkr.hcl").unwrap_or_else(|e| {
                panic!("{}: formatted output does not parse: {e}", path.display())
            });
            assert_eq!(once, twice, "{}: not stable", path.display());
        }
        seen += 1;
    }
    assert!(seen > 0);
}
