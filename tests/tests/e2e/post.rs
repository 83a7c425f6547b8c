//! Post-processors end to end: the builtin components (checksum, compress, manifest,
//! artifice), shell-local on the host, and Packer's chain semantics. Outputs are checked
//! with the tools people use on them: sha256sum -c, tar, unzip, zstd, xz, gzip.

use super::*;

/// A fixed clock, so that outputs are reproducible.
const EPOCH: &str = "1700000000";
const RUN_UUID: &str = "0b7c3c2e-5d7e-4d0e-9a41-6f1f8f2d9e11";

fn build(dir: &Path) -> (bool, String) {
    let out = Command::new(kiln_bin())
        .args(["build", "t.pkr.hcl"])
        .current_dir(dir)
        .env("KILN_CACHE_DIR", cache_dir())
        .env("NO_COLOR", "1")
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("PACKER_RUN_UUID", RUN_UUID)
        .stdin(Stdio::null())
        .output()
        .expect("running kiln");
    let (stdout, stderr) = text(&out);
    (out.status.success(), format!("{stdout}{stderr}"))
}

/// A work directory with `t.pkr.hcl` (one null build whose post-processors are `pps`)
/// and two input files.
fn work(pps: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "in/disk.img",
        &"disk image bytes\n".repeat(1000),
    );
    write(dir.path(), "in/notes.txt", "built by kiln\n");
    write(
        dir.path(),
        "t.pkr.hcl",
        &format!(
            "source \"null\" \"web\" {{\n  communicator = \"none\"\n}}\nbuild {{\n  sources = [\"source.null.web\"]\n{pps}}}\n"
        ),
    );
    dir
}

/// An `artifice` step naming both input files (the null builder makes none).
const INPUTS: &str =
    "post-processor \"artifice\" {\n      files = [\"in/disk.img\", \"in/notes.txt\"]\n    }\n";

fn chain(steps: &str) -> String {
    format!("  post-processors {{\n    {INPUTS}    {steps}\n  }}\n")
}

fn run_tool(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is required: {e}"));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{program} {args:?}: {stdout}{stderr}");
    stdout
}

fn sha256(path: &Path) -> String {
    let out = run_tool(Path::new("/"), "sha256sum", &[path.to_str().unwrap()]);
    out.split_whitespace().next().unwrap().to_owned()
}

#[test]
fn checksum_files_verify_with_the_coreutils_tools() {
    let dir = work(&chain(
        "post-processor \"checksum\" {\n      checksum_types = [\"md5\", \"sha1\", \"sha224\", \"sha256\", \"sha384\", \"sha512\"]\n      output = \"in/{{.BuildName}}.{{.ChecksumType}}\"\n      keep_input_artifact = true\n    }",
    ));
    let (ok, out) = build(dir.path());
    assert!(ok, "{out}");
    let inputs = dir.path().join("in");
    for (ty, tool) in [
        ("md5", "md5sum"),
        ("sha1", "sha1sum"),
        ("sha224", "sha224sum"),
        ("sha256", "sha256sum"),
        ("sha384", "sha384sum"),
        ("sha512", "sha512sum"),
    ] {
        let file = format!("web.{ty}");
        let checked = run_tool(&inputs, tool, &["-c", &file]);
        assert_eq!(checked, "disk.img: OK\nnotes.txt: OK\n", "{ty}");
    }
    // The checksums are the artifact; the inputs stay (keep_input_artifact).
    assert!(out.contains("in/web.sha256"), "{out}");
    assert!(inputs.join("disk.img").exists());
}

#[test]
fn compressed_outputs_open_with_the_usual_tools() {
    for (output, open) in [
        ("out/a.tar", vec!["tar", "-xf", "out/a.tar", "-C", "x"]),
        (
            "out/a.tar.gz",
            vec!["tar", "-xzf", "out/a.tar.gz", "-C", "x"],
        ),
        ("out/a.tgz", vec!["tar", "-xzf", "out/a.tgz", "-C", "x"]),
        (
            "out/a.tar.zst",
            vec!["tar", "--zstd", "-xf", "out/a.tar.zst", "-C", "x"],
        ),
        (
            "out/a.tar.xz",
            vec!["tar", "-xJf", "out/a.tar.xz", "-C", "x"],
        ),
        ("out/a.zip", vec!["unzip", "-q", "out/a.zip", "-d", "x"]),
    ] {
        let dir = work(&chain(&format!(
            "post-processor \"compress\" {{\n      output = \"{output}\"\n      keep_input_artifact = true\n    }}"
        )));
        let (ok, out) = build(dir.path());
        assert!(ok, "{output}: {out}");
        std::fs::create_dir(dir.path().join("x")).unwrap();
        run_tool(dir.path(), open[0], &open[1..]);
        for name in ["disk.img", "notes.txt"] {
            assert_eq!(
                std::fs::read(dir.path().join("x").join(name)).unwrap(),
                std::fs::read(dir.path().join("in").join(name)).unwrap(),
                "{output}: {name}"
            );
        }
    }
    // Single-file formats take one file: compress only the image.
    for (output, tool, args) in [
        ("out/d.img.gz", "gzip", vec!["-dc", "out/d.img.gz"]),
        ("out/d.img.zst", "zstd", vec!["-dcq", "out/d.img.zst"]),
        ("out/d.img.xz", "xz", vec!["-dc", "out/d.img.xz"]),
    ] {
        let dir = work(&format!(
            "  post-processors {{\n    post-processor \"artifice\" {{\n      files = [\"in/disk.img\"]\n    }}\n    post-processor \"compress\" {{\n      output = \"{output}\"\n      compression_level = 9\n      keep_input_artifact = true\n    }}\n  }}\n"
        ));
        let (ok, out) = build(dir.path());
        assert!(ok, "{output}: {out}");
        let plain = run_tool(dir.path(), tool, &args);
        assert_eq!(
            plain,
            std::fs::read_to_string(dir.path().join("in/disk.img")).unwrap()
        );
    }
}

#[test]
fn a_single_file_format_refuses_several_files_and_a_bad_level_is_a_validation_error() {
    let dir = work(&chain(
        "post-processor \"compress\" {\n      output = \"out/both.gz\"\n    }",
    ));
    let (ok, out) = build(dir.path());
    assert!(!ok, "{out}");
    assert!(
        out.contains("single-file format cannot hold the 2 files"),
        "{out}"
    );
    assert!(!dir.path().join("out/both.gz").exists());
    // Nothing is lost to the failure: the inputs are still there.
    assert!(dir.path().join("in/disk.img").exists());

    let dir = work(&chain(
        "post-processor \"compress\" {\n      output = \"out/a.tar.gz\"\n      compression_level = 12\n    }",
    ));
    let out = kiln(dir.path(), &["validate", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("t.pkr.hcl:12:7")
            && stderr.contains("compression_level 12 is out of range"),
        "{stdout}{stderr}"
    );
}

#[test]
fn the_manifest_lists_what_was_built_with_sizes_and_digests() {
    let dir = work(&chain(
        "post-processor \"manifest\" {\n      output = \"out/manifest.json\"\n      custom_data = {\n        release = \"12\"\n      }\n    }",
    ));
    let (ok, out) = build(dir.path());
    assert!(ok, "{out}");
    // Twice: the manifest grows by one build, as Packer's does.
    let (ok, out) = build(dir.path());
    assert!(ok, "{out}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/manifest.json")).unwrap())
            .unwrap();
    let builds = manifest["builds"].as_array().unwrap();
    assert_eq!(builds.len(), 2);
    let b = &builds[1];
    assert_eq!(b["name"], "web");
    assert_eq!(b["builder_type"], "null");
    assert_eq!(b["build_time"], 1_700_000_000);
    assert_eq!(b["packer_run_uuid"], RUN_UUID);
    assert_eq!(b["custom_data"]["release"], "12");
    assert_eq!(manifest["last_run_uuid"], RUN_UUID);
    let files = b["files"].as_array().unwrap();
    assert_eq!(files[0]["name"], "in/disk.img");
    assert_eq!(files[0]["size"], 17_000);
    assert_eq!(
        files[0]["sha256"],
        sha256(&dir.path().join("in/disk.img")).as_str()
    );
    assert_eq!(files[1]["name"], "in/notes.txt");
}

#[test]
fn sensitive_values_are_masked_in_the_manifest() {
    let dir = work(&chain(
        "post-processor \"manifest\" {\n      output = \"out/manifest.json\"\n      custom_data = {\n        token = var.token\n        note  = \"uses ${var.token}\"\n      }\n    }",
    ));
    let template = std::fs::read_to_string(dir.path().join("t.pkr.hcl")).unwrap();
    write(
        dir.path(),
        "t.pkr.hcl",
        &format!("variable \"token\" {{\n  default   = \"s3cr3t-t0ken\"\n  sensitive = true\n}}\n{template}"),
    );
    let (ok, out) = build(dir.path());
    assert!(ok, "{out}");
    let manifest = std::fs::read_to_string(dir.path().join("out/manifest.json")).unwrap();
    assert!(!manifest.contains("s3cr3t-t0ken"), "{manifest}");
    assert!(
        manifest.contains("\"token\": \"<sensitive>\""),
        "{manifest}"
    );
    assert!(
        manifest.contains("\"note\": \"uses <sensitive>\""),
        "{manifest}"
    );
}

#[test]
fn keep_input_artifact_decides_whether_the_previous_files_stay() {
    // compress does not keep its input by default: the artifice files go.
    let dir = work(&chain(
        "post-processor \"compress\" {\n      output = \"out/a.tar.gz\"\n    }",
    ));
    let (ok, out) = build(dir.path());
    assert!(ok, "{out}");
    assert!(dir.path().join("out/a.tar.gz").exists());
    assert!(!dir.path().join("in/disk.img").exists(), "{out}");
    assert!(
        out.contains("--> null.web: compressed artifacts in: out/a.tar.gz"),
        "{out}"
    );

    let dir = work(&chain(
        "post-processor \"compress\" {\n      output = \"out/a.tar.gz\"\n      keep_input_artifact = true\n    }",
    ));
    let (ok, out) = build(dir.path());
    assert!(ok, "{out}");
    assert!(dir.path().join("in/disk.img").exists(), "{out}");
}

#[test]
fn only_and_except_pick_the_builds_a_post_processor_runs_for() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "in/a.txt", "a\n");
    write(
        dir.path(),
        "t.pkr.hcl",
        "source \"null\" \"one\" {\n  communicator = \"none\"\n}\nsource \"null\" \"two\" {\n  communicator = \"none\"\n}\n\
         build {\n  sources = [\"source.null.one\", \"source.null.two\"]\n  post-processors {\n    \
         post-processor \"artifice\" {\n      files = [\"in/a.txt\"]\n    }\n    \
         post-processor \"checksum\" {\n      only = [\"null.one\"]\n      output = \"sums/one.{{.ChecksumType}}\"\n      keep_input_artifact = true\n    }\n    \
         post-processor \"checksum\" {\n      except = [\"null.one\"]\n      output = \"sums/not-one.{{.ChecksumType}}\"\n      keep_input_artifact = true\n    }\n  }\n}\n",
    );
    let (ok, out) = build(dir.path());
    assert!(ok, "{out}");
    let made = kiln_tests::names_in(&dir.path().join("sums"));
    assert_eq!(made, ["not-one.md5", "one.md5"], "{out}");
}

#[test]
fn a_failure_in_the_middle_stops_its_chain_fails_the_build_and_loses_nothing() {
    let dir = work(&format!(
        "{}  post-processor \"checksum\" {{\n    output = \"sums/{{{{.ChecksumType}}}}\"\n  }}\n",
        chain(
            "post-processor \"compress\" {\n      output = \"out/two.zst\"\n    }\n    post-processor \"manifest\" {\n      output = \"out/manifest.json\"\n    }"
        )
    ));
    let (ok, out) = build(dir.path());
    assert!(!ok, "{out}");
    assert!(out.contains("Post-processor failed"), "{out}");
    // The step after the failure did not run; the other chain did.
    assert!(!dir.path().join("out/manifest.json").exists(), "{out}");
    assert!(!dir.path().join("out/two.zst").exists(), "{out}");
    assert!(dir.path().join("sums/md5").exists(), "{out}");
    // The failed chain's input is still there.
    assert!(dir.path().join("in/disk.img").exists(), "{out}");
    assert!(
        out.contains("Some builds didn't complete successfully"),
        "{out}"
    );
}

/// As in Packer, the builtin shell-local runs what the template's author wrote without a
/// Kiln-only grant (and says so); whoever runs templates they did not write can refuse
/// host execution, which fails naming the step.
#[test]
fn shell_local_runs_as_in_packer_unless_host_execution_is_refused() {
    let pp = "  post-processor \"shell-local\" {\n    inline = [\"echo built $PACKER_BUILD_NAME > marker.txt\"]\n  }\n";
    let dir = work(pp);
    let (ok, out) = build(dir.path());
    assert!(ok, "{out}");
    assert!(out.contains("runs commands on this host"), "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("marker.txt")).unwrap(),
        "built web\n"
    );
    std::fs::remove_file(dir.path().join("marker.txt")).unwrap();

    // `kiln inspect` shows the host execution the builtin implies.
    let out = kiln(dir.path(), &["inspect", "t.pkr.hcl"]);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("exec_host = true"), "{stdout}");

    // Refused by the flag, or by the environment, validate and build both fail at the
    // step, and nothing runs.
    for refuse in [&["-refuse-exec-host"][..], &[]] {
        let mut cmd = Command::new(kiln_bin());
        cmd.arg("validate")
            .args(refuse)
            .arg("t.pkr.hcl")
            .current_dir(dir.path())
            .env("KILN_CACHE_DIR", cache_dir())
            .env("NO_COLOR", "1");
        if refuse.is_empty() {
            cmd.env("KILN_REFUSE_EXEC_HOST", "1");
        }
        let out = cmd.output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{stdout}");
        assert!(
            stderr.contains("t.pkr.hcl:6:18")
                && stderr.contains("post-processor \"shell-local\" runs commands on this host, and host execution is refused"),
            "{stderr}"
        );
    }
    let out = kiln(dir.path(), &["build", "-refuse-exec-host", "t.pkr.hcl"]);
    assert!(!out.status.success());
    assert!(!dir.path().join("marker.txt").exists());

    // A grant in the template does not override the refusal.
    let granted = "  post-processor \"shell-local\" {\n    inline = [\"echo built > marker.txt\"]\n    grant {\n      exec_host = true\n    }\n  }\n";
    let dir = work(granted);
    let out = kiln(dir.path(), &["build", "-refuse-exec-host", "t.pkr.hcl"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("host execution is refused"), "{stderr}");
    assert!(!dir.path().join("marker.txt").exists());
}

/// shell-local is one component that is both a provisioner and a post-processor.
#[test]
fn shell_local_is_also_a_provisioner_with_packers_script_rules() {
    let steps = "  provisioner \"shell-local\" {\n    script = \"scripts/hello.sh\"\n    environment_vars = [\"GREETING=it's me\"]\n    grant {\n      exec_host = true\n    }\n  }\n  provisioner \"shell-local\" {\n    only_on = [\"windows\"]\n    inline = [\"touch never.txt\"]\n    grant {\n      exec_host = true\n    }\n  }\n  provisioner \"shell-local\" {\n    command = \"echo one > command.txt\"\n    grant {\n      exec_host = true\n    }\n  }\n";
    let dir = work(steps);
    // The script runs from where it is (its own directory is where `$0` points),
    // made executable by its author as Packer requires.
    write_executable(
        dir.path(),
        "scripts/hello.sh",
        "#!/bin/sh\necho \"$GREETING from $PACKER_BUILD_NAME ($(basename \"$(dirname \"$0\")\"))\" > hello.txt\n",
    );
    let (ok, out) = build(dir.path());
    assert!(ok, "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("hello.txt")).unwrap(),
        "it's me from web (scripts)\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("command.txt")).unwrap(),
        "one\n"
    );
    assert!(!dir.path().join("never.txt").exists());
    assert!(
        out.contains("Skipping shell-local due to runtime OS"),
        "{out}"
    );
    assert!(
        out.contains("Running local shell script: scripts/hello.sh"),
        "{out}"
    );

    // Two ways of giving the script at once, and a script that is not there: both
    // found by validate, at their attributes.
    let bad = "  provisioner \"shell-local\" {\n    inline = [\"true\"]\n    script = \"missing.sh\"\n    grant {\n      exec_host = true\n    }\n  }\n";
    let dir = work(bad);
    let out = kiln(dir.path(), &["validate", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains("only one of command, inline, script or scripts"),
        "{stderr}"
    );
    assert!(
        stderr.contains("t.pkr.hcl:8:5")
            && stderr.contains("bad script \"missing.sh\": no such file"),
        "{stderr}"
    );
}

#[test]
fn machine_readable_output_lists_every_artifact() {
    // Two chains: two artifacts (the builder's is not kept, nor the chain's middle one).
    let dir = work(&format!(
        "{}  post-processor \"artifice\" {{\n    files = [\"in/notes.txt\"]\n  }}\n",
        chain(
            "post-processor \"checksum\" {\n      output = \"sums/{{.ChecksumType}}\"\n      keep_input_artifact = true\n    }"
        )
    ));
    let out = Command::new(kiln_bin())
        .args(["build", "-machine-readable", "t.pkr.hcl"])
        .current_dir(dir.path())
        .env("KILN_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let records: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.len() > 2 && f[2].starts_with("artifact"))
        .collect();
    assert!(records.iter().all(|r| r[1] == "null.web"), "{stdout}");
    assert!(
        records.contains(&vec![records[0][0], "null.web", "artifact-count", "2"]),
        "{stdout}"
    );
    assert!(
        records.iter().any(|r| r[2..]
            == [
                "artifact",
                "0",
                "builder-id",
                "packer.post-processor.checksum"
            ]),
        "{stdout}"
    );
    assert!(
        records.iter().any(|r| r[2..]
            == [
                "artifact",
                "1",
                "builder-id",
                "packer.post-processor.artifice"
            ]),
        "{stdout}"
    );
    let notes = dir.path().join("in/notes.txt");
    assert!(
        records
            .iter()
            .any(|r| r[2..] == ["artifact", "1", "file", "0", notes.to_str().unwrap()]),
        "{stdout}"
    );
}

#[test]
fn the_same_build_twice_gives_byte_identical_outputs() {
    let pps = format!(
        "{}{}",
        chain(
            "post-processor \"compress\" {\n      output = \"out/all.tar.zst\"\n      keep_input_artifact = true\n    }\n    post-processor \"manifest\" {\n      output = \"out/manifest.json\"\n    }"
        ),
        chain(
            "post-processor \"compress\" {\n      output = \"out/all.zip\"\n      keep_input_artifact = true\n    }\n    post-processor \"checksum\" {\n      checksum_types = [\"sha256\"]\n      output = \"out/all.{{.ChecksumType}}\"\n      keep_input_artifact = true\n    }"
        )
    );
    let first = work(&pps);
    let second = work(&pps);
    // Modification times after SOURCE_DATE_EPOCH are clamped to it: a newer input
    // file changes nothing.
    run_tool(
        second.path(),
        "touch",
        &["-d", "2031-02-03 04:05:06", "in/disk.img"],
    );
    for dir in [&first, &second] {
        let (ok, out) = build(dir.path());
        assert!(ok, "{out}");
    }
    for name in ["all.tar.zst", "manifest.json", "all.zip", "all.sha256"] {
        assert_eq!(
            sha256(&first.path().join("out").join(name)),
            sha256(&second.path().join("out").join(name)),
            "{name} differs between two runs"
        );
    }
}

/// Issue 25 (Packer issue #9686): `-post-processors-only` runs the chain again on the
/// builder's artifact of the last successful run with `-checkpoint`, without the
/// builder (its `content` changed since, and the artifact is still the old one), and
/// gives identical outputs; the artifact compress removed is put back from the kept
/// copy; a kept copy changed since is refused naming both digests.
#[test]
fn post_processors_run_again_alone_on_the_last_builds_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let cache = w.join("cache");
    write(
        w,
        "t.pkr.hcl",
        "variable \"content\" {\n  default = \"first content\\n\"\n}\n\
         source \"file\" \"f\" {\n  content = var.content\n  target  = \"out/f.txt\"\n}\n\
         build {\n  sources = [\"source.file.f\"]\n  post-processors {\n\
         post-processor \"compress\" {\n      output = \"out/f.tar.gz\"\n    }\n\
         post-processor \"checksum\" {\n      checksum_types = [\"sha256\"]\n      output = \"out/f.{{.ChecksumType}}\"\n    }\n  }\n}\n",
    );
    let run = |args: &[&str]| {
        let out = Command::new(kiln_bin())
            .args(args)
            .current_dir(w)
            .env("KILN_CACHE_DIR", &cache)
            .env("NO_COLOR", "1")
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        (out.status.code(), format!("{stdout}{stderr}"))
    };
    // Without a kept artifact, it says what to do.
    let (code, out) = run(&["build", "-post-processors-only", "t.pkr.hcl"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("needs a successful run of the build with -checkpoint"),
        "{out}"
    );

    let (code, out) = run(&["build", "-checkpoint", "t.pkr.hcl"]);
    assert_eq!(code, Some(0), "{out}");
    let outputs = ["out/f.tar.gz", "out/f.sha256"].map(|p| sha256(&w.join(p)));
    assert!(!w.join("out/f.txt").exists(), "compress removes its input");
    std::fs::remove_dir_all(w.join("out")).unwrap();

    let (code, out) = run(&[
        "build",
        "-post-processors-only",
        "-var",
        "content=something else",
        "t.pkr.hcl",
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Running the post-processors alone"), "{out}");
    assert_eq!(
        ["out/f.tar.gz", "out/f.sha256"].map(|p| sha256(&w.join(p))),
        outputs
    );
    let listed = run_tool(w, "tar", &["-xzOf", "out/f.tar.gz"]);
    assert_eq!(listed, "first content\n");

    // The kept copy changed behind Kiln's back: refused, both digests named.
    let kept = std::fs::read_dir(cache.join("artifacts"))
        .unwrap()
        .flatten()
        .find(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .unwrap()
        .path()
        .join("files/0");
    let recorded = sha256(&kept);
    std::fs::remove_file(&kept).unwrap();
    std::fs::write(&kept, "tampered\n").unwrap();
    let (code, out) = run(&["build", "-post-processors-only", "t.pkr.hcl"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&recorded) && out.contains(&sha256(&kept)),
        "{out}"
    );
}

/// Issue 25: the null builder reaches a machine Kiln did not make: with -resume it says
/// that no checkpoint is taken, and every provisioner runs, each time.
#[test]
fn the_null_builder_says_it_takes_no_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let marker = w.join("marker");
    write(
        w,
        "t.pkr.hcl",
        &format!(
            "source \"null\" \"n\" {{\n  communicator = \"none\"\n}}\nbuild {{\n  sources = [\"source.null.n\"]\n  provisioner \"shell-local\" {{\n    inline    = [\"echo ran >> {}\"]\n    cacheable = true\n  }}\n}}\n",
            marker.display()
        ),
    );
    for _ in 0..2 {
        let out = Command::new(kiln_bin())
            .args(["build", "-resume", "t.pkr.hcl"])
            .current_dir(w)
            .env("KILN_CACHE_DIR", w.join("cache"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(
            stdout.contains(
                "No checkpoints are taken: this builder reaches a machine it did not make"
            ),
            "{stdout}"
        );
    }
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\nran\n");
}

/// `qemu-img`'s JSON description of `path`.
fn qemu_img_info(path: &Path) -> serde_json::Value {
    qemu_img_info_as(path, None)
}

/// The same, read as `format` (a fixed VHD has its footer at the end, where probing
/// does not look: qemu-img takes it for raw unless told).
fn qemu_img_info_as(path: &Path, format: Option<&str>) -> serde_json::Value {
    let mut args = vec!["info", "--output=json"];
    if let Some(f) = format {
        args.extend(["-f", f]);
    }
    args.push(path.to_str().unwrap());
    let out = run_tool(Path::new("/"), "qemu-img", &args);
    serde_json::from_str(&out).unwrap()
}

/// One raw disk (an ext4 filesystem holding a file) becomes every format in one step,
/// in parallel: each is what qemu-img says it is, passes `qemu-img check` where the
/// format has one, and converts back to raw with the original's digest; the OVA holds
/// the descriptor, the manifest and the streamOptimized disk in that order, the
/// manifest's digests verify, and the descriptor says what the machine is.
#[test]
fn disk_convert_makes_every_format_at_once_and_each_converts_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "fs/hello.txt", "made by kiln\n");
    let disk = d.join("in/disk.raw");
    std::fs::create_dir_all(disk.parent().unwrap()).unwrap();
    run_tool(
        d,
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-E",
            "root_owner=0:0",
            "-d",
            "fs",
            disk.to_str().unwrap(),
            "64M",
        ],
    );
    let original = sha256(&disk);
    write(
        d,
        "t.pkr.hcl",
        "source \"null\" \"web\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.web\"]\n  post-processors {\n    post-processor \"artifice\" {\n      files = [\"in/disk.raw\"]\n    }\n    post-processor \"disk-convert\" {\n      formats = [\"qcow2\", \"raw\", \"vmdk\", \"vdi\", \"vhdx\", \"vpc\", \"ova\", \"ovf\"]\n      output  = \"out/{{.BuildName}}.{{.Extension}}\"\n      vm_name = \"kiln-appliance\"\n    }\n  }\n}\n",
    );
    let (ok, out) = build(d);
    assert!(ok, "{out}");
    let o = d.join("out");
    let expected = [
        ("web.qcow2", "qcow2", true),
        ("web.raw", "raw", false),
        ("web.vmdk", "vmdk", true),
        ("web.vdi", "vdi", true),
        ("web.vhdx", "vhdx", true),
        ("web.vhd", "vpc", false),
        ("web-disk001.vmdk", "vmdk", true),
    ];
    for (name, format, checkable) in expected {
        let path = o.join(name);
        let info = if format == "vpc" {
            // A fixed VHD: the data, then a 512-byte footer that names its maker.
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(bytes.len(), (64 << 20) + 512, "{name}");
            assert_eq!(&bytes[bytes.len() - 512..][..8], b"conectix", "{name}");
            qemu_img_info_as(&path, Some("vpc"))
        } else {
            qemu_img_info(&path)
        };
        assert_eq!(info["format"], format, "{name}: {info}");
        assert_eq!(info["virtual-size"], 64 << 20, "{name}: {info}");
        if checkable {
            run_tool(
                d,
                "qemu-img",
                &["check", "-f", format, path.to_str().unwrap()],
            );
        }
        let back = d.join(format!("back-{name}.raw"));
        run_tool(
            d,
            "qemu-img",
            &[
                "convert",
                "-f",
                format,
                "-O",
                "raw",
                path.to_str().unwrap(),
                back.to_str().unwrap(),
            ],
        );
        assert_eq!(sha256(&back), original, "{name} converted back differs");
    }
    assert_eq!(
        qemu_img_info(&o.join("web.vmdk"))["format-specific"]["data"]["create-type"],
        "monolithicSparse"
    );
    assert_eq!(
        qemu_img_info(&o.join("web-disk001.vmdk"))["format-specific"]["data"]["create-type"],
        "streamOptimized"
    );
    // The OVA: ustar, descriptor first, then the manifest, then the disk.
    let listing = run_tool(&o, "tar", &["-tf", "web.ova"]);
    assert_eq!(
        listing.lines().collect::<Vec<_>>(),
        ["web.ovf", "web.mf", "web-disk001.vmdk"]
    );
    let unpacked = d.join("ova");
    std::fs::create_dir_all(&unpacked).unwrap();
    run_tool(
        &unpacked,
        "tar",
        &["-xf", o.join("web.ova").to_str().unwrap()],
    );
    let manifest = std::fs::read_to_string(unpacked.join("web.mf")).unwrap();
    assert_eq!(manifest.lines().count(), 2, "{manifest}");
    for line in manifest.lines() {
        let (name, hex) = line
            .strip_prefix("SHA256(")
            .and_then(|l| l.split_once(")= "))
            .unwrap_or_else(|| panic!("manifest line {line:?}"));
        assert_eq!(sha256(&unpacked.join(name)), hex, "{name}");
    }
    let descriptor = std::fs::read_to_string(unpacked.join("web.ovf")).unwrap();
    let vmdk_size = std::fs::metadata(unpacked.join("web-disk001.vmdk"))
        .unwrap()
        .len();
    for needle in [
        "<Envelope ovf:version=\"1.0\"".to_owned(),
        format!("<File ovf:href=\"web-disk001.vmdk\" ovf:id=\"file1\" ovf:size=\"{vmdk_size}\"/>"),
        format!("ovf:capacity=\"{}\"", 64 << 20),
        "vmdk.html#streamOptimized".to_owned(),
        "<VirtualSystem ovf:id=\"kiln-appliance\">".to_owned(),
        "<rasd:ResourceType>3</rasd:ResourceType>\n        <rasd:VirtualQuantity>1</rasd:VirtualQuantity>".to_owned(),
        "<rasd:ResourceType>4</rasd:ResourceType>\n        <rasd:VirtualQuantity>512</rasd:VirtualQuantity>".to_owned(),
        "<rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>".to_owned(),
        "<rasd:ResourceType>10</rasd:ResourceType>".to_owned(),
    ] {
        assert!(descriptor.contains(&needle), "{needle}\n{descriptor}");
    }
    // The OVA's loose files are gone; the ovf format keeps its own three.
    assert!(!o.join(".web.ova.d").exists());
    for name in ["web.ovf", "web.mf", "web-disk001.vmdk"] {
        assert!(o.join(name).is_file(), "{name}");
    }
    let ovf_manifest = std::fs::read_to_string(o.join("web.mf")).unwrap();
    assert!(
        ovf_manifest.contains(&format!(
            "SHA256(web-disk001.vmdk)= {}",
            sha256(&o.join("web-disk001.vmdk"))
        )),
        "{ovf_manifest}"
    );
    assert!(out.contains("disk-convert"), "{out}");
}

/// Reads a hyperv box's machine configuration the way Vagrant's Hyper-V provider does
/// when it creates the machine from an XML configuration (`New-VagrantVMXML`): the
/// generation from `properties/subtype`, the name, the boot device, secure boot, each
/// `controllerN` holding a drive of type VHD (SCSI when its parent has a
/// `ChannelInstanceGuid`), the processor count and the memory bank, sizes in MiB. No
/// Hyper-V can run here; this checks what the script would find, field by field.
fn hyperv_config_reads_as_vagrant_reads_it(xml: &str) {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "configuration", "{xml}");
    let text = |path: &[&str]| -> String {
        let mut node = root;
        for step in path {
            node = node
                .children()
                .find(|n| n.has_tag_name(*step))
                .unwrap_or_else(|| panic!("no {path:?} in\n{xml}"));
        }
        node.text().unwrap_or_default().to_owned()
    };
    let anywhere = |name: &str| -> String {
        doc.descendants()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .unwrap_or_else(|| panic!("no {name} in\n{xml}"))
            .to_owned()
    };
    // Generation 1: the test disk comes from a BIOS machine.
    assert_eq!(
        text(&["properties", "subtype"]).parse::<i32>().unwrap() + 1,
        1
    );
    assert_eq!(text(&["properties", "name"]), "web");
    assert_eq!(anywhere("device0"), "HardDrive");
    assert_eq!(anywhere("secure_boot_enabled"), "False");
    assert_eq!(text(&["settings", "processors", "count"]), "1");
    let bank = ["settings", "memory", "Bank"];
    let field = |name: &str| text(&[bank[0], bank[1], bank[2], name]);
    assert_eq!(field("dynamic_memory_enabled"), "False");
    assert_eq!(field("size").parse::<u64>().unwrap(), 512);
    let controllers: Vec<_> = doc
        .descendants()
        .filter(|n| n.tag_name().name().starts_with("controller"))
        .collect();
    assert_eq!(controllers.len(), 1, "{xml}");
    let controller = controllers[0];
    assert!(controller.tag_name().name().ends_with('0'));
    let parent = controller.parent_element().unwrap();
    assert!(
        !parent
            .children()
            .any(|n| n.has_tag_name("ChannelInstanceGuid")),
        "a generation 1 machine boots from IDE"
    );
    let drives: Vec<_> = controller
        .children()
        .filter(|d| {
            d.children()
                .any(|c| c.has_tag_name("pathname") && c.text().is_some_and(|t| !t.is_empty()))
        })
        .collect();
    assert_eq!(drives.len(), 1, "{xml}");
    let kind = drives[0]
        .children()
        .find(|c| c.has_tag_name("type"))
        .and_then(|c| c.text());
    assert_eq!(kind, Some("VHD"));
}

/// The appliances are read by the Common OVF Tool (`cot info`), an OVF implementation
/// Kiln had no hand in: it finds the disk with its capacity on the SCSI controller, the
/// processors, the memory and the NIC on its network. An OVF 2.0 appliance
/// (`ovf_version = "2.0"`) reads without a complaint. OVF 1.x defines SHA-1 manifests
/// only, and cot holds a 1.0 appliance to that: its one complaint about the default
/// appliance is the SHA-256 manifest the issue asks for (as VMware's own tools write).
#[test]
fn disk_convert_appliances_read_in_the_common_ovf_tool() {
    let cot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/cot-venv/bin/cot");
    assert!(
        cot.is_file(),
        "cot is not installed: run tests/run, which installs it from PyPI into target/cot-venv"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let disk = std::fs::File::create(d.join("disk.raw")).unwrap();
    disk.set_len(64 << 20).unwrap();
    let chain = |version: &str| {
        format!(
            "  post-processors {{\n    post-processor \"artifice\" {{\n      files = [\"disk.raw\"]\n    }}\n    post-processor \"disk-convert\" {{\n      formats     = [\"ova\"]\n      ovf_version = \"{version}\"\n      keep_input_artifact = true\n      output      = \"out{version}/{{{{.BuildName}}}}.{{{{.Extension}}}}\"\n    }}\n  }}\n"
        )
    };
    write(
        d,
        "t.pkr.hcl",
        &format!(
            "source \"null\" \"web\" {{\n  communicator = \"none\"\n}}\nbuild {{\n  sources = [\"source.null.web\"]\n{}{}}}\n",
            chain("1.0"),
            chain("2.0")
        ),
    );
    let (ok, out) = build(d);
    assert!(ok, "{out}");
    for version in ["1.0", "2.0"] {
        let ova = d.join(format!("out{version}/web.ova"));
        let out = Command::new(&cot)
            .args(["info", ova.to_str().unwrap()])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "cot info {version}: {stdout}{stderr}");
        let all = format!("{stdout}{stderr}");
        for needle in [
            "web-disk001.vmdk",
            "64 MiB harddisk @ SCSI 0:0",
            "SCSI device types:        lsilogic",
            "Ethernet device types:    E1000",
            "Network adapter 1 : NAT",
        ] {
            assert!(all.contains(needle), "{version}: {needle}\n{all}");
        }
        let profile = all
            .lines()
            .find(|l| l.contains("None (default)"))
            .unwrap_or_else(|| panic!("{version}: no configuration profile\n{all}"));
        let fields: Vec<&str> = profile.split_whitespace().collect();
        assert_eq!(fields[2..5], ["1", "512", "MiB"], "{version}: {profile}");
        let errors: Vec<&str> = all.lines().filter(|l| l.contains("ERROR")).collect();
        if version == "2.0" {
            assert!(errors.is_empty(), "{all}");
        } else {
            assert_eq!(errors.len(), 2, "{all}");
            assert!(
                errors
                    .iter()
                    .all(|e| e.contains("The sha1 checksum for file")),
                "{all}"
            );
        }
    }
}

/// A conversion that fails among several fails the step, naming the format and what
/// qemu-img said; the step leaves nothing behind (the host removes what a step that
/// does not finish wrote, and the directories made for it).
#[test]
fn disk_convert_names_the_format_that_failed_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Sparse and empty, so qcow2 is quick; too large for a VHD (at most 2040 GiB).
    let disk = std::fs::File::create(d.join("disk.raw")).unwrap();
    disk.set_len(3 << 40).unwrap();
    write(
        d,
        "t.pkr.hcl",
        "source \"null\" \"web\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.web\"]\n  post-processors {\n    post-processor \"artifice\" {\n      files = [\"disk.raw\"]\n    }\n    post-processor \"disk-convert\" {\n      formats = [\"qcow2\", \"vpc\"]\n      output  = \"out/{{.BuildName}}.{{.Extension}}\"\n    }\n  }\n}\n",
    );
    let (ok, out) = build(d);
    assert!(!ok, "{out}");
    assert!(out.contains("Disk size is too large"), "{out}");
    assert!(
        out.contains("vpc (") && out.contains("web.vhd): qemu-img convert failed (exit status 1)"),
        "{out}"
    );
    assert!(
        !d.join("out").exists(),
        "{:?}\n{out}",
        kiln_tests::names_in(&d.join("out"))
    );
    // An empty disk makes no streamOptimized VMDK: the OVA fails, and its staging
    // directory goes with it.
    std::fs::File::create(d.join("disk.raw")).unwrap();
    let template = std::fs::read_to_string(d.join("t.pkr.hcl"))
        .unwrap()
        .replace("[\"qcow2\", \"vpc\"]", "[\"ova\"]");
    write(d, "t.pkr.hcl", &template);
    let (ok, out) = build(d);
    assert!(!ok, "{out}");
    assert!(out.contains("ova ("), "{out}");
    assert!(!d.join("out").exists(), "the OVA left something behind");
}

/// Ctrl-C while the conversions run stops every qemu-img, and the step leaves nothing:
/// no partial disk, no placeholder, no OVA staging directory, no output directory.
#[test]
fn an_interrupted_disk_convert_stops_its_conversions_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 256 MiB that does not compress: the OVA's streamOptimized VMDK takes seconds.
    {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(d.join("disk.raw")).unwrap());
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut block = vec![0u8; 1 << 20];
        for _ in 0..256 {
            for chunk in block.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
            out.write_all(&block).unwrap();
        }
    }
    write(
        d,
        "t.pkr.hcl",
        "source \"null\" \"web\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.web\"]\n  post-processors {\n    post-processor \"artifice\" {\n      files = [\"disk.raw\"]\n    }\n    post-processor \"disk-convert\" {\n      formats = [\"qcow2\", \"ova\"]\n      output  = \"out/{{.BuildName}}.{{.Extension}}\"\n      keep_input_artifact = true\n    }\n  }\n}\n",
    );
    let out_dir = d.join("out").display().to_string();
    interrupt_once(
        kiln_command(d, &["build", "t.pkr.hcl"]),
        "Converting",
        || kiln_tests::processes_with(&out_dir).len() >= 2,
        "the conversions",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !kiln_tests::processes_with(&out_dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "conversions outlived the interrupted build"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !d.join("out").exists(),
        "{:?}",
        kiln_tests::names_in(&d.join("out"))
    );
    assert!(d.join("disk.raw").is_file(), "the input is kept");
}

/// The vagrant post-processor makes a box per provider from disk-convert's disks (and
/// libvirt's from a qcow2): each holds metadata.json, a Vagrantfile and the provider's
/// files, nothing is left beside it, and Debian's Vagrant adds each and lists it with
/// its provider.
#[test]
fn vagrant_boxes_for_each_provider_are_added_by_vagrant() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "fs/hello.txt", "made by kiln\n");
    write(d, "extra/README.box", "read me\n");
    write(d, "Vagrantfile.tpl", "# custom part\n");
    std::fs::create_dir_all(d.join("in")).unwrap();
    run_tool(
        d,
        "mkfs.ext4",
        &["-q", "-F", "-d", "fs", "in/disk.raw", "32M"],
    );
    let chain = |format: &str, extra: &str| {
        format!(
            "  post-processors {{\n    post-processor \"artifice\" {{\n      files = [\"in/disk.raw\"]\n      keep_input_artifact = true\n    }}\n    post-processor \"disk-convert\" {{\n      formats = [\"{format}\"]\n      output  = \"conv/{{{{.BuildName}}}}.{{{{.Extension}}}}\"\n      keep_input_artifact = true\n    }}\n    post-processor \"vagrant\" {{\n      output = \"boxes/{{{{.Provider}}}}.box\"\n{extra}    }}\n  }}\n"
        )
    };
    let chains = [
        chain("qcow2", "      include = [\"extra/README.box\"]\n      vagrantfile_template = \"Vagrantfile.tpl\"\n"),
        chain("ovf", "      compression_level = 1\n"),
        chain("vmdk", "      architecture = \"amd64\"\n"),
        chain("vhdx", "      compression_level = 0\n"),
    ];
    write(
        d,
        "t.pkr.hcl",
        &format!(
            "source \"null\" \"web\" {{\n  communicator = \"none\"\n}}\nbuild {{\n  sources = [\"source.null.web\"]\n{}}}\n",
            chains.concat()
        ),
    );
    let (ok, out) = build(d);
    assert!(ok, "{out}");
    let boxes = d.join("boxes");
    let mut names: Vec<String> = kiln_tests::names_in(&boxes);
    names.sort();
    assert_eq!(
        names,
        [
            "hyperv.box",
            "libvirt.box",
            "virtualbox.box",
            "vmware_desktop.box"
        ],
        "nothing else is left beside the boxes"
    );
    let expected: [(&str, &[&str]); 4] = [
        (
            "libvirt",
            &["README.box", "Vagrantfile", "box.img", "metadata.json"],
        ),
        (
            "virtualbox",
            &[
                "Vagrantfile",
                "metadata.json",
                "web-disk001.vmdk",
                "web.mf",
                "web.ovf",
            ],
        ),
        (
            "vmware_desktop",
            &["Vagrantfile", "box.vmx", "metadata.json", "web.vmdk"],
        ),
        (
            "hyperv",
            &[
                "Vagrantfile",
                "Virtual Hard Disks/web.vhdx",
                "Virtual Machines/web.xml",
                "metadata.json",
            ],
        ),
    ];
    // A file of a box, as text.
    let read_box = |name: &str, file: &str| {
        run_tool(
            d,
            "tar",
            &["-xOf", boxes.join(name).to_str().unwrap(), file],
        )
    };
    let home = d.join("vagrant-home");
    for (provider, files) in expected {
        let file = boxes.join(format!("{provider}.box"));
        let listing = run_tool(d, "tar", &["-tf", file.to_str().unwrap()]);
        let mut listed: Vec<&str> = listing.lines().collect();
        listed.sort();
        assert_eq!(listed, files, "{provider}");
        let metadata = read_box(&format!("{provider}.box"), "metadata.json");
        let metadata: serde_json::Value = serde_json::from_str(&metadata).unwrap();
        assert_eq!(metadata["provider"], provider, "{metadata}");
        let out = Command::new(kiln_tests::tool("vagrant"))
            .args([
                "box",
                "add",
                "--name",
                &format!("kiln-{provider}"),
                file.to_str().unwrap(),
            ])
            .env("VAGRANT_HOME", &home)
            .current_dir(d)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(
            out.status.success(),
            "vagrant box add {provider}: {stdout}{stderr}"
        );
    }
    let libvirt = read_box("libvirt.box", "metadata.json");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&libvirt).unwrap(),
        serde_json::json!({"provider": "libvirt", "format": "qcow2", "virtual_size": 1})
    );
    let vagrantfile = read_box("libvirt.box", "Vagrantfile");
    assert!(
        vagrantfile.contains("config.vm.provider :libvirt")
            && vagrantfile.contains("# custom part"),
        "{vagrantfile}"
    );
    let vmware = read_box("vmware_desktop.box", "metadata.json");
    assert!(vmware.contains("\"architecture\":\"amd64\""), "{vmware}");
    hyperv_config_reads_as_vagrant_reads_it(&read_box("hyperv.box", "Virtual Machines/web.xml"));
    let list = Command::new(kiln_tests::tool("vagrant"))
        .args(["box", "list"])
        .env("VAGRANT_HOME", &home)
        .output()
        .unwrap();
    let (listed, _) = text(&list);
    for provider in ["libvirt", "virtualbox", "vmware_desktop", "hyperv"] {
        assert!(
            listed.contains(&format!("kiln-{provider} "))
                && listed.contains(&format!("({provider}, 0)")),
            "{listed}"
        );
    }
}
