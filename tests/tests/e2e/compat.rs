//! Packer templates Kiln refused, run through the CLI: each a minimal reproduction,
//! named after it (the template-level ones are in `host/template/tests/compat.rs`).

use super::*;

fn validate(dir: &Path, name: &str, template: &str) -> (bool, String) {
    write(dir, name, template);
    let out = kiln(dir, &["validate", name]);
    let (stdout, stderr) = text(&out);
    (out.status.success(), format!("{stdout}{stderr}"))
}

#[test]
fn strings_convert_to_booleans_and_numbers_in_hcl2_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // `headless = var.headless` with a string default, and strings for a boolean and a
    // number, as Packer converts them.
    let hcl = "variable \"headless\" {\n  default = \"true\"\n}\n\
source \"qemu\" \"vm\" {\n  iso_url = \"disk.iso\"\n  iso_checksum = \"none\"\n  headless = var.headless\n\
  disk_compression = \"true\"\n  cpus = \"2\"\n  memory = \"512\"\n  communicator = \"none\"\n}\n\
build {\n  sources = [\"source.qemu.vm\"]\n}\n";
    let (ok, out) = validate(d, "t.pkr.hcl", hcl);
    assert!(ok, "{out}");
    let json = r#"{"builders":[{"type":"qemu","iso_url":"disk.iso","iso_checksum":"none",
  "headless":"true","disk_compression":"false","cpus":"2","communicator":"none"}]}"#;
    let (ok, out) = validate(d, "t.json", json);
    assert!(ok, "{out}");
    // A value that does not convert is an error at the argument, not at the block.
    let bad = hcl.replace("\"2\"", "\"two\"");
    let (ok, out) = validate(d, "t.pkr.hcl", &bad);
    assert!(!ok);
    assert!(
        out.contains("t.pkr.hcl:9:3") && out.contains("cpus"),
        "{out}"
    );
}

#[test]
fn json_takes_a_single_value_where_a_list_is_expected() {
    let dir = tempfile::tempdir().unwrap();
    let json = r#"{"builders":[{"type":"null","communicator":"none"}],
 "provisioners":[{"type":"shell-local","inline":"echo hello > said.txt"}]}"#;
    let (ok, out) = validate(dir.path(), "t.json", json);
    assert!(ok, "{out}");
    let out = kiln(dir.path(), &["build", "t.json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("said.txt")).unwrap(),
        "hello\n"
    );
}

#[test]
fn only_and_except_take_packers_glob_syntax() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut text_ =
        String::from("source \"file\" \"w\" {\n  content = \"x\"\n}\nbuild {\n  name = \"par\"\n");
    for n in ["w1", "w2", "w3"] {
        text_.push_str(&format!(
            "  source \"source.file.w\" {{\n    name = \"{n}\"\n    target = \"out/{n}.txt\"\n  }}\n"
        ));
    }
    text_.push_str("}\n");
    write(d, "t.pkr.hcl", &text_);
    let built = |args: &[&str]| -> Vec<String> {
        let _ = std::fs::remove_dir_all(d.join("out"));
        let mut all = vec!["build"];
        all.extend_from_slice(args);
        all.push("t.pkr.hcl");
        let out = kiln(d, &all);
        assert!(out.status.success(), "{:?}", text(&out));
        let mut names: Vec<String> = std::fs::read_dir(d.join("out"))
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    assert_eq!(built(&["-only", "par.file.w[12]"]), ["w1.txt", "w2.txt"]);
    assert_eq!(
        built(&["-only", "par.file.w?"]),
        ["w1.txt", "w2.txt", "w3.txt"]
    );
    assert_eq!(built(&["-only", "par.file.{w1,w3}"]), ["w1.txt", "w3.txt"]);
    assert_eq!(built(&["-except", "*.w[!2]"]), ["w2.txt"]);
}

#[test]
fn the_file_builder_makes_its_targets_directory() {
    let dir = tempfile::tempdir().unwrap();
    let hcl =
        "source \"file\" \"a\" {\n  content = \"disk\"\n  target = \"artifact/deep/disk.img\"\n}\n\
build {\n  sources = [\"source.file.a\"]\n}\n";
    write(dir.path(), "t.pkr.hcl", hcl);
    let out = kiln(dir.path(), &["build", "t.pkr.hcl"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("artifact/deep/disk.img")).unwrap(),
        "disk"
    );
}

/// Packer's own fixture (command/test-fixtures/hcl/dynamic): dynamic sources and
/// provisioners, a file builder whose provisioners run with no machine, and a target in
/// a directory that does not exist yet.
#[test]
fn packers_dynamic_fixture_builds_what_packer_builds() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus/packer/command/test-fixtures/hcl/dynamic/build.pkr.hcl");
    std::fs::copy(&fixture, dir.path().join("build.pkr.hcl")).unwrap();
    let out = kiln(dir.path(), &["build", "build.pkr.hcl"]);
    assert!(out.status.success(), "{:?}", text(&out));
    // What Packer's own test expects of it.
    for f in [
        "dummy.txt",
        "postgres/13.txt",
        "dummy-fooo.txt",
        "dummy-baar.txt",
        "postgres/13-fooo.txt",
        "postgres/13-baar.txt",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("postgres/13.txt")).unwrap(),
        "layers/base/main/files\nlayers/base/init/files\nlayers/postgres/files"
    );
}

#[test]
fn types_kiln_does_not_ship_are_one_error_listing_each_use() {
    let dir = tempfile::tempdir().unwrap();
    let hcl = "packer {\n  required_plugins {\n    azure = {\n      source = \"github.com/hashicorp/azure\"\n      version = \">= 1\"\n    }\n  }\n}\n\
source \"azure-arm\" \"a\" {\n  location = \"westeurope\"\n}\nsource \"null\" \"n\" {\n  communicator = \"none\"\n}\n\
build {\n  sources = [\"source.azure-arm.a\", \"source.null.n\"]\n\
  provisioner \"chef-solo\" {\n    cookbook_paths = [\"c\"]\n  }\n\
  provisioner \"shell-local\" {\n    inline = [\"true\"]\n  }\n\
  post-processor \"amazon-import\" {\n    s3_bucket_name = \"b\"\n  }\n}\n";
    let (ok, out) = validate(dir.path(), "t.pkr.hcl", hcl);
    assert!(!ok);
    assert_eq!(out.matches("Error:").count(), 1, "{out}");
    assert!(
        out.contains("t.pkr.hcl:9:1: Kiln does not ship plugin types this template uses: post-processor \"amazon-import\", provisioner \"chef-solo\", source \"azure-arm\""),
        "{out}"
    );
    assert!(
        out.contains("source \"azure-arm\": t.pkr.hcl:9:1 (of plugin \"github.com/hashicorp/azure\", required at t.pkr.hcl:3:5)"),
        "{out}"
    );
    assert!(
        out.contains("provisioner \"chef-solo\": t.pkr.hcl:17:13"),
        "{out}"
    );
    assert!(
        out.contains("post-processor \"amazon-import\": t.pkr.hcl:23:16"),
        "{out}"
    );
}

/// The shell provisioner's other options, as Packer documents them: a text script's
/// CRLF line endings become LF (unless `binary`), `use_env_var_file` puts the variables
/// in a file the command sources, `pause_after` waits after the step.
#[test]
fn shell_takes_packers_other_options() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "crlf.sh",
        "#!/bin/sh\r\necho crlf-ran\r\necho \"greeting=$GREETING\"\r\n",
    );
    let provisioners = "  provisioner \"shell\" {\n    script = \"crlf.sh\"\n    environment_vars = [\"GREETING=it's me\"]\n    use_env_var_file = true\n    pause_after = \"1s\"\n  }\n";
    write_web_build(&sshd, d, provisioners);
    let out = kiln(d, &["build", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("crlf-ran"), "{stdout}");
    assert!(stdout.contains("greeting=it's me"), "{stdout}");
    assert!(
        stdout.contains("Pausing 1s after this provisioner"),
        "{stdout}"
    );
    // `binary` leaves the bytes alone: the shell then sees the carriage returns.
    let binary = provisioners.replace("use_env_var_file = true", "binary = true");
    write_web_build(&sshd, d, &binary);
    let out = kiln(d, &["build", "t.pkr.hcl"]);
    let (stdout, _) = text(&out);
    assert!(!stdout.contains("crlf-ran\n"), "{stdout}");
}

/// A script reaches the machine byte for byte however it travels: inside the command
/// that runs it (a small text script, even one holding the here-document's own end
/// marker), or uploaded first (no final newline, or too large to pass in a command).
/// The environment file goes and is removed with each script; a script the machine
/// cannot write fails the step with the shell's reason.
#[test]
fn shell_scripts_arrive_exactly_however_they_travel() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let remote = tempfile::tempdir().unwrap();
    let r = remote.path().display().to_string();
    let marker = "#!/bin/sh\ncat > \"$OUT/marker\" <<'KILN_EOF'\n\tKILN_EOF inside\nKILN_EOF\necho \"from=$FROM\" >> \"$OUT/marker\"\n";
    let unterminated = "#!/bin/sh\necho \"ünïcode\t$FROM\" > \"$OUT/unterminated\"";
    let large = format!(
        "#!/bin/sh\n{}echo large >> \"$OUT/large\"\n",
        "# padding that makes the script too large to travel in a command\n".repeat(2000)
    );
    write(d, "marker.sh", marker);
    write(d, "unterminated.sh", unterminated);
    write(d, "large.sh", &large);
    let provisioners = format!(
        "  provisioner \"shell\" {{\n    scripts = [\"marker.sh\", \"unterminated.sh\", \"large.sh\"]\n\
         \x20   environment_vars = [\"OUT={r}\", \"FROM=env-file\"]\n    use_env_var_file = true\n\
         \x20   remote_folder = \"{r}\"\n  }}\n\
         \x20 provisioner \"shell\" {{\n    inline = [\"echo kept > {r}/kept-ran\"]\n\
         \x20   remote_path = \"{r}/kept.sh\"\n    skip_clean = true\n  }}\n"
    );
    write_web_build(&sshd, d, &provisioners);
    let out = kiln(d, &["build", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let read = |name: &str| std::fs::read_to_string(remote.path().join(name)).unwrap();
    assert_eq!(read("marker"), "\tKILN_EOF inside\nfrom=env-file\n");
    assert_eq!(read("unterminated"), "ünïcode\tenv-file\n");
    assert_eq!(read("large"), "large\n");
    // skip_clean keeps the script as it was written, mode 0755.
    let kept = remote.path().join("kept.sh");
    assert_eq!(
        std::fs::read_to_string(&kept).unwrap(),
        format!("#!/bin/sh -e\necho kept > {r}/kept-ran\n")
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
        0o755
    );
    // Nothing else stays: the scripts and the environment file were removed.
    let mut left: Vec<String> = std::fs::read_dir(remote.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["kept-ran", "kept.sh", "large", "marker", "unterminated"]
    );

    // A folder the machine cannot write into: the step fails, saying why.
    let bad = format!(
        "  provisioner \"shell\" {{\n    inline = [\"echo never > {r}/never\"]\n\
         \x20   remote_folder = \"{r}/missing-folder\"\n  }}\n"
    );
    write_web_build(&sshd, d, &bad);
    let out = kiln(d, &["build", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains("error uploading script") && all.contains("missing-folder"),
        "{all}"
    );
    assert!(!remote.path().join("never").exists());
}
