use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use kiln_registry::{extract_layers, store_image, MEDIA_TYPE_OCI_LAYER_GZIP};
use kiln_registry::{pull, push, BlobStore, Error, Platform, Reference};
use kiln_registry::{MEDIA_TYPE_DOCKER_LAYER, MEDIA_TYPE_DOCKER_MANIFEST};

use crate::{multi_platform_layout, sample_image};

/// Debian's docker-registry on a free loopback port, killed on drop.
struct Registry {
    child: Child,
    addr: String,
}

impl Registry {
    fn start(dir: &Path) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.join("registry.yml");
        let storage = dir.join("registry");
        let yaml = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            storage.display()
        );
        std::fs::write(&config, yaml).unwrap();
        let child = kiln_test_tools::command("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry");
        let registry = Registry { child, addr };
        let start = Instant::now();
        while TcpStream::connect(&registry.addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "docker-registry did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_by_tag_and_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let (store, image) = sample_image(tmp.path());
    let tagged: Reference = format!("{}/kiln/test:v1", registry.addr).parse().unwrap();

    assert_eq!(
        push(&tagged, None, &store, &image).await.unwrap(),
        image.manifest_digest
    );
    // A second push finds every blob already there.
    assert_eq!(
        push(&tagged, None, &store, &image).await.unwrap(),
        image.manifest_digest
    );

    let fresh = BlobStore::new(tmp.path().join("fresh"));
    assert_eq!(
        pull(&tagged, None, &Platform::host(), &fresh)
            .await
            .unwrap(),
        image
    );
    let pinned: Reference = format!("{}/kiln/test@{}", registry.addr, image.manifest_digest)
        .parse()
        .unwrap();
    let again = BlobStore::new(tmp.path().join("again"));
    assert_eq!(
        pull(&pinned, None, &Platform::host(), &again)
            .await
            .unwrap(),
        image
    );
    assert!(again.contains(&image.manifest.layers[0].digest));

    let missing: Reference = format!("{}/kiln/test:nope", registry.addr).parse().unwrap();
    let err = pull(&missing, None, &Platform::host(), &fresh)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("(HTTP 404)"), "{err}");
}

fn skopeo_copy(args: &[&str]) {
    let out = kiln_test_tools::command("skopeo")
        .args(["copy", "--quiet"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo copy {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_docker_manifests_and_resolves_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let layout = tmp.path().join("layout");
    let (arm64, amd64) = multi_platform_layout(tmp.path(), &layout);
    let multi = format!("docker://{}/kiln/multi:v1", registry.addr);
    let docker = format!("docker://{}/kiln/docker:v1", registry.addr);
    skopeo_copy(&[
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", layout.display()),
        &multi,
    ]);
    skopeo_copy(&[
        "--format=v2s2",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &multi,
        &docker,
    ]);

    let fresh = BlobStore::new(tmp.path().join("fresh"));
    let multi: Reference = multi["docker://".len()..].parse().unwrap();
    assert_eq!(
        pull(&multi, None, &Platform::host(), &fresh).await.unwrap(),
        amd64
    );
    let arm: Platform = "linux/arm64".parse().unwrap();
    assert_eq!(pull(&multi, None, &arm, &fresh).await.unwrap(), arm64);

    let docker: Reference = docker["docker://".len()..].parse().unwrap();
    let pulled = pull(&docker, None, &Platform::host(), &fresh)
        .await
        .unwrap();
    assert_eq!(pulled.manifest_media_type(), MEDIA_TYPE_DOCKER_MANIFEST);
    assert_eq!(
        pulled.manifest.layers[0].media_type,
        MEDIA_TYPE_DOCKER_LAYER
    );
    assert_eq!(
        pulled.manifest.layers[0].digest,
        amd64.manifest.layers[0].digest
    );
    assert_eq!(pulled.config.rootfs, amd64.config.rootfs);
    let root = tmp.path().join("root");
    extract_layers(&fresh, &pulled, &root).unwrap();
    assert_eq!(std::fs::read_to_string(root.join("arch")).unwrap(), "amd64");
    // Building on a Docker base makes an OCI image.
    let layers = pulled.manifest.layers.clone();
    let rebuilt = store_image(&fresh, layers, pulled.config.clone()).unwrap();
    assert_eq!(
        rebuilt.manifest.layers[0].media_type,
        MEDIA_TYPE_OCI_LAYER_GZIP
    );
}
