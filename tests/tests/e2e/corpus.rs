//! The corpus of real templates written by others (`tests/corpus`, each one's source,
//! commit and licence in `SOURCES.tsv`): each validates, or fails as its `expect`
//! column says (one error naming the types Kiln does not ship, or the reason Packer
//! itself rejects it); `kiln fmt` formats each HCL2 file as `packer fmt` does; every
//! legacy JSON template survives `hcl2_upgrade` and means the same after it.

use super::*;

struct Entry {
    path: String,
    args: Vec<String>,
    expect: String,
    /// Where it is validated (its relative paths resolve from there, as its own
    /// repository's tests run it): a directory of the corpus, or its own directory.
    run_in: Option<String>,
}

impl Entry {
    /// The directory it is validated in, and its path from there.
    fn place(&self, root: &Path) -> (PathBuf, String) {
        let path = root.join(&self.path);
        match &self.run_in {
            Some(dir) => {
                let rel = path
                    .strip_prefix(root.join(dir))
                    .unwrap_or_else(|_| panic!("SOURCES.tsv: {} is not under {dir}", self.path));
                (root.join(dir), rel.to_string_lossy().into_owned())
            }
            None => (
                path.parent().unwrap().to_owned(),
                path.file_name().unwrap().to_string_lossy().into_owned(),
            ),
        }
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

fn entries() -> Vec<Entry> {
    let text = std::fs::read_to_string(corpus_dir().join("SOURCES.tsv")).unwrap();
    let entries: Vec<Entry> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 12, "SOURCES.tsv: {l}");
            for (i, what) in [(1, "repository"), (3, "commit"), (4, "licence")] {
                assert!(
                    !cols[i].is_empty(),
                    "SOURCES.tsv: no {what} for {}",
                    cols[0]
                );
            }
            Entry {
                path: cols[0].to_owned(),
                args: match cols[9] {
                    "-" => vec![],
                    a => a.split(' ').map(str::to_owned).collect(),
                },
                expect: cols[10].to_owned(),
                run_in: (cols[11] != "-").then(|| cols[11].to_owned()),
            }
        })
        .collect();
    assert!(
        entries.len() >= 40,
        "the corpus has {} templates",
        entries.len()
    );
    entries
}

/// `kiln validate ARGS TEMPLATE` run in the template's directory: (success, output).
fn validate_in(dir: &Path, args: &[String], template: &str) -> (bool, String) {
    let mut all = vec!["validate".to_owned()];
    all.extend(args.iter().cloned());
    all.push(template.to_owned());
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = kiln(dir, &all);
    let (stdout, stderr) = text(&out);
    (out.status.success(), format!("{stdout}{stderr}"))
}

/// Whether `output` of a validation is what `expect` says; `Err` says why not.
fn meets(expect: &str, ok: bool, output: &str) -> Result<(), String> {
    let errors: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with("Error: "))
        .collect();
    if expect == "valid" {
        return if ok {
            Ok(())
        } else {
            Err("expected it to validate".into())
        };
    }
    if ok {
        return Err(format!("expected it to fail ({expect})"));
    }
    if let Some(summary) = expect.strip_prefix("unsupported: ") {
        // One error, never a cascade, naming every type Kiln lacks.
        let [only] = errors[..] else {
            return Err(format!("expected one error, got {}", errors.len()));
        };
        return if only.ends_with(summary) && only.contains(": Kiln does not") {
            Ok(())
        } else {
            Err(format!("expected the error {summary:?}"))
        };
    }
    if let Some(reason) = expect.strip_prefix("rejected: ") {
        return if errors.iter().any(|e| e.contains(reason)) {
            Ok(())
        } else {
            Err(format!("expected an error saying {reason:?}"))
        };
    }
    Err(format!("unknown expectation {expect:?}"))
}

#[test]
fn every_corpus_template_validates_or_fails_as_expected() {
    let root = corpus_dir();
    let mut wrong = Vec::new();
    let entries = entries();
    for e in &entries {
        let (dir, name) = e.place(&root);
        let (ok, output) = validate_in(&dir, &e.args, &name);
        if let Err(why) = meets(&e.expect, ok, &output) {
            wrong.push(format!("{}: {why}\n{output}", e.path));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} corpus templates:\n{}",
        wrong.len(),
        entries.len(),
        wrong.join("\n")
    );
    let valid = entries.iter().filter(|e| e.expect == "valid").count();
    assert!(
        valid >= 20,
        "only {valid} corpus templates are expected to validate"
    );
}

/// Every file under `dir` whose name ends with one of `suffixes`.
fn files_under(dir: &Path, suffixes: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                pending.push(p);
            } else if suffixes.iter().any(|s| p.to_string_lossy().ends_with(s)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `kiln fmt` and Debian's `packer fmt` (its language is older: a file it cannot read
/// is formatted by Kiln and must stay as it is when formatted again) on each HCL2 file.
#[test]
fn kiln_fmt_formats_every_corpus_file_as_packer_fmt_does() {
    let packer = kiln_tests::tool("packer");
    let files = files_under(&corpus_dir(), &[".pkr.hcl", ".pkrvars.hcl"]);
    assert!(files.len() >= 40, "{} HCL2 files", files.len());
    let work = tempfile::tempdir().unwrap();
    let (mut compared, mut differ) = (0, Vec::new());
    for (i, f) in files.iter().enumerate() {
        let name = f.file_name().unwrap().to_str().unwrap();
        let theirs = work.path().join(format!("p{i}")).join(name);
        let ours = work.path().join(format!("k{i}")).join(name);
        for copy in [&theirs, &ours] {
            std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
            std::fs::copy(f, copy).unwrap();
        }
        let out = kiln(ours.parent().unwrap(), &["fmt", name]);
        assert!(
            out.status.success(),
            "kiln fmt {}: {:?}",
            f.display(),
            text(&out)
        );
        let formatted = std::fs::read(&ours).unwrap();
        let by_packer = Command::new(&packer)
            .args(["fmt", name])
            .current_dir(theirs.parent().unwrap())
            .output()
            .unwrap();
        if by_packer.status.success() {
            compared += 1;
            if std::fs::read(&theirs).unwrap() != formatted {
                differ.push(f.display().to_string());
            }
        } else {
            // Formatting again changes nothing.
            let again = kiln(ours.parent().unwrap(), &["fmt", "-check", name]);
            assert!(
                again.status.success(),
                "{} formats differently twice",
                f.display()
            );
        }
    }
    assert!(
        differ.is_empty(),
        "kiln fmt and packer fmt differ on: {differ:#?}"
    );
    assert!(compared >= 30, "packer fmt read only {compared} files");
}

/// Each legacy JSON template of the corpus upgrades, and the HCL2 it becomes validates
/// as the JSON does (or fails for the same types Kiln lacks).
#[test]
fn every_corpus_json_template_survives_hcl2_upgrade() {
    let root = corpus_dir();
    let mut upgraded = 0;
    for e in entries().iter().filter(|e| e.path.ends_with(".json")) {
        let (dir, name) = e.place(&root);
        // In a copy of the directory it is validated in: the upgrade is written there,
        // and keeps the template's relative paths.
        let work = tempfile::tempdir().unwrap();
        let copy = work.path();
        copy_dir(&dir, copy);
        let out = kiln(
            copy,
            &["hcl2_upgrade", "--output-file", "upgraded.pkr.hcl", &name],
        );
        assert!(out.status.success(), "{}: {:?}", e.path, text(&out));
        let written = std::fs::read_to_string(copy.join("upgraded.pkr.hcl")).unwrap();
        let fmt = kiln(copy, &["fmt", "-check", "upgraded.pkr.hcl"]);
        assert!(
            fmt.status.success(),
            "{}: the upgrade is not formatted",
            e.path
        );
        upgraded += 1;
        // The same expectation holds of the upgrade.
        let (ok, output) = validate_in(copy, &e.args, "upgraded.pkr.hcl");
        let expect = if e.expect.starts_with("rejected") {
            "rejected: ".to_owned()
        } else {
            e.expect.clone()
        };
        if let Err(why) = meets(&expect, ok, &output) {
            panic!("{} upgraded: {why}\n{written}\n{output}", e.path);
        }
    }
    assert!(upgraded >= 15, "only {upgraded} JSON templates");
}

/// Copies the directory `from` into `to`, symbolic links as links.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let kind = e.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Every corpus template that validates and builds only with the null and file
/// builders is built for real, in a copy of its directory.
#[test]
fn corpus_templates_with_null_and_file_sources_build() {
    let root = corpus_dir();
    let sources = std::fs::read_to_string(root.join("SOURCES.tsv")).unwrap();
    let mut built = 0;
    for line in sources.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        let builders: Vec<&str> = cols[6]
            .split(',')
            .filter_map(|t| t.strip_prefix("builder:"))
            .collect();
        if cols[10] != "valid" || !builders.iter().all(|b| *b == "null" || *b == "file") {
            continue;
        }
        let path = root.join(cols[0]);
        let work = tempfile::tempdir().unwrap();
        copy_dir(path.parent().unwrap(), work.path());
        let name = path.file_name().unwrap().to_str().unwrap();
        let mut args = vec!["build".to_owned()];
        if cols[9] != "-" {
            args.extend(cols[9].split(' ').map(str::to_owned));
        }
        args.push(name.to_owned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = kiln(work.path(), &args);
        let (stdout, stderr) = text(&out);
        if cols[0].ends_with("cleanup-script/template.json") {
            // Packer's fixture fails on purpose; its error-cleanup-provisioner runs.
            assert!(!out.status.success(), "{stdout}");
            assert_eq!(
                std::fs::read_to_string(work.path().join("ducky.txt")).unwrap(),
                "rubber ducky\n"
            );
        } else {
            assert!(out.status.success(), "{}:\n{stdout}{stderr}", cols[0]);
        }
        if cols[0].ends_with("build-name-and-type/all.pkr.hcl") {
            // Two builds in parallel, each with a shell-local script and a manifest entry
            // in one shared file: neither script nor entry is lost.
            for f in ["null.test.txt", "null.potato.txt"] {
                assert!(work.path().join(f).is_file(), "{f}");
            }
            let manifest = std::fs::read_to_string(work.path().join("manifest.json")).unwrap();
            let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
            assert_eq!(
                manifest["builds"].as_array().unwrap().len(),
                2,
                "{manifest}"
            );
        }
        built += 1;
    }
    assert!(built >= 15, "only {built} corpus templates built");
}

/// The corpus's Docker templates (HashiCorp's getting-started examples, Packer's docker
/// builder fixtures, terratest's example) build unchanged with no daemon. Their images
/// are Docker Hub's, which this machine cannot reach; as on a CI runner behind a
/// pull-through mirror, `registries.conf` sends Docker Hub pulls to a loopback registry
/// that holds a busybox image under each name they use. Their own checks run: the
/// fixtures' `stat` of upload owners (uid 42, from `run_command`'s `-u`) and the
/// download back to the host.
#[test]
fn corpus_docker_templates_build_unchanged_through_a_docker_hub_mirror() {
    let registry = kiln_tests::Registry::start();
    let reg = &registry.address;
    let seed = tempfile::tempdir().unwrap();
    let s = seed.path();
    kiln_tests::busybox_rootfs(&s.join("rootfs"));
    write(
        s,
        "base.pkr.hcl",
        "source \"container\" \"base\" {\n  rootfs = \"rootfs\"\n  commit = true\n  output_image = \"base.tar\"\n}\nbuild {\n  sources = [\"source.container.base\"]\n}\n",
    );
    let out = kiln(s, &["build", "base.pkr.hcl"]);
    assert!(out.status.success(), "{:?}", text(&out));
    for name in [
        "library/ubuntu:xenial",
        "library/ubuntu:bionic",
        "library/ubuntu:latest",
        "gruntwork/ubuntu-test:16.04",
    ] {
        kiln_tests::skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            &format!("oci-archive:{}", s.join("base.tar").display()),
            &format!("docker://{reg}/{name}"),
        ]);
    }
    let conf = s.join("registries.conf");
    write(
        s,
        "registries.conf",
        &format!(
            "[[registry]]\nlocation = \"docker.io\"\n\n[[registry.mirror]]\nlocation = \"{reg}\"\ninsecure = true\n"
        ),
    );
    let root = corpus_dir();
    let entries = entries();
    let templates = [
        "learn-packer-getting-started/example.pkr.hcl",
        "learn-packer-getting-started/example-parallel.pkr.hcl",
        "learn-packer-getting-started/example-variables.pkr.hcl",
        "terratest/examples/packer-hello-world-example/build.pkr.hcl",
        "packer-plugin-docker/builder/docker/test-fixtures/upload_download.pkr.hcl",
        "packer-plugin-docker/builder/docker/test-fixtures/upload_download.json",
        "packer-plugin-docker/builder/docker/test-fixtures/fix_upload_owner.pkr.hcl",
        "packer-plugin-docker/builder/docker/test-fixtures/fix_upload_owner.json",
    ];
    for template in templates {
        let entry = entries
            .iter()
            .find(|e| e.path == template)
            .unwrap_or_else(|| panic!("{template} is not in SOURCES.tsv"));
        assert_eq!(entry.expect, "valid", "{template}");
        let (dir, rel) = entry.place(&root);
        let work = tempfile::tempdir().unwrap();
        copy_dir(&dir, work.path());
        let out = Command::new(kiln_bin())
            .args(["build", &rel])
            .current_dir(work.path())
            .env("KILN_CACHE_DIR", cache_dir())
            .env("CONTAINERS_REGISTRIES_CONF", &conf)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{template}:\n{stdout}\n{stderr}");
        assert!(
            stdout.contains("Pulling docker.io/"),
            "{template} did not pull from Docker Hub's name:\n{stdout}"
        );
        if template.contains("upload_download") {
            let back = std::fs::read(work.path().join("my-strawberry-cake")).unwrap();
            let sent =
                std::fs::read(work.path().join("test-fixtures/onecakes/strawberry")).unwrap();
            assert_eq!(
                back, sent,
                "{template}: the download differs from the upload"
            );
        }
        if template.contains("example-parallel") {
            assert_eq!(
                stdout.matches("Adding file to Docker Container").count(),
                2,
                "{stdout}"
            );
        }
        if template.contains("hello-world") {
            assert!(
                stdout.contains("gruntwork/packer-hello-world-example:latest"),
                "{stdout}"
            );
        }
    }
    // A Docker Hub name the mirror lacks falls through to Docker Hub itself, which
    // cannot be reached here: the error names Docker Hub, not the mirror.
    let work = tempfile::tempdir().unwrap();
    write(
        work.path(),
        "missing.pkr.hcl",
        "source \"docker\" \"m\" {\n  image = \"debian:nonexistent-tag\"\n  discard = true\n}\nbuild {\n  sources = [\"source.docker.m\"]\n}\n",
    );
    let out = Command::new(kiln_bin())
        .args(["build", "missing.pkr.hcl"])
        .current_dir(work.path())
        .env("KILN_CACHE_DIR", cache_dir())
        .env("CONTAINERS_REGISTRIES_CONF", &conf)
        .env("KILN_REGISTRY_TIMEOUT", "5")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        format!("{stdout}{stderr}").contains("docker.io/library/debian:nonexistent-tag"),
        "{stdout}\n{stderr}"
    );
}

/// The Ansible plugin's own example playbook (copy, fetch into the playbook's directory,
/// raw, command, a directory copied recursively and fetched back) runs through Kiln's
/// `ansible` provisioner, confined, against a loopback sshd, with the provisioner block
/// of its `docker.json.pkr.hcl` unchanged (`sftp_command`, `use_sftp`).
#[test]
fn the_ansible_plugins_example_playbook_runs_confined_against_an_sshd() {
    kiln_tests::tool("ansible-playbook");
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_dir(&corpus_dir().join("packer-plugin-ansible/example"), d);
    // Packer's acceptance test makes this file before the build.
    std::fs::write(d.join("largish-file.txt"), vec![b'x'; 1 << 20]).unwrap();
    let original = std::fs::read_to_string(d.join("docker.json.pkr.hcl")).unwrap();
    let start = original.find("  provisioner \"ansible\"").unwrap();
    let block = &original[start..original.rfind('}').unwrap()];
    for f in std::fs::read_dir(d).unwrap().flatten() {
        if f.file_name().to_string_lossy().ends_with(".pkr.hcl") {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    // The playbook's hosts are `default:packer-test`; Kiln's inventory alias is `default`.
    write(
        d,
        "t.pkr.hcl",
        &format!(
            "{}\nbuild {{\n  sources = [\"source.null.default\"]\n{block}}}\n",
            sshd.null_source("default", &sshd.key)
        ),
    );
    let out = kiln(d, &["build", "t.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    for leftover in [
        "/tmp/remote-dir",
        "/tmp/ansible-raw-test",
        "/tmp/largish-file.txt",
    ] {
        let _ = std::fs::remove_dir_all(leftover).or_else(|_| std::fs::remove_file(leftover));
    }
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("ok=11") && stdout.contains("failed=0"),
        "{stdout}"
    );
    // `fetch` wrote into the playbook's directory on this host.
    let fetched = d.join("fetched-dir/default/tmp/remote-dir");
    for file in ["file.txt", "subdir/file.txt", "contents-only/file.txt"] {
        assert!(
            fetched.join(file).is_file(),
            "{file} was not fetched:\n{stdout}"
        );
    }
}
