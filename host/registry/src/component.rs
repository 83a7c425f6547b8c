//! WebAssembly components as OCI artifacts: pushing, pulling and resolving them.
//!
//! A component is stored in a registry as an OCI image manifest whose config blob has
//! media type [`MEDIA_TYPE_WASM_CONFIG`] (a [`WasmConfig`]: architecture `wasm`, os
//! `wasip2`, the layer digests and the component's imports, exports and world) and whose
//! one layer is the component binary itself, media type [`MEDIA_TYPE_WASM_LAYER`]. This
//! is the layout other wasm registry tools read and write, so components move freely
//! between them and Kiln.
//!
//! Every registry request is retried on passing failures (see `retry`), every blob is
//! checked against its digest, and a layer lands in the [`BlobStore`] only once complete
//! and verified.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use oci_client::secrets::RegistryAuth as OciAuth;
use oci_client::Client;
use serde::{Deserialize, Serialize};

use crate::digest::HashingWriter;
use crate::error::io_err;
use crate::registry::{authorize_push, check, client, download_blob, fetch_manifest};
use crate::registry::{oci_auth, put_manifest, registry_error, upload_blob};
use crate::retry::retry_registry;
use crate::spec::{parse, to_json};
use crate::spec::{MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_LIST, MEDIA_TYPE_OCI_CONFIG};
use crate::spec::{MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST};
use crate::{BlobStore, Descriptor, Digest, Error, ImageManifest, Reference, RegistryAuth};

/// The media type of a wasm artifact's config blob.
pub const MEDIA_TYPE_WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The media type of a wasm artifact's layer: the component binary.
pub const MEDIA_TYPE_WASM_LAYER: &str = "application/wasm";

const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
const ANNOTATION_VERSION: &str = "org.opencontainers.image.version";
const ANNOTATION_DESCRIPTION: &str = "org.opencontainers.image.description";
const ANNOTATION_SOURCE: &str = "org.opencontainers.image.source";
const ANNOTATION_LICENSES: &str = "org.opencontainers.image.licenses";
const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// The first 8 bytes of every component binary: `\0asm`, version 0x0d, layer 1.
const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// How to reach a registry: credentials, and whether plain HTTP is allowed for it
/// (loopback registries always use plain HTTP, as today; `insecure` extends that to
/// any host).
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// Credentials; `None` is anonymous.
    pub auth: Option<RegistryAuth>,
    /// Speak plain HTTP to the registry even though it is not on this machine.
    pub insecure: bool,
}

/// What describes a component in its config blob and manifest annotations.
#[derive(Clone, Debug, Default)]
pub struct ComponentMeta {
    /// The interfaces it imports, e.g. `wasi:cli/environment@0.2.0`.
    pub imports: Vec<String>,
    /// The interfaces it exports, e.g. `kiln:plugin/provisioner@0.1.0`.
    pub exports: Vec<String>,
    /// The world it targets, e.g. `kiln:plugin/provisioner`.
    pub target: Option<String>,
    /// A human-readable name (`org.opencontainers.image.title`).
    pub title: Option<String>,
    /// Its version (`org.opencontainers.image.version`).
    pub version: Option<String>,
    /// What it does (`org.opencontainers.image.description`).
    pub description: Option<String>,
    /// Where its source lives (`org.opencontainers.image.source`).
    pub source: Option<String>,
    /// An SPDX license expression (`org.opencontainers.image.licenses`).
    pub licenses: Option<String>,
    /// When it was made, in seconds since the Unix epoch (`SOURCE_DATE_EPOCH` or now).
    pub created: u64,
}

/// The config blob of a wasm artifact. Fields other tools may leave out default to empty,
/// so configs written elsewhere still parse.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// When the component was made (RFC 3339).
    #[serde(default)]
    pub created: String,
    /// Who made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Always `wasm`.
    #[serde(default)]
    pub architecture: String,
    /// `wasip2` for components.
    #[serde(default)]
    pub os: String,
    /// The digests of the artifact's layers, in order.
    #[serde(default)]
    pub layer_digests: Vec<Digest>,
    /// The component's world; absent for core modules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentWorld>,
}

/// What a component imports and exports, and the world it targets.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ComponentWorld {
    /// Imported interfaces.
    #[serde(default)]
    pub imports: Vec<String>,
    /// Exported interfaces.
    #[serde(default)]
    pub exports: Vec<String>,
    /// The world, e.g. `kiln:plugin/provisioner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A component as pushed.
#[derive(Clone, Debug)]
pub struct PushedComponent {
    /// The manifest digest, as the registry reports it.
    pub manifest: Digest,
    /// The digest of the component binary.
    pub layer: Digest,
    /// The size of the component binary in bytes.
    pub size: u64,
}

/// A component as pulled; its binary is the blob `layer` of the store it was pulled into.
#[derive(Clone, Debug)]
pub struct PulledComponent {
    /// The manifest digest.
    pub manifest: Digest,
    /// The digest of the component binary.
    pub layer: Digest,
    /// The size of the component binary in bytes.
    pub size: u64,
    /// The artifact's config.
    pub config: WasmConfig,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Pushes the component file at `wasm` (streamed from disk, not read whole) to `reference`:
/// config blob, exactly one layer, then the OCI image manifest, skipping blobs the
/// registry already has. The manifest carries `org.opencontainers.image.*` annotations
/// for the fields of `meta` that are set, and always `created`; the layer is titled with
/// the file name. The same file and `meta` always give the same manifest digest, which is
/// checked against what the registry reports.
#[tracing::instrument(skip_all, fields(reference = %reference, wasm = %wasm.display()))]
pub async fn push_component(
    reference: &Reference,
    access: &Access,
    wasm: &Path,
    meta: &ComponentMeta,
) -> Result<PushedComponent, Error> {
    let (layer, size) = hash_file(wasm.to_path_buf(), true).await?;
    let config = WasmConfig {
        created: kiln_core::rfc3339(meta.created),
        author: None,
        architecture: "wasm".into(),
        os: "wasip2".into(),
        layer_digests: vec![layer.clone()],
        component: Some(ComponentWorld {
            imports: meta.imports.clone(),
            exports: meta.exports.clone(),
            target: meta.target.clone(),
        }),
    };
    let config = to_json(&config);
    let manifest = component_manifest(
        wasm,
        meta,
        &config,
        Descriptor::new(MEDIA_TYPE_WASM_LAYER, layer.clone(), size),
    );
    let manifest = to_json(&manifest);
    let manifest_digest = Digest::of(&manifest);
    check(
        &format!("manifest to push to {reference}"),
        reference.digest(),
        &manifest_digest,
    )?;

    let (client, auth) = connect(reference, access);
    authorize_push(&client, &auth, reference).await?;
    upload_config(&client, reference, &config).await?;
    let open = || File::open(wasm).map_err(io_err(format!("reading {}", wasm.display())));
    upload_blob(&client, reference, &layer, size, open).await?;
    let (media_type, expected) = (MEDIA_TYPE_OCI_MANIFEST, &manifest_digest);
    let reported = put_manifest(&client, &auth, reference, manifest, media_type, expected);
    Ok(PushedComponent {
        manifest: reported.await?,
        layer,
        size,
    })
}

/// Resolves `reference` (tag or digest) to its manifest, checks it is a wasm component
/// artifact, and stores its manifest, config and layer in `store`, verifying each while
/// it streams; a failed or corrupt download leaves nothing in the store. Blobs already in
/// the store are hashed again, and downloaded again if their bytes no longer match their
/// name. A digest in `reference` must be the manifest's.
#[tracing::instrument(skip_all, fields(reference = %reference))]
pub async fn pull_component(
    reference: &Reference,
    access: &Access,
    store: &BlobStore,
) -> Result<PulledComponent, Error> {
    let (client, auth) = connect(reference, access);
    let (bytes, digest, manifest) = fetch_component_manifest(&client, &auth, reference).await?;
    store.put_bytes(&bytes)?;
    let what = format!("config {} of {reference}", manifest.config.digest);
    ensure_blob(&client, reference, store, &manifest.config.digest, &what).await?;
    let config = parse(&store.read(&manifest.config.digest)?, &what)?;
    let layer = &manifest.layers[0];
    let what = format!("layer {} of {reference}", layer.digest);
    let size = ensure_blob(&client, reference, store, &layer.digest, &what).await?;
    Ok(PulledComponent {
        manifest: digest,
        layer: layer.digest.clone(),
        size,
        config,
        annotations: manifest.annotations.unwrap_or_default(),
    })
}

/// Reads the manifest of `reference` and returns its digest and the digest of the
/// component's layer, without downloading the layer (for lock files).
#[tracing::instrument(skip_all, fields(reference = %reference))]
pub async fn resolve_component(
    reference: &Reference,
    access: &Access,
) -> Result<(Digest, Digest), Error> {
    let (client, auth) = connect(reference, access);
    let (_, digest, mut manifest) = fetch_component_manifest(&client, &auth, reference).await?;
    Ok((digest, manifest.layers.remove(0).digest))
}

/// A client for `reference`'s registry and the credentials to give it.
fn connect(reference: &Reference, access: &Access) -> (Client, OciAuth) {
    let client = client(reference, access.insecure);
    (client, oci_auth(access.auth.as_ref()))
}

/// The manifest of a component whose config blob is `config` and whose layer is `layer`.
fn component_manifest(
    wasm: &Path,
    meta: &ComponentMeta,
    config: &[u8],
    mut layer: Descriptor,
) -> ImageManifest {
    if let Some(name) = wasm.file_name() {
        let title = name.to_string_lossy().into_owned();
        layer.annotations = Some([(ANNOTATION_TITLE.to_string(), title)].into());
    }
    let optional = [
        (ANNOTATION_TITLE, &meta.title),
        (ANNOTATION_VERSION, &meta.version),
        (ANNOTATION_DESCRIPTION, &meta.description),
        (ANNOTATION_SOURCE, &meta.source),
        (ANNOTATION_LICENSES, &meta.licenses),
    ];
    let mut annotations: BTreeMap<String, String> = optional
        .into_iter()
        .filter_map(|(key, value)| Some((key.to_string(), value.clone()?)))
        .collect();
    annotations.insert(ANNOTATION_CREATED.into(), kiln_core::rfc3339(meta.created));
    ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_OCI_MANIFEST.into()),
        config: Descriptor::new(
            MEDIA_TYPE_WASM_CONFIG,
            Digest::of(config),
            config.len() as u64,
        ),
        layers: vec![layer],
        annotations: Some(annotations),
    }
}

/// Uploads the config blob `config` unless the registry already has it.
async fn upload_config(client: &Client, reference: &Reference, config: &[u8]) -> Result<(), Error> {
    let (target, digest) = (&reference.to_oci(), Digest::of(config));
    let (fail, d) = (|e| registry_error(reference, e), digest.as_str());
    let doing = format!("uploading the config to {reference}");
    retry_registry(reference.registry(), &doing, || async move {
        if client.blob_exists(target, d).await.map_err(fail)? {
            return Ok(());
        }
        let pushed = client.push_blob(target, config.to_vec(), d);
        pushed.await.map(drop).map_err(fail)
    })
    .await
}

/// The manifest `reference` names, its digest (checked against a digest in `reference`)
/// and the manifest parsed, once it is known to be a wasm component artifact.
async fn fetch_component_manifest(
    client: &Client,
    auth: &OciAuth,
    reference: &Reference,
) -> Result<(Vec<u8>, Digest, ImageManifest), Error> {
    let bytes = fetch_manifest(client, auth, reference).await?;
    let digest = Digest::of(&bytes);
    check(
        &format!("manifest of {reference}"),
        reference.digest(),
        &digest,
    )?;
    let manifest = as_component(reference, &bytes)?;
    Ok((bytes, digest, manifest))
}

/// Parses `bytes` as a wasm component artifact's manifest, or says what it is instead.
fn as_component(reference: &Reference, bytes: &[u8]) -> Result<ImageManifest, Error> {
    let what = format!("manifest of {reference}");
    let not_a_component = |found: String| Error::NotAComponent {
        reference: reference.to_string(),
        found,
    };
    let json: serde_json::Value = parse(bytes, &what)?;
    let media_type = json["mediaType"].as_str();
    let index = [MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_LIST];
    if json.get("manifests").is_some() || media_type.is_some_and(|t| index.contains(&t)) {
        return Err(not_a_component(
            "it is an image index (a multi-platform image)".into(),
        ));
    }
    if let Some(other) = media_type.filter(|t| *t != MEDIA_TYPE_OCI_MANIFEST) {
        return Err(not_a_component(format!(
            "its manifest has media type {other}"
        )));
    }
    let manifest: ImageManifest = parse(bytes, &what)?;
    let config = manifest.config.media_type.as_str();
    let layers: Vec<&str> = manifest
        .layers
        .iter()
        .map(|l| l.media_type.as_str())
        .collect();
    if config != MEDIA_TYPE_WASM_CONFIG || layers != [MEDIA_TYPE_WASM_LAYER] {
        let hint = match [MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_DOCKER_CONFIG].contains(&config) {
            true => " (it is a container image)",
            false => "",
        };
        let layers = layers.join(", ");
        return Err(not_a_component(format!(
            "its config has media type {config} and its layers are [{layers}]{hint}"
        )));
    }
    Ok(manifest)
}

/// Makes sure blob `digest` is in `store` with the right bytes: a stored copy is hashed
/// again and, if it no longer matches, removed and downloaded again. Returns its size.
async fn ensure_blob(
    client: &Client,
    reference: &Reference,
    store: &BlobStore,
    digest: &Digest,
    what: &str,
) -> Result<u64, Error> {
    let path = store.path(digest);
    if store.contains(digest) {
        let (actual, size) = hash_file(path.clone(), false).await?;
        if actual == *digest {
            return Ok(size);
        }
        tracing::warn!(%actual, "{what} in the store is corrupt; downloading it again");
        fs::remove_file(&path).map_err(io_err(format!("removing {}", path.display())))?;
    }
    download_blob(client, reference, digest, store, what).await?;
    let size = fs::metadata(&path).map_err(io_err(format!("reading {}", path.display())))?;
    Ok(size.len())
}

/// The digest and size of the file at `path`, streamed on a blocking thread. With
/// `component`, the file must start with the component preamble.
async fn hash_file(path: PathBuf, component: bool) -> Result<(Digest, u64), Error> {
    let hash = move || {
        let what = || format!("reading {}", path.display());
        let mut file = File::open(&path).map_err(io_err(what()))?;
        let mut hasher = HashingWriter::new(io::sink());
        if component {
            let mut head = [0; COMPONENT_PREAMBLE.len()];
            match file.read_exact(&mut head) {
                Ok(()) if head == COMPONENT_PREAMBLE => {}
                Ok(()) => return Err(Error::NotAComponentFile { path }),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(Error::NotAComponentFile { path })
                }
                Err(e) => return Err(io_err(what())(e)),
            }
            hasher.write_all(&head).map_err(io_err(what()))?;
        }
        io::copy(&mut file, &mut hasher).map_err(io_err(what()))?;
        let (_, digest, size) = hasher.finish();
        Ok((digest, size))
    };
    let joined = tokio::task::spawn_blocking(hash).await;
    joined.map_err(|e| io_err("hashing a file")(io::Error::other(e)))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> ComponentMeta {
        ComponentMeta {
            exports: vec!["kiln:plugin/provisioner@0.1.0".into()],
            target: Some("kiln:plugin/provisioner".into()),
            version: Some("1.2.3".into()),
            created: 1_700_000_000,
            ..ComponentMeta::default()
        }
    }

    #[test]
    fn the_manifest_has_one_titled_layer_and_the_set_annotations() {
        let layer = Descriptor::new(MEDIA_TYPE_WASM_LAYER, Digest::of(b"wasm"), 4);
        let m = component_manifest(Path::new("/x/shell.wasm"), &meta(), b"{}", layer);
        assert_eq!(m.config.media_type, MEDIA_TYPE_WASM_CONFIG);
        assert_eq!(m.config.digest, Digest::of(b"{}"));
        let title = m.layers[0].annotations.as_ref().unwrap()[ANNOTATION_TITLE].as_str();
        assert_eq!(title, "shell.wasm");
        let annotations = m.annotations.unwrap();
        let keys: Vec<&str> = annotations.keys().map(String::as_str).collect();
        assert_eq!(keys, [ANNOTATION_CREATED, ANNOTATION_VERSION]);
        assert_eq!(annotations[ANNOTATION_CREATED], "2023-11-14T22:13:20Z");
    }

    #[test]
    fn configs_of_other_tools_parse() {
        let json = br#"{"created":"2024-01-01T00:00:00Z","architecture":"wasm","os":"wasip2",
            "layerDigests":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
            "component":{"exports":["a:b/c"],"imports":[]},"extra":1}"#;
        let config: WasmConfig = serde_json::from_slice(json).unwrap();
        assert_eq!(config.component.unwrap().exports, ["a:b/c"]);
        let minimal: WasmConfig = serde_json::from_slice(b"{}").unwrap();
        assert!(minimal.layer_digests.is_empty());
    }

    #[tokio::test]
    async fn only_component_binaries_are_pushed() {
        let dir = tempfile::tempdir().unwrap();
        let (component, module) = (dir.path().join("c.wasm"), dir.path().join("m.wasm"));
        let mut bytes = COMPONENT_PREAMBLE.to_vec();
        bytes.extend_from_slice(b"sections");
        fs::write(&component, &bytes).unwrap();
        fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
        let hashed = hash_file(component, true).await.unwrap();
        assert_eq!(hashed, (Digest::of(&bytes), bytes.len() as u64));
        let e = hash_file(module, true).await.unwrap_err();
        assert!(matches!(e, Error::NotAComponentFile { .. }), "{e}");
    }

    #[test]
    fn images_and_indexes_are_not_components() {
        let r: Reference = "localhost:5000/x:y".parse().unwrap();
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        let image = format!(
            r#"{{"schemaVersion":2,"mediaType":"{MEDIA_TYPE_OCI_MANIFEST}",
            "config":{{"mediaType":"{MEDIA_TYPE_OCI_CONFIG}","digest":"{d}","size":0}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{d}","size":0}}]}}"#,
            d = Digest::of(b"")
        );
        for (bytes, found) in [
            (&index[..], "image index"),
            (image.as_bytes(), "container image"),
        ] {
            let e = as_component(&r, bytes).unwrap_err();
            assert!(matches!(e, Error::NotAComponent { .. }), "{e}");
            assert!(e.to_string().contains(found), "{e}");
        }
    }
}
