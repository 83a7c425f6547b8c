//! The OCI image-spec types Kiln reads and writes, and media types.
//!
//! Field names and order follow the OCI image spec; maps are `BTreeMap`s and `None` fields
//! are left out, so serializing the same value always gives the same bytes (and digest).
//! Unknown config fields are kept in `extra`, so a base image's config round-trips.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{BlobStore, Digest, Error};

/// OCI image manifest.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI layer, tar+gzip.
pub const MEDIA_TYPE_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI layer, plain tar.
pub const MEDIA_TYPE_OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Docker schema 2 manifest.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema 2 manifest list.
pub const MEDIA_TYPE_DOCKER_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 2 image config.
pub const MEDIA_TYPE_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker schema 2 layer (tar+gzip).
pub const MEDIA_TYPE_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The annotation naming a manifest in an image layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A reference to a blob: its type, digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the blob is.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The platform of the manifest it points to (in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// The platform an image runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, e.g. `amd64`.
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest: one config and its layers, bottom first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type (OCI or Docker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config.
    pub config: Descriptor,
    /// The layers, bottom first.
    pub layers: Vec<Descriptor>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image index: manifests for several platforms or names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type (OCI or Docker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests it lists.
    pub manifests: Vec<Descriptor>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image config: how to run the image and the digests of its uncompressed layers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// When the image was created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Who made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture, e.g. `amd64`.
    #[serde(default)]
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    #[serde(default)]
    pub os: String,
    /// CPU variant, e.g. `v7` for `arm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Defaults for running a container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    /// The uncompressed layers.
    pub rootfs: RootFs,
    /// How each layer came about.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Fields this type does not name, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Defaults for running a container from the image (OCI names, capitalised).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// `user`, `uid`, `user:group` or `uid:gid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Ports to expose, as `port/proto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    /// `NAME=value` entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// The command prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// The default arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Directories that hold volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Empty>>,
    /// The working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// The signal that stops the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Fields this type does not name (Docker's `Healthcheck`, ...), kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The `{}` value of `ExposedPorts` and `Volumes` entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// The image's layers as uncompressed digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// sha256 of each uncompressed layer tar, bottom first.
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}

/// One step of the image's history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// When (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Who made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// A note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Whether this step added no layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
}

/// A resolved image whose manifest, config and layers are all in a [`BlobStore`].
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The digest of the manifest as stored.
    pub manifest_digest: Digest,
    /// The manifest.
    pub manifest: ImageManifest,
    /// The config.
    pub config: ImageConfig,
}

impl Image {
    /// The manifest's media type (manifests without one are OCI).
    pub fn manifest_media_type(&self) -> &str {
        self.manifest
            .media_type
            .as_deref()
            .unwrap_or(MEDIA_TYPE_OCI_MANIFEST)
    }

    /// Parses `manifest_digest` and its config from the store, checking both are images.
    pub(crate) fn load(store: &BlobStore, manifest_digest: Digest) -> Result<Image, Error> {
        let manifest: ImageManifest = parse(
            &store.read(&manifest_digest)?,
            &format!("manifest {manifest_digest}"),
        )?;
        if let Some(mt) = manifest.media_type.as_deref() {
            if mt != MEDIA_TYPE_OCI_MANIFEST && mt != MEDIA_TYPE_DOCKER_MANIFEST {
                return Err(unsupported(&format!("manifest {manifest_digest}"), mt));
            }
        }
        let c = &manifest.config;
        if c.media_type != MEDIA_TYPE_OCI_CONFIG && c.media_type != MEDIA_TYPE_DOCKER_CONFIG {
            return Err(unsupported(&format!("config {}", c.digest), &c.media_type));
        }
        let config = parse(&store.read(&c.digest)?, &format!("config {}", c.digest))?;
        Ok(Image {
            manifest_digest,
            manifest,
            config,
        })
    }

    /// Every blob the image is made of: manifest, config and layers.
    pub(crate) fn blobs(&self) -> impl Iterator<Item = &Digest> {
        let parts = std::iter::once(&self.manifest.config).chain(&self.manifest.layers);
        std::iter::once(&self.manifest_digest).chain(parts.map(|d| &d.digest))
    }
}

/// Stores the config and an OCI manifest over `layers` (already in the store) and returns
/// the image. Both are serialized from the typed structs, so equal inputs give equal
/// digests. Docker layers (e.g. from a pulled base) are relabelled OCI tar+gzip, which
/// they are byte for byte.
pub fn store_image(
    store: &BlobStore,
    mut layers: Vec<Descriptor>,
    config: ImageConfig,
) -> Result<Image, Error> {
    for layer in layers
        .iter_mut()
        .filter(|l| l.media_type == MEDIA_TYPE_DOCKER_LAYER)
    {
        layer.media_type = MEDIA_TYPE_OCI_LAYER_GZIP.into();
    }
    if let Some(missing) = layers.iter().find(|l| !store.contains(&l.digest)) {
        return Err(Error::MissingBlob {
            digest: missing.digest.clone(),
            store: store.root().to_path_buf(),
        });
    }
    let config_json = to_json(&config);
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_OCI_MANIFEST.into()),
        config: Descriptor::new(
            MEDIA_TYPE_OCI_CONFIG,
            store.put_bytes(&config_json)?,
            config_json.len() as u64,
        ),
        layers,
        annotations: None,
    };
    let manifest_digest = store.put_bytes(&to_json(&manifest))?;
    Ok(Image {
        manifest_digest,
        manifest,
        config,
    })
}

/// The image whose manifest is `digest`, from what `store` already holds (e.g. an
/// earlier pull); an error if the manifest, its config or any layer is missing.
pub fn load_image(store: &BlobStore, digest: &Digest) -> Result<Image, Error> {
    let manifest: ImageManifest = parse(&store.read(digest)?, &format!("manifest {digest}"))?;
    let config = parse(
        &store.read(&manifest.config.digest)?,
        &format!("config of {digest}"),
    )?;
    if let Some(missing) = manifest.layers.iter().find(|l| !store.contains(&l.digest)) {
        return Err(Error::MissingBlob {
            digest: missing.digest.clone(),
            store: store.root().to_path_buf(),
        });
    }
    Ok(Image {
        manifest_digest: digest.clone(),
        manifest,
        config,
    })
}

impl Descriptor {
    /// A descriptor without annotations or platform.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            annotations: None,
            platform: None,
        }
    }

    pub(crate) fn is_index(&self) -> bool {
        self.media_type == MEDIA_TYPE_OCI_INDEX || self.media_type == MEDIA_TYPE_DOCKER_LIST
    }
}

impl ImageIndex {
    /// An OCI image index of `manifests`.
    pub fn new(manifests: Vec<Descriptor>) -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_INDEX.into()),
            manifests,
            annotations: None,
        }
    }
}

impl Platform {
    /// The platform this host's programs are built for (Docker's names: `amd64`, `arm64`).
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: docker_arch(std::env::consts::ARCH).into(),
            variant: None,
        }
    }

    /// The same platform in Docker's spelling: `x86_64` is `amd64`, `aarch64` is
    /// `arm64`, and arm64's only variant `v8` is the same as none.
    pub fn normalized(&self) -> Platform {
        let architecture = docker_arch(&self.architecture.to_ascii_lowercase()).to_owned();
        let variant = self
            .variant
            .as_deref()
            .map(str::to_ascii_lowercase)
            .filter(|v| !(v.is_empty() || architecture == "arm64" && v == "v8"));
        Platform {
            os: self.os.to_ascii_lowercase(),
            architecture,
            variant,
        }
    }

    /// Whether an image of `self` answers a request for `wanted`: same system and
    /// architecture, and the same variant when `wanted` names one.
    pub fn satisfies(&self, wanted: &Platform) -> bool {
        let (have, want) = (self.normalized(), wanted.normalized());
        have.os == want.os
            && have.architecture == want.architecture
            && (want.variant.is_none() || have.variant == want.variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(v) => write!(f, "/{v}"),
            None => Ok(()),
        }
    }
}

/// Docker's name of an architecture the kernel or Rust may spell otherwise.
fn docker_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "x86" | "i386" | "i686" => "386",
        "powerpc64le" => "ppc64le",
        other => other,
    }
}

/// Picks the manifest for `wanted` from an index, as Docker does: an exact variant
/// first, then any manifest of the system and architecture; an index of one manifest
/// that names no platform is taken as it is.
pub(crate) fn pick_platform<'a>(
    index: &'a ImageIndex,
    wanted: &Platform,
    what: &str,
) -> Result<&'a Descriptor, Error> {
    let want = wanted.normalized();
    let exact = |d: &&Descriptor| d.platform.as_ref().is_some_and(|p| p.normalized() == want);
    let fits = |d: &&Descriptor| d.platform.as_ref().is_some_and(|p| p.satisfies(&want));
    let found = index
        .manifests
        .iter()
        .find(exact)
        .or_else(|| index.manifests.iter().find(fits));
    match (found, index.manifests.as_slice()) {
        (Some(d), _) => Ok(d),
        (None, [d]) if d.platform.is_none() => Ok(d),
        (None, all) => Err(Error::NoPlatform {
            what: what.into(),
            wanted: want.to_string(),
            available: all
                .iter()
                .map(|d| match &d.platform {
                    Some(p) => p.to_string(),
                    None => format!("{} (no platform)", d.digest),
                })
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|source| Error::Json {
        what: what.into(),
        source,
    })
}

/// Serializes one of this module's types; they have only string map keys, so this cannot fail.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("image metadata serializes")
}

pub(crate) fn unsupported(what: &str, media_type: &str) -> Error {
    Error::UnsupportedMediaType {
        what: what.into(),
        media_type: media_type.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keeps_unknown_fields_and_serializes_canonically() {
        let json = r#"{"architecture":"amd64","os":"linux","os.version":"x","config":{"Env":["A=1"],"Healthcheck":{"Test":["NONE"]},"ExposedPorts":{"80/tcp":{}}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let config: ImageConfig = serde_json::from_str(json).unwrap();
        assert_eq!(config.extra["os.version"], "x");
        let again = String::from_utf8(to_json(&config)).unwrap();
        assert_eq!(
            again,
            r#"{"architecture":"amd64","os":"linux","config":{"ExposedPorts":{"80/tcp":{}},"Env":["A=1"],"Healthcheck":{"Test":["NONE"]}},"rootfs":{"type":"layers","diff_ids":[]},"os.version":"x"}"#
        );
    }
}
