//! Publishing and pulling WebAssembly components through real OCI registries (Debian's
//! docker-registry on loopback, open or behind basic auth), with skopeo as the other
//! tool: the wasm artifact layout on the wire, round trips, credentials as Docker keeps
//! them, and what happens to corrupt blobs on either side.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kiln_registry::{credentials_for, pull_component, push_component, resolve_component};
use kiln_registry::{store_login, Access, BlobStore, ComponentMeta, Digest, Error, Reference};
use kiln_registry::{ImageConfig, LayerOptions, RegistryAuth, RootFs};
use kiln_tests::{skopeo, Registry};
use serde_json::{json, Value};

/// A real component, built for wasm32-wasip2 by this crate's build script; any component
/// does for moving bytes around.
const COMPONENT: &str = env!("HOSTILE_PROVISIONER_WASM");
const USER: &str = "kiln";
const PASSWORD: &str = "s3cret";
/// base64 of `kiln:s3cret`, as `docker login` writes it.
const AUTH_FIELD: &str = "a2lsbjpzM2NyZXQ=";

/// The component, copied to `dir/provisioner.wasm` so that its file name is known.
fn component_file(dir: &Path) -> PathBuf {
    let path = dir.join("provisioner.wasm");
    fs::copy(COMPONENT, &path).unwrap();
    path
}

fn meta() -> ComponentMeta {
    ComponentMeta {
        imports: vec!["wasi:cli/environment@0.2.0".into()],
        exports: vec!["kiln:plugin/provisioner@0.1.0".into()],
        target: Some("kiln:plugin/provisioner".into()),
        title: Some("provisioner".into()),
        version: Some("1.0.0".into()),
        created: 1_700_000_000,
        ..ComponentMeta::default()
    }
}

fn at(registry: &Registry, name: &str) -> Reference {
    format!("{}/{name}", registry.address).parse().unwrap()
}

fn open() -> Access {
    Access::default()
}

/// The test component pushed as `name` to a fresh registry that asks for no
/// credentials.
async fn pushed_to_a_fresh_registry(
    tmp: &Path,
    name: &str,
) -> (Registry, Reference, kiln_registry::PushedComponent) {
    pushed_to(Registry::start(), tmp, name, &open()).await
}

/// The test component pushed as `private/provisioner:v1` to a fresh registry behind
/// basic auth (`USER`, `PASSWORD`).
async fn pushed_to_a_private_registry(
    tmp: &Path,
) -> (Registry, Reference, kiln_registry::PushedComponent) {
    let registry = Registry::start_with_basic_auth(USER, PASSWORD);
    pushed_to(
        registry,
        tmp,
        "private/provisioner:v1",
        &with(USER, PASSWORD),
    )
    .await
}

async fn pushed_to(
    registry: Registry,
    tmp: &Path,
    name: &str,
    access: &Access,
) -> (Registry, Reference, kiln_registry::PushedComponent) {
    let wasm = component_file(tmp);
    let reference = at(&registry, name);
    let pushed = push_component(&reference, access, &wasm, &meta())
        .await
        .unwrap();
    (registry, reference, pushed)
}

fn with(username: &str, password: &str) -> Access {
    Access {
        auth: Some(RegistryAuth {
            username: username.into(),
            password: password.into(),
        }),
        insecure: false,
    }
}

/// A registry blob's file in its storage.
fn registry_blob(registry: &Registry, d: &Digest) -> PathBuf {
    let hex = d.hex();
    let blobs = registry.storage().join("docker/registry/v2/blobs/sha256");
    blobs.join(&hex[..2]).join(hex).join("data")
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    kiln_tests::names_in(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_gives_the_same_bytes_and_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, reference, pushed) =
        pushed_to_a_fresh_registry(tmp.path(), "kiln/provisioner:1.0.0").await;
    let wasm = tmp.path().join("provisioner.wasm");
    let bytes = fs::read(&wasm).unwrap();
    assert_eq!(pushed.layer, Digest::of(&bytes));
    assert_eq!(pushed.size, bytes.len() as u64);
    let again = push_component(&reference, &open(), &wasm, &meta()).await;
    assert_eq!(again.unwrap().manifest, pushed.manifest);

    let store = BlobStore::new(tmp.path().join("store"));
    let pulled = pull_component(&reference, &open(), &store).await.unwrap();
    assert_eq!(pulled.manifest, pushed.manifest);
    assert_eq!(pulled.layer, pushed.layer);
    assert_eq!(pulled.size, pushed.size);
    assert_eq!(store.read(&pulled.layer).unwrap(), bytes);
    let world = pulled.config.component.as_ref().unwrap();
    assert_eq!(world.exports, meta().exports);
    assert_eq!(world.target, meta().target);
    assert_eq!(pulled.config.created, "2023-11-14T22:13:20Z");
    let annotation = |key: &str| pulled.annotations.get(key).map(String::as_str);
    assert_eq!(
        annotation("org.opencontainers.image.version"),
        Some("1.0.0")
    );
    assert_eq!(
        annotation("org.opencontainers.image.created"),
        Some("2023-11-14T22:13:20Z")
    );
    assert_eq!(annotation("org.opencontainers.image.description"), None);

    let resolved = resolve_component(&reference, &open()).await.unwrap();
    assert_eq!(resolved, (pushed.manifest.clone(), pushed.layer.clone()));
    let pinned = at(&registry, &format!("kiln/provisioner@{}", pushed.manifest));
    let by_digest = pull_component(&pinned, &open(), &store).await.unwrap();
    assert_eq!(by_digest.manifest, pushed.manifest);

    let later = ComponentMeta {
        created: 1_700_000_001,
        ..meta()
    };
    let other = push_component(&reference, &open(), &wasm, &later).await;
    assert_ne!(other.unwrap().manifest, pushed.manifest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_sees_the_wasm_artifact_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let (_registry, reference, pushed) =
        pushed_to_a_fresh_registry(tmp.path(), "kiln/provisioner:v1").await;

    let url = format!("docker://{reference}");
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &url]);
    assert_eq!(Digest::of(raw.as_bytes()), pushed.manifest);
    let manifest: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    assert_eq!(layers[0]["digest"], pushed.layer.as_str());
    assert_eq!(
        layers[0]["annotations"]["org.opencontainers.image.title"],
        "provisioner.wasm"
    );

    let config = skopeo(&["inspect", "--config", "--raw", "--tls-verify=false", &url]);
    let config: Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(config["layerDigests"], json!([pushed.layer.as_str()]));
    assert_eq!(
        config["component"]["exports"],
        json!(["kiln:plugin/provisioner@0.1.0"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_a_component_another_tool_pushed() {
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let bytes = fs::read(COMPONENT).unwrap();
    // An OCI image layout as another tool would write it: its own key order and spacing.
    let layout = tmp.path().join("layout");
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |content: &[u8]| {
        let d = Digest::of(content);
        fs::write(blobs.join(d.hex()), content).unwrap();
        (d, content.len())
    };
    let (layer, layer_size) = put(&bytes);
    let config = json!({
        "component": { "exports": ["kiln:plugin/provisioner@0.1.0"], "imports": [] },
        "os": "wasip2",
        "architecture": "wasm",
        "created": "2024-05-01T12:00:00Z",
        "layerDigests": [layer.as_str()],
    });
    let (config, config_size) = put(&serde_json::to_vec_pretty(&config).unwrap());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.wasm.config.v0+json",
            "digest": config.as_str(), "size": config_size,
        },
        "layers": [{
            "mediaType": "application/wasm",
            "digest": layer.as_str(), "size": layer_size,
            "annotations": { "org.opencontainers.image.title": "other.wasm" },
        }],
        "annotations": { "org.example.tool": "another" },
    });
    let (manifest, manifest_size) = put(&serde_json::to_vec_pretty(&manifest).unwrap());
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest.as_str(), "size": manifest_size,
            "annotations": { "org.opencontainers.image.ref.name": "v2" },
        }],
    });
    fs::write(layout.join("index.json"), index.to_string()).unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let reference = at(&registry, "other/tool:v2");
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &format!("oci:{}:v2", layout.display()),
        &format!("docker://{reference}"),
    ]);

    let store = BlobStore::new(tmp.path().join("store"));
    let pulled = pull_component(&reference, &open(), &store).await.unwrap();
    assert_eq!(pulled.manifest, manifest);
    assert_eq!(pulled.layer, layer);
    assert_eq!(store.read(&layer).unwrap(), bytes);
    assert_eq!(pulled.config.created, "2024-05-01T12:00:00Z");
    assert_eq!(pulled.config.layer_digests, [layer]);
    assert_eq!(pulled.annotations["org.example.tool"], "another");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_behind_basic_auth_takes_only_the_right_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, reference, pushed) = pushed_to_a_private_registry(tmp.path()).await;
    let wasm = tmp.path().join("provisioner.wasm");
    let store = BlobStore::new(tmp.path().join("store"));
    let pulled = pull_component(&reference, &with(USER, PASSWORD), &store).await;
    assert_eq!(pulled.unwrap().manifest, pushed.manifest);

    for access in [with(USER, "wrong"), open()] {
        let refused = push_component(&reference, &access, &wasm, &meta()).await;
        let e = refused.unwrap_err();
        assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
        let message = e.to_string();
        assert!(message.contains(&registry.address), "{message}");
        assert!(message.contains("kiln component login"), "{message}");
        let refused = pull_component(&reference, &access, &store).await;
        assert!(
            matches!(refused, Err(Error::Unauthorized { .. })),
            "{refused:?}"
        );
    }
}

/// Restores an environment variable when dropped, also when the test fails.
struct EnvVar(&'static str, Option<std::ffi::OsString>);

impl EnvVar {
    fn set(name: &'static str, value: impl AsRef<std::ffi::OsStr>) -> EnvVar {
        let old = std::env::var_os(name);
        std::env::set_var(name, value);
        EnvVar(name, old)
    }
}

impl Drop for EnvVar {
    fn drop(&mut self) {
        match &self.1 {
            Some(old) => std::env::set_var(self.0, old),
            None => std::env::remove_var(self.0),
        }
    }
}

/// The only test that changes environment variables (DOCKER_CONFIG, PATH), so that no
/// other test reads them meanwhile.
/// The credentials the Docker config gives `addr` are the test user's, and pull the
/// component pushed as `manifest`; no other registry gets any.
async fn pulls_with_found_credentials(
    addr: &str,
    reference: &Reference,
    store: &BlobStore,
    manifest: &Digest,
    from: &str,
) {
    let auth = credentials_for(addr)
        .unwrap()
        .unwrap_or_else(|| panic!("credentials from {from}"));
    assert_eq!(
        (auth.username.as_str(), auth.password.as_str()),
        (USER, PASSWORD)
    );
    let access = Access {
        auth: Some(auth),
        insecure: false,
    };
    let pulled = pull_component(reference, &access, store).await.unwrap();
    assert_eq!(pulled.manifest, *manifest);
    assert!(credentials_for("elsewhere.example").unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_come_from_the_docker_config_and_its_helpers() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, reference, pushed) = pushed_to_a_private_registry(tmp.path()).await;
    let addr = registry.address.as_str();

    // auths, under a key spelled as a URL.
    let docker = tmp.path().join("docker");
    fs::create_dir_all(&docker).unwrap();
    let config = json!({ "auths": { format!("http://{addr}/"): { "auth": AUTH_FIELD } } });
    fs::write(docker.join("config.json"), config.to_string()).unwrap();
    let _docker_config = EnvVar::set("DOCKER_CONFIG", &docker);
    let store = BlobStore::new(tmp.path().join("store"));
    pulls_with_found_credentials(addr, &reference, &store, &pushed.manifest, "auths").await;

    // A credential helper wins over auths; one that has nothing for a registry is no error.
    let bin = tmp.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-kilntest");
    let script = format!(
        "#!/bin/sh\nread server\nif [ \"$1\" = get ] && [ \"$server\" = {addr} ]; then\n  \
         echo '{{\"ServerURL\":\"{addr}\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n\
         else\n  echo 'credentials not found in native keychain'\n  exit 1\nfi\n"
    );
    fs::write(&helper, script).unwrap();
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    let _path = EnvVar::set("PATH", format!("{}:{path}", bin.display()));
    let config = json!({
        "auths": { addr: { "auth": "a2lsbjp3cm9uZw==" } },
        "credHelpers": { addr: "kilntest" },
        "credsStore": "kilntest",
    });
    fs::write(docker.join("config.json"), config.to_string()).unwrap();
    pulls_with_found_credentials(addr, &reference, &store, &pushed.manifest, "the helper").await;
    let config = json!({ "credHelpers": { addr: "absent" } });
    fs::write(docker.join("config.json"), config.to_string()).unwrap();
    let e = credentials_for(addr).unwrap_err();
    assert!(matches!(e, Error::CredentialHelper { .. }), "{e:?}");

    // A login is saved where it is then found, readable by its owner only.
    let fresh = tmp.path().join("fresh/docker");
    fs::create_dir_all(&fresh).unwrap();
    fs::write(fresh.join("config.json"), r#"{"psFormat":"table"}"#).unwrap();
    let _fresh = EnvVar::set("DOCKER_CONFIG", &fresh);
    let login = RegistryAuth {
        username: USER.into(),
        password: PASSWORD.into(),
    };
    let written = store_login(addr, &login).unwrap();
    assert_eq!(written, fresh.join("config.json"));
    let mode = fs::metadata(&written).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let saved: Value = serde_json::from_slice(&fs::read(&written).unwrap()).unwrap();
    assert_eq!(saved["psFormat"], "table");
    assert_eq!(saved["auths"][addr]["auth"], AUTH_FIELD);
    let auth = credentials_for(addr).unwrap().expect("the saved login");
    assert_eq!(
        (auth.username.as_str(), auth.password.as_str()),
        (USER, PASSWORD)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_tampered_with_in_the_registry_is_refused_and_not_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, reference, pushed) =
        pushed_to_a_fresh_registry(tmp.path(), "kiln/provisioner:v1").await;
    let data = registry_blob(&registry, &pushed.layer);
    let mut bytes = fs::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&data, &bytes).unwrap();

    let store = BlobStore::new(tmp.path().join("store"));
    let e = pull_component(&reference, &open(), &store)
        .await
        .unwrap_err();
    let Error::DigestMismatch {
        expected, actual, ..
    } = &e
    else {
        panic!("expected a digest mismatch, got {e:?}");
    };
    assert_eq!(*expected, pushed.layer);
    assert_eq!(*actual, Digest::of(&bytes));
    let message = e.to_string();
    assert!(message.contains(pushed.layer.as_str()), "{message}");
    assert!(message.contains(actual.as_str()), "{message}");
    assert!(!store.contains(&pushed.layer));
    assert_eq!(
        names(store.root()),
        ["sha256"],
        "no temporary files are left"
    );
    assert_eq!(
        names(&store.root().join("sha256")).len(),
        2,
        "manifest and config only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_layer_altered_on_disk_is_downloaded_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (_registry, reference, _) =
        pushed_to_a_fresh_registry(tmp.path(), "kiln/provisioner:v1").await;
    let store = BlobStore::new(tmp.path().join("store"));
    let pulled = pull_component(&reference, &open(), &store).await.unwrap();
    let stored = store.path(&pulled.layer);
    let size = fs::metadata(&stored).unwrap().len() as usize;
    fs::write(&stored, vec![b'x'; size]).unwrap();

    let again = pull_component(&reference, &open(), &store).await.unwrap();
    assert_eq!(again.layer, pulled.layer);
    assert_eq!(fs::read(&stored).unwrap(), fs::read(COMPONENT).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_image_is_not_a_component() {
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let tree = tmp.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    fs::write(tree.join("hello"), "hello\n").unwrap();
    let store = BlobStore::new(tmp.path().join("store"));
    let layer = kiln_registry::write_layer(&tree, &LayerOptions::default(), &store).unwrap();
    let config = ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        rootfs: RootFs {
            diff_ids: vec![layer.diff_id.clone()],
            ..RootFs::default()
        },
        ..ImageConfig::default()
    };
    let image = kiln_registry::store_image(&store, vec![layer.descriptor()], config).unwrap();
    let reference = at(&registry, "kiln/image:v1");
    kiln_registry::push(&reference, None, &store, &image)
        .await
        .unwrap();

    let pulled = pull_component(&reference, &open(), &store).await;
    let resolved = resolve_component(&reference, &open()).await;
    for e in [pulled.unwrap_err(), resolved.unwrap_err()] {
        assert!(matches!(e, Error::NotAComponent { .. }), "{e:?}");
        let message = e.to_string();
        assert!(
            message.contains("is not a wasm component artifact"),
            "{message}"
        );
        assert!(message.contains("container image"), "{message}");
    }
}

// --- A flaky registry: a fault-injecting proxy in front of the real one. ---

use kiln_tests::{Fault, FaultProxy, FaultRule};

fn via(proxy: &FaultProxy, name: &str) -> Reference {
    format!("{}/{name}", proxy.address).parse().unwrap()
}

fn rule(method: &'static str, path: &str, fault: Fault, times: usize) -> FaultRule {
    FaultRule {
        method,
        path: path.to_owned(),
        fault,
        times,
    }
}

/// Regression: one dropped blob download failed the pull at once ("error decoding
/// response body"). It is tried again, from where it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_download_cut_midway_is_resumed_from_where_it_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, _, pushed) = pushed_to_a_fresh_registry(tmp.path(), "kiln/flaky:1").await;
    let bytes = fs::read(COMPONENT).unwrap();
    let layer = format!("/blobs/{}", pushed.layer);
    let proxy = FaultProxy::start(
        &registry.address,
        vec![rule("GET", &layer, Fault::CutAnswerAfter(4096), 1)],
    );
    let store = BlobStore::new(tmp.path().join("store"));
    let pulled = pull_component(&via(&proxy, "kiln/flaky:1"), &open(), &store)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", proxy.requests()));
    assert_eq!(store.read(&pulled.layer).unwrap(), bytes);
    let gets: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET") && r.contains(&layer))
        .collect();
    // The cut blob was asked for again, from a byte past its start (the answer's head
    // took some of the 4096 bytes relayed).
    assert_eq!(gets.len(), 2, "{gets:#?}");
    let from: u64 = gets[1]
        .split("range=bytes=")
        .nth(1)
        .and_then(|r| r.trim_end_matches('-').parse().ok())
        .unwrap_or_else(|| panic!("not resumed with a range: {gets:#?}"));
    assert!(from > 0 && from < 4096, "{gets:#?}");
    assert_eq!(
        std::fs::read_dir(tmp.path().join("store"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".incoming-"))
            .count(),
        0,
        "no partial blob is left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_answering_500_then_succeeding_is_tried_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (registry, _, _) = pushed_to_a_fresh_registry(tmp.path(), "kiln/flaky:1").await;
    let proxy = FaultProxy::start(
        &registry.address,
        vec![rule("GET", "/manifests/", Fault::Fail500, 2)],
    );
    let store = BlobStore::new(tmp.path().join("store"));
    pull_component(&via(&proxy, "kiln/flaky:1"), &open(), &store)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", proxy.requests()));
    let manifest_gets = proxy
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET") && r.contains("/manifests/"))
        .count();
    assert!(manifest_gets >= 3, "{:#?}", proxy.requests());
}

/// Regression: a dropped PUT failed the push with a 300-character URL as its message.
/// It is tried again; when it keeps failing, the error names the registry, the blob and
/// the cause, and no URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_cut_midway_is_tried_again_and_a_lasting_failure_names_what_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let wasm = component_file(tmp.path());
    let proxy = FaultProxy::start(
        &registry.address,
        vec![rule(
            "PUT",
            "/blobs/uploads/",
            Fault::CutRequestAfter(1000),
            1,
        )],
    );
    let pushed = push_component(&via(&proxy, "kiln/flaky:1"), &open(), &wasm, &meta())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", proxy.requests()));
    let store = BlobStore::new(tmp.path().join("store"));
    let pulled = pull_component(&at(&registry, "kiln/flaky:1"), &open(), &store)
        .await
        .unwrap();
    assert_eq!(pulled.layer, pushed.layer);

    let proxy = FaultProxy::start(
        &registry.address,
        vec![rule(
            "PUT",
            "/blobs/uploads/",
            Fault::CutRequestAfter(1000),
            100,
        )],
    );
    let err = push_component(&via(&proxy, "kiln/flakier:1"), &open(), &wasm, &meta())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, Error::Unreachable { .. }),
        "not reported as a registry that did not answer: {message}"
    );
    assert!(
        message.contains(&format!("registry {}", proxy.address)),
        "{message}"
    );
    assert!(message.contains("uploading blob sha256:"), "{message}");
    assert!(!message.contains("http://"), "{message}");
    assert!(
        message.len() < 500,
        "{} characters: {message}",
        message.len()
    );
}

/// Regression: a registry that accepted the connection and never answered hung `kiln
/// component pull` for ever. Each request waits at most KILN_REGISTRY_TIMEOUT; then the
/// pull fails saying which registry did not answer.
#[test]
fn a_registry_that_never_answers_fails_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let proxy = FaultProxy::start(
        &registry.address,
        vec![rule("GET", "/manifests/", Fault::Hang, 1000)],
    );
    let started = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln-under-test"))
        .args([
            "component",
            "pull",
            &format!("{}/kiln/slow:1", proxy.address),
        ])
        .args(["-o", &tmp.path().join("c.wasm").display().to_string()])
        .env("KILN_REGISTRY_TIMEOUT", "1")
        .env("KILN_CACHE_DIR", tmp.path().join("cache"))
        .env("DOCKER_CONFIG", tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("registry {} did not answer", proxy.address)),
        "{stderr}"
    );
    assert!(
        stderr.contains("timed out") || stderr.contains("timeout"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}
