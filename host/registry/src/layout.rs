//! OCI image layouts (`oci-layout`, `index.json`, `blobs/sha256/…`) as directories and as
//! tar archives (`oci-archive`), read into and written from a [`BlobStore`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use tar::{EntryType, Header};

use crate::error::io_err;
use crate::spec::{parse, pick_platform, to_json, unsupported, ANNOTATION_REF_NAME};
use crate::spec::{MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_OCI_MANIFEST};
use crate::store::write_atomically;
use crate::{BlobStore, Descriptor, Digest, Error, Image, ImageIndex, ImageManifest, Platform};

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Reads the image named `reference` from the OCI image layout directory `dir` into `store`.
///
/// `reference` matches the `org.opencontainers.image.ref.name` annotation in `index.json`;
/// `None` takes the only manifest there is. An index is resolved to `platform`'s manifest
/// (or its only manifest, when that one names no platform). Every blob used is copied into the store and its digest checked.
#[tracing::instrument(skip(store))]
pub fn read_oci_layout(
    dir: &Path,
    reference: Option<&str>,
    platform: &Platform,
    store: &BlobStore,
) -> Result<Image, Error> {
    let read = |name: &str| {
        fs::read(dir.join(name)).map_err(|e| bad_layout(dir, format!("reading {name}: {e}")))
    };
    read("oci-layout")?;
    let index = parse(
        &read("index.json")?,
        &format!("{}/index.json", dir.display()),
    )?;
    resolve(dir, &index, reference, platform, store, &|d| {
        let path = dir.join("blobs/sha256").join(d.hex());
        let file = File::open(&path).map_err(io_err(format!("reading {}", path.display())))?;
        Ok((Box::new(file), path.display().to_string()))
    })
}

/// Reads the image named `reference` from the oci-archive (a tar of an image layout) at
/// `path` into `store`, as [`read_oci_layout`] does. The archive is indexed once and the
/// blobs used are then read straight out of it, so nothing is extracted to disk.
#[tracing::instrument(skip(store))]
pub fn read_oci_archive(
    path: &Path,
    reference: Option<&str>,
    platform: &Platform,
    store: &BlobStore,
) -> Result<Image, Error> {
    let what = format!("reading oci-archive {}", path.display());
    let mut archive = tar::Archive::new(File::open(path).map_err(io_err(&what))?);
    let (mut index, mut has_layout, mut blobs) = (None, false, HashMap::new());
    for entry in archive.entries_with_seek().map_err(io_err(&what))? {
        let mut entry = entry.map_err(io_err(&what))?;
        let name = entry.path().map_err(io_err(&what))?;
        let name: PathBuf = name
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        let is_file = entry.header().entry_type() == EntryType::Regular;
        match name.to_str().unwrap_or_default() {
            "index.json" => {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).map_err(io_err(&what))?;
                index = Some(bytes);
            }
            "oci-layout" => has_layout = true,
            name if is_file && name.starts_with("blobs/sha256/") => {
                let hex = name["blobs/sha256/".len()..].to_string();
                blobs.insert(hex, (entry.raw_file_position(), entry.size()));
            }
            _ => {}
        }
    }
    let index = match (has_layout, index) {
        (true, Some(index)) => parse(&index, &format!("index.json in {}", path.display()))?,
        _ => return Err(bad_layout(path, "it lacks oci-layout or index.json".into())),
    };
    resolve(path, &index, reference, platform, store, &|d| {
        let missing = || bad_layout(path, format!("it lacks blob {d}, which its index needs"));
        let &(offset, size) = blobs.get(d.hex()).ok_or_else(missing)?;
        let mut file = File::open(path).map_err(io_err(&what))?;
        file.seek(SeekFrom::Start(offset)).map_err(io_err(&what))?;
        let name = format!("blobs/sha256/{} in {}", d.hex(), path.display());
        Ok((Box::new(file.take(size)), name))
    })
}

/// Opens a blob of a layout and says what it is called there.
type OpenBlob<'a> = dyn Fn(&Digest) -> Result<(Box<dyn Read>, String), Error> + 'a;

/// Selects the manifest from `index`, copies its blobs into the store and loads the image.
fn resolve(
    layout: &Path,
    index: &ImageIndex,
    reference: Option<&str>,
    platform: &Platform,
    store: &BlobStore,
    open: &OpenBlob,
) -> Result<Image, Error> {
    // Every blob is read and checked, even one the store already has: a damaged layout
    // must be refused, not papered over by the cache.
    let fetch = |d: &Digest| -> Result<(), Error> {
        let (reader, name) = open(d)?;
        store
            .put_reader(reader, Some(d))
            .map_err(|e| e.naming(name))?;
        Ok(())
    };
    let names = || {
        let names = index
            .manifests
            .iter()
            .map(|d| ref_name(d).unwrap_or(d.digest.as_str()));
        names.collect::<Vec<_>>().join(", ")
    };
    let (layout_path, available) = (layout.to_path_buf(), names());
    let mut desc = match (reference, index.manifests.as_slice()) {
        (Some(tag), all) => match all.iter().find(|d| ref_name(d) == Some(tag)) {
            Some(d) => d,
            None => {
                return Err(Error::TagNotFound {
                    layout: layout_path,
                    tag: tag.into(),
                    available,
                })
            }
        },
        (None, [only]) => only,
        (None, []) => return Err(bad_layout(layout, "its index.json lists no images".into())),
        (None, _) => {
            return Err(Error::AmbiguousManifest {
                layout: layout_path,
                available,
            })
        }
    }
    .clone();
    // An index may name another index; a few levels are plenty.
    for _ in 0..4 {
        if !desc.is_index() {
            break;
        }
        fetch(&desc.digest)?;
        let what = format!("index {} in {}", desc.digest, layout.display());
        let nested: ImageIndex = parse(&store.read(&desc.digest)?, &what)?;
        desc = pick_platform(&nested, platform, &what)?.clone();
    }
    let what = format!("manifest {} in {}", desc.digest, layout.display());
    if desc.media_type != MEDIA_TYPE_OCI_MANIFEST && desc.media_type != MEDIA_TYPE_DOCKER_MANIFEST {
        return Err(unsupported(&what, &desc.media_type));
    }
    fetch(&desc.digest)?;
    let manifest: ImageManifest = parse(&store.read(&desc.digest)?, &what)?;
    for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
        fetch(&blob.digest)?;
    }
    Image::load(store, desc.digest)
}

fn bad_layout(layout: &Path, reason: String) -> Error {
    Error::BadLayout {
        layout: layout.into(),
        reason,
    }
}

/// Writes `image` as an OCI image layout directory at `dir`, named `tag` in `index.json`.
///
/// Blobs are copied (never hard-linked: editing the output must not reach the cache).
/// Other images already in the layout stay listed; one already named `tag` is replaced.
#[tracing::instrument(skip(store, image), fields(manifest = %image.manifest_digest))]
pub fn write_oci_layout(
    dir: &Path,
    store: &BlobStore,
    image: &Image,
    tag: &str,
) -> Result<(), Error> {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).map_err(io_err(format!("creating {}", blobs.display())))?;
    for d in image.blobs() {
        let dst = blobs.join(d.hex());
        if !dst.exists() {
            let mut from = store.open(d)?;
            write_atomically(&dst, |to| io::copy(&mut from, to).map(drop))?;
        }
    }
    let index_path = dir.join("index.json");
    let mut index = match fs::read(&index_path) {
        Ok(bytes) => parse(&bytes, &index_path.display().to_string())?,
        Err(_) => ImageIndex::new(vec![]),
    };
    index.manifests.retain(|d| ref_name(d) != Some(tag));
    index.manifests.push(index_entry(store, image, tag)?);
    write_atomically(&dir.join("oci-layout"), |f| f.write_all(OCI_LAYOUT))?;
    write_atomically(&index_path, |f| f.write_all(&to_json(&index)))
}

/// Writes `image` as a deterministic oci-archive at `path`: entries sorted, mtime 0,
/// owner 0:0 without names, modes 0644 and 0755. The same image and tag always give the
/// same bytes. The archive is written next to `path` and renamed into place.
#[tracing::instrument(skip(store, image), fields(manifest = %image.manifest_digest))]
pub fn write_oci_archive(
    path: &Path,
    store: &BlobStore,
    image: &Image,
    tag: &str,
) -> Result<(), Error> {
    let index = to_json(&ImageIndex::new(vec![index_entry(store, image, tag)?]));
    let digests: BTreeSet<&Digest> = image.blobs().collect();
    let blobs: Vec<_> = digests
        .into_iter()
        .map(|d| store.open(d).map(|f| (d, f)))
        .collect();
    let blobs = blobs.into_iter().collect::<Result<Vec<_>, _>>()?;
    write_atomically(path, |out| {
        let mut tar = tar::Builder::new(BufWriter::new(out));
        let mut append = |kind: EntryType, name: &str, size: u64, data: &mut dyn Read| {
            tar.append_data(&mut fixed_header(kind, size), name, data)
        };
        append(EntryType::Directory, "blobs/", 0, &mut io::empty())?;
        append(EntryType::Directory, "blobs/sha256/", 0, &mut io::empty())?;
        for (d, file) in blobs {
            let size = file.metadata()?.len();
            let name = format!("blobs/sha256/{}", d.hex());
            append(EntryType::Regular, &name, size, &mut file.take(size))?;
        }
        append(
            EntryType::Regular,
            "index.json",
            index.len() as u64,
            &mut index.as_slice(),
        )?;
        append(
            EntryType::Regular,
            "oci-layout",
            OCI_LAYOUT.len() as u64,
            &mut &OCI_LAYOUT[..],
        )?;
        tar.into_inner()?.flush()
    })
}

/// A tar header of `kind` and `size` that depends on nothing else: mtime 0, owner 0:0
/// without names, mode 0644 (0755 for a directory). Archives of such entries, in a fixed
/// order, are the same bytes every time.
pub(crate) fn fixed_header(kind: EntryType, size: u64) -> Header {
    let mut h = Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(if kind == EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// The name an `index.json` entry gives its image.
fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations
        .as_ref()?
        .get(ANNOTATION_REF_NAME)
        .map(String::as_str)
}

/// The `index.json` entry naming `image` as `tag`.
fn index_entry(store: &BlobStore, image: &Image, tag: &str) -> Result<Descriptor, Error> {
    let size = store.read(&image.manifest_digest)?.len() as u64;
    let mut entry = Descriptor::new(
        image.manifest_media_type(),
        image.manifest_digest.clone(),
        size,
    );
    entry.annotations = Some(BTreeMap::from([(ANNOTATION_REF_NAME.into(), tag.into())]));
    Ok(entry)
}
