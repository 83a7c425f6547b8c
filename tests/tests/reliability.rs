//! Bad input a hostile user (or a fuzzer) gives the kiln binary: each case is one that
//! once panicked, hung, ran out of memory or printed a secret, and must now end with a
//! clear error, at its place in the template, in bounded time and memory. Named after
//! what broke.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kiln_tests::{output_with_input, text};

fn kiln_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kiln-under-test"))
}

fn kiln_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(kiln_bin());
    cmd.args(args)
        .current_dir(dir)
        .env("KILN_CACHE_DIR", kiln_tests::cache_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

fn kiln(dir: &Path, args: &[&str]) -> Output {
    kiln_cmd(dir, args).output().expect("running kiln")
}

/// Runs kiln and returns its exit code and everything it printed; fails the test on a
/// panic or an abort (exit 101 or 134).
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = kiln(dir, args);
    let (stdout, stderr) = text(&out);
    let all = format!("{stdout}{stderr}");
    assert!(
        !matches!(out.status.code(), Some(101 | 134)) && !all.contains("panicked"),
        "kiln {args:?} crashed: {all}"
    );
    (out.status.code(), all)
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), contents).unwrap();
}

const SOURCE: &str = "source \"null\" \"a\" {\n  communicator = \"none\"\n}\n";
const BUILD: &str = "build {\n  sources = [\"source.null.a\"]\n}\n";

#[test]
fn a_duration_past_the_longest_packer_takes_is_an_error_at_the_attribute() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "t.pkr.hcl",
        format!(
            "source \"null\" \"a\" {{\n  ssh_host     = \"h\"\n  ssh_username = \"u\"\n  ssh_password = \"p\"\n  ssh_timeout  = \"9999999999999999h\"\n}}\n{BUILD}"
        ),
    );
    let (code, out) = run(dir.path(), &["validate", "t.pkr.hcl"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("t.pkr.hcl:5:3"), "{out}");
    assert!(out.contains("longest duration"), "{out}");
}

#[test]
fn a_non_utf8_environment_variable_is_ignored_unless_kiln_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "t.pkr.hcl",
        format!("variable \"v\" {{\n  default = \"x\"\n}}\n{SOURCE}{BUILD}"),
    );
    let bad = std::ffi::OsStr::from_bytes(b"\xff\xfe");
    let out = kiln_cmd(dir.path(), &["validate", "t.pkr.hcl"])
        .env("FOO", bad)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let out = kiln_cmd(dir.path(), &["validate", "t.pkr.hcl"])
        .env("PKR_VAR_v", bad)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("PKR_VAR_v is not valid UTF-8"), "{stderr}");
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    write(
        dir.path(),
        "legacy.json",
        format!("{{\"builders\":[{{\"type\":\"null\",\"x\":{deep}}}]}}"),
    );
    write(
        dir.path(),
        "t.pkr.json",
        format!("{{\"locals\":{{\"x\":{deep}}}}}"),
    );
    for args in [
        &["validate", "legacy.json"][..],
        &["validate", "t.pkr.json"],
        &["hcl2_upgrade", "legacy.json"],
    ] {
        let (code, out) = run(dir.path(), args);
        assert_eq!(code, Some(1), "{args:?}: {out}");
        assert!(out.contains("exceeded max depth"), "{args:?}: {out}");
        // The error's snippet is cut around the column, not the whole line.
        assert!(out.len() < 2000, "{args:?}: {} bytes printed", out.len());
    }
}

#[test]
fn file_functions_and_template_paths_read_regular_files_only() {
    let dir = tempfile::tempdir().unwrap();
    for device in ["/dev/zero", "/dev/urandom"] {
        write(
            dir.path(),
            "t.pkr.hcl",
            format!("locals {{\n  x = file(\"{device}\")\n}}\n{SOURCE}{BUILD}"),
        );
        let (code, out) = run(dir.path(), &["validate", "t.pkr.hcl"]);
        assert_eq!(code, Some(1), "{out}");
        assert!(
            out.contains("it is a device; Kiln reads regular files only"),
            "{out}"
        );
        assert!(out.contains("t.pkr.hcl:2:7"), "{out}");
    }
    let fifo = dir.path().join("fifo.pkr.hcl");
    let made = kiln_tests::command("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let (code, out) = run(dir.path(), &["validate", "fifo.pkr.hcl"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("named pipe (FIFO)"), "{out}");
    write(
        dir.path(),
        "t.pkr.hcl",
        format!("locals {{\n  x = filebase64(\"fifo.pkr.hcl\")\n}}\n{SOURCE}{BUILD}"),
    );
    let (code, out) = run(dir.path(), &["validate", "t.pkr.hcl"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("named pipe (FIFO)"), "{out}");
}

#[test]
fn a_yaml_alias_bomb_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for level in b'b'..=b'j' {
        let (this, prev) = (level as char, (level - 1) as char);
        let refs = vec![format!("*{prev}"); 9].join(",");
        yaml.push_str(&format!("{this}: &{this} [{refs}]\n"));
    }
    write(dir.path(), "bomb.yaml", yaml);
    write(
        dir.path(),
        "t.pkr.hcl",
        format!("locals {{\n  x = yamldecode(file(\"bomb.yaml\"))\n}}\n{SOURCE}{BUILD}"),
    );
    let (code, out) = run(dir.path(), &["validate", "t.pkr.hcl"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("once its aliases are expanded"), "{out}");
}

#[test]
fn nested_loops_over_large_collections_stop_at_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "t.pkr.hcl",
        format!(
            "locals {{\n  x = [for a in range(1000) : [for b in range(1000) : [for c in range(1000) : c]]]\n}}\n{SOURCE}{BUILD}"
        ),
    );
    let (code, out) = run(dir.path(), &["validate", "-syntax-only", "t.pkr.hcl"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("iterate over more than 1000000 elements"),
        "{out}"
    );
    assert!(out.contains("t.pkr.hcl:2:7"), "{out}");
    // Smaller loops are fine.
    write(
        dir.path(),
        "t.pkr.hcl",
        format!(
            "locals {{\n  x = [for a in range(100) : [for b in range(100) : a * b]]\n}}\n{SOURCE}{BUILD}"
        ),
    );
    let (code, out) = run(dir.path(), &["validate", "-syntax-only", "t.pkr.hcl"]);
    assert_eq!(code, Some(0), "{out}");
}

/// Regression: a sensitive value given to an attribute of the wrong type was echoed in
/// the error (`invalid type: string "hunter2..."`), as was a bad value for a typed
/// sensitive variable.
#[test]
fn type_errors_never_print_a_sensitive_value() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "t.pkr.hcl",
        format!(
            "variable \"pw\" {{\n  default   = \"hunter2-secret\"\n  sensitive = true\n}}\n\
             variable \"pin\" {{\n  type      = number\n  default   = 9876\n  sensitive = true\n}}\n\
             source \"null\" \"a\" {{\n  ssh_host     = \"h\"\n  ssh_username = \"u\"\n  ssh_password = \"p\"\n  ssh_port     = var.pw\n}}\n{BUILD}"
        ),
    );
    let (code, out) = run(dir.path(), &["validate", "t.pkr.hcl"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("`ssh_port` must be a whole number, not a string"),
        "{out}"
    );
    assert!(out.contains("t.pkr.hcl:14:3"), "{out}");
    assert!(!out.contains("hunter2"), "{out}");
    let (code, out) = run(
        dir.path(),
        &["validate", "-var", "pin=notanumbersecret", "t.pkr.hcl"],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(!out.contains("notanumbersecret"), "{out}");
    assert!(out.contains("<sensitive>"), "{out}");
    assert!(
        !out.contains("Unset variable"),
        "one error, not a cascade: {out}"
    );
    let out = kiln_cmd(dir.path(), &["validate", "t.pkr.hcl"])
        .env("PKR_VAR_pin", "zz-env-secret")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(
        !format!("{stdout}{stderr}").contains("zz-env-secret"),
        "{stderr}"
    );
}

/// Regression: `kiln inspect` printed a local computed from a sensitive variable in
/// clear, and `kiln console` printed values computed from one.
#[test]
fn sensitivity_follows_values_through_expressions() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "t.pkr.hcl",
        format!(
            "variable \"pw\" {{\n  default   = \"hunter2\"\n  sensitive = true\n}}\n\
             variable \"pin\" {{\n  type      = number\n  default   = 4321\n  sensitive = true\n}}\n\
             locals {{\n  up    = upper(var.pw)\n  b64   = base64encode(local.up)\n  plain = \"x\"\n}}\n{SOURCE}{BUILD}"
        ),
    );
    let (code, out) = run(dir.path(), &["inspect", "t.pkr.hcl"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("local.up: \"<sensitive>\""), "{out}");
    assert!(out.contains("local.b64: \"<sensitive>\""), "{out}");
    assert!(out.contains("local.plain: \"x\""), "{out}");
    assert!(
        !out.contains("HUNTER2") && !out.contains("SFVOVEVSMg"),
        "{out}"
    );
    let out = output_with_input(
        &mut kiln_cmd(dir.path(), &["console", "t.pkr.hcl"]),
        b"var.pin\nupper(var.pw)\nlocal.b64\nvar.pin + 1\nlocal.plain\n",
    );
    let (stdout, _) = text(&out);
    assert_eq!(
        stdout,
        "<sensitive>\n<sensitive>\n<sensitive>\n<sensitive>\nx\n"
    );
}

#[test]
fn division_by_zero_is_an_error_not_null() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "t.pkr.hcl",
        format!("locals {{\n  x = 1 / 0\n  y = 5 % 0\n}}\n{SOURCE}{BUILD}"),
    );
    let (code, out) = run(dir.path(), &["validate", "-syntax-only", "t.pkr.hcl"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("can't divide by zero"), "{out}");
    assert!(out.contains("t.pkr.hcl:2:7"), "{out}");
}

#[test]
fn a_byte_order_mark_and_invalid_utf8_are_named_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "bom.pkr.hcl",
        [b"\xEF\xBB\xBF".as_slice(), SOURCE.as_bytes()].concat(),
    );
    let (code, out) = run(dir.path(), &["validate", "bom.pkr.hcl"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("bom.pkr.hcl:1:1"), "{out}");
    assert!(out.contains("byte-order mark"), "{out}");
    write(
        dir.path(),
        "bad.pkr.hcl",
        b"source \"null\" \"a\" {\n  communicator = \"n\xffne\"\n}\n",
    );
    let (code, out) = run(dir.path(), &["validate", "bad.pkr.hcl"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("bad.pkr.hcl:2:20"), "{out}");
    assert!(out.contains("not valid UTF-8"), "{out}");
}

#[test]
fn an_error_on_a_minified_line_prints_an_excerpt_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let filler = format!("\"{}\"", "y".repeat(500_000));
    write(
        dir.path(),
        "t.pkr.hcl",
        format!("locals {{ a = {filler}, b = nosuch(1), c = {filler} }}\n"),
    );
    let (code, out) = run(dir.path(), &["validate", "t.pkr.hcl"]);
    assert_eq!(code, Some(1));
    assert!(out.contains("nosuch"), "{}", &out[..out.len().min(2000)]);
    assert!(
        out.len() < 4000,
        "{} bytes printed for one error",
        out.len()
    );
}

#[test]
fn console_fed_random_bytes_says_so_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    noise.extend_from_slice(b"\n1 + 1\n");
    let out = output_with_input(&mut kiln_cmd(dir.path(), &["console"]), &noise);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not UTF-8 text"), "{stderr}");
    assert!(
        stdout.ends_with("2\n"),
        "the readable line is still evaluated: {stdout}"
    );
}
