//! Components from OCI registries end to end, with the kiln binary against a real
//! registry (Debian's docker-registry) and a real sshd: `kiln component push`, `kiln
//! init` and its lock, `kiln build` from the lock (offline too), tampering in the
//! registry and in the cache, `kiln init -upgrade`, local file sources, `kiln component
//! new`. The component is the example of examples/components/motd, built from source by
//! the test build.

use super::*;
use kiln_tests::Registry;

fn motd_wasm() -> PathBuf {
    PathBuf::from(env!("MOTD_WASM"))
}

/// Runs kiln in `dir` with `cache` as its cache and `docker` as the Docker config
/// directory (so the host's credentials never leak in).
fn kiln_with(dir: &Path, cache: &Path, docker: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(kiln_bin())
        .args(args)
        .current_dir(dir)
        .env("KILN_CACHE_DIR", cache)
        .env("DOCKER_CONFIG", docker)
        .env("NO_COLOR", "1")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .stdin(Stdio::null())
        .output()
        .expect("running kiln");
    let (stdout, stderr) = text(&out);
    (out.status.success(), format!("{stdout}{stderr}"))
}

/// A work directory, a cache, a Docker config directory and an sshd, with a template
/// whose one provisioner is the component `motd` from `source`, writing `target`.
struct Setup {
    work: tempfile::TempDir,
    cache: tempfile::TempDir,
    docker: tempfile::TempDir,
    remote: tempfile::TempDir,
    _sshd: Sshd,
}

impl Setup {
    fn new(source: &str) -> Setup {
        let sshd = Sshd::start();
        let (work, cache, docker, remote) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let template = format!(
            "packer {{\n  required_components {{\n    motd = {{ source = \"{source}\" }}\n  }}\n}}\n\n{}\n\
build {{\n  sources = [\"source.null.web\"]\n  provisioner \"motd\" {{\n    message = \"Welcome to {{{{build}}}}\"\n    path    = \"{}\"\n  }}\n}}\n",
            sshd.null_source("web", &sshd.key),
            remote.path().join("motd").display()
        );
        write(work.path(), "t.pkr.hcl", &template);
        Setup {
            work,
            cache,
            docker,
            remote,
            _sshd: sshd,
        }
    }

    fn kiln(&self, args: &[&str]) -> (bool, String) {
        kiln_with(
            self.work.path(),
            self.cache.path(),
            self.docker.path(),
            args,
        )
    }

    fn motd(&self) -> Option<String> {
        std::fs::read_to_string(self.remote.path().join("motd")).ok()
    }

    fn lock(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.work.path().join("t.pkr.hcl.lock.json"))
            .expect("the lock file next to the template");
        serde_json::from_str(&text).unwrap()
    }

    /// Every file under the component cache.
    fn cached_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.cache.path().join("components")];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push(e.path());
                }
            }
        }
        out
    }
}

fn push(registry: &Registry, docker: &Path, file: &Path, reference: &str) -> String {
    let (ok, out) = kiln_with(
        Path::new("/"),
        &std::env::temp_dir(),
        docker,
        &["component", "push", file.to_str().unwrap(), reference],
    );
    assert!(ok, "push to {} failed: {out}", registry.address);
    out.lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap_or_else(|| panic!("push printed no digest: {out}"))
        .to_owned()
}

/// A registry holding the example component under `examples/motd:TAG`, and a setup whose
/// template requires it and has run `kiln init`; with the reference and the manifest
/// digest the push printed.
fn pushed_and_initialized(tag: &str) -> (Registry, String, Setup, String) {
    let registry = Registry::start();
    let reference = format!("{}/examples/motd:{tag}", registry.address);
    let s = Setup::new(&reference);
    let manifest = push(&registry, s.docker.path(), &motd_wasm(), &reference);
    let (ok, out) = s.kiln(&["init", "t.pkr.hcl"]);
    assert!(ok, "{out}");
    (registry, reference, s, manifest)
}

fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

fn sha256_of(path: &Path) -> String {
    digest_of(&std::fs::read(path).unwrap())
}

#[test]
fn push_init_build_from_the_lock_and_offline() {
    let registry = Registry::start();
    let reference = format!("{}/examples/motd:1.0", registry.address);
    let s = Setup::new(&reference);
    let manifest = push(&registry, s.docker.path(), &motd_wasm(), &reference);

    // What was pushed is the Wasm OCI artifact layout, as another client reads it.
    let raw = kiln_tests::skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    let m: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(m["layers"].as_array().unwrap().len(), 1);
    assert_eq!(m["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(m["layers"][0]["digest"], sha256_of(&motd_wasm()).as_str());
    assert_eq!(
        m["annotations"]["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );

    // Before init, the build says what to do.
    let (ok, out) = s.kiln(&["build", "t.pkr.hcl"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("not in the lock file") && out.contains("kiln init"),
        "{out}"
    );
    assert!(
        out.contains("t.pkr.hcl:3:"),
        "the message points at the template: {out}"
    );

    let (ok, out) = s.kiln(&["init", "t.pkr.hcl"]);
    assert!(ok, "{out}");
    assert!(out.contains(&manifest), "{out}");
    let lock = s.lock();
    let entry = &lock["components"][&reference];
    assert_eq!(entry["manifest"], manifest.as_str(), "{lock}");
    assert_eq!(entry["layer"], sha256_of(&motd_wasm()).as_str());
    assert_eq!(entry["size"], std::fs::metadata(motd_wasm()).unwrap().len());

    let (ok, out) = s.kiln(&["build", "t.pkr.hcl"]);
    assert!(ok, "{out}");
    assert_eq!(s.motd().as_deref(), Some("Welcome to null.web\n"), "{out}");

    // Offline: with the registry gone, the build runs from the cache.
    drop(registry);
    std::fs::remove_file(s.remote.path().join("motd")).unwrap();
    let (ok, out) = s.kiln(&["build", "t.pkr.hcl"]);
    assert!(ok, "the build needed the registry after init: {out}");
    assert_eq!(s.motd().as_deref(), Some("Welcome to null.web\n"));
}

#[test]
fn a_registry_serving_other_bytes_for_the_locked_digest_is_refused() {
    let (registry, _, s, _) = pushed_and_initialized("1.0");
    let layer = sha256_of(&motd_wasm());

    // The registry's copy changes behind the lock (same length, other bytes), and this
    // machine has never cached it.
    let hex = layer.trim_start_matches("sha256:");
    let blob = registry.storage().join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    let tampered = digest_of(&bytes);
    for f in s.cached_files() {
        std::fs::remove_file(f).unwrap();
    }

    let (ok, out) = s.kiln(&["build", "t.pkr.hcl"]);
    assert!(!ok, "a tampered component ran: {out}");
    assert!(out.contains("refusing to run component \"motd\""), "{out}");
    assert!(
        out.contains(&layer) && out.contains(&tampered),
        "both digests: {out}"
    );
    assert_eq!(s.motd(), None, "nothing ran on the machine");
    assert!(
        s.cached_files()
            .iter()
            .all(|f| !f.to_string_lossy().contains(hex)),
        "the tampered bytes were cached: {:?}",
        s.cached_files()
    );
}

#[test]
fn an_altered_cache_entry_is_detected_and_fetched_again() {
    let (_registry, _, s, _) = pushed_and_initialized("1.0");
    let layer = sha256_of(&motd_wasm());
    let hex = layer.trim_start_matches("sha256:").to_owned();
    let entry = s
        .cached_files()
        .into_iter()
        .find(|f| f.file_name().unwrap().to_string_lossy() == hex)
        .expect("the component is cached under its digest");
    std::fs::write(&entry, b"\0asm\x0d\0\x01\0 altered on disk").unwrap();

    let (ok, out) = s.kiln(&["build", "t.pkr.hcl"]);
    assert!(ok, "{out}");
    assert_eq!(s.motd().as_deref(), Some("Welcome to null.web\n"));
    assert_eq!(
        sha256_of(&entry),
        layer,
        "the cache entry was fetched again"
    );
}

#[test]
fn init_keeps_the_lock_until_upgrade_moves_it() {
    let (registry, reference, s, first) = pushed_and_initialized("stable");

    // A new release under the same tag: the component with one more custom section.
    let mut newer = std::fs::read(motd_wasm()).unwrap();
    let name = b"kiln-test-release";
    let payload = [&[name.len() as u8][..], name, b"2"].concat();
    newer.push(0);
    newer.push(payload.len() as u8);
    newer.extend_from_slice(&payload);
    let newer_path = s.work.path().join("motd-2.wasm");
    std::fs::write(&newer_path, &newer).unwrap();
    let second = push(&registry, s.docker.path(), &newer_path, &reference);
    assert_ne!(first, second);

    let (ok, out) = s.kiln(&["init", "t.pkr.hcl"]);
    assert!(ok, "{out}");
    assert_eq!(
        s.lock()["components"][&reference]["manifest"],
        first.as_str()
    );

    let (ok, out) = s.kiln(&["init", "-upgrade", "t.pkr.hcl"]);
    assert!(ok, "{out}");
    assert!(out.contains("lock moved forward"), "{out}");
    assert_eq!(
        s.lock()["components"][&reference]["manifest"],
        second.as_str()
    );
    let (ok, out) = s.kiln(&["build", "t.pkr.hcl"]);
    assert!(ok, "{out}");
}

#[test]
fn a_local_file_source_needs_no_init() {
    let s = Setup::new("./components/motd.wasm");
    let dest = s.work.path().join("components/motd.wasm");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(motd_wasm(), &dest).unwrap();
    let (ok, out) = s.kiln(&["build", "t.pkr.hcl"]);
    assert!(ok, "{out}");
    assert_eq!(s.motd().as_deref(), Some("Welcome to null.web\n"));
    // Its own validation runs too: a relative path is refused at the attribute.
    let text = std::fs::read_to_string(s.work.path().join("t.pkr.hcl")).unwrap();
    let bad = text.replace(
        &format!("\"{}\"", s.remote.path().join("motd").display()),
        "\"relative\"",
    );
    write(s.work.path(), "t.pkr.hcl", &bad);
    let (ok, out) = s.kiln(&["validate", "t.pkr.hcl"]);
    assert!(!ok, "{out}");
    assert!(out.contains("path must be absolute"), "{out}");
}

#[test]
fn wrong_credentials_fail_the_push_with_a_clear_error() {
    let registry = Registry::start_with_basic_auth("kiln", "right-password");
    let docker = tempfile::tempdir().unwrap();
    let reference = format!("{}/private/motd:1.0", registry.address);
    let push_with = |docker: &Path| {
        kiln_with(
            Path::new("/"),
            &std::env::temp_dir(),
            docker,
            &[
                "component",
                "push",
                motd_wasm().to_str().unwrap(),
                &reference,
            ],
        )
    };
    let (ok, out) = push_with(docker.path());
    assert!(!ok, "{out}");
    assert!(
        out.contains(&registry.address) && out.contains("kiln component login"),
        "{out}"
    );

    let login = |password: &str| {
        Command::new(kiln_bin())
            .args([
                "component",
                "login",
                &registry.address,
                "-u",
                "kiln",
                "-p",
                password,
            ])
            .env("DOCKER_CONFIG", docker.path())
            .output()
            .unwrap()
    };
    assert!(login("wrong-password").status.success());
    let (ok, out) = push_with(docker.path());
    assert!(!ok, "{out}");
    assert!(out.contains("refused") || out.contains("401"), "{out}");

    assert!(login("right-password").status.success());
    let (ok, out) = push_with(docker.path());
    assert!(ok, "{out}");
    // And pull, with the same stored login.
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("pulled.wasm");
    let (ok, out) = kiln_with(
        dir.path(),
        dir.path(),
        docker.path(),
        &[
            "component",
            "pull",
            &reference,
            "-o",
            out_file.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(sha256_of(&out_file), sha256_of(&motd_wasm()));
}

#[test]
fn inspect_shows_world_imports_exports_and_digests() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = kiln_with(
        dir.path(),
        dir.path(),
        dir.path(),
        &["component", "inspect", motd_wasm().to_str().unwrap()],
    );
    assert!(ok, "{out}");
    assert!(out.contains("World: kiln:plugin/provisioner"), "{out}");
    assert!(
        out.contains(&format!("Component digest: {}", sha256_of(&motd_wasm()))),
        "{out}"
    );
    assert!(
        out.contains("  kiln:plugin/provisioning@0.2.0\n")
            && out.contains("  kiln:plugin/configure@0.2.0\n"),
        "{out}"
    );
    assert!(out.contains("kiln:plugin/communicator@"), "{out}");
    assert!(out.contains("Declared grants: none"), "{out}");
}

#[test]
fn component_new_makes_a_crate_that_builds_with_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = kiln_with(
        dir.path(),
        dir.path(),
        dir.path(),
        &["component", "new", "greeter"],
    );
    assert!(ok, "{out}");
    let krate = dir.path().join("greeter");
    // One command; the dependencies' build is shared with the test components'.
    let target = Path::new(env!("MOTD_WASM"))
        .ancestors()
        .nth(3)
        .unwrap()
        .to_owned();
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" || key.starts_with("RUSTC") {
            cargo.env_remove(&key);
        }
    }
    let built = cargo
        .args(["build", "--release"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let wasm = target.join("wasm32-wasip2/release/greeter.wasm");
    let (ok, out) = kiln_with(
        dir.path(),
        dir.path(),
        dir.path(),
        &["component", "inspect", wasm.to_str().unwrap()],
    );
    assert!(ok, "{out}");
    assert!(out.contains("World: kiln:plugin/provisioner"), "{out}");
}
