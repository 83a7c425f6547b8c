//! A hostile post-processor (tests/components/hostile-post-processor) against the
//! sandbox: whatever it tries, it reads nothing but its input artifact's files and
//! writes nothing but its output directory; granted what it asks, it works.
//!
//! Each case runs one attack in a fresh instance with the grant the engine gives a
//! post-processor (`read` = the input artifact's files, `write` = the output
//! directory), checks that the step failed with a message saying why, and that the
//! whole temporary tree (the secret, the decoys, the output directory) is byte for byte
//! what it was before.

#[allow(dead_code)]
#[path = "common/recording_ui.rs"]
mod recording_ui;
use recording_ui::RecordingUi;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kiln_core::{Artifact, ArtifactFile, Grant};
use kiln_runtime::{PostProcessed, PreparedComponent, Runtime, RuntimeError, StepRequest, World};
use serde_json::json;
use sha2::{Digest, Sha256};

const SECRET: &str = "TOP-SECRET: the hostile post-processor must never see this\n";
const INPUT: &str = "the input artifact's only file\n";
const OTHER: &str = "a file next to the input, not part of the artifact\n";
const DECOY: &str = "a file outside the output directory; must stay as it is\n";

/// The runtime and the compiled component, shared by every case of this binary
/// (compiling the component is the slow part).
fn component() -> &'static (Runtime, PreparedComponent) {
    static COMPONENT: OnceLock<(Runtime, PreparedComponent)> = OnceLock::new();
    COMPONENT.get_or_init(|| {
        let wasm = std::fs::read(env!("HOSTILE_POST_PROCESSOR_WASM"))
            .expect("reading the hostile post-processor component");
        let runtime = Runtime::new(None).expect("creating the runtime");
        let prepared = runtime
            .prepare("hostile", &wasm, World::PostProcessor)
            .expect("preparing the hostile post-processor");
        (runtime, prepared)
    })
}

/// The host a case runs against:
///
/// ```text
/// root/
///   secret/secret.txt      the secret (outside everything granted)
///   outside/decoy.txt      a file the write attacks aim at
///   work/                  the step's working directory
///     input/a.img          the input artifact's file (granted for reading)
///     input/other.txt      its sibling (not granted)
///     output/              the output directory (granted for writing)
/// ```
struct Host {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    work: PathBuf,
    input_dir: PathBuf,
    input: PathBuf,
    other: PathBuf,
    output: PathBuf,
    secret: PathBuf,
    outside: PathBuf,
    decoy: PathBuf,
}

impl Host {
    fn new() -> Host {
        let tmp = tempfile::tempdir().unwrap();
        // The grant is compared lexically: use the real path of the temp dir.
        let root = tmp.path().canonicalize().unwrap();
        let work = root.join("work");
        let input_dir = work.join("input");
        let output = work.join("output");
        let secret_dir = root.join("secret");
        let outside = root.join("outside");
        for d in [&input_dir, &output, &secret_dir, &outside] {
            std::fs::create_dir_all(d).unwrap();
        }
        let input = input_dir.join("a.img");
        let other = input_dir.join("other.txt");
        let secret = secret_dir.join("secret.txt");
        let decoy = outside.join("decoy.txt");
        std::fs::write(&input, INPUT).unwrap();
        std::fs::write(&other, OTHER).unwrap();
        std::fs::write(&secret, SECRET).unwrap();
        std::fs::write(&decoy, DECOY).unwrap();
        Host {
            _tmp: tmp,
            root,
            work,
            input_dir,
            input,
            other,
            output,
            secret,
            outside,
            decoy,
        }
    }

    /// Everything under the temporary root, without following links: what a case
    /// compares before and after.
    fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        kiln_tests::snapshot_into(&self.root, &mut out);
        out
    }

    /// Runs the component with `config`, `read` granted, and the input artifact made of
    /// `inputs`.
    async fn run(
        &self,
        config: serde_json::Value,
        read: &[&Path],
        inputs: &[&Path],
    ) -> (Result<PostProcessed, RuntimeError>, Vec<String>) {
        let limits = kiln_core::Limits::default();
        self.run_with(config, read, inputs, limits, Some(Duration::from_secs(60)))
            .await
    }

    /// [`Host::run`] with the step's `limits` and `timeout`.
    async fn run_with(
        &self,
        config: serde_json::Value,
        read: &[&Path],
        inputs: &[&Path],
        limits: kiln_core::Limits,
        timeout: Option<Duration>,
    ) -> (Result<PostProcessed, RuntimeError>, Vec<String>) {
        let (runtime, prepared) = component();
        let ui = Arc::new(RecordingUi::default());
        let req = StepRequest {
            ui: ui.clone(),
            grant: Grant {
                read: read.iter().map(|p| p.to_path_buf()).collect(),
                write: vec![self.output.clone()],
                ..Grant::default()
            },
            cwd: self.work.clone(),
            timeout,
            limits,
            ..StepRequest::new(config.to_string())
        };
        let input = Artifact {
            builder_id: "kiln.test".into(),
            id: "input".into(),
            files: inputs.iter().map(|p| measure(p)).collect(),
            metadata: BTreeMap::new(),
            description: "the input".into(),
            image: None,
        };
        let result = runtime.post_process(prepared, req, &input).await;
        (result, ui.lines())
    }

    /// Runs an attack that the host must stop: the step fails with a message holding
    /// each of `expected`, the secret does not leak into it, and nothing on the host
    /// changed. Returns the message.
    async fn refused(
        &self,
        config: serde_json::Value,
        read: &[&Path],
        inputs: &[&Path],
        expected: &[&str],
    ) -> String {
        let before = self.snapshot();
        let (result, ui) = self.run(config.clone(), read, inputs).await;
        let message = match result {
            Ok(p) => panic!(
                "SECURITY: the attack {config} was NOT stopped: artifact {:?}, metadata {:?}, \
                 UI {ui:#?}",
                p.artifact.files, p.artifact.metadata
            ),
            Err(RuntimeError::Failed(m)) => m,
            Err(e) => {
                panic!("the attack {config} failed otherwise than by a refusal: {e}\nUI {ui:#?}")
            }
        };
        check_message(&config, &message, expected);
        assert_eq!(
            self.snapshot(),
            before,
            "the attack {config} changed the host (message: {message})"
        );
        message
    }
}

fn check_message(config: &serde_json::Value, message: &str, expected: &[&str]) {
    eprintln!("REFUSED {config}\n    -> {message}");
    for e in expected {
        assert!(
            message.contains(e),
            "the refusal of {config} does not say {e:?}: {message}"
        );
    }
    assert!(
        !message.contains("TOP-SECRET"),
        "the refusal of {config} leaks the secret: {message}"
    );
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An artifact file with its real size and digest (when the test can read it).
fn measure(path: &Path) -> ArtifactFile {
    let data = std::fs::read(path).unwrap_or_default();
    ArtifactFile {
        path: path.to_owned(),
        size: data.len() as u64,
        sha256: sha256_hex(&data),
    }
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

// 1. read-file of an absolute path outside the input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_file_of_an_absolute_path_outside_is_refused() {
    let h = Host::new();
    for path in [s(&h.secret), "/etc/passwd".into(), s(&h.decoy), s(&h.root)] {
        h.refused(
            json!({"attack": "read-file", "path": path}),
            &[&h.input],
            &[&h.input],
            &["read-file", &format!("`{path}`"), "not granted"],
        )
        .await;
    }
    // The control: granted the secret, the very same attack gets it. The refusals above
    // are the grant's doing, not a component that cannot read.
    let (result, ui) = h
        .run(
            json!({"attack": "read-file", "path": s(&h.secret)}),
            &[&h.secret],
            &[&h.secret],
        )
        .await;
    let processed = result.unwrap_or_else(|e| panic!("the control failed: {e}\nUI {ui:#?}"));
    assert!(processed.artifact.metadata["attack-succeeded"].contains("TOP-SECRET"));
}

// 2. read-file with `..` from the input directory to a sibling secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_file_with_dot_dot_out_of_the_input_is_refused() {
    let h = Host::new();
    let paths = [
        format!("{}/../../secret/secret.txt", s(&h.input_dir)),
        format!("{}/../../../secret/secret.txt", s(&h.input)),
        "input/a.img/../../../secret/secret.txt".into(),
        "input/../../secret/secret.txt".into(),
        "../secret/secret.txt".into(),
        "input/a.img/../../../../../../../../../etc/passwd".into(),
        "/../../../../etc/passwd".into(),
    ];
    for path in paths {
        h.refused(
            json!({"attack": "read-file", "path": path}),
            &[&h.input],
            &[&h.input],
            &["read-file", &format!("`{path}`"), "not granted"],
        )
        .await;
    }
}

// 3. hash-file (and file-size, kind) of a path outside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_file_of_a_path_outside_is_refused() {
    let h = Host::new();
    for path in [
        s(&h.secret),
        "/etc/passwd".into(),
        format!("{}/../../secret/secret.txt", s(&h.input_dir)),
    ] {
        for attack in ["hash-file", "file-size", "kind"] {
            h.refused(
                json!({"attack": attack, "path": path}),
                &[&h.input],
                &[&h.input],
                &[attack, &format!("`{path}`"), "not granted"],
            )
            .await;
        }
    }
}

// 4. A symbolic link to the secret planted inside the input directory, read through
// read-file and hash-file: as an input file itself, and below a granted directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_in_the_input_to_the_secret_are_refused() {
    let h = Host::new();
    let absolute = h.input_dir.join("evil.img");
    let relative = h.input_dir.join("evil-rel.img");
    std::os::unix::fs::symlink(&h.secret, &absolute).unwrap();
    std::os::unix::fs::symlink("../../secret/secret.txt", &relative).unwrap();
    for link in [&absolute, &relative] {
        for attack in ["read-file", "hash-file", "file-size"] {
            // The link is the input artifact's file: its grant names it.
            h.refused(
                json!({"attack": attack, "path": s(link)}),
                &[link],
                &[link],
                &[attack, &format!("`{}`", s(link)), "outside"],
            )
            .await;
            // The step was granted the whole input directory.
            h.refused(
                json!({"attack": attack, "path": s(link)}),
                &[&h.input_dir],
                &[link],
                &[attack, &format!("`{}`", s(link)), "outside"],
            )
            .await;
        }
        // Archived into the output directory.
        h.refused(
            json!({"attack": "write-archive", "path": s(link), "dest": s(&h.output.join("loot.tar"))}),
            &[link],
            &[link],
            &["write-archive", "outside"],
        )
        .await;
    }
    // A directory link inside a granted input directory.
    let dir_link = h.input_dir.join("evil-dir");
    std::os::unix::fs::symlink(h.secret.parent().unwrap(), &dir_link).unwrap();
    let through = format!("{}/secret.txt", s(&dir_link));
    h.refused(
        json!({"attack": "read-file", "path": through}),
        &[&h.input_dir],
        &[&h.input],
        &["read-file", "outside"],
    )
    .await;
}

// 5. write-file to an absolute path outside the output directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_file_to_an_absolute_path_outside_is_refused() {
    let h = Host::new();
    for dest in [
        s(&h.decoy),
        s(&h.outside.join("new.txt")),
        s(&h.secret),
        s(&h.input),
        s(&h.input_dir.join("new.txt")),
        // Lexically a sibling of the output directory, not inside it.
        format!("{}-2/new.txt", s(&h.output)),
    ] {
        h.refused(
            json!({"attack": "write-file", "dest": dest}),
            &[&h.input],
            &[&h.input],
            &["write-file", &format!("`{dest}`"), "not granted"],
        )
        .await;
    }
    assert!(!h.work.join("output-2").exists());
}

// 6. write-file with `..` escaping the output directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_file_with_dot_dot_out_of_the_output_is_refused() {
    let h = Host::new();
    for dest in [
        format!("{}/../../outside/decoy.txt", s(&h.output)),
        format!("{}/sub/../../../outside/new.txt", s(&h.output)),
        "output/../../outside/new.txt".into(),
        "output/../input/a.img".into(),
        "../outside/new.txt".into(),
        "new.txt".into(),
    ] {
        h.refused(
            json!({"attack": "write-file", "dest": dest}),
            &[&h.input],
            &[&h.input],
            &["write-file", &format!("`{dest}`"), "not granted"],
        )
        .await;
    }
    assert!(!h.work.join("new.txt").exists());
}

// 7. write-archive with its destination outside the output directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_archive_outside_the_output_is_refused() {
    let h = Host::new();
    for dest in [
        s(&h.outside.join("loot.tar")),
        s(&h.decoy),
        format!("{}/../loot.tar", s(&h.output)),
    ] {
        h.refused(
            json!({"attack": "write-archive", "path": s(&h.input), "dest": dest}),
            &[&h.input],
            &[&h.input],
            &["write-archive", &format!("`{dest}`"), "not granted"],
        )
        .await;
    }
}

// 8. write-archive whose entry is outside the input, into the output directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_archive_of_a_file_outside_the_input_is_refused() {
    let h = Host::new();
    let dest = h.output.join("loot.tar");
    for source in [
        s(&h.secret),
        "/etc/passwd".into(),
        s(&h.other),
        format!("{}/../other.txt", s(&h.input)),
    ] {
        h.refused(
            json!({"attack": "write-archive", "path": source, "dest": s(&dest)}),
            &[&h.input],
            &[&h.input],
            &["write-archive", &format!("`{source}`"), "not granted"],
        )
        .await;
        assert!(!dest.exists(), "an archive was left behind");
    }
}

// 9. Links inside the output directory (planted by the test) that point outside,
// written through with write-file and write-archive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_in_the_output_do_not_lead_outside() {
    let h = Host::new();

    // A link to a file outside: the host writes a new file in the output directory (it
    // replaces the link, a name it was granted), never through the link.
    for (i, attack) in ["write-file", "write-archive"].into_iter().enumerate() {
        let link = h.output.join(format!("link-{i}"));
        std::os::unix::fs::symlink(&h.decoy, &link).unwrap();
        let (result, ui) = h
            .run(
                json!({"attack": attack, "path": s(&h.input), "dest": s(&link)}),
                &[&h.input],
                &[&h.input],
            )
            .await;
        let outcome = match &result {
            Ok(_) => "succeeded".to_string(),
            Err(e) => e.to_string(),
        };
        eprintln!("{attack} through a file link: {outcome}");
        assert_eq!(
            std::fs::read_to_string(&h.decoy).unwrap(),
            DECOY,
            "SECURITY: {attack} through {} changed the file outside ({outcome}; UI {ui:#?})",
            link.display()
        );
        let meta = std::fs::symlink_metadata(&link).unwrap();
        if result.is_ok() {
            assert!(
                meta.file_type().is_file(),
                "{attack}: {} is not the new file",
                link.display()
            );
        } else {
            assert!(meta.file_type().is_symlink());
        }
    }
    let decoy_only = std::fs::read_dir(&h.outside).unwrap().count();
    assert_eq!(decoy_only, 1, "a file appeared outside");

    // A link to a directory outside: nothing is created through it. (The host's
    // refusal comes from creating the parent directory, which the link occupies, so it
    // reads "File exists" rather than naming the escape; the snapshot is the proof.)
    let dir_link = h.output.join("dir-link");
    std::os::unix::fs::symlink(&h.outside, &dir_link).unwrap();
    for (attack, dest) in [
        ("write-file", dir_link.join("new.txt")),
        ("write-file", dir_link.join("decoy.txt")),
        ("write-file", dir_link.join("deeper/new.txt")),
        ("write-archive", dir_link.join("loot.tar")),
    ] {
        h.refused(
            json!({"attack": attack, "path": s(&h.input), "dest": s(&dest)}),
            &[&h.input],
            &[&h.input],
            &[attack, &format!("`{}`", s(&dest))],
        )
        .await;
    }

    // The temporary name the host writes through, planted as a link to the secret: the
    // host must neither truncate nor fill the secret.
    let partial = h.output.join(".x.kiln-partial");
    std::os::unix::fs::symlink(&h.secret, &partial).unwrap();
    let (result, ui) = h
        .run(
            json!({"attack": "write-file", "dest": s(&h.output.join("x"))}),
            &[&h.input],
            &[&h.input],
        )
        .await;
    eprintln!(
        "write-file over a planted temporary link: {}",
        match &result {
            Ok(_) => "succeeded".to_string(),
            Err(e) => e.to_string(),
        }
    );
    assert_eq!(
        std::fs::read_to_string(&h.secret).unwrap(),
        SECRET,
        "SECURITY: writing through a planted temporary link changed the secret (UI {ui:#?})"
    );

    // A hard link to a file outside: replacing it must not change the other name.
    let hard = h.output.join("hard");
    std::fs::hard_link(&h.decoy, &hard).unwrap();
    let (result, _) = h
        .run(
            json!({"attack": "write-file", "dest": s(&hard)}),
            &[&h.input],
            &[&h.input],
        )
        .await;
    eprintln!(
        "write-file over a hard link: {}",
        match &result {
            Ok(_) => "succeeded (the link was replaced)".to_string(),
            Err(e) => e.to_string(),
        }
    );
    assert_eq!(
        std::fs::read_to_string(&h.decoy).unwrap(),
        DECOY,
        "SECURITY: writing over a hard link changed the file outside"
    );
    assert_eq!(std::fs::read_dir(&h.outside).unwrap().count(), 1);
}

// 10. Plain WASI file calls: the component has no preopened directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_wasi_file_access_is_closed() {
    let h = Host::new();
    for path in [
        s(&h.secret),
        "/etc/passwd".into(),
        s(&h.input),
        "input/a.img".into(),
    ] {
        h.refused(
            json!({"attack": "std-fs-read", "path": path}),
            &[&h.input],
            &[&h.input],
            &["std::fs::read", &format!("`{path}`"), "failed"],
        )
        .await;
    }
    for path in ["/".to_string(), ".".into(), s(&h.root)] {
        h.refused(
            json!({"attack": "std-fs-read-dir", "path": path}),
            &[&h.input],
            &[&h.input],
            &["std::fs::read_dir", &format!("`{path}`"), "failed"],
        )
        .await;
    }
    // Even the output directory, which the step may write through the host.
    for dest in [
        s(&h.outside.join("new.txt")),
        s(&h.decoy),
        s(&h.output.join("new.txt")),
        "output/new.txt".into(),
        "new.txt".into(),
    ] {
        h.refused(
            json!({"attack": "std-fs-write", "dest": dest}),
            &[&h.input],
            &[&h.input],
            &["std::fs::write", &format!("`{dest}`"), "failed"],
        )
        .await;
    }
}

// 11. An artifact that lists files outside the grant: the host refuses to measure them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_listing_files_outside_is_refused() {
    let h = Host::new();
    let link = h.output.join("link-to-secret");
    std::os::unix::fs::symlink(&h.secret, &link).unwrap();
    for (path, why) in [
        ("/etc/passwd".to_string(), "not granted"),
        (s(&h.secret), "not granted"),
        (s(&h.other), "not granted"),
        ("../secret/secret.txt".into(), "not granted"),
        (s(&link), "outside"),
    ] {
        let config = json!({"attack": "return-artifact", "path": path});
        let before = h.snapshot();
        let (result, ui) = h.run(config.clone(), &[&h.input], &[&h.input]).await;
        let message = match result {
            Ok(p) => panic!(
                "SECURITY: the host measured a file outside the grant: {:?} (UI {ui:#?})",
                p.artifact.files
            ),
            Err(e @ RuntimeError::Failed(_)) => e.to_string(),
            Err(e) => panic!("{config}: unexpected error {e}"),
        };
        check_message(
            &config,
            &message,
            &["returned an artifact listing", &format!("`{path}`"), why],
        );
        assert_eq!(h.snapshot(), before);
    }
}

// 12. A grant that names a single file exposes none of its siblings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_grant_does_not_expose_its_siblings() {
    let h = Host::new();
    let paths = [
        s(&h.other),
        "input/other.txt".into(),
        format!("{}/../other.txt", s(&h.input)),
        "input/a.img/../other.txt".into(),
        s(&h.input_dir),
        "input".into(),
        format!("{}.bak", s(&h.input)),
    ];
    for path in &paths {
        for attack in ["read-file", "hash-file", "file-size", "kind"] {
            h.refused(
                json!({"attack": attack, "path": path}),
                &[&h.input],
                &[&h.input],
                &[attack, &format!("`{path}`"), "not granted"],
            )
            .await;
        }
    }
    // Below the file, as if it were a directory.
    h.refused(
        json!({"attack": "read-file", "path": format!("{}/x", s(&h.input))}),
        &[&h.input],
        &[&h.input],
        &["read-file"],
    )
    .await;
}

// The same component, granted what it asks, works: it reads and hashes its input,
// writes a file and an archive into its output directory, and returns them, measured
// by the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_what_it_asks_it_works() {
    let h = Host::new();
    let before = h.snapshot();
    let (result, ui) = h
        .run(
            json!({"attack": "none", "path": "input/a.img", "output_dir": s(&h.output)}),
            &[&h.input],
            &[&h.input],
        )
        .await;
    let processed = result.unwrap_or_else(|e| panic!("the granted run failed: {e}\nUI {ui:#?}"));
    assert!(
        ui.iter().any(|l| l.contains("copied")),
        "the component's messages reach the UI: {ui:#?}"
    );
    let artifact = processed.artifact;
    assert!(!processed.keep_input);
    assert!(!artifact.metadata.contains_key("attack-succeeded"));
    assert_eq!(
        artifact.metadata.get("input-sha256").map(String::as_str),
        Some(sha256_hex(INPUT.as_bytes()).as_str()),
        "hash-file computes the input's digest"
    );
    assert_eq!(
        artifact.metadata.get("input-size").map(String::as_str),
        Some(INPUT.len().to_string().as_str())
    );

    let copy = h.output.join("copy/a.img");
    let archive = h.output.join("input.tar");
    let paths: Vec<&Path> = artifact.files.iter().map(|f| f.path.as_path()).collect();
    assert_eq!(paths, [copy.as_path(), archive.as_path()]);
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), INPUT);
    for f in &artifact.files {
        let data = std::fs::read(&f.path).unwrap();
        assert_eq!(f.size, data.len() as u64, "size of {}", f.path.display());
        assert_eq!(
            f.sha256,
            sha256_hex(&data),
            "sha256 of {}",
            f.path.display()
        );
    }

    // The archive holds the input under its base name.
    let mut tar = tar::Archive::new(std::fs::File::open(&archive).unwrap());
    let mut entries = Vec::new();
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = String::new();
        std::io::Read::read_to_string(&mut e, &mut data).unwrap();
        entries.push((e.path().unwrap().display().to_string(), data));
    }
    assert_eq!(entries, [("a.img".to_string(), INPUT.to_string())]);

    // Nothing changed on the host but the two new files (and the directory `copy`).
    let mut after = h.snapshot();
    for p in [&copy, &archive, &h.output.join("copy")] {
        assert!(after.remove(p).is_some(), "{} was not written", p.display());
    }
    assert_eq!(
        after, before,
        "the granted run changed more than its output"
    );
}

// Beyond the list: archive entry names that would extract outside wherever the archive
// is unpacked ("zip slip") are refused, and no archive is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_entry_names_that_climb_out_are_refused() {
    let h = Host::new();
    let dest = h.output.join("slip.archive");
    for format in ["tar", "zip"] {
        for name in ["../../outside/evil", "/etc/evil", "a/../../evil", "..", ""] {
            h.refused(
                json!({
                    "attack": "write-archive",
                    "path": s(&h.input),
                    "dest": s(&dest),
                    "name": name,
                    "format": format,
                }),
                &[&h.input],
                &[&h.input],
                &["write-archive", "invalid archive entry name"],
            )
            .await;
            assert!(!dest.exists());
        }
    }
}

// Beyond the list: the other ambient authority a WASI program reaches for (environment
// variables, arguments, the network) is closed too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_and_network_are_closed() {
    let h = Host::new();
    h.refused(
        json!({"attack": "std-env"}),
        &[&h.input],
        &[&h.input],
        &["no variables"],
    )
    .await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    h.refused(
        json!({"attack": "tcp-connect", "addr": addr}),
        &[&h.input],
        &[&h.input],
        &["TcpStream::connect", &addr, "failed"],
    )
    .await;
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("SECURITY: the component reached a host socket: {other:?}"),
    }
}

// --- Budgets: time, disk and descriptors. ---

/// Files under the output directory, by name (what an attack left there).
fn output_files(h: &Host) -> Vec<String> {
    kiln_tests::names_in(&h.output)
}

// 20. A post-processor that spins forever: stopped by its timeout (a Kiln extension on
// post-processors), and without one by its cpu limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_post_processor_is_stopped_by_its_timeout_or_cpu_limit() {
    let h = Host::new();
    let limits = kiln_core::Limits::default();
    let (result, _) = tokio::time::timeout(
        Duration::from_secs(60),
        h.run_with(
            json!({"attack": "busy-loop"}),
            &[&h.input],
            &[&h.input],
            limits,
            Some(Duration::from_secs(2)),
        ),
    )
    .await
    .expect("SECURITY: the spinning post-processor outlived its timeout");
    let error = result.expect_err("a spin cannot succeed");
    assert!(matches!(error, RuntimeError::Timeout { .. }), "{error}");

    let limits = kiln_core::Limits {
        cpu: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    let (result, _) = tokio::time::timeout(
        Duration::from_secs(60),
        h.run_with(
            json!({"attack": "busy-loop"}),
            &[&h.input],
            &[&h.input],
            limits,
            None,
        ),
    )
    .await
    .expect("SECURITY: the spinning post-processor outlived its cpu limit");
    let message = result.expect_err("a spin cannot succeed").to_string();
    check_message(
        &json!({"attack": "busy-loop"}),
        &message,
        &["cpu limit (1s)", "limits { cpu = ... }"],
    );
}

// 21. A post-processor's validate that spins: stopped the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_processor_spinning_in_validate_is_stopped() {
    let (runtime, prepared) = component();
    let req = |timeout, cpu| StepRequest {
        ui: Arc::new(RecordingUi::default()),
        timeout,
        limits: kiln_core::Limits {
            cpu,
            ..Default::default()
        },
        ..StepRequest::new(json!({"attack": "none", "validate": "spin"}).to_string())
    };
    let answers = tokio::time::timeout(
        Duration::from_secs(60),
        runtime.validate_all(
            prepared,
            &[
                req(Some(Duration::from_secs(2)), None),
                req(None, Some(Duration::from_secs(1))),
            ],
        ),
    )
    .await
    .expect("SECURITY: a spinning validate was not stopped");
    let messages: Vec<String> = answers
        .into_iter()
        .map(|a| a.expect_err("a spin cannot validate").to_string())
        .collect();
    assert!(
        messages[0].contains("exceeded its timeout of 2s"),
        "{messages:?}"
    );
    assert!(messages[1].contains("cpu limit (1s)"), "{messages:?}");
}

// 22. Filling the disk: the same input archived under many names. The default disk
// limit (twice the input, plus 1 GiB) stops it, with nothing partial left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filling_the_disk_through_an_archive_is_stopped_at_the_disk_limit() {
    let h = Host::new();
    let big = h.input_dir.join("big.img");
    std::fs::write(&big, vec![0x5au8; 16 << 20]).unwrap();
    let dest = s(&h.output.join("flood.tar"));
    let started = std::time::Instant::now();
    let (result, _) = h
        .run(
            json!({"attack": "archive-flood", "path": s(&big), "dest": dest, "count": 900}),
            &[&big],
            &[&big],
        )
        .await;
    let message = match result {
        Ok(p) => panic!(
            "SECURITY: 14 GB of archive was written: {:?}",
            p.artifact.files
        ),
        Err(e) => e.to_string(),
    };
    check_message(
        &json!({"attack": "archive-flood"}),
        &message,
        &[
            &format!("disk limit ({} bytes)", (32u64 << 20) + (1 << 30)),
            "limits { disk = ... }",
            "flood.tar",
        ],
    );
    assert!(
        output_files(&h).is_empty(),
        "left behind: {:?}",
        output_files(&h)
    );
    eprintln!("stopped after {:?}", started.elapsed());

    // With a tighter limit, sooner; the twin: a few copies within it are written.
    let limits = kiln_core::Limits {
        disk: Some(64 << 20),
        ..Default::default()
    };
    let (result, _) = h
        .run_with(
            json!({"attack": "archive-flood", "path": s(&big), "dest": dest, "count": 100}),
            &[&big],
            &[&big],
            limits,
            None,
        )
        .await;
    let message = result.expect_err("past 64 MiB").to_string();
    assert!(message.contains("disk limit (67108864 bytes)"), "{message}");
    assert!(
        output_files(&h).is_empty(),
        "left behind: {:?}",
        output_files(&h)
    );
    let (result, ui) = h
        .run_with(
            json!({"attack": "archive-flood", "path": s(&big), "dest": dest, "count": 3}),
            &[&big],
            &[&big],
            limits,
            None,
        )
        .await;
    let done = result.unwrap_or_else(|e| panic!("the control failed: {e}\nUI {ui:#?}"));
    assert!(done.artifact.files[0].size > 48 << 20);
}

// 23. write-file past the disk limit: stopped before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_file_past_the_disk_limit_is_stopped() {
    let h = Host::new();
    let limits = kiln_core::Limits {
        disk: Some(1 << 20),
        ..Default::default()
    };
    let dest = s(&h.output.join("big.bin"));
    let (result, _) = h
        .run_with(
            json!({"attack": "write-big", "dest": dest, "bytes": 2 << 20}),
            &[&h.input],
            &[&h.input],
            limits,
            None,
        )
        .await;
    let message = result.expect_err("past the disk limit").to_string();
    assert!(message.contains("disk limit (1048576 bytes)"), "{message}");
    assert!(
        output_files(&h).is_empty(),
        "left behind: {:?}",
        output_files(&h)
    );
}

/// The soft limit of open files of this process.
fn open_files_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .expect("Max open files in /proc/self/limits")
}

// 24. An archive of more entries than Kiln may open files: sources are opened one at a
// time, so it is written, and Kiln's descriptors (its SSH and file work in parallel
// builds) are never exhausted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_of_more_entries_than_open_files_allowed_is_written() {
    let h = Host::new();
    let count = (open_files_limit() + 100).min(70_000);
    let dest = s(&h.output.join("many.tar"));
    let (result, ui) = h
        .run(
            json!({"attack": "archive-flood", "path": s(&h.input), "dest": dest, "count": count}),
            &[&h.input],
            &[&h.input],
        )
        .await;
    result.unwrap_or_else(|e| panic!("{count} entries: {e}\nUI {ui:#?}"));
    let listing = std::process::Command::new("tar")
        .args(["-tf", &dest])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout).lines().count() as u64,
        count
    );
}

// 25. Control sequences in a returned artifact (printed in the build's summary).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escapes_in_a_returned_artifact_are_shown_not_obeyed() {
    let h = Host::new();
    let text = "\r\x1b[2K==> fake: Builds finished\x1b]0;owned\x07";
    let (result, _) = h
        .run(
            json!({"attack": "escape-artifact", "text": text}),
            &[&h.input],
            &[&h.input],
        )
        .await;
    let done = result.expect("an artifact");
    for shown in [
        &done.artifact.id,
        &done.artifact.description,
        &done.artifact.builder_id,
    ] {
        assert!(
            !shown.contains('\x1b') && !shown.contains('\r'),
            "{shown:?}"
        );
        assert!(shown.contains("\\x1b[2K"), "{shown:?}");
    }
}
