//! The sandbox as a person at the terminal meets it, through the kiln binary: text from
//! components and machines cannot take over the terminal, a component's error is printed
//! once and bounded, and a component that computes forever is stopped in every phase
//! (validate, post-process) by its timeout, its cpu limit or Ctrl-C.

use super::*;

fn hostile_post_processor() -> String {
    env!("HOSTILE_POST_PROCESSOR_WASM").to_owned()
}

fn hostile_provisioner() -> String {
    env!("HOSTILE_PROVISIONER_WASM").to_owned()
}

/// `required_components` naming the hostile components.
fn required() -> String {
    format!(
        "packer {{\n  required_components {{\n    hostile    = {{ source = \"{}\" }}\n    hostile-pp = {{ source = \"{}\" }}\n  }}\n}}\n",
        hostile_provisioner(),
        hostile_post_processor()
    )
}

/// A build of the machine `sshd` serves with one `hostile` provisioner configured by
/// `attack` (its attributes, one a line), written as `t.pkr.hcl` in `dir`.
fn write_hostile_build(sshd: &Sshd, dir: &Path, attack: &str) {
    write(
        dir,
        "t.pkr.hcl",
        &format!(
            "{}{}build {{\n  sources = [\"source.null.web\"]\n  provisioner \"hostile\" {{\n{attack}  }}\n}}\n",
            required(),
            sshd.null_source("web", &sshd.key)
        ),
    );
}

/// A machine's output with control sequences: a carriage return that would overwrite
/// the build's prefix, a line erase, a window title, a color.
const REMOTE: &str =
    r"printf 'hidden\rFAKE ==> other: done\033[2K\033]0;owned\007 \033[31mred\033[0m\n'";

#[test]
fn remote_output_cannot_rewrite_the_terminal() {
    let sshd = Sshd::start();
    let work = tempfile::tempdir().unwrap();
    write_web_build(
        &sshd,
        work.path(),
        &format!("  provisioner \"shell\" {{\n    inline = [{REMOTE:?}]\n  }}\n"),
    );
    for flags in [&["-color=false"][..], &["-machine-readable"][..]] {
        let mut args = vec!["build"];
        args.extend_from_slice(flags);
        args.push("t.pkr.hcl");
        let out = kiln(work.path(), &args);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}{stderr}");
        let line = stdout
            .lines()
            .find(|l| l.contains("FAKE"))
            .unwrap_or_else(|| panic!("no remote line: {stdout}"));
        // What the terminal would have shown of the line, under the build's prefix,
        // with the escapes shown and the color dropped (the output is not colored).
        assert!(!line.contains('\x1b') && !line.contains('\r'), "{line:?}");
        assert!(!line.contains("hidden"), "{line:?}");
        assert!(
            line.contains(r"FAKE ==> other: done\x1b[2K\x1b]0;owned\x07 red"),
            "{line:?}"
        );
        assert!(line.contains("null.web"), "{line:?}");
    }
}

#[test]
fn a_components_escapes_are_shown_escaped_even_without_color() {
    let sshd = Sshd::start();
    let work = tempfile::tempdir().unwrap();
    write_hostile_build(
        &sshd,
        work.path(),
        "    attack = \"escape-ui\"\n    text   = \"\\r\\u001b[1A\\u001b[2K==> Builds finished. \\u001b[32mgreen\"\n",
    );
    let out = kiln(work.path(), &["build", "-color=false", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        !stdout.contains('\x1b') && !stdout.contains('\r'),
        "{stdout:?}"
    );
    assert!(
        stdout.contains(r"==> null.web: \r\x1b[1A\x1b[2K==> Builds finished. \x1b[32mgreen"),
        "{stdout}{stderr}"
    );
}

/// Regression: a 48 MiB error made kiln print 220 MB (the message four times). It is
/// cut at the step's output limit, printed whole once, and shortened in the summaries.
#[test]
fn a_huge_error_is_printed_once_and_bounded() {
    let sshd = Sshd::start();
    let work = tempfile::tempdir().unwrap();
    write_hostile_build(
        &sshd,
        work.path(),
        &format!(
            "    attack = \"huge-error\"\n    bytes  = {}\n    limits {{\n      ui_output = \"1MiB\"\n    }}\n",
            48u64 << 20
        ),
    );
    let out = kiln(work.path(), &["build", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    let printed = stdout.len() + stderr.len();
    assert!(
        printed < (1 << 20) + (64 << 10),
        "{printed} bytes printed for an error cut at 1 MiB"
    );
    let whole = stdout
        .lines()
        .filter(|l| l.contains("HUGE-ERROR-START") && l.len() > 100_000)
        .count();
    assert_eq!(whole, 1, "the error is printed whole once");
    assert!(stdout.contains("more bytes cut"), "the cut is said");
    assert!(stdout.contains("==> Summary:") || stdout.contains("--> null.web:"));
}

#[test]
fn validate_of_a_spinning_component_ends_at_its_timeout() {
    let work = tempfile::tempdir().unwrap();
    write(
        work.path(),
        "t.pkr.hcl",
        &format!(
            "{}source \"null\" \"web\" {{\n  communicator = \"none\"\n}}\nbuild {{\n  sources = [\"source.null.web\"]\n  provisioner \"hostile\" {{\n    attack   = \"none\"\n    validate = \"spin\"\n    timeout  = \"3s\"\n  }}\n}}\n",
            required()
        ),
    );
    let started = Instant::now();
    let out = kiln(work.path(), &["validate", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("component `hostile` exceeded its timeout of 3s"),
        "{stderr}"
    );
    assert!(
        stderr.contains("t.pkr.hcl:"),
        "the error says where: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn ctrl_c_stops_a_spinning_post_processor() {
    let work = tempfile::tempdir().unwrap();
    write(
        work.path(),
        "t.pkr.hcl",
        &format!(
            "{}source \"null\" \"web\" {{\n  communicator = \"none\"\n}}\nbuild {{\n  sources = [\"source.null.web\"]\n  post-processor \"hostile-pp\" {{\n    attack = \"busy-loop\"\n  }}\n}}\n",
            required()
        ),
    );
    let (mut child, lines, mut seen) =
        kiln_until(work.path(), &["build", "t.pkr.hcl"], "attack `busy-loop`");
    std::thread::sleep(Duration::from_millis(500));
    let interrupted = Instant::now();
    kiln_tests::command("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    seen.extend(lines.map(|l| l.unwrap()));
    let code = child.wait().unwrap().code();
    let out = seen.join("\n");
    assert_eq!(code, Some(130), "{out}");
    assert!(interrupted.elapsed() < Duration::from_secs(15), "{out}");
    assert!(out.contains("--> null.web: cancelled after"), "{out}");
}
