use std::fs;

use kiln_registry::{
    read_oci_archive, read_oci_layout, write_oci_archive, write_oci_layout, BlobStore, Error,
    Platform,
};

use crate::{multi_platform_layout, sample_image};

#[test]
fn layout_round_trip_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, image) = sample_image(tmp.path());
    let dir = tmp.path().join("layout");
    write_oci_layout(&dir, &store, &image, "v1").unwrap();
    write_oci_layout(&dir, &store, &image, "latest").unwrap();

    let fresh = BlobStore::new(tmp.path().join("fresh"));
    assert_eq!(
        read_oci_layout(&dir, Some("v1"), &Platform::host(), &fresh).unwrap(),
        image
    );
    for d in image.manifest.layers.iter().map(|l| &l.digest) {
        assert!(fresh.contains(d));
    }
    let missing = read_oci_layout(&dir, Some("v2"), &Platform::host(), &fresh)
        .unwrap_err()
        .to_string();
    assert!(
        missing.ends_with("has no manifest tagged \"v2\"; it has: v1, latest"),
        "{missing}"
    );
    let ambiguous = read_oci_layout(&dir, None, &Platform::host(), &fresh).unwrap_err();
    assert!(
        matches!(ambiguous, Error::AmbiguousManifest { .. }),
        "{ambiguous}"
    );
}

#[test]
fn archive_is_byte_identical_and_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, image) = sample_image(tmp.path());
    let (a, b) = (tmp.path().join("a.tar"), tmp.path().join("b.tar"));
    write_oci_archive(&a, &store, &image, "v1").unwrap();
    write_oci_archive(&b, &store, &image, "v1").unwrap();
    assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());

    let fresh = BlobStore::new(tmp.path().join("fresh"));
    assert_eq!(
        read_oci_archive(&a, None, &Platform::host(), &fresh).unwrap(),
        image
    );
    assert_eq!(
        read_oci_archive(&a, Some("v1"), &Platform::host(), &fresh).unwrap(),
        image
    );
}

#[test]
fn a_corrupted_blob_is_named_with_both_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, image) = sample_image(tmp.path());
    let dir = tmp.path().join("layout");
    write_oci_layout(&dir, &store, &image, "v1").unwrap();
    let layer = &image.manifest.layers[0].digest;
    let file = dir.join("blobs/sha256").join(layer.hex());
    // A new file, not a write through the hard link into the store.
    fs::remove_file(&file).unwrap();
    fs::write(&file, "not the layer").unwrap();

    let fresh = BlobStore::new(tmp.path().join("fresh"));
    match read_oci_layout(&dir, Some("v1"), &Platform::host(), &fresh).unwrap_err() {
        Error::DigestMismatch {
            what,
            expected,
            actual,
        } => {
            assert_eq!(&expected, layer);
            assert_eq!(actual, kiln_registry::Digest::of(b"not the layer"));
            assert!(what.contains(&file.display().to_string()), "{what}");
        }
        e => panic!("expected a digest mismatch, got {e}"),
    }
    assert!(!fresh.contains(layer));
    let leftovers: Vec<_> = fs::read_dir(fresh.root())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["sha256"], "no temporary files left behind");
}

#[test]
fn skopeo_accepts_layout_and_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, image) = sample_image(tmp.path());
    let (dir, archive) = (tmp.path().join("layout"), tmp.path().join("image.tar"));
    write_oci_layout(&dir, &store, &image, "v1").unwrap();
    write_oci_archive(&archive, &store, &image, "v1").unwrap();
    for target in [
        format!("oci:{}:v1", dir.display()),
        format!("oci-archive:{}", archive.display()),
    ] {
        let out = kiln_test_tools::command("skopeo")
            .args(["inspect", &target])
            .output()
            .expect("running skopeo");
        assert!(
            out.status.success(),
            "skopeo inspect {target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let inspect: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(inspect["Digest"], image.manifest_digest.as_str());
        assert_eq!(
            inspect["Layers"][0],
            image.manifest.layers[0].digest.as_str()
        );
    }
}

#[test]
fn an_index_resolves_to_the_platform_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layout");
    let (arm64, amd64) = multi_platform_layout(tmp.path(), &dir);
    let fresh = BlobStore::new(tmp.path().join("fresh"));
    let read = |p: &str| read_oci_layout(&dir, Some("multi"), &p.parse().unwrap(), &fresh);
    assert_eq!(
        read_oci_layout(&dir, Some("multi"), &Platform::host(), &fresh).unwrap(),
        amd64
    );
    // Docker's spellings: arm64's v8 variant is arm64, aarch64 is arm64.
    for p in ["linux/arm64", "linux/arm64/v8", "linux/aarch64"] {
        assert_eq!(read(p).unwrap(), arm64, "{p}");
    }
    let err = read("linux/s390x").unwrap_err().to_string();
    assert!(
        err.contains("no linux/s390x image") && err.contains("linux/arm64, linux/amd64"),
        "{err}"
    );
}
