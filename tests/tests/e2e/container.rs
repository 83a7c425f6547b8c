//! The container builder: real Linux namespaces, a busybox root filesystem, Debian's
//! skopeo to check the images, and Debian's docker-registry to pull from and push to.

use super::*;
use kiln_tests::{busybox_rootfs, mounts, processes_with, skopeo, Registry};

/// A fixed SOURCE_DATE_EPOCH so that committed images are reproducible.
const EPOCH: &str = "1700000000";

/// A build directory: `rootfs/` (busybox) and a private TMPDIR for kiln, so that what
/// the build leaves behind can be checked without seeing other tests' files.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Work {
        let dir = tempfile::tempdir().unwrap();
        busybox_rootfs(&dir.path().join("rootfs"));
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        Work { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn tmp(&self) -> PathBuf {
        self.path().join("tmp")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(kiln_bin());
        cmd.args(args)
            .current_dir(self.path())
            .env("KILN_CACHE_DIR", cache_dir())
            .env("TMPDIR", self.tmp())
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    fn kiln(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running kiln")
    }

    /// Asserts that the build left no scratch directory, process or mount behind.
    fn assert_nothing_left(&self, mounts_before: &[String]) {
        let left: Vec<_> = std::fs::read_dir(self.tmp())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
        let marker = self.tmp().display().to_string();
        assert_eq!(
            processes_with(&marker),
            Vec::<u32>::new(),
            "container processes left running"
        );
        assert_eq!(mounts(), mounts_before, "mounts changed");
    }
}

fn container_source(body: &str) -> String {
    format!("source \"container\" \"app\" {{\n{body}}}\n")
}

fn build_block(provisioners: &str) -> String {
    format!("build {{\n  sources = [\"source.container.app\"]\n{provisioners}}}\n")
}

/// Reads the OCI layout inside an oci-archive: (manifest digest, manifest, config).
fn open_archive(
    archive: &Path,
) -> (
    String,
    serde_json::Value,
    serde_json::Value,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "tar could not open {}", archive.display());
    let blob = |digest: &str| {
        dir.path()
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(&digest)).unwrap()).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(config_digest)).unwrap()).unwrap();
    (digest, manifest, config, dir)
}

/// `tar -tvzf` of a layer blob: one "mode owner size date name" line per entry.
fn list_layer(layout: &Path, digest: &str) -> Vec<String> {
    let out = Command::new("tar")
        .args(["--numeric-owner", "--full-time", "-tvzf"])
        .arg(
            layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "tar could not list the layer");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

const APP_TEMPLATE_PROVISIONERS: &str = "  provisioner \"shell\" {\n    inline = [\n      \
     \"echo hello from $(hostname) > /etc/motd\",\n      \"mkdir -p /srv/app\",\n      \"rm /etc/group\",\n      \
     \"test -z \\\"$SECRET_FROM_HOST\\\"\",\n      \"echo \\\"GREETING=$GREETING\\\" > /srv/app/env\",\n    ]\n  }\n  \
     provisioner \"file\" {\n    source      = \"app.conf\"\n    destination = \"/srv/app/app.conf\"\n  }\n  \
     provisioner \"file\" {\n    source      = \"site/\"\n    destination = \"/srv/www\"\n  }\n";

fn write_app(w: &Path, output: &str) {
    write(w, "app.conf", "listen = 8080\n");
    write(w, "site/index.html", "<h1>hi</h1>\n");
    let source = container_source(&format!(
        "  rootfs       = \"rootfs\"\n  commit       = true\n  output_image = \"{output}\"\n  image_tag    = \"1.0\"\n  \
         env          = {{ GREETING = \"bonjour\" }}\n  changes = [\n    \"ENTRYPOINT [\\\"/bin/sh\\\", \\\"-c\\\"]\",\n    \
         \"CMD [\\\"cat /etc/motd\\\"]\",\n    \"ENV APP_HOME=/srv/app\",\n    \"LABEL org.example.team=images\",\n    \
         \"WORKDIR /srv/app\",\n    \"USER root\",\n    \"EXPOSE 8080\",\n  ]\n"
    ));
    write(
        w,
        "app.pkr.hcl",
        &format!("{source}{}", build_block(APP_TEMPLATE_PROVISIONERS)),
    );
}

#[test]
fn commit_writes_a_reproducible_oci_image_holding_exactly_the_changes() {
    let work = Work::new();
    let w = work.path();
    write_app(w, "out/app.tar");
    let mounts_before = mounts();
    let out = work
        .command(&["build", "."])
        .env("SECRET_FROM_HOST", "leak")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "build failed:\n{stdout}\n{stderr}");
    work.assert_nothing_left(&mounts_before);
    let archive = w.join("out/app.tar");

    // skopeo accepts it and sees the configuration the changes asked for.
    let inspect: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        &format!("oci-archive:{}:1.0", archive.display()),
    ]))
    .unwrap();
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 2, "{inspect}");
    assert_eq!(inspect["Labels"]["org.example.team"], "images");
    let (digest, manifest, config, layout) = open_archive(&archive);
    let cc = &config["config"];
    assert_eq!(cc["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(cc["Cmd"], serde_json::json!(["cat /etc/motd"]));
    assert_eq!(cc["WorkingDir"], "/srv/app");
    assert_eq!(cc["User"], "root");
    assert!(cc["ExposedPorts"].get("8080/tcp").is_some(), "{cc}");
    assert!(
        cc["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "APP_HOME=/srv/app"),
        "{cc}"
    );
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);

    // The new layer holds exactly the provisioned changes: no mount points, no /tmp
    // (where the shell provisioner put its script), owners from inside the container,
    // times clamped to SOURCE_DATE_EPOCH.
    let layer = manifest["layers"][1]["digest"].as_str().unwrap();
    let entries = list_layer(layout.path(), layer);
    let names: Vec<&str> = entries
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "etc/",
            "etc/.wh.group",
            "etc/motd",
            "srv/",
            "srv/app/",
            "srv/app/app.conf",
            "srv/app/env",
            "srv/www/",
            "srv/www/index.html",
        ],
        "{entries:#?}"
    );
    for line in &entries {
        assert!(line.contains(" 0/0 "), "owner is not root: {line}");
        assert!(
            !line.contains("2026-") && !line.contains("2027-"),
            "time not clamped: {line}"
        );
    }
    let extracted = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(
            layout
                .path()
                .join("blobs/sha256")
                .join(layer.trim_start_matches("sha256:")),
        )
        .arg("-C")
        .arg(extracted.path())
        .status()
        .unwrap();
    assert!(status.success());
    let read = |p: &str| std::fs::read_to_string(extracted.path().join(p)).unwrap();
    assert_eq!(read("etc/motd"), "hello from app\n");
    assert_eq!(read("srv/app/app.conf"), "listen = 8080\n");
    assert_eq!(
        read("srv/app/env"),
        "GREETING=bonjour\n",
        "the template's env reaches commands"
    );
    assert_eq!(read("srv/www/index.html"), "<h1>hi</h1>\n");

    // The same inputs again: the same image, byte for byte.
    write_app(w, "again/app.tar");
    let out = work.kiln(&["build", "."]);
    assert!(
        out.status.success(),
        "second build failed: {:?}",
        text(&out)
    );
    let (digest2, ..) = open_archive(&w.join("again/app.tar"));
    assert_eq!(digest, digest2, "same inputs, different image");
    assert_eq!(
        std::fs::read(&archive).unwrap(),
        std::fs::read(w.join("again/app.tar")).unwrap(),
        "the archives differ"
    );
    assert!(
        stdout.contains(&digest),
        "the digest is not reported:\n{stdout}"
    );
}

#[test]
fn export_path_writes_the_root_filesystem_and_discard_writes_nothing() {
    let work = Work::new();
    let w = work.path();
    let provision =
        "  provisioner \"shell\" {\n    inline = [\"echo exported > /root/note\"]\n  }\n";
    write(
        w,
        "t.pkr.hcl",
        &format!(
            "{}{}",
            container_source("  rootfs      = \"rootfs\"\n  export_path = \"rootfs.tar\"\n"),
            build_block(provision)
        ),
    );
    let out = work.kiln(&["build", "."]);
    assert!(out.status.success(), "{:?}", text(&out));
    let listing = Command::new("tar")
        .arg("-tf")
        .arg(w.join("rootfs.tar"))
        .output()
        .unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(listing.lines().any(|l| l == "root/note"), "{listing}");
    assert!(listing.lines().any(|l| l == "bin/busybox"), "{listing}");
    assert!(
        !listing.lines().any(|l| l.starts_with("proc/")),
        "{listing}"
    );

    write(
        w,
        "t.pkr.hcl",
        &format!(
            "{}{}",
            container_source("  rootfs  = \"rootfs\"\n  discard = true\n"),
            build_block(provision)
        ),
    );
    let before: Vec<_> = std::fs::read_dir(w)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let out = work.kiln(&["build", "."]);
    assert!(out.status.success(), "{:?}", text(&out));
    let after: Vec<_> = std::fs::read_dir(w)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(before, after);
    assert!(text(&out).0.contains("discarded"));
}

#[test]
fn commands_in_the_container_reach_neither_the_host_filesystem_nor_its_network() {
    let work = Work::new();
    let w = work.path();
    // A host file outside the root filesystem, and a host service on loopback.
    let secret = tempfile::tempdir().unwrap();
    let secret_file = secret.path().join("host-secret");
    std::fs::write(&secret_file, "secret").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let script = format!(
        "set -u\n\
         if [ -e {secret} ]; then echo ESCAPE: host file visible; exit 1; fi\n\
         if ls / | grep -qx work; then echo ESCAPE: host root visible; exit 1; fi\n\
         if echo hi | nc -w 2 127.0.0.1 {port}; then echo ESCAPE: host network reachable; exit 1; fi\n\
         if mknod /root/disk b 8 0 2>/dev/null; then echo ESCAPE: could make a device node; exit 1; fi\n\
         if mount -t tmpfs none /mnt 2>/dev/null; then echo ESCAPE: could mount; exit 1; fi\n\
         test \"$(cat /proc/1/cmdline | tr '\\0' ' ')\" != \"\"\n\
         ls /dev | tr '\\n' ' '; echo\n\
         echo PIDS $(ls /proc | grep -c '^[0-9]')\n\
         echo confined\n",
        secret = secret_file.display()
    );
    write(w, "check.sh", &script);
    write(
        w,
        "t.pkr.hcl",
        &format!(
            "{}{}",
            container_source("  rootfs  = \"rootfs\"\n  discard = true\n"),
            build_block("  provisioner \"shell\" {\n    script = \"check.sh\"\n  }\n")
        ),
    );
    let out = work.kiln(&["build", "."]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("confined"), "{stdout}");
    assert!(!stdout.contains("ESCAPE"), "{stdout}");
    assert!(
        listener.accept().is_err(),
        "a connection reached the host's listener"
    );
    // Only the harmless devices exist.
    let dev_line = stdout.lines().find(|l| l.contains("null")).unwrap();
    for bad in ["sda", "vda", "mem", "kmsg"] {
        assert!(!dev_line.split_whitespace().any(|d| d == bad), "{dev_line}");
    }
}

#[test]
fn a_failing_step_and_ctrl_c_leave_no_process_mount_or_directory_behind() {
    let work = Work::new();
    let w = work.path();
    let mounts_before = mounts();
    write(
        w,
        "t.pkr.hcl",
        &format!(
            "{}{}",
            container_source("  rootfs = \"rootfs\"\n  commit = true\n"),
            build_block(
                "  provisioner \"shell\" {\n    inline = [\"echo failing\", \"exit 3\"]\n  }\n"
            )
        ),
    );
    let out = work.kiln(&["build", "."]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        !w.join("output-app").exists(),
        "a failed build wrote an image"
    );
    work.assert_nothing_left(&mounts_before);

    // Ctrl-C while a command runs in the container; SIGTERM and SIGHUP are the same
    // interrupt; and Ctrl-C delivered twice at once (as `timeout -s INT` does) still
    // cleans up.
    for (signals, code) in [
        (&["-INT"][..], 130),
        (&["-TERM"][..], 143),
        (&["-HUP"][..], 129),
        (&["-INT", "-INT"][..], 130),
    ] {
        interrupt_a_running_command(&work, &mounts_before, signals, code);
    }
}

/// Builds a container whose command sleeps, sends kiln `signals` (at once) once it runs,
/// and checks kiln exits with `code` with nothing left: no process, no mount, no
/// scratch directory.
fn interrupt_a_running_command(work: &Work, mounts_before: &[String], signals: &[&str], code: i32) {
    let w = work.path();
    let marker = format!("{}", 4000 + std::process::id() % 1000);
    write(
        w,
        "t.pkr.hcl",
        &format!(
            "{}{}",
            container_source("  rootfs = \"rootfs\"\n  discard = true\n"),
            build_block(&format!(
                "  provisioner \"shell\" {{\n    inline = [\"echo started\", \"sleep {marker}.5\"]\n  }}\n"
            ))
        ),
    );
    let mut child = Interrupted(
        work.command(&["build", "."])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let started = Instant::now();
    loop {
        let line = lines
            .next()
            .expect("kiln ended before the command started")
            .unwrap();
        if line.contains("started") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120));
    }
    let sleep_marker = format!("{marker}.5");
    while processes_with(&sleep_marker).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the command never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for signal in signals {
        let status = kiln_tests::command("kill")
            .args([*signal, &child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(code), "after {signals:?}");
    assert_eq!(
        processes_with(&sleep_marker),
        Vec::<u32>::new(),
        "the container's command survived {signals:?}"
    );
    work.assert_nothing_left(mounts_before);
}

/// A kiln run that gets Ctrl-C (then, if it must, SIGKILL) when the test ends, also when
/// an assertion fails midway, so that a failing test leaves no build running.
struct Interrupted(std::process::Child);

impl Drop for Interrupted {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = kiln_tests::command("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn bad_input_is_reported_at_its_attribute() {
    let work = Work::new();
    let w = work.path();
    let check = |body: &str, wants: &[&str]| {
        write(
            w,
            "t.pkr.hcl",
            &format!("{}{}", container_source(body), build_block("")),
        );
        let out = work.kiln(&["validate", "."]);
        let (stdout, stderr) = text(&out);
        let all = format!("{stdout}{stderr}");
        assert_eq!(out.status.code(), Some(1), "{all}");
        for want in wants {
            assert!(all.contains(want), "wanted {want:?} in:\n{all}");
        }
    };
    check(
        "  rootfs = \"missing\"\n  commit = true\n",
        &["t.pkr.hcl:2:3", "missing is not a directory"],
    );
    check(
        "  image = \"oci:nowhere:v1\"\n  commit = true\n",
        &["t.pkr.hcl:2:3", "nowhere is not an OCI image layout"],
    );
    check(
        "  image = \"oci-archive:absent.tar\"\n  commit = true\n",
        &["t.pkr.hcl:2:3", "absent.tar does not exist"],
    );
    check(
        "  rootfs  = \"rootfs\"\n  commit  = true\n  changes = [\"ENTRYPIONT [\\\"/app\\\"]\"]\n",
        &[
            "t.pkr.hcl:4:3",
            "unknown instruction",
            "did you mean ENTRYPOINT?",
        ],
    );
    check(
        "  rootfs = \"rootfs\"\n",
        &["exactly one of commit, discard, or export_path"],
    );
}

#[test]
fn a_corrupted_base_blob_is_refused_with_both_digests() {
    let work = Work::new();
    let w = work.path();
    // A base image made by kiln itself, as an OCI layout.
    write(
        w,
        "base.pkr.hcl",
        &format!(
            "{}{}",
            container_source(
                "  rootfs       = \"rootfs\"\n  commit       = true\n  output_image = \"base\"\n"
            ),
            build_block("")
        ),
    );
    let out = work.kiln(&["build", "."]);
    assert!(out.status.success(), "{:?}", text(&out));
    skopeo(&[
        "inspect",
        &format!("oci:{}:latest", w.join("base").display()),
    ]);
    std::fs::remove_file(w.join("base.pkr.hcl")).unwrap();
    // Flip one byte of the biggest blob (the busybox layer).
    let blobs = w.join("base/blobs/sha256");
    let biggest = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .max_by_key(|e| e.metadata().unwrap().len())
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&biggest).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&biggest, bytes).unwrap();
    write(
        w,
        "t.pkr.hcl",
        &format!(
            "{}{}",
            container_source("  image   = \"oci:base:latest\"\n  discard = true\n"),
            build_block("")
        ),
    );
    let out = work.kiln(&["build", "."]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let expected = biggest.file_name().unwrap().to_string_lossy().into_owned();
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains("digest mismatch") && all.contains(&expected),
        "{all}"
    );
}

#[test]
fn pulls_its_base_from_a_registry_and_pushes_the_result_back() {
    let registry = Registry::start();
    let work = Work::new();
    let w = work.path();
    // Put a base image into the registry with skopeo.
    commit_base(&work);
    let base_ref = push_base(&registry, w);
    let base_digest = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &format!("docker://{base_ref}"),
    ]);
    let base_digest = base_digest.trim();

    // Build on it, pinned by digest, and push the result.
    let app_ref = format!("{}/kiln/app:2", registry.address);
    let pinned = format!("{}/kiln/base@{base_digest}", registry.address);
    write(
        w,
        "t.pkr.hcl",
        &format!(
            "{}{}",
            container_source(&format!(
                "  image        = \"{pinned}\"\n  commit       = true\n  output_image = \"app.tar\"\n  push         = \"{app_ref}\"\n"
            )),
            build_block("  provisioner \"shell\" {\n    inline = [\"echo from-registry > /etc/built\"]\n  }\n")
        ),
    );
    let out = work.kiln(&["build", "."]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let (digest, manifest, ..) = open_archive(&w.join("app.tar"));
    let (_, base_manifest, ..) = open_archive(&w.join("base.tar"));
    let base_layers = base_manifest["layers"].as_array().unwrap();
    let pushed = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &format!("docker://{app_ref}"),
    ]);
    assert_eq!(
        pushed.trim(),
        digest,
        "the registry holds a different image"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(
        layers.len(),
        base_layers.len() + 1,
        "the base's layers + the new one"
    );
    assert_eq!(
        &layers[..base_layers.len()],
        &base_layers[..],
        "the base's layers are kept as they are"
    );
    assert!(
        stdout.contains(&format!("Pushed {app_ref}@{digest}")),
        "{stdout}"
    );

    // A digest the registry does not have is an error that names it.
    let wrong = format!("{}/kiln/base@sha256:{}", registry.address, "0".repeat(64));
    write(
        w,
        "t.pkr.hcl",
        &format!(
            "{}{}",
            container_source(&format!("  image   = \"{wrong}\"\n  discard = true\n")),
            build_block("")
        ),
    );
    let out = work.kiln(&["build", "."]);
    let all = format!("{}{}", text(&out).0, text(&out).1);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains(&"0".repeat(64)), "{all}");
}

/// Names in `dir` starting with `prefix`.
fn named(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// Starts a build whose commit takes seconds (300 MB of random data in the layer) with
/// its own cache, and returns it once the commit has begun.
fn build_until_committing(work: &Work, cache: &Path) -> Interrupted {
    write(
        work.path(),
        "t.pkr.hcl",
        &format!(
            "{}{}",
            container_source(
                "  rootfs = \"rootfs\"\n  commit = true\n  output_image = \"out/big.tar\"\n"
            ),
            build_block(
                "  provisioner \"shell\" {\n    inline = [\"head -c 300000000 /dev/urandom > /big\"]\n  }\n"
            )
        ),
    );
    build_until_a_layer_is_written(
        work,
        &["build", "."],
        cache,
        "Committing the container's changes",
    )
}

/// Starts `kiln ARGS` with its own cache and returns it once it has printed a line
/// holding `line` and begun writing a layer's blob.
fn build_until_a_layer_is_written(
    work: &Work,
    args: &[&str],
    cache: &Path,
    line: &str,
) -> Interrupted {
    let mut child = Interrupted(
        work.command(args)
            .env("KILN_CACHE_DIR", cache)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    for l in lines {
        if l.unwrap().contains(line) {
            break;
        }
    }
    let blobs = cache.join("blobs");
    let started = Instant::now();
    while named(&blobs, ".incoming-").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no layer was begun after {line:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Regression: Ctrl-C during an image commit left a partial blob (`blobs/.incoming-*`)
/// in the cache; a crash (SIGKILL) left it and the container's scratch directory for
/// ever. Cancellation removes the partial blob; `kiln cache prune` (and every `kiln
/// build`) removes what dead runs left, and only that.
#[test]
fn an_interrupted_commit_leaves_nothing_and_a_crashed_ones_leftovers_are_pruned() {
    let work = Work::new();
    let cache = work.path().join("cache");
    let mounts_before = mounts();

    let mut child = build_until_committing(&work, &cache);
    let status = kiln_tests::command("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.0.wait().unwrap().code(), Some(130));
    assert_eq!(
        named(&cache.join("blobs"), ".incoming-"),
        Vec::<String>::new()
    );
    assert!(!work.path().join("out/big.tar").exists());
    work.assert_nothing_left(&mounts_before);

    // A crash leaves them; a build running meanwhile keeps its own.
    let mut crashed = build_until_committing(&work, &cache);
    crashed.0.kill().unwrap();
    crashed.0.wait().unwrap();
    let partial = named(&cache.join("blobs"), ".incoming-");
    let scratch = named(&work.tmp(), "kiln-container-");
    assert_eq!(
        (partial.len(), scratch.len()),
        (1, 1),
        "{partial:?} {scratch:?}"
    );
    // As if a while had passed: a sweep leaves entries younger than a minute alone.
    let old = std::time::SystemTime::now() - Duration::from_secs(300);
    for p in [
        cache.join("blobs").join(&partial[0]),
        work.tmp().join(&scratch[0]),
    ] {
        std::fs::File::open(&p).unwrap().set_modified(old).unwrap();
    }
    let out = work
        .command(&["cache", "prune"])
        .env("KILN_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&partial[0]) && stdout.contains(&scratch[0]),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 leftover(s) of interrupted runs removed"),
        "{stdout}"
    );
    assert_eq!(
        named(&cache.join("blobs"), ".incoming-"),
        Vec::<String>::new()
    );
    work.assert_nothing_left(&mounts_before);
}

/// Regression: `export_path` onto a full disk deadlocked (the export helper blocked
/// writing to a pipe kiln had stopped reading) for ten minutes and more, then Ctrl-C left
/// `rootfs.partial`. A write error ends the build at once, naming the path and the
/// error, with nothing partial left. The full disk is a 1 MiB tmpfs mounted in a mount
/// namespace of kiln's own, so that no other test sees it.
#[test]
fn export_onto_a_full_disk_fails_at_once_leaving_nothing() {
    let work = Work::new();
    let w = work.path();
    std::fs::create_dir(w.join("full")).unwrap();
    write(
        w,
        "t.pkr.hcl",
        &format!(
            "{}{}",
            container_source("  rootfs = \"rootfs\"\n  export_path = \"full/rootfs.tar\"\n"),
            build_block("  provisioner \"shell\" {\n    inline = [\"echo exported\"]\n  }\n")
        ),
    );
    let mounts_before = mounts();
    let started = Instant::now();
    let script = format!(
        "mount -t tmpfs -o size=1m tmpfs {full} && {{ {kiln} build .; rc=$?; echo \"LEFT:[$(ls -A {full})]\"; exit $rc; }}",
        full = w.join("full").display(),
        kiln = kiln_bin().display()
    );
    let out = {
        let mut cmd = kiln_tests::command("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c", &script])
            .current_dir(w)
            .env("KILN_CACHE_DIR", cache_dir())
            .env("TMPDIR", work.tmp())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd.output().unwrap()
    };
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        stdout.contains("rootfs.partial"),
        "the path is named: {stdout}"
    );
    assert!(stdout.contains("No space left on device"), "{stdout}");
    // Nothing was left on the full disk (listed from inside the namespace).
    assert!(stdout.contains("LEFT:[]"), "{stdout}");
    work.assert_nothing_left(&mounts_before);
}

/// Packer's `source "docker"` (HCL2 and JSON's `"type": "docker"`) runs on the same
/// daemonless runtime: its image from a registry, its `changes` (with ONBUILD and
/// MAINTAINER), a default-shaped `run_command` whose `-e` reaches the commands, and
/// Packer's artifact: the image id (its config's digest), or "Container" for an export.
#[test]
fn packers_docker_source_runs_without_a_daemon() {
    let registry = Registry::start();
    let work = Work::new();
    let w = work.path();
    commit_base(&work);
    let base_ref = push_base(&registry, w);
    // A second base with a user and groups of its own.
    write(
        w,
        "rootfs/etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    );
    write(
        w,
        "rootfs/etc/group",
        "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
    );
    write(
        w,
        "base.pkr.hcl",
        &format!(
            "{}{}",
            container_source("  rootfs       = \"rootfs\"\n  commit       = true\n  output_image = \"app-base.tar\"\n  changes      = [\"USER app\"]\n"),
            build_block("")
        ),
    );
    let out = work.kiln(&["build", "base.pkr.hcl"]);
    assert!(out.status.success(), "{:?}", text(&out));
    std::fs::remove_file(w.join("base.pkr.hcl")).unwrap();
    write(w, "shared/in.txt", "from the host\n");
    let shared = w.join("shared").display().to_string();

    write(
        w,
        "docker.pkr.hcl",
        &format!(
            r#"source "docker" "web" {{
  image            = "{base_ref}"
  commit           = true
  platform         = "linux/amd64"
  volumes          = {{ "{shared}" = "/mnt/host:ro" }}
  tmpfs            = ["/scratch:size=1m"]
  device           = ["/dev/zero:/dev/zeros:r"]
  cap_add          = ["SYS_ADMIN"]
  cap_drop         = ["chown"]
  fix_upload_owner = true
  container_dir    = "/packer-files"
  author           = "Builder <b@example.org>"
  message          = "built by a Packer template"
  run_command      = ["-d", "-i", "-t", "-e", "FROM_RUN=yes", "--entrypoint=/bin/sh", "--", "{{{{.Image}}}}"]
  changes = [
    "ENV APP=web",
    "ONBUILD RUN echo child",
    "MAINTAINER Maintainer <m@example.org>",
  ]
}}

build {{
  sources = ["source.docker.web"]
  provisioner "shell" {{
    inline = [
      "echo \"run=$FROM_RUN\" > /etc/built",
      "grep CapBnd /proc/self/status > /etc/caps",
      "cat /mnt/host/in.txt > /etc/seen",
      "if touch /mnt/host/new 2>/dev/null; then echo rw > /etc/ro; else echo ro > /etc/ro; fi",
      "grep ' /scratch ' /proc/mounts | cut -d' ' -f3 > /etc/scratch",
      "echo temporary > /scratch/t",
      "head -c 3 /dev/zeros | od -An -tx1 | tr -d ' ' > /etc/zeros",
    ]
  }}
}}
"#
        ),
    );
    let mounts_before = mounts();
    let out = work.kiln(&["build", "docker.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    work.assert_nothing_left(&mounts_before);
    let archive = w.join("output-web/image.tar");
    let (_, manifest, config, layout) = open_archive(&archive);
    let image_id = manifest["config"]["digest"].as_str().unwrap();
    assert!(
        stdout.contains(&format!("Imported Docker image: {image_id}")),
        "the artifact is not the image id {image_id}:\n{stdout}"
    );
    let cc = &config["config"];
    assert_eq!(cc["OnBuild"], serde_json::json!(["RUN echo child"]), "{cc}");
    assert!(
        cc["Env"].as_array().unwrap().iter().any(|e| e == "APP=web"),
        "{cc}"
    );
    assert_eq!(config["author"], "Maintainer <m@example.org>");
    assert_eq!(
        config["history"].as_array().unwrap().last().unwrap()["comment"],
        "built by a Packer template"
    );
    let layer = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let blob = layout
        .path()
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    let in_layer = |name: &str| {
        let out = Command::new("tar")
            .args(["-xzOf"])
            .arg(&blob)
            .arg(name)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(in_layer("etc/built"), "run=yes\n");
    // The volume was there, read-only; the tmpfs and the device too; what they held is
    // not in the image (their mount points are, as with Docker), nor did the host change.
    assert_eq!(in_layer("etc/seen"), "from the host\n");
    assert_eq!(in_layer("etc/ro"), "ro\n");
    assert_eq!(in_layer("etc/scratch"), "tmpfs\n");
    assert_eq!(in_layer("etc/zeros").trim(), "000000");
    let listing = list_layer(layout.path(), &layer).join("\n");
    assert!(!listing.contains("scratch/t"), "{listing}");
    assert!(!listing.contains("in.txt"), "{listing}");
    assert!(!w.join("shared/new").exists());
    // Docker's default capabilities (Kiln's, without MKNOD), less CHOWN, plus SYS_ADMIN.
    let caps = in_layer("etc/caps");
    let mask: u64 = [1u32, 3, 4, 5, 6, 7, 8, 10, 13, 18, 21, 29, 31]
        .iter()
        .map(|b| 1u64 << b)
        .sum();
    assert_eq!(caps.trim(), format!("CapBnd:\t{mask:016x}"));

    // A mount through a symbolic link in the image (busybox's /bin/sh) is refused,
    // and the build leaves nothing behind.
    write(
        w,
        "link.pkr.hcl",
        &format!(
            "source \"docker\" \"l\" {{\n  image   = \"{base_ref}\"\n  discard = true\n  \
             volumes = {{ \"{shared}\" = \"/bin/sh/x\" }}\n}}\nbuild {{\n  sources = [\"source.docker.l\"]\n}}\n"
        ),
    );
    let out = work.kiln(&["build", "link.pkr.hcl"]);
    let all = format!("{}{}", text(&out).0, text(&out).1);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("/bin/sh is a symbolic link in the image"),
        "{all}"
    );
    work.assert_nothing_left(&mounts_before);
    std::fs::remove_file(w.join("link.pkr.hcl")).unwrap();

    // exec_user: commands run as that user of the image, with its groups and home;
    // without it (""), as the image's own USER (app), as `docker exec` runs them; a
    // user the image does not have is an error that names it.
    for (user, expect_ok) in [
        ("app", true),
        ("1000:extra", true),
        ("", true),
        ("nobody2", false),
    ] {
        write(
            w,
            "user.pkr.hcl",
            &format!(
                r#"source "docker" "u" {{
  image     = "oci-archive:{}"
  discard   = true
  exec_user = "{user}"
}}
build {{
  sources = ["source.docker.u"]
  provisioner "shell" {{
    inline = [
      "test \"$(id -u)\" = 1000",
      "id -G | tr ' ' '\\n' | grep -qx 2000",
      "test \"$HOME\" = /home/app || test \"$(id -g)\" = 2000",
      "! touch /etc/not-root 2>/dev/null",
    ]
  }}
}}
"#,
                w.join("app-base.tar").display()
            ),
        );
        let out = work.kiln(&["build", "user.pkr.hcl"]);
        let all = format!("{}{}", text(&out).0, text(&out).1);
        assert_eq!(out.status.success(), expect_ok, "{user}: {all}");
        if !expect_ok {
            assert!(all.contains("unable to find user nobody2"), "{all}");
        }
    }
    std::fs::remove_file(w.join("user.pkr.hcl")).unwrap();

    // fix_upload_owner (true unless set false): uploads go to the image's user, app.
    for (fix, owner) in [("true", "1000/0"), ("false", "0/0")] {
        write(
            w,
            "owner.pkr.hcl",
            &format!(
                r#"source "docker" "o" {{
  image            = "oci-archive:{}"
  commit           = true
  fix_upload_owner = {fix}
}}
build {{
  sources = ["source.docker.o"]
  provisioner "file" {{
    source      = "shared/in.txt"
    destination = "/in.txt"
  }}
  provisioner "file" {{
    source      = "shared"
    destination = "/tree"
  }}
}}
"#,
                w.join("app-base.tar").display()
            ),
        );
        let out = work.kiln(&["build", "owner.pkr.hcl"]);
        assert!(out.status.success(), "{:?}", text(&out));
        let (_, manifest, _, layout) = open_archive(&w.join("output-o/image.tar"));
        let top = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_owned();
        let entries = list_layer(layout.path(), &top);
        for name in ["in.txt", "tree/shared/in.txt"] {
            let line = entries
                .iter()
                .find(|l| l.ends_with(&format!(" {name}")))
                .unwrap_or_else(|| panic!("{name} not in {entries:?}"));
            assert!(line.contains(&format!(" {owner} ")), "{fix}: {line}");
        }
    }
    std::fs::remove_file(w.join("owner.pkr.hcl")).unwrap();

    // Legacy JSON, `"type": "docker"`, exported.
    write(
        w,
        "export.json",
        &format!(
            r#"{{"builders": [{{"type": "docker", "image": "{base_ref}", "export_path": "out/fs.tar"}}],
 "provisioners": [{{"type": "shell", "inline": ["touch /exported"]}}]}}"#
        ),
    );
    let out = work.kiln(&["build", "export.json"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Exported Docker file: "), "{stdout}");
    let listing = Command::new("tar")
        .arg("-tf")
        .arg(w.join("out/fs.tar"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&listing.stdout)
            .lines()
            .any(|l| l.trim_start_matches("./") == "exported"),
        "the export lacks the provisioned file"
    );
}

/// Packer's docker options that cannot apply here, and Packer's own mistakes, are
/// refused at the source block with what to do; nothing runs.
#[test]
fn docker_options_that_cannot_apply_are_refused_at_the_block() {
    let work = Work::new();
    let w = work.path();
    for (body, needle) in [
        ("  image = \"a\"\n", "No instructions given for handling the artifact"),
        (
            "  image = \"a\"\n  commit = true\n  discard = true\n",
            "Cannot specify more than one of commit, discard, and export_path",
        ),
        ("  commit = true\n", "missing 'image' attribute"),
        (
            "  image = \"a\"\n  commit = true\n  volumes = { \"/h\" = \"/c\" }\n",
            "/h: no such file or directory on this host",
        ),
        (
            "  image = \"a\"\n  commit = true\n  ecr_login = true\n",
            "ECR login requires login server",
        ),
        (
            "  image = \"a\"\n  commit = true\n  run_command = [\"-v\", \"/:/host\", \"{{.Image}}\"]\n",
            "\"-v\" cannot apply without a Docker daemon",
        ),
        (
            "  image = \"a\"\n  commit = true\n  platform = \"windows/amd64\"\n",
            "only Linux containers run on this host",
        ),
        (
            "  image = \"a\"\n  commit = true\n  platform = \"linux//arm64\"\n",
            "is not os[/architecture[/variant]]",
        ),
        (
            "  image = \"a\"\n  commit = true\n  volumes = { \"data\" = \"/c\" }\n",
            "is a Docker named volume",
        ),
        (
            "  image = \"a\"\n  commit = true\n  runtime = \"runsc\"\n",
            "choosing an OCI runtime is not supported",
        ),
        (
            "  image = \"a\"\n  commit = true\n  changes = [\"RUN make\"]\n",
            "RUN cannot be applied to a committed image",
        ),
    ] {
        write(
            w,
            "bad.pkr.hcl",
            &format!(
                "source \"docker\" \"x\" {{\n{body}}}\nbuild {{\n  sources = [\"source.docker.x\"]\n}}\n"
            ),
        );
        let out = work.kiln(&["validate", "bad.pkr.hcl"]);
        let all = format!("{}{}", text(&out).0, text(&out).1);
        assert_eq!(out.status.code(), Some(1), "{body}: {all}");
        assert!(all.contains(needle), "{body}: expected {needle:?} in\n{all}");
        assert!(all.contains("bad.pkr.hcl:"), "no location: {all}");
    }
    // As in Packer, `changes` belong to a commit: a discarding build does not read them.
    write(
        w,
        "bad.pkr.hcl",
        "source \"docker\" \"x\" {\n  image = \"a\"\n  discard = true\n  changes = [\"RUN make\"]\n}\nbuild {\n  sources = [\"source.docker.x\"]\n}\n",
    );
    let out = work.kiln(&["validate", "bad.pkr.hcl"]);
    assert!(out.status.success(), "{:?}", text(&out));
}

/// Packer's docker post-processors, daemonless: `docker-tag` names the committed image in
/// Kiln's image store (an OCI layout skopeo reads), `docker-save` writes an archive that
/// `podman load` takes, `docker-push` sends the tagged image to a registry with basic
/// auth, `docker-import` makes an exported root filesystem an image. A second build
/// pushes the same digest; a wrong password pushes nothing.
#[test]
fn docker_post_processors_tag_save_push_and_import_without_a_daemon() {
    let registry = Registry::start_with_basic_auth("builder", "s3cret");
    let reg = registry.address.clone();
    let work = Work::new();
    let w = work.path();
    commit_base(&work);
    let unique = format!("t{}", std::process::id());
    let template = |password: &str| {
        format!(
            r#"variable "password" {{
  type      = string
  default   = "{password}"
  sensitive = true
}}

source "docker" "app" {{
  image   = "oci-archive:base.tar"
  commit  = true
  changes = ["CMD [\"/bin/sh\"]"]
}}

source "docker" "fs" {{
  image       = "oci-archive:base.tar"
  export_path = "fs.tar"
}}

build {{
  sources = ["source.docker.app"]
  provisioner "shell" {{
    inline = ["echo tagged > /etc/built"]
  }}
  post-processors {{
    post-processor "docker-tag" {{
      repository = "{reg}/kiln/app-{unique}"
      tags       = ["1.0", "latest"]
    }}
    post-processor "docker-save" {{
      path = "saved/app.tar"
    }}
    post-processor "docker-push" {{
      login          = true
      login_server   = "{reg}"
      login_username = "builder"
      login_password = var.password
    }}
  }}
}}

build {{
  sources = ["source.docker.fs"]
  post-processors {{
    post-processor "docker-import" {{
      repository = "{reg}/kiln/imported-{unique}"
      tag        = "v1"
      changes    = ["ENV IMPORTED=yes", "WORKDIR /srv"]
      platform   = "linux/amd64"
    }}
    post-processor "docker-push" {{
      login          = true
      login_username = "builder"
      login_password = var.password
    }}
  }}
}}
"#
        )
    };
    write(w, "docker.pkr.hcl", &template("s3cret"));
    let mounts_before = mounts();
    let out = work.kiln(&["build", "docker.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    work.assert_nothing_left(&mounts_before);
    assert!(
        !stdout.contains("s3cret") && !stderr.contains("s3cret"),
        "{stdout}\n{stderr}"
    );
    let app = format!("{reg}/kiln/app-{unique}");
    assert!(
        stdout.contains(&format!(
            "Imported Docker image: {app}:latest with tags {app}:1.0 {app}:latest"
        )),
        "the push artifact is not Packer's:\n{stdout}"
    );
    // The registry has both tags, one digest, the provisioner's change and the CMD.
    let creds = "--creds=builder:s3cret";
    let inspect = |name: &str| -> serde_json::Value {
        serde_json::from_str(&skopeo(&[
            "inspect",
            "--tls-verify=false",
            creds,
            &format!("docker://{name}"),
        ]))
        .unwrap()
    };
    let pushed = inspect(&format!("{app}:1.0"));
    let digest = pushed["Digest"].as_str().unwrap().to_owned();
    assert_eq!(inspect(&format!("{app}:latest"))["Digest"], digest.as_str());
    let config: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--config",
        "--tls-verify=false",
        creds,
        &format!("docker://{app}:1.0"),
    ]))
    .unwrap();
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["/bin/sh"]),
        "{config}"
    );
    // The names are in Kiln's image store, an OCI layout.
    let stored: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        &format!("oci:{}:{app}:1.0", cache_dir().display()),
    ]))
    .unwrap();
    assert_eq!(stored["Digest"], digest.as_str(), "{stored}");
    // The saved archive loads into podman under both names, as the same image.
    let saved = w.join("saved/app.tar");
    let podman_root = tempfile::tempdir().unwrap();
    let podman = |args: &[&str]| {
        let out = kiln_tests::command("podman")
            .arg("--root")
            .arg(podman_root.path().join("root"))
            .arg("--runroot")
            .arg(podman_root.path().join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .output()
            .expect("running podman");
        assert!(out.status.success(), "podman {args:?}: {:?}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let loaded = podman(&["load", "-i", saved.to_str().unwrap()]);
    assert!(loaded.contains(&format!("{app}:1.0")), "{loaded}");
    let id = podman(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        &format!("{app}:latest"),
    ]);
    assert_eq!(
        format!("sha256:{}", id.trim()),
        config_digest_of(&skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            creds,
            &format!("docker://{app}:1.0")
        ])),
        "podman loaded another image than the one pushed"
    );
    // The imported filesystem: one layer, the changes, pushed under its name.
    let imported = format!("{reg}/kiln/imported-{unique}:v1");
    let config: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--config",
        "--tls-verify=false",
        creds,
        &format!("docker://{imported}"),
    ]))
    .unwrap();
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().unwrap().len(),
        1,
        "{config}"
    );
    assert_eq!(config["config"]["WorkingDir"], "/srv", "{config}");
    assert!(
        config["config"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "IMPORTED=yes"),
        "{config}"
    );
    // The same inputs again: the same digest.
    let out = work.kiln(&["build", "-force", "docker.pkr.hcl"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        inspect(&format!("{app}:1.0"))["Digest"],
        digest.as_str(),
        "the rebuild pushed another digest"
    );
    // A wrong password: the push fails, saying so, and the registry gains no tag.
    let retag = template("wrong").replace(
        "tags       = [\"1.0\", \"latest\"]",
        "tags       = [\"2.0\"]",
    );
    write(w, "docker.pkr.hcl", &retag);
    let out = work.kiln(&["build", "-force", "-only=docker.app", "docker.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "a wrong password pushed:\n{stdout}\n{stderr}"
    );
    let all = format!("{stdout}\n{stderr}");
    assert!(
        all.contains("401") || all.to_lowercase().contains("unauthorized"),
        "{all}"
    );
    assert!(!all.contains("wrong"), "the password was printed:\n{all}");
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        creds,
        &format!("docker://{app}"),
    ]);
    assert!(!tags.contains("2.0"), "a failed push left a tag: {tags}");
}

/// The config digest a raw manifest names.
fn config_digest_of(manifest: &str) -> String {
    let m: serde_json::Value = serde_json::from_str(manifest).unwrap();
    m["config"]["digest"].as_str().unwrap().to_owned()
}

/// Packer's documented JSON sequence, unchanged but for the repository: the docker
/// builder's export, then `docker-import` and a bare `"docker-push"` that pushes what
/// the import named. An `artifice` of a gzip root filesystem imports too, as Packer's
/// ARM image builders' READMEs chain it.
#[test]
fn packers_json_import_then_push_sequence_runs_as_documented() {
    let registry = Registry::start();
    let reg = registry.address.clone();
    let work = Work::new();
    let w = work.path();
    commit_base(&work);
    let status = Command::new("sh")
        .arg("-c")
        .arg("tar -C rootfs -czf rootfs.tar.gz .")
        .current_dir(w)
        .status()
        .unwrap();
    assert!(status.success());
    let template = serde_json::json!({
        "builders": [{"type": "docker", "image": "oci-archive:base.tar", "export_path": "image.tar"}],
        "provisioners": [{"type": "shell", "inline": ["echo exported > /etc/exported"]}],
        "post-processors": [
            [
                {"type": "docker-import", "repository": format!("{reg}/packer/export"), "tag": "0.7"},
                "docker-push"
            ],
            [
                {"type": "artifice", "files": ["rootfs.tar.gz"]},
                {"type": "docker-import", "repository": format!("{reg}/packer/rootfs"), "tag": "latest"},
                "docker-push"
            ]
        ]
    });
    write(
        w,
        "docker.json",
        &serde_json::to_string_pretty(&template).unwrap(),
    );
    let out = work.kiln(&["build", "docker.json"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("Imported Docker image: {reg}/packer/export:0.7")),
        "{stdout}"
    );
    let export = skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{reg}/packer/export:0.7"),
    ]);
    let export: serde_json::Value = serde_json::from_str(&export).unwrap();
    assert_eq!(export["Layers"].as_array().unwrap().len(), 1, "{export}");
    // The provisioner's file is in the one layer the export became.
    let dir = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{reg}/packer/export:0.7"),
        &format!("oci:{}:x", dir.path().display()),
    ]);
    // (skopeo compresses the uncompressed layer on its way into a layout.)
    let blob = |d: &str| {
        dir.path()
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let json = |p: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let index = json(dir.path().join("index.json"));
    let manifest = json(blob(index["manifests"][0]["digest"].as_str().unwrap()));
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let listing = Command::new("tar")
        .arg("-tf")
        .arg(blob(&layer))
        .output()
        .unwrap();
    assert!(listing.status.success(), "{:?}", text(&listing));
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "etc/exported"),
        "{listing}"
    );
    let rootfs = skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{reg}/packer/rootfs:latest"),
    ]);
    assert!(rootfs.contains("\"Architecture\": \"amd64\""), "{rootfs}");
}

/// Commits the busybox root filesystem as `base.tar`, the image the docker sources start
/// from.
fn commit_base(work: &Work) {
    let w = work.path();
    let body =
        "  rootfs       = \"rootfs\"\n  commit       = true\n  output_image = \"base.tar\"\n";
    write(
        w,
        "base.pkr.hcl",
        &format!("{}{}", container_source(body), build_block("")),
    );
    let out = work.kiln(&["build", "base.pkr.hcl"]);
    assert!(out.status.success(), "{:?}", text(&out));
    std::fs::remove_file(w.join("base.pkr.hcl")).unwrap();
}

/// A docker build from `base.tar` (see [`commit_base`]) whose commit `docker-tag` names
/// `repository:tag` and `docker-push` pushes with `push` (the block's body), after
/// `provisioners` (HCL).
fn tag_then_push(repository: &str, tag: &str, provisioners: &str, push: &str) -> String {
    format!(
        r#"source "docker" "app" {{
  image  = "oci-archive:base.tar"
  commit = true
}}

build {{
  sources = ["source.docker.app"]
{provisioners}  post-processors {{
    post-processor "docker-tag" {{
      repository = "{repository}"
      tags       = ["{tag}"]
    }}
    post-processor "docker-push" {{{push}}}
  }}
}}
"#
    )
}

/// Copies `base.tar` into `registry` as `kiln/base:1` with skopeo; returns its name.
fn push_base(registry: &Registry, w: &Path) -> String {
    let base_ref = format!("{}/kiln/base:1", registry.address);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci-archive:{}", w.join("base.tar").display()),
        &format!("docker://{base_ref}"),
    ]);
    base_ref
}

/// A registry of its own certificate authority, trusted through Docker's `certs.d`, with
/// the login `docker login` keeps in Docker's config file: `docker-tag` then a bare
/// `docker-push` reach it as Docker would. With another authority in `certs.d`, the
/// push fails on the certificate and the registry gains nothing.
#[test]
fn docker_push_trusts_certs_d_and_uses_dockers_stored_login() {
    let registry = Registry::start_with_tls("builder", "tls-pass");
    let reg = registry.address.clone();
    let work = Work::new();
    let w = work.path();
    commit_base(&work);
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        b"builder:tls-pass",
    );
    write(
        w,
        "docker-config/config.json",
        &format!("{{\"auths\": {{\"{reg}\": {{\"auth\": \"{auth}\"}}}}}}"),
    );
    let template = |tag: &str| tag_then_push(&format!("{reg}/kiln/tls"), tag, "", "");
    write(w, "tls.pkr.hcl", &template("1"));
    let build = || {
        work.command(&["build", "-force", "tls.pkr.hcl"])
            .env("DOCKER_CONFIG", w.join("docker-config"))
            .output()
            .unwrap()
    };
    let out = build();
    assert!(out.status.success(), "{:?}", text(&out));
    let creds = "--creds=builder:tls-pass";
    // skopeo trusts the registry through the same certs.d.
    let pushed = skopeo(&["inspect", creds, &format!("docker://{reg}/kiln/tls:1")]);
    assert!(pushed.contains("\"Digest\": \"sha256:"), "{pushed}");
    // Another authority: the certificate is refused, nothing is pushed.
    let certs_d = Path::new("/etc/docker/certs.d").join(&reg).join("ca.crt");
    let trusted = std::fs::read(&certs_d).unwrap();
    let other = tempfile::tempdir().unwrap();
    let made = kiln_tests::command("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args([
            "-keyout",
            "other.key",
            "-out",
            "other.crt",
            "-days",
            "1",
            "-subj",
            "/CN=another CA",
        ])
        .current_dir(other.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{:?}", text(&made));
    std::fs::copy(other.path().join("other.crt"), &certs_d).unwrap();
    write(w, "tls.pkr.hcl", &template("2"));
    let out = build();
    std::fs::write(&certs_d, &trusted).unwrap();
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "pushed to an untrusted registry:\n{stdout}\n{stderr}"
    );
    let all = format!("{stdout}\n{stderr}").to_lowercase();
    assert!(
        all.contains("certificate"),
        "the failure does not say it is the certificate:\n{all}"
    );
    let tags = skopeo(&["list-tags", creds, &format!("docker://{reg}/kiln/tls")]);
    assert!(!tags.contains("\"2\""), "a refused push left a tag: {tags}");
}

/// Registry faults on the way of a `docker-push`: 500s and an upload dropped midway
/// are tried again and the push completes; a registry that keeps failing fails the
/// build, naming it, with no tag left behind.
#[test]
fn docker_push_rides_out_registry_faults_and_a_lasting_one_leaves_nothing() {
    use kiln_tests::{Fault, FaultProxy, FaultRule};
    let registry = Registry::start();
    let work = Work::new();
    let w = work.path();
    commit_base(&work);
    let rule = |method, path: &str, fault, times| FaultRule {
        method,
        path: path.into(),
        fault,
        times,
    };
    let template = |proxy: &str, tag: &str| {
        let blob = "  provisioner \"shell\" {\n    inline = [\"head -c 300000 /dev/urandom > /etc/blob\"]\n  }\n";
        tag_then_push(&format!("{proxy}/kiln/flaky"), tag, blob, "")
    };
    let proxy = FaultProxy::start(
        &registry.address,
        vec![
            rule("PUT", "/manifests/", Fault::Fail500, 2),
            rule("PUT", "/blobs/uploads/", Fault::CutRequestAfter(50_000), 1),
        ],
    );
    write(w, "flaky.pkr.hcl", &template(&proxy.address, "1"));
    let out = work.kiln(&["build", "flaky.pkr.hcl"]);
    assert!(
        out.status.success(),
        "{:?}\n{:#?}",
        text(&out),
        proxy.requests()
    );
    let seen = proxy.requests();
    assert!(
        seen.iter()
            .filter(|r| r.starts_with("PUT") && r.contains("/manifests/"))
            .count()
            >= 3,
        "{seen:#?}"
    );
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/kiln/flaky", registry.address),
    ]);
    assert!(tags.contains("\"1\""), "{tags}");
    drop(proxy);

    let proxy = FaultProxy::start(
        &registry.address,
        vec![rule("PUT", "/manifests/", Fault::Fail500, 1000)],
    );
    write(w, "flaky.pkr.hcl", &template(&proxy.address, "2"));
    let out = work
        .command(&["build", "-force", "flaky.pkr.hcl"])
        .env("KILN_REGISTRY_TIMEOUT", "2")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains(&proxy.address),
        "the failure does not name the registry:\n{stdout}\n{stderr}"
    );
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/kiln/flaky", registry.address),
    ]);
    assert!(!tags.contains("\"2\""), "a failed push left a tag: {tags}");
}

/// Pushes a two-platform image (linux/amd64 and linux/arm64 busybox, each writing its own
/// machine name) to `registry` as `kiln/multi:v1`, an OCI index over two manifests as
/// `docker buildx` makes; returns its name.
fn push_multi_platform(registry: &Registry, w: &Path) -> String {
    use kiln_registry::{
        store_image, write_layer, write_oci_layout, BlobStore, Descriptor, ImageConfig, ImageIndex,
        LayerOptions, Platform, RootFs, ANNOTATION_REF_NAME, MEDIA_TYPE_OCI_INDEX,
    };
    kiln_tests::busybox_arm64_rootfs(&w.join("rootfs-arm64"));
    let store = BlobStore::new(w.join("multi-store"));
    let layout = w.join("multi-layout");
    let opts = LayerOptions {
        epoch: EPOCH.parse().unwrap(),
        ..LayerOptions::default()
    };
    for (arch, tree) in [("amd64", "rootfs"), ("arm64", "rootfs-arm64")] {
        let layer = write_layer(&w.join(tree), &opts, &store).unwrap();
        let config = ImageConfig {
            architecture: arch.into(),
            os: "linux".into(),
            rootfs: RootFs {
                diff_ids: vec![layer.diff_id.clone()],
                ..RootFs::default()
            },
            ..ImageConfig::default()
        };
        let image = store_image(&store, vec![layer.descriptor()], config).unwrap();
        write_oci_layout(&layout, &store, &image, arch).unwrap();
    }
    let index_path = layout.join("index.json");
    let mut index: ImageIndex =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let mut entries = index.manifests.clone();
    for (entry, arch) in entries.iter_mut().zip(["amd64", "arm64"]) {
        entry.annotations = None;
        entry.platform = Some(Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: (arch == "arm64").then(|| "v8".into()),
        });
    }
    let nested = serde_json::to_vec(&ImageIndex::new(entries)).unwrap();
    let digest = store.put_bytes(&nested).unwrap();
    std::fs::write(layout.join("blobs/sha256").join(digest.hex()), &nested).unwrap();
    let mut entry = Descriptor::new(MEDIA_TYPE_OCI_INDEX, digest, nested.len() as u64);
    entry.annotations = Some([(ANNOTATION_REF_NAME.to_string(), "multi".to_string())].into());
    index.manifests.push(entry);
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let name = format!("{}/kiln/multi:v1", registry.address);
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", layout.display()),
        &format!("docker://{name}"),
    ]);
    name
}

/// `platform` picks an image from a multi-platform index as `docker pull --platform`
/// does, and an arm64 image's commands really run on this amd64 host, through QEMU's
/// user-mode emulator registered with binfmt_misc (as Docker Desktop and buildx run
/// them): the committed image says arm64 and holds what the arm64 busybox wrote. A
/// platform the index lacks fails naming what it has.
#[test]
fn platform_picks_from_a_multi_platform_index_and_arm64_runs_emulated() {
    let registry = Registry::start();
    let work = Work::new();
    let w = work.path();
    let multi = push_multi_platform(&registry, w);
    let template = |platform: &str| {
        format!(
            r#"source "docker" "multi" {{
  image    = "{multi}"
  platform = "{platform}"
  commit   = true
}}

build {{
  sources = ["source.docker.multi"]
  provisioner "shell" {{
    inline = ["uname -m > /etc/machine", "od -An -tx1 -j18 -N2 /bin/busybox | tr -d ' ' > /etc/elf-machine"]
  }}
}}
"#
        )
    };
    // ELF machine 0xb7 is AArch64, 0x3e x86-64 (little-endian in the header).
    for (platform, arch, machine, elf) in [
        ("linux/arm64", "arm64", "aarch64", "b700"),
        ("linux/amd64", "amd64", "x86_64", "3e00"),
    ] {
        let _ = std::fs::remove_dir_all(w.join("output-multi"));
        write(w, "multi.pkr.hcl", &template(platform));
        let out = work.kiln(&["build", "multi.pkr.hcl"]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{platform}:\n{stdout}\n{stderr}");
        if arch == "arm64" {
            assert!(
                stdout.contains("its programs run through the emulator"),
                "{stdout}"
            );
        }
        let (_, manifest, config, layout) = open_archive(&w.join("output-multi/image.tar"));
        assert_eq!(config["architecture"], arch, "{config}");
        let layer = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
            .to_owned();
        let read = |name: &str| {
            let out = Command::new("tar")
                .arg("-xOf")
                .arg(layout.path().join("blobs/sha256").join(&layer))
                .arg(name)
                .output()
                .unwrap();
            assert!(out.status.success(), "{name} in the {platform} layer");
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        assert_eq!(read("etc/machine"), machine, "{platform}");
        assert_eq!(read("etc/elf-machine"), elf, "{platform}");
    }
    write(w, "multi.pkr.hcl", &template("linux/s390x"));
    let out = work.kiln(&["build", "multi.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        format!("{stdout}{stderr}")
            .contains("has no linux/s390x image; it has: linux/amd64, linux/arm64/v8"),
        "{stdout}\n{stderr}"
    );
}

/// Token authentication as Docker Hub and most private registries have it: the
/// registry answers 401 with a Bearer challenge, the client trades its login for a
/// signed token at the token server, and sends that. `docker-push` with `login_*`
/// pushes through it, a `source "docker"` with `login = true` pulls the image back, and a
/// wrong password fails the push naming the refusal, with no tag left and the password
/// never printed.
#[test]
fn token_authenticated_registries_are_pushed_to_and_pulled_from() {
    let registry = Registry::start_with_token("builder", "tok-pass");
    let reg = registry.address.clone();
    let token = registry.token.as_ref().unwrap();
    let work = Work::new();
    let w = work.path();
    commit_base(&work);
    let push = |password: &str, tag: &str| {
        let login = format!(
            "\n      login          = true\n      login_server   = \"{reg}\"\n      \
             login_username = \"builder\"\n      login_password = \"{password}\"\n    "
        );
        tag_then_push(&format!("{reg}/kiln/tok"), tag, "", &login)
    };
    write(w, "push.pkr.hcl", &push("tok-pass", "1"));
    let out = work.kiln(&["build", "-force", "push.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!format!("{stdout}{stderr}").contains("tok-pass"));
    let issued = token.issued.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        issued > 0,
        "no token was asked for: the registry was not reached with one"
    );
    let creds = "--creds=builder:tok-pass";
    let tag1 = format!("docker://{reg}/kiln/tok:1");
    let pushed = skopeo(&["inspect", "--tls-verify=false", creds, &tag1]);
    assert!(pushed.contains("\"Digest\": \"sha256:"), "{pushed}");

    write(
        w,
        "pull.pkr.hcl",
        &format!(
            r#"source "docker" "back" {{
  image          = "{reg}/kiln/tok:1"
  login          = true
  login_server   = "{reg}"
  login_username = "builder"
  login_password = "tok-pass"
  discard        = true
}}

build {{
  sources = ["source.docker.back"]
  provisioner "shell" {{
    inline = ["test -x /bin/busybox && echo pulled-through-a-token"]
  }}
}}
"#
        ),
    );
    let out = work.kiln(&["build", "pull.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("pulled-through-a-token"), "{stdout}");

    write(w, "push.pkr.hcl", &push("wrong-pass", "2"));
    let out = work.kiln(&["build", "-force", "push.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "pushed with a wrong password:\n{stdout}\n{stderr}"
    );
    let all = format!("{stdout}\n{stderr}");
    assert!(
        !all.contains("wrong-pass"),
        "the password was printed:\n{all}"
    );
    assert!(
        all.contains(&format!("registry {reg} refused access"))
            && all.contains("check the username and password"),
        "the failure does not say the login was refused:\n{all}"
    );
    assert!(token.refused.load(std::sync::atomic::Ordering::SeqCst) > 0);
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        creds,
        &format!("docker://{reg}/kiln/tok"),
    ]);
    assert!(tags.contains("\"1\"") && !tags.contains("\"2\""), "{tags}");
}

/// A build of four container steps and three on the host that count their runs: step
/// 5 fails until `-var fixed=true`. Steps 2, 4 and 7 are `shell-local` appending to
/// `marker`, made cacheable (a host command is otherwise never keyed).
fn write_checkpointed(dir: &Path) {
    write(dir, "up.txt", "data one\n");
    let marker = dir.join("marker");
    let count = |n: u32| {
        format!(
            "  provisioner \"shell-local\" {{\n    inline    = [\"echo s{n} >> {}\"]\n    cacheable = true\n  }}\n",
            marker.display()
        )
    };
    let steps = [
        "  provisioner \"shell\" {\n    inline = [\"echo one > /one\", \"mkdir -p /srv && echo app > /srv/app\"]\n  }\n".to_owned(),
        count(1),
        "  provisioner \"file\" {\n    source      = \"up.txt\"\n    destination = \"/up.txt\"\n  }\n".to_owned(),
        count(2),
        "  provisioner \"shell\" {\n    inline = [\"rm /one\", \"cat /up.txt > /copy\", \"${var.fixed} || exit 3\"]\n  }\n".to_owned(),
        "  provisioner \"shell\" {\n    inline = [\"echo last > /srv/last\"]\n  }\n".to_owned(),
        count(3),
    ];
    write(
        dir,
        "t.pkr.hcl",
        &format!(
            "variable \"fixed\" {{\n  default = \"false\"\n}}\n{}{}",
            container_source(
                "  rootfs = \"rootfs\"\n  commit = true\n  output_image = \"out/app.tar\"\n"
            ),
            build_block(&steps.concat())
        ),
    );
}

/// The image digest a build's output names.
fn committed_digest(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.contains("Committed image sha256:"))
        .unwrap_or_else(|| panic!("no commit in:\n{stdout}"));
    line.split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap()
        .to_owned()
}

/// Issue 25: a build that fails at step 5 resumes after step 4 once fixed (steps 1 to
/// 4 do not run again: the host-side marker counts them) and commits the image a full
/// build with the same inputs commits; one byte changed in the file step 3 uploads
/// resumes after step 2; checkpoints are listed with their sizes and pruned.
#[test]
fn a_failed_container_build_resumes_after_its_last_good_step_to_the_same_image() {
    let work = Work::new();
    let w = work.path();
    write_checkpointed(w);
    let cache = w.join("cache");
    let mounts_before = mounts();
    let run = |args: &[&str], cache: &Path| {
        let out = work
            .command(args)
            .env("KILN_CACHE_DIR", cache)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        (out.status.code(), format!("{stdout}{stderr}"))
    };
    let marker = || std::fs::read_to_string(w.join("marker")).unwrap_or_default();

    let (code, out) = run(&["build", "-resume", "t.pkr.hcl"], &cache);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("Checkpoints are kept up to provisioner 4"),
        "{out}"
    );
    assert_eq!(marker(), "s1\ns2\n");
    work.assert_nothing_left(&mounts_before);

    let (code, out) = run(
        &["build", "-resume", "-var", "fixed=true", "t.pkr.hcl"],
        &cache,
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("Resuming after provisioner 4 \"shell-local\"")
            && out.contains("provisioners 1 to 4 of 7 do not run again"),
        "{out}"
    );
    assert_eq!(marker(), "s1\ns2\ns3\n", "steps 1 to 4 ran again:\n{out}");
    let resumed = committed_digest(&out);
    let resumed_bytes = std::fs::read(w.join("out/app.tar")).unwrap();
    work.assert_nothing_left(&mounts_before);

    // The same inputs built in full, with an empty cache: the same image, byte for byte.
    let fresh = w.join("cache-fresh");
    let (code, out) = run(
        &["build", "-checkpoint", "-var", "fixed=true", "t.pkr.hcl"],
        &fresh,
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("Resuming"), "{out}");
    assert_eq!(committed_digest(&out), resumed);
    assert_eq!(std::fs::read(w.join("out/app.tar")).unwrap(), resumed_bytes);
    assert_eq!(marker(), "s1\ns2\ns3\ns1\ns2\ns3\n");

    // The image holds each step's changes: /one created at step 1, gone at step 5.
    let inspect: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        &format!("oci-archive:{}", w.join("out/app.tar").display()),
    ]))
    .unwrap();
    // The base's layer, one per checkpointed step (7), none after them.
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 8, "{inspect}");
    let (_, manifest, _, layout) = open_archive(&w.join("out/app.tar"));
    let step5 = manifest["layers"][5]["digest"].as_str().unwrap();
    let names = list_layer(layout.path(), step5).join("\n");
    assert!(
        names.contains(".wh.one") && names.contains("copy"),
        "{names}"
    );

    // One byte of the uploaded file changed: steps 1 and 2 are kept, 3 on run again.
    write(w, "up.txt", "data onE\n");
    let (code, out) = run(
        &["build", "-resume", "-var", "fixed=true", "t.pkr.hcl"],
        &cache,
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("Resuming after provisioner 2 \"shell-local\""),
        "{out}"
    );
    assert!(marker().ends_with("s1\ns2\ns3\ns2\ns3\n"), "{}", marker());
    assert_ne!(committed_digest(&out), resumed);

    // Listed with sizes; pruned to nothing.
    let (code, out) = run(&["cache", "list"], &cache);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("12 checkpoint(s)"), "{out}");
    assert!(
        out.contains("shell-local") && out.contains("container.app"),
        "{out}"
    );
    let (code, out) = run(&["cache", "prune", "-checkpoints"], &cache);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("12 checkpoint(s) removed"), "{out}");
    let (_, out) = run(&["cache", "list"], &cache);
    assert!(out.contains("No checkpoints"), "{out}");
    work.assert_nothing_left(&mounts_before);
}

/// Issue 25: Ctrl-C while a checkpoint's layer is written (300 MB of random data) leaves
/// no entry, partial or whole, and no partial blob; a host command that is not marked
/// cacheable ends the checkpoints, saying why.
#[test]
fn an_interrupted_checkpoint_leaves_no_partial_entry() {
    let work = Work::new();
    let w = work.path();
    let cache = w.join("cache");
    write(
        w,
        "t.pkr.hcl",
        &format!(
            "{}{}",
            container_source("  rootfs = \"rootfs\"\n  discard = true\n"),
            build_block(
                "  provisioner \"shell\" {\n    inline = [\"head -c 300000000 /dev/urandom > /big\"]\n  }\n"
            )
        ),
    );
    let mounts_before = mounts();
    let mut child = build_until_a_layer_is_written(
        &work,
        &["build", "-checkpoint", "."],
        &cache,
        "Taking a checkpoint after provisioner 1",
    );
    let blobs = cache.join("blobs");
    kiln_tests::command("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.0.wait().unwrap().code(), Some(130));
    assert_eq!(named(&blobs, ".incoming-"), Vec::<String>::new());
    assert_eq!(named(&cache.join("checkpoints"), ""), Vec::<String>::new());
    work.assert_nothing_left(&mounts_before);

    // A host command not marked cacheable: no checkpoint after it, and why.
    write(
        w,
        "t.pkr.hcl",
        &format!(
            "{}{}",
            container_source("  rootfs = \"rootfs\"\n  discard = true\n"),
            build_block(
                "  provisioner \"shell\" {\n    inline = [\"echo a > /a\"]\n  }\n  provisioner \"shell-local\" {\n    inline = [\"true\"]\n  }\n  provisioner \"shell\" {\n    inline = [\"echo b > /b\"]\n  }\n"
            )
        ),
    );
    let out = work
        .command(&["build", "-checkpoint", "."])
        .env("KILN_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "No checkpoint is taken after provisioner 2 \"shell-local\" or the steps after it: it runs commands on this host"
        ),
        "{stdout}"
    );
    assert_eq!(named(&cache.join("checkpoints"), "").len(), 1, "{stdout}");
    work.assert_nothing_left(&mounts_before);
}

/// Issue 25: checkpoints pushed to Debian's docker-registry (asking for a login, which
/// Docker's stored one answers) by one machine's build (its own cache) resume the build
/// in an empty cache elsewhere, steps 1 to 4 not run again, to the image a full build
/// commits; a checkpoint whose layer was changed in the registry is refused naming both
/// digests, and nothing of it is kept.
#[test]
fn checkpoints_shared_through_a_registry_resume_a_build_in_an_empty_cache() {
    let registry = Registry::start_with_basic_auth("ci", "ci-pass");
    let repository = format!("{}/kiln/checkpoints", registry.address);
    let work = Work::new();
    let w = work.path();
    write_checkpointed(w);
    let auth = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"ci:ci-pass");
    write(
        w,
        "docker-config/config.json",
        &format!(
            "{{\"auths\": {{\"{}\": {{\"auth\": \"{auth}\"}}}}}}",
            registry.address
        ),
    );
    let mounts_before = mounts();
    let run = |args: &[&str], cache: &str| {
        let out = work
            .command(args)
            .env("KILN_CACHE_DIR", w.join(cache))
            .env("DOCKER_CONFIG", w.join("docker-config"))
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        (out.status.code(), format!("{stdout}{stderr}"))
    };
    let marker = || std::fs::read_to_string(w.join("marker")).unwrap_or_default();

    // The first machine: fails at step 5, having pushed four checkpoints.
    let (code, out) = run(
        &[
            "build",
            "-checkpoint",
            "-checkpoint-to",
            &repository,
            "t.pkr.hcl",
        ],
        "cache-a",
    );
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(out.matches("Pushed checkpoint").count(), 4, "{out}");
    assert_eq!(marker(), "s1\ns2\n");

    // The second: an empty cache, the fix, and the checkpoints from the registry.
    let (code, out) = run(
        &[
            "build",
            "-checkpoint-from",
            &repository,
            "-var",
            "fixed=true",
            "t.pkr.hcl",
        ],
        "cache-b",
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.matches("Pulled checkpoint").count(), 4, "{out}");
    assert!(out.contains("Resuming after provisioner 4"), "{out}");
    assert_eq!(marker(), "s1\ns2\ns3\n", "steps 1 to 4 ran again:\n{out}");
    let shared = committed_digest(&out);
    let (code, out) = run(
        &["build", "-checkpoint", "-var", "fixed=true", "t.pkr.hcl"],
        "cache-c",
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        committed_digest(&out),
        shared,
        "a full build commits another image"
    );

    // Step 1's layer changed in the registry's storage: refused, both digests named.
    let (_, listed) = run(&["cache", "list"], "cache-a");
    let key = listed
        .lines()
        .find(|l| l.contains("shell ") && l.split_whitespace().nth(2) == Some("1"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{listed}"))
        .to_owned();
    let entry: serde_json::Value = serde_json::from_str(
        &std::fs::read_dir(w.join("cache-a/checkpoints"))
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with(&key))
            .map(|e| std::fs::read_to_string(e.path().join("checkpoint.json")).unwrap())
            .unwrap(),
    )
    .unwrap();
    let layer = entry["layer"]["digest"].as_str().unwrap().to_owned();
    let hex = layer.trim_start_matches("sha256:");
    let data = registry
        .storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = std::fs::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();
    let (code, out) = run(
        &[
            "build",
            "-checkpoint-from",
            &repository,
            "-var",
            "fixed=true",
            "t.pkr.hcl",
        ],
        "cache-d",
    );
    assert_eq!(code, Some(1), "{out}");
    let tampered = format!("sha256:{}", kiln_tests::sha256sum(&data));
    assert!(out.contains(&layer) && out.contains(&tampered), "{out}");
    assert_eq!(
        named(&w.join("cache-d/checkpoints"), ""),
        Vec::<String>::new(),
        "{out}"
    );
    work.assert_nothing_left(&mounts_before);
}
