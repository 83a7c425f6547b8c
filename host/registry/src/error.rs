//! The one error type of this crate; every message says what failed, where, and what to do.

use std::io;
use std::path::PathBuf;

use crate::Digest;

/// What can go wrong reading, writing, pulling or pushing an image. `what` fields name
/// the file, blob or manifest concerned; `layout` is a layout directory or archive.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A string that is not `sha256:` followed by 64 lowercase hex digits.
    #[error("invalid digest {0:?}: expected \"sha256:\" followed by 64 lowercase hex digits")]
    InvalidDigest(String),
    /// Content whose sha256 is not the digest it was named by.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}; the content is corrupt or was changed")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    /// A blob the image needs is not in the store.
    #[error("blob {digest} is not in the blob store {store}; pull or read the image again")]
    MissingBlob { digest: Digest, store: PathBuf },
    /// A file system operation failed.
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    /// A manifest, index or config that does not parse.
    #[error("{what} is not valid: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
    /// A directory or archive that is not a usable OCI image layout.
    #[error("{layout} is not a usable OCI image layout: {reason}")]
    BadLayout { layout: PathBuf, reason: String },
    /// The layout has no manifest with the requested `org.opencontainers.image.ref.name`.
    #[error("image layout {layout} has no manifest tagged {tag:?}; it has: {available}")]
    TagNotFound {
        layout: PathBuf,
        tag: String,
        available: String,
    },
    /// No name was given and the layout holds more than one manifest.
    #[error("image layout {layout} has several manifests ({available}); name the one to use")]
    AmbiguousManifest { layout: PathBuf, available: String },
    /// An image index without a manifest for the platform asked for.
    #[error("{what} has no {wanted} image; it has: {available} (choose one with `platform`)")]
    NoPlatform {
        what: String,
        wanted: String,
        available: String,
    },
    /// A manifest, config or layer of a kind this crate does not handle.
    #[error("{what} has media type {media_type:?}, which is not supported (OCI or Docker schema 2 images with tar or tar+gzip layers are)")]
    UnsupportedMediaType { what: String, media_type: String },
    /// An image reference that does not parse.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    /// The registry has no such repository, tag or digest.
    #[error(
        "no image {reference} at registry {registry} (HTTP 404); check the repository name and tag"
    )]
    NotFound { reference: String, registry: String },
    /// The registry refused the credentials (or their absence).
    #[error("registry {registry} refused access to {reference}; check the username and password, or run `kiln component login {registry}`")]
    Unauthorized { reference: String, registry: String },
    /// Any other registry failure: network, TLS, an unexpected answer.
    #[error("registry request for {reference} failed: {}", crate::retry::cause(source.as_ref()))]
    Registry {
        reference: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The registry did not answer, dropped the connection or kept failing, through
    /// every try.
    #[error("registry {registry} did not answer while {doing} ({attempts} tries): {cause}; check that the registry runs and is reachable (KILN_REGISTRY_TIMEOUT sets how long each request may wait)")]
    Unreachable {
        registry: String,
        doing: String,
        attempts: u32,
        cause: String,
    },
    /// A registry manifest that is not a wasm component artifact (an image, an index, a
    /// manifest with several layers, ...); `found` says what it is instead.
    #[error("{reference} is not a wasm component artifact: {found}; a component is an OCI manifest with config media type application/vnd.wasm.config.v0+json and exactly one application/wasm layer (as `kiln component push` makes)")]
    NotAComponent { reference: String, found: String },
    /// A file to push that is not a WebAssembly component binary.
    #[error("{path} is not a WebAssembly component: it does not start with the component preamble (\\0asm, version 0x0d, layer 1); build it for wasm32-wasip2 or wrap a core module with `wasm-tools component new`")]
    NotAComponentFile { path: PathBuf },
    /// A Docker config file that does not parse or holds unusable credentials.
    #[error("Docker config {path} is not usable: {reason}; fix the file, or log in again with `kiln component login`")]
    DockerConfig { path: PathBuf, reason: String },
    /// A `docker-credential-<helper>` program that could not be run or gave no credentials.
    #[error("credential helper docker-credential-{helper} failed for {registry}: {reason}; check that it is installed and on PATH, or remove it from the Docker config")]
    CredentialHelper {
        helper: String,
        registry: String,
        reason: String,
    },
    /// A `registries.conf` that cannot be read or does not parse.
    #[error("registries configuration {path} is not usable: {reason}; fix it (containers-registries.conf(5)) or point CONTAINERS_REGISTRIES_CONF at another file")]
    Config { path: PathBuf, reason: String },
    /// A pull from a registry `registries.conf` blocks.
    #[error("pulling {reference} is blocked by the registries configuration (its [[registry]] with prefix {prefix:?} says blocked = true)")]
    Blocked { reference: String, prefix: String },
    /// Neither `DOCKER_CONFIG` nor `HOME` says where the Docker config file is.
    #[error("cannot tell where the Docker config file is: neither DOCKER_CONFIG nor HOME is set; set one of them")]
    NoDockerConfig,
    /// A layer entry that would land outside the extraction directory.
    #[error("layer {layer} has entry {path:?} that would be written outside the destination; refusing to extract it")]
    UnsafePath { layer: Digest, path: String },
}

/// Wraps an `io::Error` with what was being done.
pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

impl Error {
    /// Names `what` as the content of a digest mismatch; other errors pass unchanged.
    pub(crate) fn naming(self, what: impl Into<String>) -> Error {
        match self {
            Error::DigestMismatch {
                expected, actual, ..
            } => Error::DigestMismatch {
                what: what.into(),
                expected,
                actual,
            },
            e => e,
        }
    }
}
