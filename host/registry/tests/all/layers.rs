use std::fs::{self, File};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime};

use kiln_registry::{write_layer, LayerOptions};
use tar::EntryType;

use crate::{entries, sample_tree, store, Entry, EPOCH};

fn opts() -> LayerOptions {
    LayerOptions {
        epoch: EPOCH,
        ..LayerOptions::default()
    }
}

#[test]
fn same_tree_gives_same_digest_in_a_fixed_order() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    sample_tree(&tree);
    fs::create_dir(tree.join("proc")).unwrap();
    fs::write(tree.join("proc/x"), "").unwrap();
    let long = "d".repeat(120);
    fs::create_dir(tree.join(&long)).unwrap();
    fs::write(tree.join(&long).join("f"), "x").unwrap();
    let store = store(tmp.path());
    let opts = LayerOptions {
        exclude: vec![PathBuf::from("/proc")],
        ..opts()
    };

    let first = write_layer(&tree, &opts, &store).unwrap();
    // Touching every file (a rebuild) changes nothing once mtimes are clamped.
    Command::new("touch")
        .arg("-h")
        .arg(tree.join("hello"))
        .arg(tree.join("conf"))
        .status()
        .unwrap();
    let again = write_layer(&tree, &opts, &store).unwrap();
    assert_eq!(first, again);

    let paths: Vec<_> = entries(&store, &first.digest, &first.diff_id)
        .into_iter()
        .map(|e| e.path)
        .collect();
    let long_dir = format!("{long}/");
    let long_file = format!("{long}/f");
    let expected = [
        "conf",
        &long_dir,
        &long_file,
        "etc/",
        "etc/app/",
        "etc/app/conf",
        "hello",
        "hello-again",
    ];
    assert_eq!(paths, expected);
}

#[test]
fn mtimes_are_clamped_and_links_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    sample_tree(&tree);
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    File::options()
        .write(true)
        .open(tree.join("etc/app/conf"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let future = SystemTime::now() + Duration::from_secs(86_400 * 365);
    File::options()
        .write(true)
        .open(tree.join("hello"))
        .unwrap()
        .set_modified(future)
        .unwrap();
    let store = store(tmp.path());

    let layer = write_layer(&tree, &opts(), &store).unwrap();
    let all = entries(&store, &layer.digest, &layer.diff_id);
    let get = |p: &str| all.iter().find(|e| e.path == p).unwrap();
    assert_eq!(get("etc/app/conf").mtime, 1_000_000);
    assert_eq!(get("hello").mtime, EPOCH as u64);
    assert_eq!(get("hello-again").kind, EntryType::Link);
    assert_eq!(get("hello-again").link.as_deref(), Some("hello"));
    assert_eq!(get("conf").kind, EntryType::Symlink);
    assert_eq!(get("conf").link.as_deref(), Some("etc/app/conf"));
}

#[test]
fn overlay_whiteouts_become_oci_whiteouts() {
    let tmp = tempfile::tempdir().unwrap();
    let upper = tmp.path().join("upper");
    fs::create_dir_all(upper.join("opaque")).unwrap();
    fs::write(upper.join("opaque/new"), "new").unwrap();
    fs::write(upper.join("-early"), "").unwrap();
    let mknod = Command::new("mknod")
        .arg(upper.join("gone"))
        .args(["c", "0", "0"])
        .status()
        .unwrap();
    assert!(mknod.success(), "mknod needs root");
    rustix::fs::lsetxattr(
        upper.join("opaque"),
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .expect("setting trusted.* xattrs needs root");
    let store = store(tmp.path());

    let layer = write_layer(
        &upper,
        &LayerOptions {
            overlay_upper: true,
            ..opts()
        },
        &store,
    )
    .unwrap();
    let all = entries(&store, &layer.digest, &layer.diff_id);
    let summary: Vec<_> = all
        .iter()
        .map(|Entry { path, kind, .. }| (path.as_str(), *kind))
        .collect();
    assert_eq!(
        summary,
        [
            ("-early", EntryType::Regular),
            (".wh.gone", EntryType::Regular),
            ("opaque/", EntryType::Directory),
            ("opaque/.wh..wh..opq", EntryType::Regular),
            ("opaque/new", EntryType::Regular),
        ]
    );

    // Without overlay_upper the same tree is taken literally.
    let plain = write_layer(&upper, &opts(), &store).unwrap();
    let all = entries(&store, &plain.digest, &plain.diff_id);
    assert!(all
        .iter()
        .any(|e| e.path == "gone" && e.kind == EntryType::Char));
    assert!(!all.iter().any(|e| e.path.contains(".wh.")));
}
