use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::process::Command;

use kiln_registry::MEDIA_TYPE_OCI_LAYER_TAR;
use kiln_registry::{
    extract_layers, store_image, BlobStore, Descriptor, Error, ImageConfig, LayerOptions,
};

use crate::{image_of, sample_tree, store, EPOCH};

#[test]
fn whiteouts_hide_lower_layers_and_metadata_survives() {
    let tmp = tempfile::tempdir().unwrap();
    let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
    sample_tree(&lower);
    fs::create_dir_all(lower.join("var/cache")).unwrap();
    fs::write(lower.join("var/cache/old"), "old").unwrap();
    fs::write(lower.join("var/keep"), "keep").unwrap();
    std::os::unix::fs::chown(lower.join("var/keep"), Some(1234), Some(5678)).unwrap();
    fs::set_permissions(lower.join("var/keep"), fs::Permissions::from_mode(0o4751)).unwrap();
    fs::create_dir_all(upper.join("var/cache")).unwrap();
    fs::write(upper.join("var/cache/new"), "new").unwrap();
    Command::new("mknod")
        .arg(upper.join("hello"))
        .args(["c", "0", "0"])
        .status()
        .unwrap();
    Command::new("mkfifo")
        .arg(upper.join("fifo"))
        .status()
        .unwrap();
    rustix::fs::lsetxattr(
        upper.join("var/cache"),
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    let (store, image) = overlay_image(tmp.path(), &lower, &upper);

    let root = tmp.path().join("root");
    extract_layers(&store, &image, &root).unwrap();

    assert!(!root.join("hello").exists(), "whited out");
    assert!(
        root.join("hello-again").exists(),
        "a hard link of a whited-out path stays"
    );
    assert!(
        !root.join("var/cache/old").exists(),
        "hidden by the opaque directory"
    );
    assert_eq!(
        fs::read_to_string(root.join("var/cache/new")).unwrap(),
        "new"
    );
    let keep = fs::symlink_metadata(root.join("var/keep")).unwrap();
    assert_eq!(
        (keep.mode() & 0o7777, keep.uid(), keep.gid()),
        (0o4751, 1234, 5678)
    );
    assert_eq!(
        fs::read_link(root.join("conf")).unwrap().to_str(),
        Some("etc/app/conf")
    );
    assert_eq!(
        fs::read_to_string(root.join("conf")).unwrap(),
        "port = 80\n"
    );
    assert!(fs::symlink_metadata(root.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(!root.join(".wh.hello").exists() && !root.join("var/cache/.wh..wh..opq").exists());
    assert_eq!(
        fs::metadata(root.join("var")).unwrap().mtime(),
        EPOCH,
        "directory mtimes are restored last"
    );
}

#[test]
fn refuses_to_write_through_a_symlink_out_of_the_destination() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let header = |kind, size| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h
    };
    tar.append_link(
        &mut header(tar::EntryType::Symlink, 0),
        "evil",
        outside.path(),
    )
    .unwrap();
    tar.append_data(
        &mut header(tar::EntryType::Regular, 6),
        "evil/pwned",
        &b"pwned\n"[..],
    )
    .unwrap();
    let tar = tar.into_inner().unwrap();

    let store = BlobStore::new(tmp.path().join("store"));
    let digest = store.put_bytes(&tar).unwrap();
    let layer = Descriptor {
        media_type: MEDIA_TYPE_OCI_LAYER_TAR.into(),
        digest,
        size: tar.len() as u64,
        annotations: None,
        platform: None,
    };
    let image = store_image(&store, vec![layer], ImageConfig::default()).unwrap();

    let err = extract_layers(&store, &image, &tmp.path().join("root")).unwrap_err();
    assert!(matches!(err, Error::UnsafePath { .. }), "{err:?}");
    assert!(!outside.path().join("pwned").exists());
}

/// A directory of a lower layer that a later layer deletes: extraction must not trip
/// over it when it restores directory times at the end (found building on the example
/// image, whose last layer removes /var/lib/apt/lists/partial).
#[test]
fn a_directory_removed_by_a_later_layer_is_no_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
    fs::create_dir_all(lower.join("var/lists/partial")).unwrap();
    fs::create_dir_all(upper.join("var/lists")).unwrap();
    let status = Command::new("mknod")
        .arg(upper.join("var/lists/partial"))
        .args(["c", "0", "0"])
        .status()
        .unwrap();
    assert!(status.success());
    let (store, image) = overlay_image(tmp.path(), &lower, &upper);
    let root = tmp.path().join("root");
    extract_layers(&store, &image, &root).unwrap();
    assert!(root.join("var/lists").is_dir());
    assert!(!root.join("var/lists/partial").exists());
}

/// An image of `lower` with `upper`, an overlay upper directory (whiteouts as character
/// devices and opaque directories as xattrs), on top.
fn overlay_image(
    tmp: &std::path::Path,
    lower: &std::path::Path,
    upper: &std::path::Path,
) -> (kiln_registry::BlobStore, kiln_registry::Image) {
    let store = store(tmp);
    let opts = LayerOptions {
        epoch: EPOCH,
        overlay_upper: true,
        ..LayerOptions::default()
    };
    let image = image_of(&store, &[lower, upper], &opts);
    (store, image)
}
