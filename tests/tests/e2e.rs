//! End-to-end: `kiln build` and `kiln validate` against a real OpenSSH sshd.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std::path::PathBuf;
use std::process::Output;

use kiln_tests::{cache_dir, processes_with, text, Sshd};

/// The kiln binary under test.
fn kiln_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kiln-under-test"))
}

/// Runs kiln with `args` in `dir`, with a private compile cache, and returns its output.
fn kiln(dir: &Path, args: &[&str]) -> Output {
    kiln_env(dir, args, &[])
}

/// The same, with the variables `env` set too.
fn kiln_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    kiln_command(dir, args)
        .envs(env.iter().copied())
        .output()
        .expect("running kiln")
}

/// kiln with `args` in `dir`, with a private compile cache, plain output and no input.
fn kiln_command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(kiln_bin());
    c.args(args)
        .current_dir(dir)
        .env("KILN_CACHE_DIR", cache_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

/// Starts kiln with `args` in `dir` and reads its output until a line contains
/// `needle`; returns the running kiln, the rest of its output, and the lines read.
fn kiln_until(
    dir: &Path,
    args: &[&str],
    needle: &str,
) -> (
    std::process::Child,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
    Vec<String>,
) {
    run_until(kiln_command(dir, args), needle)
}

/// Starts `kiln` and reads its output until a line contains `needle`; returns the
/// running kiln, the rest of its output, and the lines read.
fn run_until(
    mut kiln: Command,
    needle: &str,
) -> (
    std::process::Child,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
    Vec<String>,
) {
    let mut child = kiln.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains(needle) {
            break;
        }
    }
    (child, lines, seen)
}

/// Runs `kiln` until it prints `needle`, then, once `started` holds (within 60 s;
/// `what` names it), sends it Ctrl-C (SIGINT) and checks that it exits with 130.
/// Returns everything it printed.
fn interrupt_once(
    kiln: Command,
    needle: &str,
    started: impl Fn() -> bool,
    what: &str,
) -> Vec<String> {
    let (mut child, lines, mut seen) = run_until(kiln, needle);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started() {
        assert!(
            Instant::now() < deadline,
            "{what} never started:\n{}",
            seen.join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = kiln_tests::command("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    seen.extend(lines.map(|l| l.unwrap()));
    assert_eq!(
        child.wait().unwrap().code(),
        Some(130),
        "{}",
        seen.join("\n")
    );
    seen
}

fn write(dir: &Path, name: &str, contents: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// [`write`], then made executable (a script).
fn write_executable(dir: &Path, name: &str, contents: &str) {
    write(dir, name, contents);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Writes `t.pkr.hcl` in `dir`: one build of the null source `web` on `sshd` with
/// `provisioners` (HCL text) in its build block.
fn write_web_build(sshd: &Sshd, dir: &Path, provisioners: &str) {
    let template = format!(
        "{}\nbuild {{\n  sources = [\"source.null.web\"]\n{provisioners}}}\n",
        sshd.null_source("web", &sshd.key)
    );
    write(dir, "t.pkr.hcl", &template);
}

// --- A full build: null builder + shell + file provisioners. -----------------------

mod full_build {
    use super::*;

    /// Every file under `root` (symbolic links followed), directory or file, with its
    /// permission bits and, for a file, its contents.
    fn tree(root: &Path) -> BTreeMap<String, (u32, Option<Vec<u8>>)> {
        use std::os::unix::fs::PermissionsExt;
        let mut out = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let meta = std::fs::metadata(&path).unwrap();
                let name = path.strip_prefix(root).unwrap().display().to_string();
                let mode = meta.permissions().mode() & 0o7777;
                if meta.is_dir() {
                    stack.push(path);
                    out.insert(name, (mode, None));
                } else {
                    out.insert(name, (mode, Some(std::fs::read(&path).unwrap())));
                }
            }
        }
        out
    }

    /// A directory of many small files goes to the machine and comes back exactly, sent
    /// without a round trip a file: names with spaces and beyond ASCII, file modes, an
    /// empty directory and a link inside the tree (sent as what it points at), as scp
    /// copies them. A destination the machine refuses fails the step with its reason.
    #[test]
    fn a_tree_of_many_files_goes_up_and_comes_back_exactly() {
        use std::os::unix::fs::PermissionsExt;
        let sshd = Sshd::start();
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        let remote = tempfile::tempdir().unwrap();
        let r = remote.path().display().to_string();
        let modes = [0o644, 0o600, 0o755, 0o640];
        for i in 0..600usize {
            let name = format!("src/d{}/sub {}/f{i}", i % 7, i % 3);
            write(w, &name, &format!("{i}\n").repeat(i % 50 + 1));
            let mode = modes[i % modes.len()];
            std::fs::set_permissions(w.join(&name), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        write(w, "src/ünïcødé ✓/naïve – file.txt", "unicode\n");
        write(w, "src/big.bin", &"x".repeat(3 << 20));
        std::fs::create_dir_all(w.join("src/empty")).unwrap();
        std::os::unix::fs::symlink("d1/sub 1/f1", w.join("src/link")).unwrap();
        let template = format!(
            "{source}\nbuild {{\n  sources = [\"source.null.web\"]\n\
  provisioner \"file\" {{\n    source      = \"src/\"\n    destination = \"{r}/up\"\n  }}\n\
  provisioner \"file\" {{\n    source      = \"{r}/up/\"\n    destination = \"back\"\n    direction   = \"download\"\n  }}\n\
}}\n",
            source = sshd.null_source("web", &sshd.key)
        );
        write(w, "t.pkr.hcl", &template);
        let out = kiln(w, &["build", "t.pkr.hcl"]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");

        let sent = tree(&w.join("src"));
        assert_eq!(sent.len(), 600 + 7 + 21 + 5, "the fixture");
        // Files keep their modes; directories are made with their own (the remote
        // umask applies to neither here: 022 takes nothing from these modes).
        assert_eq!(tree(&remote.path().join("up")), sent);
        assert_eq!(tree(&w.join("back")), sent);

        // A destination under a file: the step fails with the machine's reason.
        write(w, "blocker", "");
        std::fs::write(remote.path().join("blocker"), "").unwrap();
        let refused = template.replace(&format!("{r}/up\""), &format!("{r}/blocker/up\""));
        write(w, "t.pkr.hcl", &refused);
        let out = kiln(w, &["build", "t.pkr.hcl"]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
        assert!(stdout.contains("Not a directory"), "{stdout}{stderr}");
    }

    #[test]
    fn shell_and_file_provisioners_change_the_machine_and_stream_output() {
        let sshd = Sshd::start();
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        // The "machine" is this host reached over SSH: its files live under `remote`.
        let remote = tempfile::tempdir().unwrap();
        let r = remote.path().display().to_string();
        write(w, "script.sh", "#!/bin/sh\necho \"script sees $GREETING and $OTHER\"\necho from-script > \"$TARGET/script-ran\"\n");
        write(w, "app.conf", "listen = 8080\n");
        write(w, "site/index.html", "<h1>hello</h1>\n");
        write(w, "site/css/main.css", "body {}\n");
        let template = format!(
            "{source}\nvariable \"target\" {{\n  type = string\n}}\nlocals {{\n  marker = \"${{var.target}}/inline-ran\"\n}}\n\
build {{\n  sources = [\"source.null.web\"]\n\
  provisioner \"shell\" {{\n    inline = [\"echo hello from $PACKER_BUILD_NAME\", \"echo to-stderr >&2\", \"touch ${{local.marker}}\"]\n  }}\n\
  provisioner \"shell\" {{\n    script           = \"script.sh\"\n    environment_vars = [\"GREETING=bonjour\", \"TARGET=${{var.target}}\"]\n    env              = {{ OTHER = \"it's quoted\" }}\n  }}\n\
  provisioner \"file\" {{\n    source      = \"app.conf\"\n    destination = \"${{var.target}}/app.conf\"\n  }}\n\
  provisioner \"file\" {{\n    source      = \"site\"\n    destination = \"${{var.target}}/www\"\n  }}\n\
  provisioner \"file\" {{\n    source      = \"site/\"\n    destination = \"${{var.target}}/flat\"\n  }}\n\
  provisioner \"file\" {{\n    content     = \"generated\"\n    destination = \"${{var.target}}/content.txt\"\n  }}\n\
  provisioner \"shell\" {{\n    inline = [\"echo remote-made > ${{var.target}}/made-remotely.txt\"]\n  }}\n\
  provisioner \"file\" {{\n    source      = \"${{var.target}}/made-remotely.txt\"\n    destination = \"downloaded/\"\n    direction   = \"download\"\n  }}\n\
  provisioner \"file\" {{\n    source      = \"${{var.target}}/www/\"\n    destination = \"mirror\"\n    direction   = \"download\"\n  }}\n\
}}\n",
            source = sshd.null_source("web", &sshd.key)
        );
        write(w, "web.pkr.hcl", &template);
        let out = kiln(w, &["build", "-var", &format!("target={r}"), "."]);
        let (stdout, stderr) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "stdout:\n{stdout}\nstderr:\n{stderr}"
        );

        // Effects on the machine.
        let rp = remote.path();
        assert!(rp.join("inline-ran").exists());
        let read = |p: std::path::PathBuf| {
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        for (path, expected) in [
            (rp.join("script-ran"), "from-script\n"),
            (rp.join("app.conf"), "listen = 8080\n"),
            (rp.join("www/site/index.html"), "<h1>hello</h1>\n"),
            (rp.join("www/site/css/main.css"), "body {}\n"),
            (rp.join("flat/index.html"), "<h1>hello</h1>\n"),
            (rp.join("content.txt"), "generated"),
            // Downloads back to the host.
            (w.join("downloaded/made-remotely.txt"), "remote-made\n"),
            (w.join("mirror/site/index.html"), "<h1>hello</h1>\n"),
        ] {
            assert_eq!(read(path), expected);
        }
        // The temporary scripts were cleaned up (skip_clean = false).
        let leftovers: Vec<_> = std::fs::read_dir("/tmp")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("script_"))
            .filter(|e| {
                std::fs::read_to_string(e.path())
                    .is_ok_and(|s| s.contains("GREETING") || s.contains("inline-ran"))
            })
            .collect();
        assert!(
            leftovers.is_empty(),
            "temporary scripts left: {leftovers:?}"
        );

        // Output as Packer prints it.
        for expected in [
            "==> null.web: Waiting for SSH to become available...",
            "==> null.web: Connected to SSH!",
            "==> null.web: Provisioning with shell script: <inline>",
            "    null.web: hello from web",
            "    null.web: to-stderr",
            "==> null.web: Provisioning with shell script: script.sh",
            "    null.web: script sees bonjour and it's quoted",
            "==> null.web: Uploading site => ",
            "==> Builds finished. The artifacts of successful builds are:",
            "--> null.web: Did not export anything. This is the null builder",
        ] {
            assert!(
                stdout.contains(expected),
                "missing {expected:?} in:\n{stdout}"
            );
        }
    }

    #[test]
    fn remote_output_is_streamed_as_it_arrives() {
        let sshd = Sshd::start();
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        write(
            w,
            "t.pkr.hcl",
            &format!(
                "{}\nbuild {{\n  sources = [\"source.null.slow\"]\n  provisioner \"shell\" {{\n    inline = [\"echo first-line\", \"sleep 3\", \"echo second-line\"]\n  }}\n}}\n",
                sshd.null_source("slow", &sshd.key)
            ),
        );
        let mut child = Command::new(kiln_bin())
            .args(["build", "t.pkr.hcl"])
            .current_dir(w)
            .env("KILN_CACHE_DIR", cache_dir())
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut first_at = None;
        let mut second_at = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if line.ends_with("first-line") {
                first_at = Some(Instant::now());
            }
            if line.ends_with("second-line") {
                second_at = Some(Instant::now());
            }
        }
        assert!(child.wait().unwrap().success());
        let (first, second) = (
            first_at.expect("first line"),
            second_at.expect("second line"),
        );
        // The first line reached us while the remote command was still sleeping.
        assert!(
            second.duration_since(first) >= Duration::from_secs(2),
            "output was buffered until the end"
        );
    }
}

// --- Failures: exit status 1, a one-line reason, cleanup. ----------------------------

mod failures {
    use super::*;

    fn build_with(
        sshd: &Sshd,
        source: &str,
        provisioner: &str,
    ) -> (i32, String, String, tempfile::TempDir) {
        let work = tempfile::tempdir().unwrap();
        let name = source.split('"').nth(3).unwrap().to_owned();
        write(
            work.path(),
            "t.pkr.hcl",
            &format!(
                "{source}\nbuild {{\n  sources = [\"source.null.{name}\"]\n{provisioner}\n}}\n"
            ),
        );
        let _ = sshd;
        let out = kiln(work.path(), &["build", "t.pkr.hcl"]);
        let (stdout, stderr) = text(&out);
        (out.status.code().unwrap_or(-1), stdout, stderr, work)
    }

    #[test]
    fn exit_code_outside_valid_exit_codes_fails_the_build() {
        let sshd = Sshd::start();
        let (code, stdout, _, _w) = build_with(
            &sshd,
            &sshd.null_source("web", &sshd.key),
            "  provisioner \"shell\" {\n    inline = [\"exit 3\"]\n    valid_exit_codes = [0, 2]\n  }\n  provisioner \"shell\" {\n    inline = [\"echo never-runs\"]\n  }",
        );
        assert_eq!(code, 1, "{stdout}");
        assert!(
            stdout.contains("--> null.web: provisioner \"shell\" failed: script exited with non-zero exit status: 3. Allowed exit codes are: [0, 2]"),
            "{stdout}"
        );
        assert!(
            !stdout.contains("never-runs"),
            "a step after the failure ran:\n{stdout}"
        );
    }

    #[test]
    fn valid_exit_codes_accepts_listed_codes() {
        let sshd = Sshd::start();
        let (code, stdout, _, _w) = build_with(
            &sshd,
            &sshd.null_source("web", &sshd.key),
            "  provisioner \"shell\" {\n    inline = [\"exit 2\"]\n    valid_exit_codes = [0, 2]\n  }",
        );
        assert_eq!(code, 0, "{stdout}");
    }

    #[test]
    fn a_host_that_never_answers_times_out() {
        let sshd = Sshd::start();
        let closed = kiln_tests::free_port();
        let source = sshd
            .null_source("web", &sshd.key)
            .replace(&format!("= {}", sshd.port), &format!("= {closed}"))
            .replace("\"10s\"", "\"2s\"");
        let started = Instant::now();
        let (code, stdout, _, _w) = build_with(
            &sshd,
            &source,
            "  provisioner \"shell\" {\n    inline = [\"true\"]\n  }",
        );
        assert_eq!(code, 1, "{stdout}");
        assert!(
            stdout.contains(&format!(
                "--> null.web: timeout waiting for SSH on 127.0.0.1:{closed} after 2s"
            )),
            "{stdout}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "ssh_timeout was not honoured"
        );
    }

    #[test]
    fn a_wrong_key_is_refused() {
        let sshd = Sshd::start();
        let source = sshd.null_source("web", &sshd.wrong_key).replace(
            "  ssh_timeout",
            "  ssh_handshake_attempts = 2\n  ssh_timeout",
        );
        let (code, stdout, _, _w) = build_with(
            &sshd,
            &source,
            "  provisioner \"shell\" {\n    inline = [\"true\"]\n  }",
        );
        assert_eq!(code, 1, "{stdout}");
        assert!(stdout.contains("SSH authentication as"), "{stdout}");
        assert!(
            stdout.contains("the server refused the private key"),
            "{stdout}"
        );
    }

    #[test]
    fn a_missing_script_is_reported_at_its_attribute() {
        let sshd = Sshd::start();
        let (code, stdout, stderr, _w) = build_with(
            &sshd,
            &sshd.null_source("web", &sshd.key),
            "  provisioner \"shell\" {\n    script = \"missing.sh\"\n  }",
        );
        assert_eq!(code, 1, "{stdout}{stderr}");
        // line 12 col 5 is `script` inside the provisioner block.
        assert!(stderr.contains("t.pkr.hcl:12:5"), "{stderr}");
        assert!(
            stderr.contains("bad script \"missing.sh\": no such file"),
            "{stderr}"
        );
        assert!(
            !stdout.contains("Connected to SSH"),
            "it connected before checking the template:\n{stdout}"
        );
    }

    #[test]
    fn a_typo_in_the_template_names_file_line_col() {
        let sshd = Sshd::start();
        let source = sshd
            .null_source("web", &sshd.key)
            .replace("ssh_username ", "ssh_usernme  ");
        let (code, _stdout, stderr, _w) = build_with(&sshd, &source, "");
        assert_eq!(code, 1);
        assert!(
            stderr.contains("Error: t.pkr.hcl:4:3: Unsupported argument \"ssh_usernme\""),
            "{stderr}"
        );
        assert!(
            stderr.contains("Did you mean \"ssh_username\"?"),
            "{stderr}"
        );
    }

    #[test]
    fn an_unknown_block_names_file_line_col() {
        let work = tempfile::tempdir().unwrap();
        write(
            work.path(),
            "t.pkr.hcl",
            "variable \"x\" {\n  default = 1\n}\n\nbuidl {\n}\n",
        );
        let out = kiln(work.path(), &["validate", "t.pkr.hcl"]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr.contains("Error: t.pkr.hcl:5:1: Unsupported block type \"buidl\""),
            "{stderr}"
        );
        assert!(stderr.contains("Did you mean \"build\"?"), "{stderr}");
    }

    #[test]
    fn an_unknown_provisioner_attribute_names_file_line_col() {
        let sshd = Sshd::start();
        let work = tempfile::tempdir().unwrap();
        write_web_build(
            &sshd,
            work.path(),
            "  provisioner \"shell\" {\n    inlin = [\"true\"]\n  }\n",
        );
        let out = kiln(work.path(), &["validate", "t.pkr.hcl"]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr.contains(
                "t.pkr.hcl:12:5: Unsupported argument \"inlin\" in provisioner \"shell\""
            ),
            "{stderr}"
        );
        assert!(stderr.contains("Did you mean \"inline\"?"), "{stderr}");
    }
}

// --- The file provisioner's grant: exactly the paths its configuration names. -------

mod grants {
    use super::*;

    /// Uploads `data/` (prepared by `setup` inside the work directory) to the machine's
    /// `copy` directory; returns kiln's output and the machine's directory.
    fn upload_data_dir(setup: impl FnOnce(&Path)) -> (std::process::Output, tempfile::TempDir) {
        let sshd = Sshd::start();
        let work = tempfile::tempdir().unwrap();
        setup(work.path());
        let remote = tempfile::tempdir().unwrap();
        write_web_build(
            &sshd,
            work.path(),
            &format!(
                "  provisioner \"file\" {{\n    source      = \"data/\"\n    destination = \"{}/copy\"\n  }}\n",
                remote.path().display()
            ),
        );
        (kiln(work.path(), &["build", "t.pkr.hcl"]), remote)
    }

    #[test]
    fn a_symlink_out_of_a_granted_directory_is_refused() {
        let secret = tempfile::tempdir().unwrap();
        write(secret.path(), "secret.txt", "TOP-SECRET\n");
        let (out, remote) = upload_data_dir(|w| {
            write(w, "data/ok.txt", "fine\n");
            std::os::unix::fs::symlink(secret.path().join("secret.txt"), w.join("data/leak"))
                .unwrap();
        });
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
        assert!(stdout.contains("refusing `data/leak`"), "{stdout}");
        // Nothing of the secret reached the machine.
        let mut found = Vec::new();
        visit(&remote.path().join("copy"), &mut |p| {
            if std::fs::read_to_string(p).is_ok_and(|s| s.contains("TOP-SECRET")) {
                found.push(p.to_owned());
            }
        });
        assert!(found.is_empty(), "secret copied to {found:?}");
    }

    #[test]
    fn a_symlink_inside_a_granted_directory_is_followed() {
        let (out, remote) = upload_data_dir(|w| {
            write(w, "data/real.txt", "real\n");
            std::os::unix::fs::symlink("real.txt", w.join("data/alias.txt")).unwrap();
        });
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
        assert_eq!(
            std::fs::read_to_string(remote.path().join("copy/alias.txt")).unwrap(),
            "real\n"
        );
    }

    fn visit(dir: &Path, f: &mut dyn FnMut(&Path)) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                visit(&p, f);
            } else {
                f(&p);
            }
        }
    }
}

// --- Validate. ---------------------------------------------------------------------

mod validate {
    use super::*;

    #[test]
    fn a_good_template_is_valid_with_variables_from_every_place() {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        write(
            w,
            "t.pkr.hcl",
            "variable \"a\" {\n  type = string\n}\nvariable \"b\" {\n  type    = number\n  default = 1\n}\nvariable \"c\" {\n  default = \"x\"\n}\n\
source \"file\" \"out\" {\n  content = \"${var.a}-${var.b}-${var.c}\"\n  target  = \"out.txt\"\n}\nbuild {\n  sources = [\"source.file.out\"]\n}\n",
        );
        write(w, "x.auto.pkrvars.hcl", "b = 2\n");
        write(w, "more.pkrvars.hcl", "c = \"from-file\"\n");
        let out = Command::new(kiln_bin())
            .args(["build", "-var-file", "more.pkrvars.hcl", "-var", "b=3", "."])
            .current_dir(w)
            .env("PKR_VAR_a", "env")
            .env("KILN_CACHE_DIR", cache_dir())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
        assert_eq!(
            std::fs::read_to_string(w.join("out.txt")).unwrap(),
            "env-3-from-file"
        );
        let (stdout, _) = text(&out);
        assert!(stdout.contains("--> file.out: Stored file: "), "{stdout}");
    }

    #[test]
    fn an_undeclared_var_on_the_command_line_fails() {
        let work = tempfile::tempdir().unwrap();
        write(
            work.path(),
            "t.pkr.hcl",
            "variable \"region\" {\n  default = \"a\"\n}\nsource \"file\" \"f\" {\n  content = var.region\n  target = \"o\"\n}\nbuild {\n  sources = [\"source.file.f\"]\n}\n",
        );
        let out = kiln(work.path(), &["validate", "-var", "regoin=x", "t.pkr.hcl"]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr.contains("Value for undeclared variable \"regoin\""),
            "{stderr}"
        );
        assert!(stderr.contains("Did you mean \"region\"?"), "{stderr}");
        let ok = kiln(work.path(), &["validate", "t.pkr.hcl"]);
        assert_eq!(ok.status.code(), Some(0), "{:?}", text(&ok));
        assert_eq!(text(&ok).0.trim(), "The configuration is valid.");
    }
}

// --- Ctrl-C. -----------------------------------------------------------------------

mod interrupt {
    use super::*;

    #[test]
    fn sigint_during_a_provisioner_cancels_cleans_up_and_exits_130() {
        interrupt_during_a_provisioner("-INT", "Interrupt", 130);
    }

    /// Regression: SIGTERM killed kiln at once (exit 143 without cleanup), leaving the
    /// remote commands and their scripts on the machine. It is Ctrl-C now.
    #[test]
    fn sigterm_during_a_provisioner_cancels_cleans_up_and_exits_143() {
        interrupt_during_a_provisioner("-TERM", "Terminate signal", 143);
    }

    fn interrupt_during_a_provisioner(signal: &str, said: &str, code: i32) {
        let sshd = Sshd::start();
        let work = tempfile::tempdir().unwrap();
        // Two builds, each sleeping remotely with its own marker.
        // A number no other process carries in its command line: `sleep 6<pid>`.
        let marker = format!("6{}", std::process::id());
        let template = format!(
            "{}{}build {{\n  sources = [\"source.null.web\", \"source.null.api\"]\n  provisioner \"shell\" {{\n    inline = [\"echo started-sleeping\", \"sleep {marker}\"]\n  }}\n  provisioner \"shell\" {{\n    inline = [\"echo never-runs\"]\n  }}\n}}\n",
            sshd.null_source("web", &sshd.key),
            sshd.null_source("api", &sshd.key),
        );
        write(work.path(), "t.pkr.hcl", &template);
        let mut child = Command::new(kiln_bin())
            .args(["build", "t.pkr.hcl"])
            .current_dir(work.path())
            .env("KILN_CACHE_DIR", cache_dir())
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        let mut sleeping = 0;
        for line in lines.by_ref() {
            let line = line.unwrap();
            seen.push(line.clone());
            if line.ends_with("started-sleeping") {
                sleeping += 1;
                if sleeping == 2 {
                    break;
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while processes_with(&marker).len() < 2 {
            assert!(Instant::now() < deadline, "both remote commands run");
            std::thread::sleep(Duration::from_millis(20));
        }
        let interrupted_at = Instant::now();
        let status = kiln_tests::command("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        seen.extend(lines.map(|l| l.unwrap()));
        let exit = child.wait().unwrap().code();
        let out = seen.join("\n");
        assert_eq!(exit, Some(code), "{out}");
        assert!(
            interrupted_at.elapsed() < Duration::from_secs(30),
            "cancellation waited for the remote command"
        );
        assert!(
            out.contains(&format!(
                "==> {said} received. Cancelling builds and cleaning up..."
            )),
            "{out}"
        );
        assert!(out.contains("--> null.web: build was cancelled"), "{out}");
        assert!(out.contains("==> Summary:"), "{out}");
        for build in ["null.web", "null.api"] {
            assert!(
                out.contains(&format!("--> {build}: cancelled after")),
                "{out}"
            );
        }
        assert!(!out.contains("never-runs"), "{out}");
        // Each build's cleanup stopped its remote command.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !processes_with(&marker).is_empty() {
            assert!(
                Instant::now() < deadline,
                "a remote sleep outlived its build"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Regression: the uploaded scripts (inline commands, which may hold secrets)
        // stayed on the machine. The machine is this host: its /tmp.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left: Vec<PathBuf> = std::fs::read_dir("/tmp")
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("script_"))
                        && std::fs::read_to_string(p).is_ok_and(|t| t.contains(&marker))
                })
                .collect();
            if left.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "scripts left on the machine: {left:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

// --- Many builds: parallelism, selection, machine-readable output. --------------------

mod many_builds {
    use super::*;

    fn four_sleeping_builds(sshd: &Sshd, dir: &Path) {
        let mut template = String::new();
        for i in 1..=4 {
            template.push_str(&sshd.null_source(&format!("w{i}"), &sshd.key));
        }
        template.push_str(
            "build {\n  sources = [\"source.null.w1\", \"source.null.w2\", \"source.null.w3\", \"source.null.w4\"]\n  \
             provisioner \"shell\" {\n    inline = [\"echo start-$PACKER_BUILD_NAME\", \"sleep 2\", \"echo end-$PACKER_BUILD_NAME\"]\n  }\n}\n",
        );
        write(dir, "t.pkr.hcl", &template);
    }

    #[test]
    fn four_builds_in_parallel_take_about_as_long_as_the_slowest() {
        let sshd = Sshd::start();
        let work = tempfile::tempdir().unwrap();
        four_sleeping_builds(&sshd, work.path());
        let started = Instant::now();
        let out = kiln(work.path(), &["build", "t.pkr.hcl"]);
        let elapsed = started.elapsed();
        let (stdout, _) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        for i in 1..=4 {
            assert!(
                stdout.contains(&format!("--> null.w{i}: Did not export anything")),
                "{stdout}"
            );
        }
        // One build sleeps 2 s; four in a row would take over 8 s.
        assert!(
            elapsed < Duration::from_secs(6),
            "4 parallel builds took {elapsed:?}"
        );
    }

    #[test]
    fn parallel_builds_one_runs_them_one_at_a_time() {
        let sshd = Sshd::start();
        let work = tempfile::tempdir().unwrap();
        four_sleeping_builds(&sshd, work.path());
        let out = kiln(work.path(), &["build", "-parallel-builds=1", "t.pkr.hcl"]);
        let (stdout, _) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        // Every build ends before the next one starts.
        let marks: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .filter(|m| m.starts_with("start-") || m.starts_with("end-"))
            .collect();
        assert_eq!(marks.len(), 8, "{stdout}");
        for pair in marks.chunks(2) {
            assert_eq!(
                pair[0].strip_prefix("start-"),
                pair[1].strip_prefix("end-"),
                "interleaved: {marks:?}"
            );
        }
    }

    fn file_builds(dir: &Path) {
        write(
            dir,
            "t.pkr.hcl",
            "source \"file\" \"a1\" {\n  content = \"a1\"\n  target  = \"a1.txt\"\n}\n\
source \"file\" \"a2\" {\n  content = \"a2\"\n  target  = \"a2.txt\"\n}\n\
source \"file\" \"b1\" {\n  content = \"b1\"\n  target  = \"b1.txt\"\n}\n\
build {\n  sources = [\"source.file.a1\", \"source.file.a2\", \"source.file.b1\"]\n}\n",
        );
    }

    fn built(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = ["a1", "a2", "b1"]
            .iter()
            .filter(|n| dir.join(format!("{n}.txt")).exists())
            .map(|n| n.to_string())
            .collect();
        names.sort();
        for n in &names {
            std::fs::remove_file(dir.join(format!("{n}.txt"))).unwrap();
        }
        names
    }

    #[test]
    fn only_and_except_select_builds_with_globs() {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        file_builds(w);
        for (args, expected) in [
            (vec!["build", "t.pkr.hcl"], vec!["a1", "a2", "b1"]),
            (
                vec!["build", "-only=file.a*", "t.pkr.hcl"],
                vec!["a1", "a2"],
            ),
            (
                vec!["build", "-only", "*.b1,file.a2", "t.pkr.hcl"],
                vec!["a2", "b1"],
            ),
            (vec!["build", "-except=*.a1", "t.pkr.hcl"], vec!["a2", "b1"]),
            (
                vec!["build", "-only=file.*", "-except=file.b*", "t.pkr.hcl"],
                vec!["a1", "a2"],
            ),
            (vec!["build", "-only=null.*", "t.pkr.hcl"], vec![]),
        ] {
            let out = kiln(w, &args);
            assert_eq!(out.status.code(), Some(0), "{args:?}: {:?}", text(&out));
            assert_eq!(built(w), expected, "{args:?}");
        }
    }

    #[test]
    fn machine_readable_output_is_packers_format() {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        file_builds(w);
        let out = kiln(
            w,
            &["build", "-machine-readable", "-only=file.a1", "t.pkr.hcl"],
        );
        let (stdout, _) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        let target = w.join("a1.txt").display().to_string();
        let mut normalized = Vec::new();
        for line in stdout.lines() {
            let fields: Vec<&str> = line.split(',').collect();
            assert!(fields.len() >= 4, "not a machine-readable line: {line:?}");
            assert!(
                fields[0].parse::<u64>().is_ok(),
                "bad timestamp in {line:?}"
            );
            let rest = fields[1..].join(",").replace(&target, "TARGET");
            let rest = rest.split(" finished after ").next().unwrap().to_owned();
            let rest = rest
                .split("Wait completed after ")
                .next()
                .unwrap()
                .to_owned();
            normalized.push(rest);
        }
        let expected = [
            ",ui,say,==> file.a1: Writing content to target...",
            ",ui,say,==> file.a1: Build 'file.a1'",
            ",ui,say,",
            ",ui,say,==> ",
            ",ui,say,",
            ",ui,say,==> Builds finished. The artifacts of successful builds are:",
            ",ui,say,--> file.a1: Stored file: TARGET",
            "file.a1,artifact-count,1",
            "file.a1,artifact,0,builder-id,packer.file",
            "file.a1,artifact,0,id,TARGET",
            "file.a1,artifact,0,string,Stored file: TARGET",
            "file.a1,artifact,0,files-count,1",
            "file.a1,artifact,0,file,0,TARGET",
            "file.a1,artifact,0,end",
        ];
        assert_eq!(normalized, expected, "{stdout}");
    }

    #[test]
    fn machine_readable_escapes_commas_and_newlines() {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        write(
            w,
            "t.pkr.hcl",
            "source \"file\" \"x\" {\n  content = \"x\"\n  target  = \"a,b.txt\"\n}\nbuild {\n  sources = [\"source.file.x\"]\n}\n",
        );
        let out = kiln(w, &["build", "-machine-readable", "t.pkr.hcl"]);
        let (stdout, _) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        let line = stdout
            .lines()
            .find(|l| l.contains(",artifact,0,file,0,"))
            .expect(&stdout);
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 7, "{line}");
        assert!(fields[6].ends_with("a%!(PACKER_COMMA)b.txt"), "{line}");
    }

    #[test]
    fn timestamp_ui_prefixes_lines_with_utc_time() {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        file_builds(w);
        let out = kiln(w, &["build", "-timestamp-ui", "-only=file.a1", "t.pkr.hcl"]);
        let (stdout, _) = text(&out);
        let line = stdout
            .lines()
            .find(|l| l.contains("Writing content"))
            .expect(&stdout);
        let (stamp, rest) = line.split_once(": ").unwrap();
        assert_eq!(stamp.len(), 20, "{line}");
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "{line}"
        );
        assert_eq!(rest, "==> file.a1: Writing content to target...");
    }
}

// --- -on-error. --------------------------------------------------------------------

mod on_error {
    use super::*;

    /// A build whose first provisioner fails the first time (exit 7) and succeeds when
    /// run again, with an error-cleanup-provisioner that leaves a mark.
    fn failing_once(sshd: &Sshd, dir: &Path) {
        let d = dir.display();
        write_web_build(
            sshd,
            dir,
            &format!(
                "  provisioner \"shell\" {{\n    inline = [\"if [ -f {d}/tried ]; then echo second-try-ok; else touch {d}/tried; exit 7; fi\"]\n  }}\n\
                 \x20 provisioner \"shell\" {{\n    inline = [\"echo after-the-failure\"]\n  }}\n\
                 \x20 error-cleanup-provisioner \"shell\" {{\n    inline = [\"echo cleanup-ran > {d}/cleaned\"]\n  }}\n"
            ),
        );
    }

    fn run(mode: &str) -> (i32, String, tempfile::TempDir) {
        let sshd = Sshd::start();
        let work = tempfile::tempdir().unwrap();
        failing_once(&sshd, work.path());
        let out = kiln(
            work.path(),
            &["build", &format!("-on-error={mode}"), "t.pkr.hcl"],
        );
        let (stdout, stderr) = text(&out);
        (
            out.status.code().unwrap_or(-1),
            format!("{stdout}{stderr}"),
            work,
        )
    }

    const FAILURE: &str =
        "--> null.web: provisioner \"shell\" failed: script exited with non-zero exit status: 7";

    #[test]
    fn cleanup_runs_the_error_cleanup_provisioner_and_fails() {
        let (code, out, work) = run("cleanup");
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(FAILURE), "{out}");
        assert!(!out.contains("aborted"), "{out}");
        assert!(!out.contains("after-the-failure"), "{out}");
        assert!(out.contains("Running the cleanup provisioner"), "{out}");
        assert_eq!(
            std::fs::read_to_string(work.path().join("cleaned")).unwrap(),
            "cleanup-ran\n"
        );
    }

    #[test]
    fn abort_stops_without_any_cleanup() {
        let (code, out, work) = run("abort");
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(FAILURE), "{out}");
        assert!(
            out.contains("Allowed exit codes are: [0] (aborted without cleanup)"),
            "{out}"
        );
        assert!(!work.path().join("cleaned").exists(), "{out}");
    }

    #[test]
    fn run_cleanup_provisioner_runs_it_then_aborts() {
        let (code, out, work) = run("run-cleanup-provisioner");
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(FAILURE), "{out}");
        assert!(
            out.contains("Allowed exit codes are: [0] (aborted without cleanup)"),
            "{out}"
        );
        assert!(work.path().join("cleaned").exists(), "{out}");
    }

    #[test]
    fn ask_without_a_terminal_cleans_up() {
        let (code, out, work) = run("ask");
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("-on-error=ask needs a terminal on stdin"),
            "{out}"
        );
        assert!(!out.contains("[c] Clean up and exit"), "{out}");
        assert!(work.path().join("cleaned").exists(), "{out}");
    }

    #[test]
    fn ask_on_a_terminal_retries_the_step_and_succeeds() {
        let sshd = Sshd::start();
        let work = tempfile::tempdir().unwrap();
        failing_once(&sshd, work.path());
        let command = format!("{} build -on-error=ask t.pkr.hcl", kiln_bin().display());
        let cache = cache_dir();
        let (code, seen, typed) = kiln_tests::answer_on_a_terminal(
            &command,
            work.path(),
            &[("KILN_CACHE_DIR", &cache)],
            kiln_tests::ASK_PROMPT,
            &["r"],
        );
        let out = seen.join("\n");
        assert_eq!(typed, 1, "no prompt:\n{out}");
        assert_eq!(code, Some(0), "{out}");
        assert!(out.contains("Retrying provisioner \"shell\""), "{out}");
        assert!(out.contains("second-try-ok"), "{out}");
        assert!(out.contains("after-the-failure"), "{out}");
        assert!(!work.path().join("cleaned").exists(), "{out}");
    }
}

// --- The container builder (Linux namespaces, OCI images, a registry). ---------------

#[path = "e2e/container.rs"]
mod container;

#[path = "e2e/post.rs"]
mod post;

#[path = "e2e/config_management.rs"]
mod config_management;

#[path = "e2e/components.rs"]
mod components;

// --- Real Packer templates: reproductions and the corpus. --------------------------

#[path = "e2e/compat.rs"]
mod compat;

#[path = "e2e/corpus.rs"]
mod corpus;

// --- The sandbox at the terminal: escapes, errors, budgets in every phase. ---------

#[path = "e2e/sandbox.rs"]
mod sandbox;

#[path = "e2e/amazon.rs"]
mod amazon;

// --- The other commands: fmt, console, inspect, hcl2_upgrade, validate -syntax-only. --

mod commands {
    use super::*;

    fn kiln_stdin(dir: &Path, args: &[&str], input: &str) -> Output {
        kiln_tests::output_with_input(
            Command::new(kiln_bin())
                .args(args)
                .current_dir(dir)
                .env("KILN_CACHE_DIR", cache_dir()),
            input.as_bytes(),
        )
    }

    const MESSY: &str =
        "source \"null\" \"web\" {\n communicator=\"none\"\n  ssh_timeout = \"5m\"\n}\n";
    const TIDY: &str =
        "source \"null\" \"web\" {\n  communicator = \"none\"\n  ssh_timeout  = \"5m\"\n}\n";

    #[test]
    fn fmt_checks_shows_and_rewrites_like_packer_fmt() {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        write(w, "a.pkr.hcl", MESSY);
        write(w, "sub/b.pkr.hcl", MESSY);
        write(w, "ok.pkrvars.hcl", "x = 1\n");

        let out = kiln(w, &["fmt", "-check", "."]);
        assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
        assert_eq!(text(&out).0, "a.pkr.hcl\n");
        assert_eq!(
            std::fs::read_to_string(w.join("a.pkr.hcl")).unwrap(),
            MESSY,
            "-check wrote"
        );

        let out = kiln(w, &["fmt", "-diff", "-write=false", "."]);
        let (stdout, _) = text(&out);
        assert!(
            stdout.contains("--- old/a.pkr.hcl") && stdout.contains("+  communicator = \"none\""),
            "{stdout}"
        );
        assert_eq!(std::fs::read_to_string(w.join("a.pkr.hcl")).unwrap(), MESSY);

        let out = kiln(w, &["fmt", "-recursive", "."]);
        assert!(out.status.success());
        assert_eq!(std::fs::read_to_string(w.join("a.pkr.hcl")).unwrap(), TIDY);
        assert_eq!(
            std::fs::read_to_string(w.join("sub/b.pkr.hcl")).unwrap(),
            TIDY
        );
        let out = kiln(w, &["fmt", "-check", "-recursive", "."]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "formatting is not stable: {:?}",
            text(&out)
        );

        let out = kiln_stdin(w, &["fmt", "-"], MESSY);
        assert_eq!(text(&out).0, TIDY);
        let out = kiln_stdin(w, &["fmt", "-"], "source {\n");
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out).1.contains("<stdin>:"), "{:?}", text(&out));
    }

    #[test]
    fn console_evaluates_expressions_against_the_template() {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        write(
            w,
            "t.pkr.hcl",
            "variable \"name\" {\n  default = \"web\"\n}\nvariable \"pw\" {\n  default   = \"hunter2\"\n  sensitive = true\n}\n\
             locals {\n  fqdn = \"${var.name}.example.com\"\n}\n",
        );
        let out = kiln_stdin(
            w,
            &["console", "-var", "name=api", "t.pkr.hcl"],
            "local.fqdn\nupper(var.name)\n[for s in [\"a\", \"b\"] : \"${s}-${var.name}\"]\nvar.pw\nnosuch(1)\n",
        );
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(
            stdout,
            "api.example.com\nAPI\n[\n  \"a-api\",\n  \"b-api\",\n]\n<sensitive>\n"
        );
        assert!(stderr.contains("nosuch"), "{stderr}");
        let out = kiln_stdin(w, &["console"], "cidrhost(\"10.0.0.0/24\", 7)\n");
        assert_eq!(text(&out).0, "10.0.0.7\n");
    }

    #[test]
    fn hcl2_upgrade_writes_a_template_that_means_the_same() {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        write(
            w,
            "legacy.json",
            r#"{
  "variables": { "greeting": "hello" },
  "builders": [ { "type": "null", "name": "web", "communicator": "none" } ],
  "provisioners": [ { "type": "shell", "inline": ["echo {{user `greeting`}}"] } ]
}
"#,
        );
        let out = kiln(w, &["hcl2_upgrade", "legacy.json"]);
        assert!(out.status.success(), "{:?}", text(&out));
        let hcl = std::fs::read_to_string(w.join("legacy.json.pkr.hcl")).unwrap();
        assert!(hcl.contains("source \"null\" \"web\""), "{hcl}");
        let json = kiln(w, &["inspect", "legacy.json"]);
        assert!(
            text(&json).0.contains("web (null)") || text(&json).0.contains("  web"),
            "{:?}",
            text(&json)
        );
        let upgraded = kiln(w, &["validate", "legacy.json.pkr.hcl"]);
        assert!(upgraded.status.success(), "{:?}", text(&upgraded));
        let check = kiln(w, &["fmt", "-check", "legacy.json.pkr.hcl"]);
        assert_eq!(
            check.status.code(),
            Some(0),
            "the upgrade is not formatted: {hcl}"
        );
    }

    #[test]
    fn sensitive_values_are_masked_in_output_machine_readable_and_log() {
        let sshd = Sshd::start();
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        let template = format!(
            "variable \"token\" {{\n  type      = string\n  sensitive = true\n}}\n{}\n\
             build {{\n  sources = [\"source.null.web\"]\n  provisioner \"shell\" {{\n    \
             inline = [\"echo token=${{var.token}}\", \"echo $TOKEN >&2\", \"exit 7\"]\n    \
             environment_vars = [\"TOKEN=${{var.token}}\"]\n  }}\n}}\n",
            sshd.null_source("web", &sshd.key)
        );
        write(w, "t.pkr.hcl", &template);
        let secret = "s3cr3t-t0ken-value";
        let log = w.join("kiln.log");
        for flags in [&[][..], &["-machine-readable"][..]] {
            let mut args = vec!["build"];
            args.extend_from_slice(flags);
            let var = format!("token={secret}");
            args.extend_from_slice(&["-var", &var, "t.pkr.hcl"]);
            let out = Command::new(kiln_bin())
                .args(&args)
                .current_dir(w)
                .env("KILN_CACHE_DIR", cache_dir())
                .env("KILN_LOG", "debug")
                .env("KILN_LOG_PATH", &log)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let (stdout, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
            let logged = std::fs::read_to_string(&log).unwrap();
            for (what, text) in [("stdout", &stdout), ("stderr", &stderr), ("log", &logged)] {
                assert!(
                    !text.contains(secret),
                    "the secret is in the {what}:\n{text}"
                );
            }
            assert!(stdout.contains("token=<sensitive>"), "{stdout}");
            assert!(
                logged.contains("running step") && logged.contains("<sensitive>"),
                "{logged}"
            );
        }
    }

    #[test]
    fn build_connection_variables_are_filled_in_when_the_step_runs() {
        let sshd = Sshd::start();
        let work = tempfile::tempdir().unwrap();
        write_web_build(
            &sshd,
            work.path(),
            "  provisioner \"shell\" {\n    inline = [\"echo host=${build.Host} port=${build.Port} user=${build.User} \
             type=${build.ConnType} run=${build.PackerRunUUID} id=${build.ID}\", \
             \"echo pub=${build.SSHPublicKey} pass=[${build.Password}] http=[${build.PackerHTTPAddr}]\"]\n  }\n",
        );
        let out = kiln(work.path(), &["build", "t.pkr.hcl"]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}{stderr}");
        let want = format!(
            "host=127.0.0.1 port={} user={} type=ssh run=",
            sshd.port, sshd.user
        );
        let line = stdout
            .lines()
            .find(|l| l.contains("host="))
            .unwrap_or_else(|| panic!("no output line:\n{stdout}"));
        assert!(line.contains(&want), "{line}");
        let uuid = line
            .split("run=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        assert_eq!(uuid.len(), 36, "{uuid}");
        assert_eq!(uuid.as_bytes()[14], b'4', "not a version 4 UUID: {uuid}");
        assert!(line.ends_with("id=null.web"), "{line}");
        // The public half of the key the communicator logs in with, as ssh-keygen
        // wrote it (without its comment); no password and no HTTP server here.
        let public = std::fs::read_to_string(sshd.key.with_extension("pub")).unwrap();
        let public: Vec<&str> = public.split_whitespace().take(2).collect();
        let line = stdout
            .lines()
            .find(|l| l.contains("pub="))
            .unwrap_or_else(|| panic!("no pub= line:\n{stdout}"));
        assert!(
            line.contains(&format!("pub={}", public.join(" "))),
            "{line}"
        );
        assert!(line.ends_with("pass=[] http=[]"), "{line}");
    }

    #[test]
    fn syntax_only_skips_what_components_would_say() {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        write(
            w,
            "t.pkr.hcl",
            "source \"null\" \"web\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.web\"]\n  \
             provisioner \"shell\" {\n    inlne = [\"typo\"]\n  }\n}\n",
        );
        let out = kiln(w, &["validate", "-syntax-only", "t.pkr.hcl"]);
        assert!(out.status.success(), "{:?}", text(&out));
        assert_eq!(
            text(&out).0,
            "Syntax-only check passed. Everything looks okay.\n"
        );
        let out = kiln(w, &["validate", "t.pkr.hcl"]);
        assert_eq!(out.status.code(), Some(1));
        write(w, "t.pkr.hcl", "source \"null\" \"web\" {\n");
        let out = kiln(w, &["validate", "-syntax-only", "t.pkr.hcl"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out).1.contains("t.pkr.hcl:"), "{:?}", text(&out));
    }
}

#[path = "e2e/debug.rs"]
mod debug;

mod progress {
    use super::*;

    /// Runs `kiln ARGS` in `dir` on a pseudo-terminal (util-linux `script`), returning
    /// everything the terminal showed.
    fn on_a_terminal(dir: &Path, args: &str) -> (bool, String) {
        on_a_terminal_with(dir, args, &[])
    }

    /// The same, with the variables `env` set too.
    fn on_a_terminal_with(dir: &Path, args: &str, env: &[(&str, &str)]) -> (bool, String) {
        let log = dir.join("terminal.log");
        let status = Command::new("script")
            .args(["-qfec", &format!("{} {args}", kiln_bin().display())])
            .arg(&log)
            .current_dir(dir)
            .env("KILN_CACHE_DIR", cache_dir())
            .env("NO_COLOR", "1")
            .env("TERM", "xterm")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .expect("script (util-linux) runs kiln on a pseudo-terminal");
        (
            status.success(),
            std::fs::read_to_string(&log).unwrap_or_default(),
        )
    }

    #[test]
    fn an_upload_longer_than_a_second_shows_a_progress_bar_on_a_terminal_only() {
        let sshd = Sshd::start();
        let work = tempfile::tempdir().unwrap();
        let remote = tempfile::tempdir().unwrap();
        let big = work.path().join("big.bin");
        {
            // 1 GiB of a repeating pattern: long enough to upload for well over a second.
            let mut f = std::fs::File::create(&big).unwrap();
            let block: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
            for _ in 0..1024 {
                std::io::Write::write_all(&mut f, &block).unwrap();
            }
        }
        write_web_build(
            &sshd,
            work.path(),
            &format!(
                "  provisioner \"file\" {{\n    source      = \"big.bin\"\n    destination = \"{}/big.bin\"\n  }}\n",
                remote.path().display()
            ),
        );
        let (ok, shown) = on_a_terminal(work.path(), "build t.pkr.hcl");
        assert!(ok, "{shown}");
        assert!(
            shown.contains("Uploading big.bin to"),
            "a bar was drawn:\n{shown}"
        );
        assert!(shown.contains("/1.00 GiB"), "with the total:\n{shown}");
        assert_eq!(
            std::fs::metadata(remote.path().join("big.bin"))
                .unwrap()
                .len(),
            1 << 30
        );

        // Not on a terminal (a pipe): no bar, only the build's lines.
        let out = kiln(work.path(), &["build", "t.pkr.hcl"]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(
            !format!("{stdout}{stderr}").contains("Uploading big.bin to"),
            "{stdout}{stderr}"
        );
    }

    /// `disk-convert` asks qemu-img to report its progress (`-p`) only where a bar shows
    /// it (the host's `progress-shown`): on a terminal, not through a pipe, where it
    /// would be work for nothing. A `qemu-img` first on the PATH says how it was called.
    #[test]
    fn disk_convert_asks_qemu_img_for_progress_only_on_a_terminal() {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        let real = String::from_utf8(
            Command::new("sh")
                .args(["-c", "command -v qemu-img"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        assert!(
            real.trim().starts_with('/'),
            "qemu-img is installed: {real}"
        );
        write_executable(
            w,
            "bin/qemu-img",
            &format!(
                "#!/bin/sh\necho \"qemu-img called with: $*\" >&2\nexec {} \"$@\"\n",
                real.trim()
            ),
        );
        std::fs::File::create(w.join("disk.raw"))
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
        write(
            w,
            "t.pkr.hcl",
            "source \"null\" \"d\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.d\"]\n  \
             post-processors {\n    post-processor \"artifice\" {\n      files = [\"disk.raw\"]\n    }\n    \
             post-processor \"disk-convert\" {\n      formats = [\"qcow2\"]\n      output  = \"out/d.qcow2\"\n      \
             keep_input_artifact = true\n    }\n  }\n}\n",
        );
        let path = format!(
            "{}:{}",
            w.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let (ok, shown) = on_a_terminal_with(w, "build t.pkr.hcl", &[("PATH", &path)]);
        assert!(ok, "{shown}");
        assert!(
            shown.contains("qemu-img called with: convert -p -f raw -O qcow2"),
            "{shown}"
        );
        let out = kiln_env(w, &["build", "t.pkr.hcl"], &[("PATH", &path)]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(
            stdout.contains("qemu-img called with: convert -f raw -O qcow2"),
            "{stdout}{stderr}"
        );
        assert!(w.join("out/d.qcow2").is_file());
    }
}
