//! `-debug` and the breakpoint provisioner: the build waits for Enter on stdin.

use super::*;
use std::io::Write;
use std::sync::mpsc::{channel, Receiver};

/// The lines of `child`'s stdout, as they come.
fn lines_of(child: &mut std::process::Child) -> Receiver<String> {
    let (tx, rx) = channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    rx
}

/// Reads lines until one contains "Press enter to continue."; returns it.
fn next_prompt(rx: &Receiver<String>, seen: &mut Vec<String>) -> String {
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no prompt came:\n{}", seen.join("\n")));
        seen.push(line.clone());
        if line.contains("Press enter to continue.") {
            return line;
        }
    }
}

#[test]
fn debug_pauses_before_every_step_and_at_breakpoints_until_enter() {
    let work = tempfile::tempdir().unwrap();
    write(
        work.path(),
        "t.pkr.hcl",
        r#"source "null" "dbg" {
  communicator = "none"
}
build {
  sources = ["source.null.dbg"]
  provisioner "breakpoint" {
    note = "look at the machine"
  }
  provisioner "breakpoint" {
    disable = true
  }
}
"#,
    );
    let mut child = Command::new(kiln_bin())
        .args(["build", "-debug", "t.pkr.hcl"])
        .current_dir(work.path())
        .env("KILN_CACHE_DIR", cache_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    let mut stdin = child.stdin.take().unwrap();
    let mut seen = Vec::new();
    let expected = [
        "Pausing before step 'pause-before-connecting'.",
        "Pausing before step 'connect'.",
        "Pausing before step 'provision'.",
        "Pausing before provisioner \"breakpoint\".",
        "Pausing at breakpoint provisioner with note \"look at the machine\".",
        "Pausing before provisioner \"breakpoint\".",
    ];
    for want in expected {
        let prompt = next_prompt(&rx, &mut seen);
        assert!(prompt.contains(want), "expected {want:?}, got {prompt:?}");
        // The build waits: nothing more is printed until Enter.
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "the build went on without Enter:\n{}",
            seen.join("\n")
        );
        stdin.write_all(b"\n").unwrap();
    }
    let status = child.wait().unwrap();
    seen.extend(rx.try_iter());
    let out = seen.join("\n");
    assert!(status.success(), "{out}");
    assert!(
        out.contains("Debug mode enabled. Builds will not be parallelized."),
        "{out}"
    );
    assert!(
        out.contains("Breakpoint provisioner disabled. Continuing..."),
        "{out}"
    );
    assert!(out.contains("Build 'null.dbg' finished"), "{out}");
}

#[test]
fn a_breakpoint_without_stdin_goes_on_and_a_bad_option_is_reported_where_it_is() {
    let work = tempfile::tempdir().unwrap();
    write(
        work.path(),
        "t.pkr.hcl",
        "source \"null\" \"bp\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.bp\"]\n  provisioner \"breakpoint\" {\n    note = \"n\"\n  }\n}\n",
    );
    let out = kiln(work.path(), &["build", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("Pausing at breakpoint provisioner with note \"n\""),
        "{stdout}"
    );
    assert!(stdout.contains("stdin is closed: continuing"), "{stdout}");

    write(
        work.path(),
        "t.pkr.hcl",
        "source \"null\" \"bp\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.bp\"]\n  provisioner \"breakpoint\" {\n    note    = \"n\"\n    disabled = true\n  }\n}\n",
    );
    let out = kiln(work.path(), &["validate", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("t.pkr.hcl:8:5"), "{stdout}{stderr}");
    assert!(stderr.contains("disabled"), "{stderr}");
}
