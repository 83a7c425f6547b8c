//! kiln-registry against real files, real tools (skopeo) and a real registry.
//! Run as root: layers carry owners and device nodes.

use std::fs;
use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;
use kiln_registry::{store_image, write_layer, write_oci_layout, BlobStore, Descriptor, Digest};
use kiln_registry::{Image, ImageConfig, ImageIndex, LayerOptions, Platform, RootFs};
use kiln_registry::{ANNOTATION_REF_NAME, MEDIA_TYPE_OCI_INDEX};

/// Extraction: whiteouts, metadata, refusing to escape the destination.
mod extract;
/// Layers: determinism, clamping, overlay whiteouts.
mod layers;
/// Image layouts and oci-archives: round trips, determinism, corruption, skopeo.
mod layout;
/// Push and pull against Debian's docker-registry.
mod registry;

/// Where fixture mtimes are clamped to.
pub const EPOCH: i64 = 1_700_000_000;

/// A blob store in its own directory.
pub fn store(tmp: &Path) -> BlobStore {
    BlobStore::new(tmp.join("store"))
}

/// A small tree with a file, a subdirectory, a symlink and a hard link.
pub fn sample_tree(root: &Path) {
    fs::create_dir_all(root.join("etc/app")).unwrap();
    fs::write(root.join("etc/app/conf"), "port = 80\n").unwrap();
    fs::write(root.join("hello"), "hello\n").unwrap();
    fs::hard_link(root.join("hello"), root.join("hello-again")).unwrap();
    std::os::unix::fs::symlink("etc/app/conf", root.join("conf")).unwrap();
}

/// A one-layer image of `sample_tree`, built under `tmp`.
pub fn sample_image(tmp: &Path) -> (BlobStore, Image) {
    let tree = tmp.join("tree");
    sample_tree(&tree);
    let store = store(tmp);
    let image = image_of(
        &store,
        &[&tree],
        &LayerOptions {
            epoch: EPOCH,
            ..LayerOptions::default()
        },
    );
    (store, image)
}

/// An image whose layers are made from `trees`, bottom first.
pub fn image_of(store: &BlobStore, trees: &[&Path], opts: &LayerOptions) -> Image {
    image_for(store, trees, opts, "amd64")
}

/// An image of `trees` for linux/`arch`.
pub fn image_for(store: &BlobStore, trees: &[&Path], opts: &LayerOptions, arch: &str) -> Image {
    let layers: Vec<_> = trees
        .iter()
        .map(|t| write_layer(t, opts, store).unwrap())
        .collect();
    let config = ImageConfig {
        architecture: arch.into(),
        os: "linux".into(),
        rootfs: RootFs {
            diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
            ..RootFs::default()
        },
        ..ImageConfig::default()
    };
    store_image(
        store,
        layers.iter().map(|l| l.descriptor()).collect(),
        config,
    )
    .unwrap()
}

/// One tar entry: path, type, mtime, link target.
#[derive(Debug, PartialEq)]
pub struct Entry {
    pub path: String,
    pub kind: tar::EntryType,
    pub mtime: u64,
    pub link: Option<String>,
}

/// The entries of the gzip layer `d`, checking the tar hashes to `diff_id` and that no
/// entry has user or group names.
pub fn entries(store: &BlobStore, d: &Digest, diff_id: &Digest) -> Vec<Entry> {
    let mut tar = Vec::new();
    GzDecoder::new(store.open(d).unwrap())
        .read_to_end(&mut tar)
        .unwrap();
    assert_eq!(&Digest::of(&tar), diff_id);
    let mut archive = tar::Archive::new(tar.as_slice());
    let entries = archive.entries().unwrap().map(|e| {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!(h.username_bytes(), Some(&b""[..]));
        assert_eq!(h.groupname_bytes(), Some(&b""[..]));
        Entry {
            path: String::from_utf8(e.path_bytes().into_owned()).unwrap(),
            kind: h.entry_type(),
            mtime: h.mtime().unwrap(),
            link: e.link_name().unwrap().map(|l| l.display().to_string()),
        }
    });
    entries.collect()
}

/// An image layout at `dir` whose entry `multi` is an index of two images, linux/arm64 and
/// linux/amd64 (in that order); returns the amd64 one.
pub fn multi_platform_layout(tmp: &Path, dir: &Path) -> (Image, Image) {
    let store = store(tmp);
    let opts = LayerOptions {
        epoch: EPOCH,
        ..LayerOptions::default()
    };
    let mut images = Vec::new();
    for arch in ["arm64", "amd64"] {
        let tree = tmp.join(arch);
        fs::create_dir_all(&tree).unwrap();
        fs::write(tree.join("arch"), arch).unwrap();
        let image = image_for(&store, &[&tree], &opts, arch);
        write_oci_layout(dir, &store, &image, arch).unwrap();
        images.push(image);
    }
    let mut index: ImageIndex =
        serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    let mut entries = index.manifests.clone();
    for (entry, arch) in entries.iter_mut().zip(["arm64", "amd64"]) {
        entry.annotations = None;
        entry.platform = Some(Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: None,
        });
    }
    let nested = serde_json::to_vec(&ImageIndex::new(entries)).unwrap();
    let digest = store.put_bytes(&nested).unwrap();
    fs::write(dir.join("blobs/sha256").join(digest.hex()), &nested).unwrap();
    let mut entry = Descriptor::new(MEDIA_TYPE_OCI_INDEX, digest, nested.len() as u64);
    entry.annotations = Some([(ANNOTATION_REF_NAME.to_string(), "multi".to_string())].into());
    index.manifests.push(entry);
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let amd64 = images.pop().unwrap();
    (images.pop().unwrap(), amd64)
}
