//! The template-language conformance suite: every template under `tests/conformance/`
//! states whether it must be accepted (`accept-*`) or rejected (`reject-*`), and whether
//! Debian's Packer 1.6.6 agrees (`packer: agree` in its first comment) or the feature is
//! one where Kiln knowingly differs (`packer: differs (why)`).
//!
//! An accepted template is checked against a snapshot of `kiln inspect`
//! (`expected/<case>.inspect`), a rejected one against a snapshot of its diagnostics
//! (`expected/<case>.error`). `KILN_BLESS=1` rewrites the snapshots. Where Packer agrees,
//! `packer validate` runs on the same file and must reach the same verdict, and for an
//! accepted template `packer inspect` must print exactly what `kiln inspect` prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kiln_tests::{cache_dir, text};

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(suite_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            (name.starts_with("accept-") || name.starts_with("reject-"))
                && (name.ends_with(".pkr.hcl") || name.ends_with(".json"))
        })
        .collect();
    cases.sort();
    cases
}

/// Runs `program args... case` in the suite's directory with a fixed environment.
fn run(program: &Path, args: &[&str], case: &Path) -> Output {
    Command::new(program)
        .args(args)
        .arg(case.file_name().unwrap())
        .current_dir(suite_dir())
        .env("KILN_CACHE_DIR", cache_dir())
        .env("KILN_CONFORMANCE_HOME", "/home/conformance")
        .env("NO_COLOR", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .env("PACKER_NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()))
}

/// Replaces the machine-specific location of the suite with `<suite>`.
fn portable(text: &str) -> String {
    let canonical = suite_dir().canonicalize().unwrap();
    text.replace(&canonical.display().to_string(), "<suite>")
        .replace(&suite_dir().display().to_string(), "<suite>")
}

/// What the first comment of a case says about Packer 1.6.6.
fn packer_verdict(case: &Path) -> bool {
    let text = std::fs::read_to_string(case).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("packer: "))
        .unwrap_or_else(|| panic!("{} says nothing about packer", case.display()));
    if line.contains("packer: agree") {
        true
    } else if line.contains("packer: differs (") {
        false
    } else {
        panic!(
            "{}: write `packer: agree` or `packer: differs (why)`",
            case.display()
        )
    }
}

/// Compares `actual` with the snapshot at `path` (or writes it under KILN_BLESS=1).
fn check_snapshot(path: &Path, actual: &str) -> Result<(), String> {
    if std::env::var_os("KILN_BLESS").is_some() {
        std::fs::write(path, actual).unwrap();
        return Ok(());
    }
    let expected = std::fs::read_to_string(path).map_err(|_| {
        format!(
            "{} is missing (run with KILN_BLESS=1 to create it)",
            path.display()
        )
    })?;
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "{} differs:\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        ))
    }
}

#[test]
fn every_case_has_the_expected_outcome_and_packer_agrees_where_it_should() {
    let kiln = PathBuf::from(env!("CARGO_BIN_EXE_kiln-under-test"));
    let packer = Path::new("/usr/bin/packer");
    assert!(
        packer.exists(),
        "Debian's packer is required: apt-get install packer"
    );
    let cases = cases();
    assert!(
        cases.len() >= 30,
        "the suite has only {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let accept = name.starts_with("accept-");
        let validated = run(&kiln, &["validate"], case);
        let (stdout, stderr) = text(&validated);
        if validated.status.success() != accept {
            failures.push(format!(
                "{name}: kiln validate {} it:\n{stdout}{stderr}",
                if accept { "rejected" } else { "accepted" }
            ));
            continue;
        }
        let snapshot = if accept {
            let inspected = run(&kiln, &["inspect"], case);
            let (out, err) = text(&inspected);
            if !inspected.status.success() {
                failures.push(format!("{name}: kiln inspect failed:\n{err}"));
                continue;
            }
            if packer_verdict(case) {
                let theirs = text(&run(packer, &["inspect"], case)).0;
                // Kiln appends the steps' grants after Packer's sections.
                let packers_part = out.split("\n> grants (Kiln):").next().unwrap_or(&out);
                if theirs != packers_part {
                    failures.push(format!(
                        "{name}: inspect differs from packer's:\n--- packer\n{theirs}\n--- kiln\n{out}"
                    ));
                }
            }
            (case.with_extension("inspect"), out)
        } else {
            (case.with_extension("error"), stderr.clone())
        };
        let stem = snapshot
            .0
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".pkr.", ".");
        let path = suite_dir().join("expected").join(stem);
        if let Err(e) = check_snapshot(&path, &portable(&snapshot.1)) {
            failures.push(e);
        }
        if packer_verdict(case) {
            let theirs = run(packer, &["validate"], case);
            if theirs.status.success() != accept {
                let (o, e) = text(&theirs);
                failures.push(format!(
                    "{name}: packer 1.6.6 disagrees (it {}):\n{o}{e}",
                    if accept { "rejects" } else { "accepts" }
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `kiln fmt` formats every HCL2 file of the suite exactly as `packer fmt` does, and
/// formatting twice changes nothing.
#[test]
fn kiln_fmt_matches_packer_fmt_on_the_suite() {
    let kiln = PathBuf::from(env!("CARGO_BIN_EXE_kiln-under-test"));
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut names = Vec::new();
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        // Files that do not parse cannot be formatted by either tool.
        if !name.ends_with(".pkr.hcl") || name == "reject-syntax-error.pkr.hcl" {
            continue;
        }
        std::fs::copy(&case, ours.path().join(&name)).unwrap();
        std::fs::copy(&case, theirs.path().join(&name)).unwrap();
        names.push(name);
    }
    assert!(names.len() >= 25, "only {} HCL2 cases", names.len());
    let fmt = |program: &Path, dir: &Path| {
        let out = Command::new(program)
            .arg("fmt")
            .arg(".")
            .current_dir(dir)
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} fmt failed: {:?}",
            program.display(),
            text(&out)
        );
    };
    fmt(&kiln, ours.path());
    fmt(Path::new("/usr/bin/packer"), theirs.path());
    for name in &names {
        let a = std::fs::read_to_string(ours.path().join(name)).unwrap();
        let b = std::fs::read_to_string(theirs.path().join(name)).unwrap();
        assert_eq!(a, b, "{name}: kiln fmt and packer fmt differ");
    }
    let again = Command::new(&kiln)
        .args(["fmt", "-check", "."])
        .current_dir(ours.path())
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "not stable: {:?}",
        text(&again)
    );
}
