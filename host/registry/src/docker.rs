//! What Docker's image commands do, without a daemon: `docker tag` names an image in
//! Kiln's image store, `docker save` writes an archive `docker load` and `podman load`
//! read, `docker import` makes an image of a root filesystem tarball.
//!
//! Kiln's image store is the cache directory itself, which is an OCI image layout: the
//! blob store is its `blobs/` directory, and names live in its `index.json` (each a
//! manifest descriptor annotated `org.opencontainers.image.ref.name`), so
//! `skopeo inspect oci:<cache>:<name>` reads an image by the name a build gave it.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use tar::EntryType;

use crate::layout::fixed_header;

use crate::changes::{self, Change};
use crate::error::io_err;
use crate::spec::{parse, to_json, ANNOTATION_REF_NAME, MEDIA_TYPE_OCI_LAYER_TAR};
use crate::store::write_atomically;
use crate::{store_image, BlobStore, Descriptor, Digest, Error, History, Image, ImageConfig};
use crate::{ImageIndex, Platform, Reference};

/// A name as Docker completes it: `tag` `latest` when none is given. The registry and
/// repository stay as written (`debian:12`, `localhost:5000/app:1`), as `docker tag`
/// shows them; an invalid name is an error that says why.
pub fn image_name(name: &str) -> Result<String, Error> {
    let reference: Reference = name.parse()?;
    if reference.digest().is_some() {
        return Err(Error::InvalidReference {
            reference: name.into(),
            reason: "a name to give an image has no @digest".into(),
        });
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    Ok(match last.contains(':') {
        true => name.to_owned(),
        false => format!("{name}:latest"),
    })
}

/// The OCI layout directory whose blob directory is `store` (the cache).
fn layout_of(store: &BlobStore) -> &Path {
    store.root().parent().unwrap_or(Path::new("."))
}

/// Gives `image` (in `store`) each of `names` in the store's `index.json`, replacing
/// what those names named before (as `docker tag` does). Parallel builds name images at
/// once: the index is read, changed and replaced under a lock.
pub fn name_image(store: &BlobStore, image: &Image, names: &[String]) -> Result<(), Error> {
    let dir = layout_of(store);
    fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    let lock_path = dir.join("index.json.lock");
    let lock =
        File::create(&lock_path).map_err(io_err(format!("creating {}", lock_path.display())))?;
    lock.lock()
        .map_err(io_err(format!("locking {}", lock_path.display())))?;
    let index_path = dir.join("index.json");
    let mut index = match fs::read(&index_path) {
        Ok(bytes) => parse(&bytes, &index_path.display().to_string())?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => ImageIndex::new(vec![]),
        Err(e) => return Err(io_err(format!("reading {}", index_path.display()))(e)),
    };
    let manifest_size = fs::metadata(store.path(&image.manifest_digest))
        .map_err(io_err(format!(
            "reading manifest {}",
            image.manifest_digest
        )))?
        .len();
    for name in names {
        index.manifests.retain(|d| {
            let named = d
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_REF_NAME));
            named != Some(name)
        });
        let mut entry = Descriptor::new(
            image.manifest_media_type(),
            image.manifest_digest.clone(),
            manifest_size,
        );
        entry.annotations = Some(BTreeMap::from([(ANNOTATION_REF_NAME.into(), name.clone())]));
        index.manifests.push(entry);
    }
    write_atomically(&dir.join("oci-layout"), |f| {
        f.write_all(br#"{"imageLayoutVersion":"1.0.0"}"#)
    })?;
    write_atomically(&index_path, |f| f.write_all(&to_json(&index)))
}

/// One layer as `docker save` writes it: uncompressed.
struct SavedLayer {
    /// The blob in the store (compressed or not).
    blob: PathBuf,
    gzip: bool,
    diff_id: Digest,
    size: u64,
}

/// Opens a layer blob as its uncompressed tar.
fn layer_reader(blob: &Path, gzip: bool) -> Result<Box<dyn Read>, Error> {
    let file = File::open(blob).map_err(io_err(format!("opening {}", blob.display())))?;
    let file = BufReader::with_capacity(1 << 20, file);
    Ok(match gzip {
        true => Box::new(flate2::read::GzDecoder::new(file)),
        false => Box::new(file),
    })
}

/// Writes `image` as a `docker save` archive to `out`: the config as `<id>.json`, each
/// layer uncompressed as `<diff id>/layer.tar`, `manifest.json` naming them with
/// `names` as its `RepoTags`, and the legacy `repositories` file. `docker load` and
/// `podman load` read it. Entries are in a fixed order with fixed times and owners, so
/// the same image and names give the same bytes. Returns the bytes written.
pub fn write_docker_archive<W: Write>(
    store: &BlobStore,
    image: &Image,
    names: &[String],
    out: W,
) -> Result<u64, Error> {
    // The uncompressed size of each layer is needed for its header before its bytes: a
    // first pass measures it (and checks the diff id the config names).
    let mut layers = Vec::with_capacity(image.manifest.layers.len());
    for (layer, diff_id) in image
        .manifest
        .layers
        .iter()
        .zip(&image.config.rootfs.diff_ids)
    {
        let gzip = layer.media_type.ends_with("gzip");
        let blob = store.path(&layer.digest);
        let mut hashing = crate::digest::HashingWriter::new(io::sink());
        let size = io::copy(&mut layer_reader(&blob, gzip)?, &mut hashing)
            .map_err(io_err(format!("reading layer {}", layer.digest)))?;
        let (_, actual, _) = hashing.finish();
        if &actual != diff_id {
            return Err(Error::DigestMismatch {
                what: format!("the uncompressed layer {}", layer.digest),
                expected: diff_id.clone(),
                actual,
            });
        }
        layers.push(SavedLayer {
            blob,
            gzip,
            diff_id: diff_id.clone(),
            size,
        });
    }
    let config_name = format!("{}.json", image.manifest.config.digest.hex());
    let config = store.read(&image.manifest.config.digest)?;
    let layer_names: Vec<String> = layers
        .iter()
        .map(|l| format!("{}/layer.tar", l.diff_id.hex()))
        .collect();
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": if names.is_empty() { serde_json::Value::Null } else { names.into() },
        "Layers": layer_names,
    }]);
    let manifest = serde_json::to_vec(&manifest).expect("JSON values serialize");
    let mut repositories: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    if let Some(top) = layers.last() {
        for name in names {
            if let Some((repo, tag)) = name.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
                repositories
                    .entry(repo)
                    .or_default()
                    .insert(tag, top.diff_id.hex());
            }
        }
    }
    let repositories = serde_json::to_vec(&repositories).expect("JSON values serialize");
    let mut counter = Counting {
        inner: out,
        count: 0,
    };
    {
        let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, &mut counter));
        let mut append = |kind: EntryType, name: &str, size: u64, data: &mut dyn Read| {
            tar.append_data(&mut fixed_header(kind, size), name, data)
        };
        let failed = |what: &str| io_err(format!("writing the archive's {what}"));
        append(
            EntryType::Regular,
            &config_name,
            config.len() as u64,
            &mut config.as_slice(),
        )
        .map_err(failed("config"))?;
        for (layer, name) in layers.iter().zip(&layer_names) {
            let dir = format!("{}/", layer.diff_id.hex());
            append(EntryType::Directory, &dir, 0, &mut io::empty()).map_err(failed(&dir))?;
            let mut data = layer_reader(&layer.blob, layer.gzip)?.take(layer.size);
            append(EntryType::Regular, name, layer.size, &mut data).map_err(failed(name))?;
        }
        append(
            EntryType::Regular,
            "manifest.json",
            manifest.len() as u64,
            &mut manifest.as_slice(),
        )
        .map_err(failed("manifest.json"))?;
        append(
            EntryType::Regular,
            "repositories",
            repositories.len() as u64,
            &mut repositories.as_slice(),
        )
        .map_err(failed("repositories"))?;
        let inner = tar.into_inner().map_err(failed("end"))?;
        inner
            .into_inner()
            .map_err(|e| failed("end")(e.into_error()))?;
    }
    counter
        .flush()
        .map_err(io_err("writing the archive".to_string()))?;
    Ok(counter.count)
}

/// Counts what passes through to `inner`.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A platform as `docker import --platform` takes it: `os[/arch[/variant]]`, the
/// architecture `amd64` when none is given.
impl std::str::FromStr for Platform {
    type Err = String;

    fn from_str(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok =
            |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if parts.len() > 3 || !parts.iter().all(ok) {
            return Err(format!(
                "platform {s:?} is not os[/architecture[/variant]], e.g. linux/amd64"
            ));
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: parts.get(1).map_or("amd64", |a| a).to_ascii_lowercase(),
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }
}

/// Makes an image of the root filesystem tarball `tarball` (plain or gzip, as
/// `docker import` takes it): one layer, stored uncompressed as it came, its config
/// dated `epoch`, on `platform` (the host's when none), with `changes` applied.
pub fn import_rootfs(
    store: &BlobStore,
    tarball: impl Read,
    changes: &[Change],
    platform: Option<&Platform>,
    epoch: i64,
) -> Result<Image, Error> {
    let mut tarball = BufReader::with_capacity(1 << 20, tarball);
    let head =
        io::BufRead::fill_buf(&mut tarball).map_err(io_err("reading the tarball".to_string()))?;
    let mut reader: Box<dyn Read> =
        match head {
            [0x1f, 0x8b, ..] => Box::new(flate2::read::GzDecoder::new(tarball)),
            [b'B', b'Z', b'h', ..]
            | [0xfd, b'7', b'z', b'X', b'Z', ..]
            | [0x28, 0xb5, 0x2f, 0xfd, ..] => return Err(Error::Io {
                what: "reading the tarball".into(),
                source: io::Error::other(
                    "it is compressed with bzip2, xz or zstd; Kiln imports plain or gzip tarballs",
                ),
            }),
            _ => Box::new(tarball),
        };
    let mut writer = store.writer()?;
    io::copy(&mut reader, &mut writer)
        .map_err(io_err("storing the tarball as a layer".to_string()))?;
    let (diff_id, size) = writer.finish(None)?;
    let created = kiln_core::rfc3339(epoch.max(0) as u64);
    let mut cc = crate::ContainerConfig::default();
    let mut author = None;
    for change in changes {
        if let Change::Maintainer(m) = change {
            author = Some(m.clone());
        }
        changes::apply(change, &mut cc);
    }
    let host = Platform::host();
    let platform = platform.unwrap_or(&host);
    let config = ImageConfig {
        created: Some(created.clone()),
        author,
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        config: Some(cc),
        rootfs: crate::RootFs {
            kind: "layers".into(),
            diff_ids: vec![diff_id.clone()],
        },
        history: vec![History {
            created: Some(created),
            created_by: Some("kiln docker-import".into()),
            comment: Some("Imported from a root filesystem tarball".into()),
            ..History::default()
        }],
        extra: BTreeMap::new(),
    };
    let layer = Descriptor::new(MEDIA_TYPE_OCI_LAYER_TAR, diff_id, size);
    store_image(store, vec![layer], config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_latest_as_docker_gives_it() {
        assert_eq!(image_name("app").unwrap(), "app:latest");
        assert_eq!(
            image_name("localhost:5000/app").unwrap(),
            "localhost:5000/app:latest"
        );
        assert_eq!(
            image_name("localhost:5000/app:1.0").unwrap(),
            "localhost:5000/app:1.0"
        );
        assert!(image_name("App").is_err());
        assert!(image_name(
            "app@sha256:0000000000000000000000000000000000000000000000000000000000000000"
        )
        .is_err());
    }

    #[test]
    fn platforms_parse_as_docker_takes_them() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(
            (p.os.as_str(), p.architecture.as_str(), p.variant.as_deref()),
            ("linux", "arm64", Some("v8"))
        );
        let p: Platform = "linux".parse().unwrap();
        assert_eq!(p.architecture, "amd64");
        assert!("linux//x".parse::<Platform>().is_err());
        assert!("a/b/c/d".parse::<Platform>().is_err());
    }

    #[test]
    fn an_imported_tarball_is_one_layer_with_its_changes_and_archives_the_same_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("blobs"));
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = fixed_header(EntryType::Regular, 5);
        tar.append_data(&mut h, "etc/motd", &b"hello"[..]).unwrap();
        let bytes = tar.into_inner().unwrap();
        let changes = [
            changes::parse("CMD [\"/bin/sh\"]").unwrap(),
            changes::parse("ENV A=1").unwrap(),
        ];
        let image = import_rootfs(&store, &bytes[..], &changes, None, 0).unwrap();
        assert_eq!(image.config.rootfs.diff_ids, vec![Digest::of(&bytes)]);
        let cc = image.config.config.as_ref().unwrap();
        assert_eq!(cc.cmd.as_deref(), Some(&["/bin/sh".to_string()][..]));
        assert_eq!(cc.env.as_deref(), Some(&["A=1".to_string()][..]));
        // gzip gives the same image: the layer is stored uncompressed.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        let again = import_rootfs(&store, &gz.finish().unwrap()[..], &changes, None, 0).unwrap();
        assert_eq!(again.manifest_digest, image.manifest_digest);
        let names = vec!["app:1".to_string()];
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let n = write_docker_archive(&store, &image, &names, &mut a).unwrap();
        write_docker_archive(&store, &image, &names, &mut b).unwrap();
        assert_eq!(n, a.len() as u64);
        assert_eq!(a, b, "the same image and names give the same archive");
        let mut entries: Vec<String> = tar::Archive::new(&a[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        entries.sort();
        let hex = Digest::of(&bytes).hex().to_owned();
        assert!(entries.contains(&format!("{hex}/layer.tar")), "{entries:?}");
        assert!(entries.contains(&"manifest.json".to_string()));
        // Naming twice keeps one entry per name.
        name_image(&store, &image, &names).unwrap();
        name_image(&store, &image, &names).unwrap();
        let index: ImageIndex =
            parse(&fs::read(dir.path().join("index.json")).unwrap(), "index").unwrap();
        assert_eq!(index.manifests.len(), 1);
        let entry = &index.manifests[0];
        assert_eq!(entry.digest, image.manifest_digest);
        assert_eq!(
            entry.annotations.as_ref().unwrap()[ANNOTATION_REF_NAME],
            "app:1"
        );
    }
}
