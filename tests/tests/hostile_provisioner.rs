//! A hostile provisioner (tests/components/hostile-provisioner) against the sandbox, with
//! a real OpenSSH server as the machine being built: whatever it tries, it reaches no
//! host file, environment variable, socket, name server, clock or random source it was
//! not granted; it cannot hang the build past its timeout, nor exhaust the machine's
//! memory, the UI, the remote commands in flight, the handle tables or the stack, nor
//! leave remote commands running once its step has ended; and granted what it asks, the
//! very same component works.
//!
//! Each case runs one attack in a fresh instance, checks that the step failed with a
//! message naming what stopped it (the grant, the limit, the timeout), that the host's
//! files are byte for byte what they were, and that the secret never reached the
//! machine. The machine is this host (sshd on 127.0.0.1, logged in as the user running
//! the tests), so its files are under `remote/` of the temporary tree, which is left out
//! of the host's snapshot.

#[allow(dead_code)]
#[path = "common/recording_ui.rs"]
mod recording_ui;
use recording_ui::RecordingUi;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kiln_communicators::ssh::{SshCommunicator, SshConfig};
use kiln_core::{BuildInfo, Communicator, Grant, Limits};
use kiln_runtime::{PreparedComponent, Runtime, RuntimeError, StepRequest, World};
use kiln_tests::Sshd;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "TOP-SECRET: the hostile provisioner must never see this\n";
const DECOY: &str = "a file outside the write grant; must stay as it is\n";
const SCRIPT: &str = "#!/bin/sh\necho provisioned-by-kiln\n";
const PAYLOAD: &str = "a file on the machine, for the downloads\n";
/// The fixed wall clock of the steps (SOURCE_DATE_EPOCH), far from today.
const CLOCK_EPOCH: u64 = 1_600_000_000;

/// The runtime and the compiled component, shared by every case of this binary
/// (compiling the component is the slow part).
fn component() -> &'static (Runtime, PreparedComponent) {
    static COMPONENT: OnceLock<(Runtime, PreparedComponent)> = OnceLock::new();
    COMPONENT.get_or_init(|| {
        let wasm = std::fs::read(env!("HOSTILE_PROVISIONER_WASM"))
            .expect("reading the hostile provisioner component");
        let runtime = Runtime::new(None).expect("creating the runtime");
        let prepared = runtime
            .prepare("hostile", &wasm, World::Provisioner)
            .expect("preparing the hostile provisioner");
        (runtime, prepared)
    })
}

/// What one step is given besides its configuration.
#[derive(Debug, Clone)]
struct Step {
    grant: Grant,
    limits: Limits,
    timeout: Option<Duration>,
    clock_epoch: u64,
}

/// The host a case runs against, and the machine (this host, through sshd):
///
/// ```text
/// root/
///   secret/secret.txt      the secret (outside everything granted)
///   outside/decoy.txt      a file the write attacks aim at
///   work/                  the step's working directory
///     files/script.sh      granted for reading
///     out/                 granted for writing
///   remote/                the machine's side of the transfers
///     payload.txt          what the downloads fetch
/// ```
struct Host {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    work: PathBuf,
    files: PathBuf,
    script: PathBuf,
    out: PathBuf,
    secret: PathBuf,
    outside: PathBuf,
    decoy: PathBuf,
    remote: PathBuf,
    _sshd: Sshd,
    comm: Arc<SshCommunicator>,
}

impl Host {
    async fn new() -> Host {
        let tmp = tempfile::tempdir().unwrap();
        // The grant is compared lexically: use the real path of the temp dir.
        let root = tmp.path().canonicalize().unwrap();
        let work = root.join("work");
        let files = work.join("files");
        let out = work.join("out");
        let secret_dir = root.join("secret");
        let outside = root.join("outside");
        let remote = root.join("remote");
        for d in [&files, &out, &secret_dir, &outside, &remote] {
            std::fs::create_dir_all(d).unwrap();
        }
        let script = files.join("script.sh");
        let secret = secret_dir.join("secret.txt");
        let decoy = outside.join("decoy.txt");
        std::fs::write(&script, SCRIPT).unwrap();
        std::fs::write(&secret, SECRET).unwrap();
        std::fs::write(&decoy, DECOY).unwrap();
        std::fs::write(remote.join("payload.txt"), PAYLOAD).unwrap();
        std::fs::create_dir_all(remote.join("tree/sub")).unwrap();
        std::fs::write(remote.join("tree/a.txt"), PAYLOAD).unwrap();
        std::fs::write(remote.join("tree/sub/b.txt"), PAYLOAD).unwrap();

        let sshd = Sshd::start();
        let config = SshConfig {
            host: "127.0.0.1".into(),
            port: sshd.port,
            username: sshd.user.clone(),
            password: None,
            private_key_file: Some(sshd.key.clone()),
            timeout: Duration::from_secs(30),
            handshake_attempts: 3,
        };
        let ui = RecordingUi::default();
        let comm = SshCommunicator::connect(config, &ui, &CancellationToken::new())
            .await
            .unwrap_or_else(|e| panic!("connecting to sshd: {e}"));
        Host {
            _tmp: tmp,
            root,
            work,
            files,
            script,
            out,
            secret,
            outside,
            decoy,
            remote,
            _sshd: sshd,
            comm: Arc::new(comm),
        }
    }

    /// What a provisioner is typically given: its files to read, a directory to write.
    fn step(&self) -> Step {
        Step {
            grant: Grant {
                read: vec![self.files.clone()],
                write: vec![self.out.clone()],
                ..Grant::default()
            },
            ..Host::step_defaults()
        }
    }

    /// A step granted nothing, with the default limits and a 60 s timeout.
    fn step_defaults() -> Step {
        Step {
            grant: Grant::default(),
            limits: Limits::default(),
            timeout: Some(Duration::from_secs(60)),
            clock_epoch: CLOCK_EPOCH,
        }
    }

    /// A remote path of the machine.
    fn remote(&self, name: &str) -> String {
        s(&self.remote.join(name))
    }

    /// The host's files (the machine's side left out).
    fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        for top in ["work", "secret", "outside"] {
            kiln_tests::snapshot_into(&self.root.join(top), &mut out);
        }
        out
    }

    /// The machine's files.
    fn remote_snapshot(&self) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        kiln_tests::snapshot_into(&self.remote, &mut out);
        out
    }

    /// Runs the component with `config` in a fresh instance.
    async fn run(
        &self,
        config: serde_json::Value,
        step: &Step,
    ) -> (Result<(), RuntimeError>, Arc<RecordingUi>) {
        let (runtime, prepared) = component();
        let ui = Arc::new(RecordingUi::default());
        let comm: Arc<dyn Communicator> = self.comm.clone();
        let req = request(config.to_string(), comm, ui.clone(), step, &self.work);
        let result = runtime.provision(prepared, req).await;
        (result, ui)
    }

    /// Runs an attack that the host must stop: the step fails with a message holding
    /// each of `expected` (compared without case, `-` and `_` read as spaces), the
    /// secret does not leak into it nor reach the machine, and nothing on the host
    /// changed. Returns the error and what the UI got.
    async fn stopped(
        &self,
        config: serde_json::Value,
        step: &Step,
        expected: &[&str],
    ) -> (RuntimeError, Arc<RecordingUi>) {
        let before = self.snapshot();
        let (result, ui) = self.run(config.clone(), step).await;
        let error = match result {
            Ok(()) => panic!(
                "SECURITY: the attack {config} was NOT stopped (UI {:#?})",
                ui.shown()
            ),
            Err(e) => e,
        };
        check_message(&config, &error.to_string(), expected);
        assert!(
            !ui.lines().iter().any(|l| l.contains("ATTACK SUCCEEDED")),
            "the attack {config} reports success although the step failed: {:#?}",
            ui.shown()
        );
        assert_eq!(
            self.snapshot(),
            before,
            "the attack {config} changed the host (error: {error})"
        );
        self.assert_secret_not_on_the_machine(&config);
        (error, ui)
    }

    /// An attack the grant must refuse: as [`Host::stopped`], and the component's own
    /// failure (not a crash) carries the host's refusal.
    async fn refused(&self, config: serde_json::Value, step: &Step, expected: &[&str]) -> String {
        match self.stopped(config.clone(), step, expected).await {
            (RuntimeError::Failed(m), _) => m,
            (e, ui) => panic!(
                "the attack {config} failed otherwise than by a refusal: {e}\nUI {:#?}",
                ui.shown()
            ),
        }
    }

    fn assert_secret_not_on_the_machine(&self, config: &serde_json::Value) {
        for (path, what) in self.remote_snapshot() {
            assert!(
                !what.contains("TOP-SECRET"),
                "SECURITY: the attack {config} copied the secret to the machine as {}",
                path.display()
            );
        }
    }

    /// Runs `command` on the machine through the communicator (not through a
    /// component) and returns its exit code and standard output.
    async fn ssh(&self, command: &str) -> (i32, String) {
        let mut p = self.comm.start(command).await.expect("starting a command");
        let mut stdout = Vec::new();
        while let Some(o) = p.next_output().await {
            if o.stream == kiln_core::OutputStream::Stdout {
                stdout.extend_from_slice(&o.data);
            }
        }
        let code = match p.wait().await.expect("waiting for a command") {
            kiln_core::ExitStatus::Exited(c) => c,
            other => panic!("`{command}` ended with {other}"),
        };
        (code, String::from_utf8_lossy(&stdout).into_owned())
    }

    /// PIDs of the machine's processes whose command line holds `marker`, asked over
    /// SSH.
    async fn remote_processes(&self, marker: &str) -> Vec<String> {
        let (code, out) = self.ssh("ps -eo pid=,args=").await;
        assert_eq!(code, 0, "ps failed");
        out.lines()
            .filter(|l| l.contains(marker))
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    }
}

/// The step's request, in the runtime's terms.
fn request(
    config_json: String,
    communicator: Arc<dyn Communicator>,
    ui: Arc<RecordingUi>,
    step: &Step,
    cwd: &Path,
) -> StepRequest {
    StepRequest {
        build: Arc::new(BuildInfo {
            build_name: "null.hostile".into(),
            source_type: "null".into(),
            source_name: "hostile".into(),
            connection: None,
            variables: vec![],
            sensitive: vec![],
        }),
        communicator: Some(communicator),
        ui,
        grant: step.grant.clone(),
        cwd: cwd.to_owned(),
        timeout: step.timeout,
        limits: step.limits,
        clock_epoch: step.clock_epoch,
        archive_epoch: step.clock_epoch,
        ..StepRequest::new(config_json)
    }
}

/// `message` read loosely: lower case, `-` and `_` as spaces.
fn loose(message: &str) -> String {
    message.to_lowercase().replace(['-', '_'], " ")
}

fn check_message(config: &serde_json::Value, message: &str, expected: &[&str]) {
    eprintln!("STOPPED {config}\n    -> {message}");
    for e in expected {
        assert!(
            loose(message).contains(&loose(e)),
            "the failure of {config} does not say {e:?}: {message}"
        );
    }
    assert!(
        !message.contains("TOP-SECRET"),
        "the failure of {config} leaks the secret: {message}"
    );
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// A number no other run of this binary (nor another test of this run) uses, for remote
/// process markers.
fn unique() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}{n:02}", std::process::id())
}

// 1. upload-file of an absolute host path outside the read grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_file_of_a_host_path_outside_the_grant_is_refused() {
    let h = Host::new().await;
    // A file the step may write is not a file it may read.
    let written = h.out.join("written.txt");
    std::fs::write(&written, "in the write grant\n").unwrap();
    let dest = h.remote("loot.txt");
    for src in [
        s(&h.secret),
        "/etc/passwd".into(),
        s(&h.decoy),
        s(&h.root),
        s(&written),
        "out/written.txt".into(),
        // Lexically a sibling of the granted directory, not inside it.
        format!("{}-2/x", s(&h.files)),
    ] {
        h.refused(
            json!({"attack": "upload-file", "src": src, "dest": dest}),
            &h.step(),
            &["upload-file", &format!("`{src}`"), "not granted"],
        )
        .await;
        assert!(!Path::new(&dest).exists(), "a file reached the machine");
    }
    // The control: granted the secret, the very same attack gets it. The refusals
    // above are the grant's doing, not a component that cannot upload.
    let mut step = h.step();
    step.grant.read.push(h.secret.clone());
    let (result, ui) = h
        .run(
            json!({"attack": "upload-file", "src": s(&h.secret), "dest": dest}),
            &step,
        )
        .await;
    result.unwrap_or_else(|e| panic!("the control failed: {e}\nUI {:#?}", ui.shown()));
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), SECRET);
}

// 1b. upload-file with `..` climbing out of the granted directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_file_with_dot_dot_out_of_the_grant_is_refused() {
    let h = Host::new().await;
    let dest = h.remote("loot.txt");
    for src in [
        format!("{}/../../secret/secret.txt", s(&h.files)),
        format!("{}/../../../secret/secret.txt", s(&h.script)),
        "files/../../secret/secret.txt".into(),
        "files/script.sh/../../../secret/secret.txt".into(),
        "../secret/secret.txt".into(),
        "files/../../../../../../../../etc/passwd".into(),
        "/../../../../etc/passwd".into(),
    ] {
        h.refused(
            json!({"attack": "upload-file", "src": src, "dest": dest}),
            &h.step(),
            &["upload-file", &format!("`{src}`"), "not granted"],
        )
        .await;
        assert!(!Path::new(&dest).exists(), "a file reached the machine");
    }
}

// 1c. Symbolic links planted by the test inside the granted directory, pointing out:
// through upload-file, and inside a tree sent with upload-dir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_through_a_planted_symlink_is_refused() {
    let h = Host::new().await;
    let absolute = h.files.join("evil");
    let relative = h.files.join("evil-rel");
    let dir_link = h.files.join("evil-dir");
    std::os::unix::fs::symlink(&h.secret, &absolute).unwrap();
    std::os::unix::fs::symlink("../../secret/secret.txt", &relative).unwrap();
    std::os::unix::fs::symlink(h.secret.parent().unwrap(), &dir_link).unwrap();
    let dest = h.remote("loot.txt");
    for src in [
        s(&absolute),
        s(&relative),
        "files/evil".into(),
        format!("{}/secret.txt", s(&dir_link)),
    ] {
        h.refused(
            json!({"attack": "upload-file", "src": src, "dest": dest}),
            &h.step(),
            &["upload-file", &format!("`{src}`"), "outside"],
        )
        .await;
        assert!(!Path::new(&dest).exists(), "a file reached the machine");
    }
    // The whole granted directory, links included.
    h.refused(
        json!({"attack": "upload-dir", "src": s(&h.files), "dest": h.remote("tree-copy")}),
        &h.step(),
        &["upload-dir", "refusing", "symbolic links must stay inside"],
    )
    .await;
    // upload-dir of a directory outside, directly.
    h.refused(
        json!({"attack": "upload-dir", "src": s(h.secret.parent().unwrap()), "dest": h.remote("tree-copy")}),
        &h.step(),
        &["upload-dir", "not granted"],
    )
    .await;
}

// 2. download-file to a host path outside the write grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_file_outside_the_write_grant_is_refused() {
    let h = Host::new().await;
    for dest in [
        s(&h.decoy),
        s(&h.outside.join("new.txt")),
        s(&h.secret),
        // A file the step may read is not a file it may write.
        s(&h.script),
        "files/new.txt".into(),
        s(&h.work.join("new.txt")),
        "new.txt".into(),
        format!("{}-2/new.txt", s(&h.out)),
        "/tmp/kiln-hostile-provisioner-escape".into(),
    ] {
        h.refused(
            json!({"attack": "download-file", "src": h.remote("payload.txt"), "dest": dest}),
            &h.step(),
            &["download-file", &format!("`{dest}`"), "not granted"],
        )
        .await;
    }
    assert!(!Path::new("/tmp/kiln-hostile-provisioner-escape").exists());
    // The control: granted the outside directory, the same download lands there.
    let mut step = h.step();
    step.grant.write.push(h.outside.clone());
    let dest = h.outside.join("new.txt");
    let (result, ui) = h
        .run(
            json!({"attack": "download-file", "src": h.remote("payload.txt"), "dest": s(&dest)}),
            &step,
        )
        .await;
    result.unwrap_or_else(|e| panic!("the control failed: {e}\nUI {:#?}", ui.shown()));
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), PAYLOAD);
}

// 2b. download-dir to a host directory outside the write grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_dir_outside_the_write_grant_is_refused() {
    let h = Host::new().await;
    for dest in [
        s(&h.outside),
        s(&h.outside.join("sub")),
        s(&h.root),
        s(&h.files),
        "files/sub".into(),
        "out/../loot".into(),
        "/tmp".into(),
    ] {
        h.refused(
            json!({"attack": "download-dir", "src": h.remote("tree"), "dest": dest}),
            &h.step(),
            &["download-dir", &format!("`{dest}`"), "not granted"],
        )
        .await;
    }
}

// 14. download-file to `../escape` relative to the granted directory, and through
// links planted by the test inside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_with_dot_dot_or_links_out_of_the_write_grant_is_refused() {
    let h = Host::new().await;
    let src = h.remote("payload.txt");
    for dest in [
        "out/../escape".to_string(),
        "../escape".into(),
        "out/sub/../../escape".into(),
        format!("{}/../escape", s(&h.out)),
        format!("{}/../../outside/decoy.txt", s(&h.out)),
        "out/../../outside/escape".into(),
    ] {
        h.refused(
            json!({"attack": "download-file", "src": src, "dest": dest}),
            &h.step(),
            &["download-file", &format!("`{dest}`"), "not granted"],
        )
        .await;
    }
    assert!(!h.work.join("escape").exists());
    assert!(!h.root.join("escape").exists());

    // A link to a file outside, and one to a directory outside.
    let file_link = h.out.join("link");
    let dir_link = h.out.join("dir-link");
    std::os::unix::fs::symlink(&h.decoy, &file_link).unwrap();
    std::os::unix::fs::symlink(&h.outside, &dir_link).unwrap();
    for dest in [
        s(&file_link),
        "out/dir-link/new.txt".into(),
        "out/dir-link/decoy.txt".into(),
    ] {
        h.refused(
            json!({"attack": "download-file", "src": src, "dest": dest}),
            &h.step(),
            &["download-file", &format!("`{dest}`")],
        )
        .await;
    }
    h.refused(
        json!({"attack": "download-dir", "src": h.remote("tree"), "dest": "out/dir-link"}),
        &h.step(),
        &["download-dir", "`out/dir-link`"],
    )
    .await;
    assert_eq!(std::fs::read_to_string(&h.decoy).unwrap(), DECOY);
    assert_eq!(std::fs::read_dir(&h.outside).unwrap().count(), 1);
}

// Beyond the list: the host files a provisioner may only ask about through
// `host-files`, and plain WASI file calls (no directory is preopened).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probing_host_files_outside_the_grant_is_refused() {
    let h = Host::new().await;
    for src in [
        s(&h.secret),
        s(&h.outside.join("missing")),
        "../secret".into(),
    ] {
        h.refused(
            json!({"attack": "kind", "src": src}),
            &h.step(),
            &["kind", &format!("`{src}`"), "not granted"],
        )
        .await;
    }
    for src in [
        s(&h.secret),
        s(&h.script),
        "files/script.sh".into(),
        "/etc/passwd".into(),
    ] {
        h.refused(
            json!({"attack": "std-fs-read", "src": src}),
            &h.step(),
            &["std::fs::read", &format!("`{src}`"), "failed"],
        )
        .await;
    }
}

/// The environment variable the env attack looks for, set once in this process.
fn test_env_var() -> (&'static str, &'static str) {
    static VAR: OnceLock<(String, String)> = OnceLock::new();
    let (name, value) = VAR.get_or_init(|| {
        let name = format!("KILN_HOSTILE_ENV_{}", std::process::id());
        let value = format!("env-secret-{}", std::process::id());
        std::env::set_var(&name, &value);
        (name, value)
    });
    (name, value)
}

// 3. A host environment variable not granted: the component does not see it (nor any
// other); granted by name, it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_variables_are_not_granted_unless_named() {
    let h = Host::new().await;
    let (name, value) = test_env_var();
    assert_eq!(std::env::var(name).unwrap(), value);
    h.refused(
        json!({"attack": "env", "name": name}),
        &h.step(),
        &["std::env::var", &format!("`{name}`"), "not found"],
    )
    .await;
    for common in ["HOME", "PATH", "USER"] {
        h.refused(
            json!({"attack": "env", "name": common}),
            &h.step(),
            &["std::env::var", "not found"],
        )
        .await;
    }
    h.refused(
        json!({"attack": "env-all"}),
        &h.step(),
        &["sees no variables"],
    )
    .await;
    // Granting another variable does not grant this one.
    let mut other = h.step();
    other.grant.env = vec!["KILN_SOMETHING_ELSE".into()];
    h.refused(
        json!({"attack": "env", "name": name}),
        &other,
        &["std::env::var", "not found"],
    )
    .await;

    // The control: granted by name, the same component sees it.
    let mut step = h.step();
    step.grant.env = vec![name.to_owned()];
    let (result, ui) = h.run(json!({"attack": "env", "name": name}), &step).await;
    result.unwrap_or_else(|e| panic!("the control failed: {e}\nUI {:#?}", ui.shown()));
    assert_eq!(
        ui.reported(&format!("env {name}=")),
        [value],
        "the granted variable reaches the component: {:#?}",
        ui.shown()
    );
}

// 4. A TCP connection not granted: the listener the test opened receives nothing;
// granted `127.0.0.1:PORT`, the same component connects and says hello.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_are_not_granted_unless_named() {
    let h = Host::new().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let nothing_arrived = |when: &str| match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("SECURITY: {when}, the component reached the host socket: {other:?}"),
    };
    h.refused(
        json!({"attack": "tcp-connect", "addr": addr}),
        &h.step(),
        &["TcpStream::connect", &format!("`{addr}`"), "failed"],
    )
    .await;
    nothing_arrived("without a grant");
    // A grant for another port, or another address, does not cover it.
    for granted in ["127.0.0.1:1", "127.0.0.2:*", "[::1]:*"] {
        let mut step = h.step();
        step.grant.network = vec![granted.to_owned()];
        h.refused(
            json!({"attack": "tcp-connect", "addr": addr}),
            &step,
            &["TcpStream::connect", "failed"],
        )
        .await;
        nothing_arrived(&format!("granted only {granted}"));
    }

    // The control.
    let mut step = h.step();
    step.grant.network = vec![addr.clone()];
    let (result, ui) = h
        .run(json!({"attack": "tcp-connect", "addr": addr}), &step)
        .await;
    result.unwrap_or_else(|e| panic!("the control failed: {e}\nUI {:#?}", ui.shown()));
    let (mut conn, _) = listener
        .accept()
        .expect("the granted connection reached the listener");
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    assert_eq!(got, "hello from the sandbox\n");

    // Granted by host name, the same component resolves it and connects.
    let port = listener.local_addr().unwrap().port();
    let by_name = format!("localhost:{port}");
    let mut step = h.step();
    step.grant.network = vec![by_name.clone()];
    let (result, ui) = h
        .run(json!({"attack": "tcp-connect", "addr": by_name}), &step)
        .await;
    result.unwrap_or_else(|e| panic!("the control by name failed: {e}\nUI {:#?}", ui.shown()));
    let (mut conn, _) = listener
        .accept()
        .expect("the granted connection by name reached the listener");
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    assert_eq!(got, "hello from the sandbox\n");
}

// 5. Name resolution without a grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_resolution_is_not_granted() {
    let h = Host::new().await;
    for addr in ["localhost:80", "example.com:443"] {
        h.refused(
            json!({"attack": "dns", "addr": addr}),
            &h.step(),
            &["resolving", &format!("`{addr}`"), "failed"],
        )
        .await;
    }
}

// 5b. Granted one address, the component may not resolve every name: a lookup of a name
// it was not granted is itself a message to the outside world (DNS exfiltration:
// `<secret>.attacker.example` reaches the attacker's name server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_resolution_is_limited_to_the_granted_hosts() {
    let h = Host::new().await;
    let mut step = h.step();
    step.grant.network = vec!["127.0.0.1:9".into()];
    for addr in ["localhost:80", "kiln-exfiltration-probe.invalid:80"] {
        h.refused(
            json!({"attack": "dns", "addr": addr}),
            &step,
            &["resolving", &format!("`{addr}`"), "failed"],
        )
        .await;
    }
    // The control: the granted name resolves (whatever port is asked).
    step.grant.network = vec!["LOCALHOST:9".into()];
    let (result, ui) = h
        .run(json!({"attack": "dns", "addr": "localhost:80"}), &step)
        .await;
    result.unwrap_or_else(|e| panic!("the control failed: {e}\nUI {:#?}", ui.shown()));
    let shown = format!("{:?}", ui.shown());
    assert!(
        shown.contains("resolved `localhost:80`"),
        "the granted name did not resolve: {shown}"
    );
}

// 6. A busy loop is stopped at the step's timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_loop_is_stopped_at_the_timeout() {
    let h = Host::new().await;
    let mut step = h.step();
    step.timeout = Some(Duration::from_secs(2));
    // A generous bound, only so that a host that never stops it fails this test
    // instead of hanging it.
    let (error, _) = tokio::time::timeout(
        Duration::from_secs(120),
        h.stopped(
            json!({"attack": "busy-loop"}),
            &step,
            &["exceeded its timeout"],
        ),
    )
    .await
    .expect("SECURITY: the busy loop was not stopped within 120 s of a 2 s timeout");
    assert!(
        matches!(error, RuntimeError::Timeout { timeout, .. } if Some(timeout) == step.timeout),
        "not a timeout: {error:?}"
    );
    // The runtime is still usable.
    let (result, ui) = h
        .run(json!({"attack": "run", "command": "true"}), &h.step())
        .await;
    result.unwrap_or_else(|e| panic!("the next step failed: {e}\nUI {:#?}", ui.shown()));
}

// 7. Growing memory past the step's limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growing_memory_past_the_limit_is_stopped() {
    let h = Host::new().await;
    let mut step = h.step();
    step.limits.memory = Some(32 << 20);
    h.stopped(
        json!({"attack": "grow-memory", "bytes": 1u64 << 30}),
        &step,
        &["memory", "limit"],
    )
    .await;
    // The control: the same component allocating less than its limit works.
    let (result, ui) = h
        .run(json!({"attack": "grow-memory", "bytes": 8u64 << 20}), &step)
        .await;
    assert!(
        result.is_ok(),
        "8 MiB under a 32 MiB limit failed: {result:?}\nUI {:#?}",
        ui.shown()
    );
}

// 8. Flooding the UI past the step's output limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_the_ui_past_the_limit_is_stopped() {
    let h = Host::new().await;
    let limit: u64 = 64 << 10;
    let mut step = h.step();
    step.limits.ui_output = Some(limit);
    let (_, ui) = h
        .stopped(
            json!({"attack": "flood-ui", "bytes": 16u64 << 20}),
            &step,
            &["ui output"],
        )
        .await;
    // At most about the limit reached the UI: one more line, and the host's own notice.
    let got = ui.bytes() as u64;
    eprintln!("the UI got {got} bytes under a limit of {limit}");
    assert!(
        got <= limit + (4 << 10),
        "the UI got {got} bytes under a limit of {limit}"
    );
}

// 8b. Flooding the UI through the machine: the output of a remote command the component
// runs with `run` streams to the UI, and counts against the same limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_the_ui_through_remote_output_is_stopped() {
    let h = Host::new().await;
    let limit: u64 = 64 << 10;
    let mut step = h.step();
    step.limits.ui_output = Some(limit);
    step.limits.message_size = Some(1 << 20);
    // 4 MiB in lines of 1 KiB.
    let lines = "head -c 4194304 /dev/zero | tr '\\0' x | fold -w 1023";
    let (_, ui) = h
        .stopped(
            json!({"attack": "run", "command": lines}),
            &step,
            &["ui output"],
        )
        .await;
    let got = ui.bytes() as u64;
    eprintln!("remote lines: the UI got {got} bytes under a limit of {limit}");
    assert!(
        got <= limit + (4 << 10),
        "the UI got {got} bytes under a limit of {limit}"
    );
}

// 8c. One endless remote line (64 MiB without a newline): the host must not hold it all
// in its own memory (outside the instance's memory limit), nor rescan it for every piece
// that arrives, to make one UI line of it. Stopped at the limit, this takes a moment; the
// timeout is only there so that a host that buffers it fails this test in 20 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_endless_remote_line_is_not_buffered_whole() {
    let h = Host::new().await;
    let limit: u64 = 64 << 10;
    let mut step = h.step();
    step.limits.ui_output = Some(limit);
    step.limits.message_size = Some(1 << 20);
    step.timeout = Some(Duration::from_secs(20));
    let endless = "head -c 67108864 /dev/zero | tr '\\0' x";
    let (error, ui) = h
        .stopped(
            json!({"attack": "run", "command": endless}),
            &step,
            &["limit"],
        )
        .await;
    let message = loose(&error.to_string());
    assert!(
        message.contains("ui output") || message.contains("message size"),
        "the failure does not name the UI output or message size limit: {error}"
    );
    let got = ui.bytes() as u64;
    assert!(
        got <= limit + (4 << 10),
        "one remote line of {got} bytes reached the UI under a limit of {limit}"
    );
}

// 9. An upload buffer larger than the message size limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_buffer_past_the_message_size_is_refused() {
    let h = Host::new().await;
    let mut step = h.step();
    step.limits.message_size = Some(1 << 20);
    let dest = h.remote("giant.bin");
    h.stopped(
        json!({"attack": "upload-bytes", "bytes": 4u64 << 20, "dest": dest}),
        &step,
        &["message size"],
    )
    .await;
    assert!(
        !Path::new(&dest).exists(),
        "the oversized upload reached the machine"
    );
    // The control: under the limit, the same upload works.
    let (result, ui) = h
        .run(
            json!({"attack": "upload-bytes", "bytes": 512u64 << 10, "dest": dest}),
            &step,
        )
        .await;
    result.unwrap_or_else(|e| panic!("the control failed: {e}\nUI {:#?}", ui.shown()));
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), 512 << 10);
}

// 10. A remote command started and abandoned: the component returns without waiting
// for it (and without dropping its handle). Once the step has ended, nothing of it may
// run on: the host kills what the step left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_commands_left_running_die_with_the_step() {
    let h = Host::new().await;
    let marker = format!("sleep 1234.{}", unique());
    let command = format!("echo started; exec {marker}");
    let (result, ui) = h
        .run(
            json!({"attack": "leave-process", "command": command}),
            &h.step(),
        )
        .await;
    result.unwrap_or_else(|e| panic!("the step failed: {e}\nUI {:#?}", ui.shown()));
    assert!(
        ui.lines().iter().any(|l| l.contains("left `")),
        "the command did not start: {:#?}",
        ui.shown()
    );
    // Asked with a second SSH command, while the machine is still connected (as it is
    // for the next provisioner of the build); a moment's grace for the kill to land.
    let mut left = Vec::new();
    for _ in 0..50 {
        left = h.remote_processes(&marker).await;
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !left.is_empty() {
        // Clean up after the host, by PID, before failing.
        h.ssh(&format!("kill {}", left.join(" "))).await;
        panic!(
            "NOT CLEANED UP: `{marker}`, which the step started and abandoned, still runs on \
             the machine 10 s after the step ended (PIDs {left:?}); the host does not stop \
             the remote commands a component leaves behind"
        );
    }
}

// 11. A panic mid-upload: the component sends half of a file, then panics. The step
// fails with the panic's message, and nothing claims the transfer succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_mid_upload_fails_the_step_with_its_message() {
    let h = Host::new().await;
    let dest = h.remote("partial.bin");
    let size: u64 = 1 << 20;
    let (error, ui) = h
        .stopped(
            json!({"attack": "panic-mid-upload", "bytes": size, "dest": dest}),
            &h.step(),
            &["panicked mid-upload", &format!("`{dest}`")],
        )
        .await;
    assert!(
        matches!(error, RuntimeError::Trap { .. }),
        "a panic is a crash: {error:?}"
    );
    // What is on the machine is what the component sent before it panicked, never the
    // whole file: no success is claimed for the target name.
    let left = std::fs::metadata(&dest).map(|m| m.len()).ok();
    eprintln!("after the panic, the machine holds {left:?} bytes at {dest}");
    assert!(
        left.is_none_or(|n| n < size),
        "a complete file was left under the target name"
    );
    assert!(
        !ui.lines().iter().any(|l| l.contains("ATTACK SUCCEEDED")),
        "{:#?}",
        ui.shown()
    );
    // The runtime survives a crash: the next step in it works.
    let (result, ui) = h
        .run(json!({"attack": "run", "command": "true"}), &h.step())
        .await;
    result.unwrap_or_else(|e| panic!("the next step failed: {e}\nUI {:#?}", ui.shown()));
}

// 12. More remote commands in flight than the step's limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_remote_commands_in_flight_are_refused() {
    let h = Host::new().await;
    let mut step = h.step();
    step.limits.calls_in_flight = Some(4);
    let marker = format!("sleep 3.{}", unique());
    let (_, ui) = h
        .stopped(
            json!({"attack": "in-flight", "command": format!("exec {marker}"), "count": 12}),
            &step,
            &["in flight"],
        )
        .await;
    eprintln!("UI: {:#?}", ui.shown());
    // The control: as many as the limit allows.
    let (result, ui) = h
        .run(
            json!({"attack": "in-flight", "command": format!("exec {marker}"), "count": 4}),
            &step,
        )
        .await;
    assert!(
        result.is_ok(),
        "4 commands under a limit of 4 failed: {result:?}\nUI {:#?}",
        ui.shown()
    );
}

// 12b. The in-flight limit is not a way around: commands started and dropped at once
// (never more than one handle alive) must not keep running on the machine, or the
// limit bounds nothing (each holds a process and an SSH channel).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_remote_commands_do_not_pile_up_past_the_in_flight_limit() {
    let h = Host::new().await;
    let limit = 4;
    let mut step = h.step();
    step.limits.calls_in_flight = Some(limit);
    let marker = format!("sleep 60.{}", unique());
    let command = format!("echo started; exec {marker}");
    let (result, ui) = h
        .run(
            json!({"attack": "start-and-drop", "command": command, "count": 12}),
            &step,
        )
        .await;
    let outcome = match &result {
        Ok(()) => "the step succeeded".to_string(),
        Err(e) => format!("the step failed: {e}"),
    };
    eprintln!("start-and-drop: {outcome}; UI {:#?}", ui.shown());
    let mut running = Vec::new();
    for _ in 0..25 {
        running = h.remote_processes(&marker).await;
        if running.len() <= limit as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = h.remote_processes(&marker).await;
    if !all.is_empty() {
        h.ssh(&format!("kill {}", all.join(" "))).await;
    }
    assert!(
        running.len() <= limit as usize,
        "NOT BOUNDED: {} remote commands the step started and dropped still run on the \
         machine under a calls_in_flight limit of {limit} ({outcome})",
        running.len()
    );
}

// 13. Exhausting the instance: unbounded recursion overflows the stack. The step fails
// with a trap; the host and the runtime survive, and the next step works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_overflow_traps_and_the_runtime_survives() {
    let h = Host::new().await;
    let (error, _) = h
        .stopped(json!({"attack": "recurse"}), &h.step(), &["crashed"])
        .await;
    let RuntimeError::Trap { message, .. } = &error else {
        panic!("not a trap: {error:?}");
    };
    assert!(
        message.contains("stack") || message.contains("out of bounds"),
        "the trap does not say what happened: {message}"
    );
    let (result, ui) = h
        .run(
            json!({"attack": "run", "command": "echo still-alive"}),
            &h.step(),
        )
        .await;
    result.unwrap_or_else(|e| panic!("the next step failed: {e}\nUI {:#?}", ui.shown()));
    assert!(ui.lines().iter().any(|l| l.contains("still-alive")));
}

// 13b. Exhausting the handle tables: millions of host resources (clock pollables), none
// ever dropped. What the host keeps per handle is not in the guest's linear memory, so
// it must be bounded on its own (here, by wasmtime's per-store handle limit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_the_handle_table_traps_and_the_runtime_survives() {
    let h = Host::new().await;
    let mut step = h.step();
    step.timeout = Some(Duration::from_secs(120));
    let (error, _) = h
        .stopped(
            json!({"attack": "handles", "count": 5_000_000u64}),
            &step,
            &["handle", "limit"],
        )
        .await;
    assert!(
        matches!(error, RuntimeError::Trap { .. }),
        "not a trap: {error:?}"
    );
    let (result, ui) = h
        .run(json!({"attack": "run", "command": "true"}), &h.step())
        .await;
    result.unwrap_or_else(|e| panic!("the next step failed: {e}\nUI {:#?}", ui.shown()));
}

// 15. The clock: the build's fixed clock by default, the host's when granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_is_the_builds_unless_granted() {
    let h = Host::new().await;
    let (result, ui) = h.run(json!({"attack": "clock"}), &h.step()).await;
    result.unwrap_or_else(|e| panic!("{e}\nUI {:#?}", ui.shown()));
    assert_eq!(
        ui.reported("clock: "),
        [CLOCK_EPOCH.to_string()],
        "SECURITY: the component read a clock other than the build's"
    );

    let mut step = h.step();
    step.grant.clock_host = true;
    let (result, ui) = h.run(json!({"attack": "clock"}), &step).await;
    result.unwrap_or_else(|e| panic!("{e}\nUI {:#?}", ui.shown()));
    let seen: u64 = ui.reported("clock: ")[0].parse().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        seen.abs_diff(now) < 300,
        "granted the host's clock, the component sees {seen}, the host {now}"
    );
}

// 15b. Random numbers: without a grant, `wasi:random/insecure` is seeded by the build,
// so two instances draw the same numbers; granted the host's, they differ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_random_is_seeded_unless_granted() {
    let h = Host::new().await;
    let draw = |step: Step| {
        let h = &h;
        async move {
            let (result, ui) = h.run(json!({"attack": "random"}), &step).await;
            result.unwrap_or_else(|e| panic!("{e}\nUI {:#?}", ui.shown()));
            (ui.reported("random: "), ui.reported("seed: "))
        }
    };
    let first = draw(h.step()).await;
    let second = draw(h.step()).await;
    eprintln!("default grant: {first:?} / {second:?}");
    assert_eq!(first.1, second.1, "the insecure seed is the build's");
    assert_eq!(
        first.0, second.0,
        "SECURITY: without a grant, two instances drew different insecure random numbers: \
         the generator is not seeded by the build"
    );

    let mut host = h.step();
    host.grant.random_host = true;
    let third = draw(host.clone()).await;
    let fourth = draw(host).await;
    eprintln!("random = host: {third:?} / {fourth:?}");
    assert_ne!(
        third.0, fourth.0,
        "granted the host's random numbers, two instances drew the same"
    );
}

// The same component, granted what it asks, works: it uploads its granted script, runs
// it, and downloads what it made into its granted directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_what_it_asks_it_works() {
    let h = Host::new().await;
    let before = h.snapshot();
    let dest = h.out.join("result.txt");
    let (result, ui) = h
        .run(
            json!({
                "attack": "none",
                "src": "files/script.sh",
                "dest": "out/result.txt",
                "remote_dir": s(&h.remote),
            }),
            &h.step(),
        )
        .await;
    result.unwrap_or_else(|e| panic!("the granted run failed: {e}\nUI {:#?}", ui.shown()));
    assert!(
        ui.lines()
            .iter()
            .any(|l| l.contains("ran the script (done)")),
        "{:#?}",
        ui.shown()
    );
    assert_eq!(
        std::fs::read_to_string(h.remote.join("script.sh")).unwrap(),
        SCRIPT
    );
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        "provisioned-by-kiln\n"
    );
    let mut after = h.snapshot();
    assert!(after.remove(&dest).is_some());
    assert_eq!(
        after, before,
        "the granted run changed more than its output"
    );
}

// --- Budgets on every export, and what a component's text may do. ---

/// Runs the component's `validate` on `config` under `step`, as `kiln validate` does
/// (no machine: validation runs before there is one).
async fn validate(
    config: serde_json::Value,
    step: &Step,
    ui: Arc<RecordingUi>,
) -> Result<Vec<kiln_runtime::ConfigIssue>, RuntimeError> {
    let (runtime, prepared) = component();
    let req = StepRequest {
        ui,
        grant: step.grant.clone(),
        timeout: step.timeout,
        limits: step.limits,
        clock_epoch: step.clock_epoch,
        archive_epoch: step.clock_epoch,
        ..StepRequest::new(config.to_string())
    };
    runtime
        .validate_all(prepared, &[req])
        .await
        .pop()
        .expect("one answer")
}

/// `limits { cpu = ... }` of `secs` seconds, the rest default.
fn cpu(secs: u64) -> Limits {
    Limits {
        cpu: Some(Duration::from_secs(secs)),
        ..Limits::default()
    }
}

// 20. A validate export that spins forever, with the step's timeout: stopped at it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_in_validate_is_stopped_at_the_steps_timeout() {
    let mut step = Host::step_defaults();
    step.timeout = Some(Duration::from_secs(2));
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(60),
        validate(
            json!({"attack": "none", "validate": "spin"}),
            &step,
            Default::default(),
        ),
    )
    .await
    .expect("SECURITY: validate was not stopped within 60 s of a 2 s timeout");
    let error = answer.expect_err("a spinning validate cannot succeed");
    assert!(
        matches!(error, RuntimeError::Timeout { .. }),
        "not the timeout: {error}"
    );
    assert!(
        error.to_string().contains("exceeded its timeout"),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

// 21. The same without a timeout: the computing-time limit stops it, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_in_validate_without_a_timeout_is_stopped_by_the_cpu_limit() {
    let mut step = Host::step_defaults();
    step.timeout = None;
    step.limits = cpu(1);
    let answer = tokio::time::timeout(
        Duration::from_secs(60),
        validate(
            json!({"attack": "none", "validate": "spin"}),
            &step,
            Default::default(),
        ),
    )
    .await
    .expect("SECURITY: validate without a timeout was not stopped by its cpu limit");
    let message = answer
        .expect_err("a spinning validate cannot succeed")
        .to_string();
    check_message(
        &json!({"validate": "spin"}),
        &message,
        &["cpu limit (1s)", "limits { cpu = ... }"],
    );
    // The control: a configuration that validates, under the same limit.
    let issues = validate(json!({"attack": "none"}), &step, Default::default())
        .await
        .expect("the control validates");
    assert!(issues.is_empty(), "{issues:?}");
}

// 22. Memory exhaustion in validate is stopped, and the message names the limit as it
// does for every other export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growing_memory_in_validate_names_the_memory_limit() {
    let mut step = Host::step_defaults();
    step.limits.memory = Some(64 << 20);
    let message = validate(
        json!({"attack": "none", "validate": "grow-memory", "bytes": 1u64 << 30}),
        &step,
        Default::default(),
    )
    .await
    .expect_err("validate cannot allocate past its limit")
    .to_string();
    check_message(
        &json!({"validate": "grow-memory"}),
        &message,
        &["memory limit (67108864 bytes)", "limits { memory = ... }"],
    );
    let h = Host::new().await;
    let (error, _) = h
        .stopped(
            json!({"attack": "grow-memory", "bytes": 1u64 << 30}),
            &step,
            &["memory limit (67108864 bytes)", "limits { memory = ... }"],
        )
        .await;
    assert!(matches!(error, RuntimeError::Trap { .. }), "{error:?}");
}

// 23. A provision that spins forever without a timeout: the cpu limit stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_without_a_timeout_is_stopped_by_the_cpu_limit() {
    let h = Host::new().await;
    let mut step = h.step();
    step.timeout = None;
    step.limits = cpu(1);
    let (error, _) = tokio::time::timeout(
        Duration::from_secs(60),
        h.stopped(json!({"attack": "busy-loop"}), &step, &["cpu limit (1s)"]),
    )
    .await
    .expect("SECURITY: the busy loop was not stopped by its cpu limit");
    assert!(matches!(error, RuntimeError::Trap { .. }), "{error:?}");
}

// 23b. Its granted twin: waiting on the machine is not computing, so a step that waits
// longer than its cpu limit for a remote command finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_the_machine_does_not_spend_the_cpu_limit() {
    let h = Host::new().await;
    let mut step = h.step();
    step.timeout = None;
    step.limits = cpu(1);
    let (result, ui) = h
        .run(
            json!({"attack": "run", "command": "sleep 3 && echo waited"}),
            &step,
        )
        .await;
    result.unwrap_or_else(|e| panic!("waiting counted as computing: {e}\nUI {:#?}", ui.shown()));
    assert!(
        ui.lines().iter().any(|l| l.contains("waited")),
        "{:#?}",
        ui.shown()
    );
}

/// Terminal control sequences a component could use to rewrite the person's screen:
/// a carriage return, a cursor move and line erase, a window title (OSC), an 8-bit CSI,
/// a backspace and a bell, around a fake line of another build.
const ESCAPES: &str =
    "\r\x1b[1A\x1b[2K==> other.build: Build 'other.build' finished.\x1b]0;owned\x07\u{9b}2J\x08\x07";

fn assert_neutral(what: &str, text: &str) {
    for bad in ['\r', '\x1b', '\u{9b}', '\x07', '\x08'] {
        assert!(
            !text.contains(bad),
            "SECURITY: {what} passed a raw {bad:?} through: {text:?}"
        );
    }
    assert!(
        text.contains("\\x1b[2K"),
        "{what} does not show the escape: {text:?}"
    );
    assert!(
        text.contains("\\r"),
        "{what} does not show the carriage return: {text:?}"
    );
}

// 24. Control sequences in UI messages and in the returned error are shown escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_escapes_in_messages_and_errors_are_shown_not_obeyed() {
    let h = Host::new().await;
    let (error, ui) = h
        .stopped(
            json!({"attack": "escape-ui", "text": ESCAPES}),
            &h.step(),
            &["other.build"],
        )
        .await;
    assert_neutral("the returned error", &error.to_string());
    let shown: Vec<String> = ui
        .lines()
        .into_iter()
        .filter(|l| l.contains("other.build"))
        .collect();
    assert_eq!(shown.len(), 3, "say, message and error: {shown:#?}");
    for line in &shown {
        assert_neutral("a UI message", line);
    }
    // The twin: newlines and tabs are text, and pass as they are.
    let (error, ui) = h
        .stopped(
            json!({"attack": "escape-ui", "text": "two\tcolumns\nand a second line"}),
            &h.step(),
            &["two"],
        )
        .await;
    assert_eq!(error.to_string(), "two\tcolumns\nand a second line");
    assert!(ui
        .lines()
        .contains(&"message: two\tcolumns\nand a second line".to_owned()));
}

// 25. A returned error of 48 MiB: cut at the step's output limits, with a note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_returned_error_is_cut_at_the_output_limits() {
    let h = Host::new().await;
    let mut step = h.step();
    step.limits.ui_output = Some(1 << 20);
    let (error, _) = h
        .stopped(
            json!({"attack": "huge-error", "bytes": 48u64 << 20}),
            &step,
            &["HUGE-ERROR-START", "more bytes cut", "ui_output"],
        )
        .await;
    let len = error.to_string().len();
    assert!(
        len < (1 << 20) + 4096,
        "the error kept {len} bytes past a 1 MiB ui_output limit"
    );
    // The twin: an error within the limits is kept whole.
    let (error, _) = h
        .stopped(
            json!({"attack": "huge-error", "bytes": 1000}),
            &step,
            &["HUGE"],
        )
        .await;
    assert_eq!(error.to_string().len(), "HUGE-ERROR-START".len() + 1000);
}

// 26. Holding more sockets open than the in-flight limit: stopped, naming the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holding_many_sockets_open_is_stopped_at_the_in_flight_limit() {
    let h = Host::new().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut step = h.step();
    step.grant.network = vec![addr.clone()];
    let (error, _) = h
        .stopped(
            json!({"attack": "sockets", "addr": addr, "count": 5000}),
            &step,
            &["calls_in_flight limit (16)", "network sockets"],
        )
        .await;
    assert!(matches!(error, RuntimeError::Trap { .. }), "{error:?}");
    // The twin: a few connections at once, within the limit.
    let (result, ui) = h
        .run(
            json!({"attack": "sockets", "addr": addr, "count": 8}),
            &step,
        )
        .await;
    result.unwrap_or_else(|e| panic!("the control failed: {e}\nUI {:#?}", ui.shown()));
}

// 27. Reading an environment it was not granted: the person is told, once, which grant
// would pass a variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_an_ungranted_environment_is_explained_once() {
    let h = Host::new().await;
    let (name, _) = test_env_var();
    let (_, ui) = h
        .stopped(
            json!({"attack": "env", "name": name}),
            &h.step(),
            &["failed"],
        )
        .await;
    let told: Vec<String> = ui
        .lines()
        .into_iter()
        .filter(|l| l.contains("read its environment"))
        .collect();
    assert_eq!(told.len(), 1, "{:#?}", ui.shown());
    assert!(told[0].contains("grant { env = [\"NAME\"] }"), "{told:?}");
    assert!(told[0].contains("component `hostile`"), "{told:?}");
}

// 28. Opening a socket without a network grant, or connecting where it is not granted:
// the person is told what was tried and which grant would allow it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_explained_naming_the_grant() {
    let h = Host::new().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (_, ui) = h
        .stopped(
            json!({"attack": "tcp-connect", "addr": addr}),
            &h.step(),
            &["failed"],
        )
        .await;
    assert!(
        ui.lines()
            .iter()
            .any(|l| l.contains("tried to open a TCP socket")
                && l.contains("grant { network = [\"host:port\"] }")),
        "{:#?}",
        ui.shown()
    );
    let mut step = h.step();
    step.grant.network = vec!["127.0.0.1:1".into()];
    let (_, ui) = h
        .stopped(
            json!({"attack": "tcp-connect", "addr": addr}),
            &step,
            &["failed"],
        )
        .await;
    assert!(
        ui.lines()
            .iter()
            .any(|l| l.contains(&format!("tried to connect to {addr}"))
                && l.contains(&format!("grant {{ network = [\"{addr}\"] }}"))),
        "{:#?}",
        ui.shown()
    );
}
