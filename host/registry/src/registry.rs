//! Image references and pulling from / pushing to registries over the distribution API.
//!
//! `oci-client` speaks HTTP and does the bearer-token dance; this module decides what to
//! fetch, streams blobs into and out of the [`BlobStore`] and checks every digest.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use futures_util::{StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError as OciError, OciErrorCode as Code};
use oci_client::secrets::RegistryAuth as OciAuth;
use oci_client::{Client, Reference as OciRef, RegistryOperation};
use tokio_util::io::ReaderStream;

use crate::error::io_err;
use crate::retry::{http_status, retry_registry, REGISTRY_BACKOFF};
use crate::spec::{parse, pick_platform, unsupported};
use crate::spec::{MEDIA_TYPE_DOCKER_LIST, MEDIA_TYPE_DOCKER_MANIFEST};
use crate::spec::{MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST};
use crate::store::BlobWriter;
use crate::{BlobStore, Digest, Error, Image, ImageIndex, ImageManifest, Platform};

/// An image in a registry, `[host[:port]/]repository[:tag][@sha256:…]`, with Docker's
/// defaults: `docker.io`, `library/` for single-name Hub repositories, tag `latest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// The registry host, with its port if one was given.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository, e.g. `library/debian`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag; `latest` when neither a tag nor a digest was given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The pinned manifest digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Whether the registry is on this machine (localhost, 127.0.0.0/8, ::1); those are
    /// spoken to over plain http, as Docker does. All others use https.
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.strip_prefix('[') {
            Some(rest) => rest.split(']').next(),
            None => self.registry.split(':').next(),
        };
        let host = host.unwrap_or_default();
        host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    pub(crate) fn to_oci(&self) -> OciRef {
        let (r, repo) = (self.registry.clone(), self.repository.clone());
        match (self.tag.clone(), &self.digest) {
            (Some(t), Some(d)) => OciRef::with_tag_and_digest(r, repo, t, d.to_string()),
            (None, Some(d)) => OciRef::with_digest(r, repo, d.to_string()),
            (t, None) => OciRef::with_tag(r, repo, t.unwrap_or_else(|| "latest".into())),
        }
    }
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(s: &str) -> Result<Reference, Error> {
        let invalid = |reason: &str| Error::InvalidReference {
            reference: s.into(),
            reason: reason.into(),
        };
        let (name, digest) = match s.rsplit_once('@') {
            Some((name, d)) => (name, Some(d.parse().map_err(|_| invalid("bad digest"))?)),
            None => (s, None),
        };
        let (name, tag) = match name.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
            _ => (name, None),
        };
        // As Docker: the first component is a host if it looks like one.
        let (registry, repository) = match name.split_once('/') {
            Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => (host, rest),
            _ => ("docker.io", name),
        };
        let registry = if registry == "index.docker.io" {
            "docker.io"
        } else {
            registry
        };
        let repository = match registry == "docker.io" && !repository.contains('/') {
            true => format!("library/{repository}"),
            false => repository.to_string(),
        };
        if !repository.split('/').all(|c| valid_name(c, b"._-", true)) {
            return Err(invalid(
                "the repository must be lowercase letters, digits and ._- separated by /",
            ));
        }
        if tag.is_some_and(|t| t.len() > 128 || !valid_name(t, b"_.-", false)) {
            return Err(invalid(
                "the tag must be 1 to 128 letters, digits and ._-, not starting with . or -",
            ));
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest"),
            (tag, _) => tag,
        };
        let tag = tag.map(str::to_string);
        Ok(Reference {
            registry: registry.into(),
            repository,
            tag,
            digest,
        })
    }
}

/// Alphanumeric first character, then alphanumerics and `extra`; lowercase if asked.
fn valid_name(s: &str, extra: &[u8], lowercase: bool) -> bool {
    let ok = |b: u8| {
        b.is_ascii_digit() || b.is_ascii_lowercase() || (!lowercase && b.is_ascii_alphabetic())
    };
    s.bytes()
        .next()
        .is_some_and(|b| ok(b) || (!lowercase && b == b'_'))
        && s.bytes().all(|b| ok(b) || extra.contains(&b))
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Registry credentials: sent as HTTP basic auth, or traded for a bearer token when the
/// registry asks for one. `Debug` leaves the password out.
#[derive(Clone)]
pub struct RegistryAuth {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub password: String,
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RegistryAuth");
        d.field("username", &self.username).finish_non_exhaustive()
    }
}

pub(crate) const MANIFEST_TYPES: [&str; 4] = [
    MEDIA_TYPE_OCI_MANIFEST,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_DOCKER_LIST,
];

/// Pulls `reference` into `store`: its manifest (an index resolved to `platform`), config
/// and layers, checking every digest, and the manifest's against a pinned digest. Blobs
/// already in the store are not downloaded again.
///
/// The image is pulled from its registry's mirrors first, when `registries.conf` or
/// Docker's `daemon.json` names some (see [`crate::mirrors`]); a mirror that fails gives
/// way to the next source. `auth` is the login for the image's own registry; without
/// one, and at a mirror, the login Docker keeps for that host is used, as a daemon does.
#[tracing::instrument(skip_all, fields(reference = %reference))]
pub async fn pull(
    reference: &Reference,
    auth: Option<&RegistryAuth>,
    platform: &Platform,
    store: &BlobStore,
) -> Result<Image, Error> {
    for source in crate::mirrors::pull_sources(reference)? {
        let here = source.reference.registry();
        let stored;
        let login = match auth {
            Some(a) if here == reference.registry() => Some(a),
            _ => {
                stored = crate::credentials_for(here).unwrap_or_else(|e| {
                    tracing::warn!(registry = here, error = %e, "stored login unusable");
                    None
                });
                stored.as_ref()
            }
        };
        match pull_from(&source.reference, login, source.insecure, platform, store).await {
            Ok(image) => return Ok(image),
            Err(e) if source.mirror => {
                tracing::warn!(mirror = %source.reference, error = %e, "mirror failed; trying the next source");
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("the image's own registry is always the last source, and it returns")
}

/// Pulls from one source; see [`pull`].
async fn pull_from(
    reference: &Reference,
    auth: Option<&RegistryAuth>,
    insecure: bool,
    platform: &Platform,
    store: &BlobStore,
) -> Result<Image, Error> {
    let (client, auth) = (client(reference, insecure), oci_auth(auth));
    let mut pinned = reference.digest().cloned();
    let mut what = format!("manifest of {reference}");
    let mut bytes = fetch_manifest(&client, &auth, reference).await?;
    // An index names one manifest per platform; a few levels of nesting are plenty.
    for _ in 0..4 {
        let digest = Digest::of(&bytes);
        check(&what, pinned.as_ref(), &digest)?;
        let json: serde_json::Value = parse(&bytes, &what)?;
        let is_index = match json["mediaType"].as_str() {
            Some(t) => t == MEDIA_TYPE_OCI_INDEX || t == MEDIA_TYPE_DOCKER_LIST,
            None => json.get("manifests").is_some(),
        };
        if !is_index {
            break;
        }
        let index: ImageIndex = parse(&bytes, &what)?;
        let chosen = pick_platform(&index, platform, &format!("index {digest} of {reference}"))?;
        let at = Reference {
            tag: None,
            digest: Some(chosen.digest.clone()),
            ..reference.clone()
        };
        bytes = fetch_manifest(&client, &auth, &at).await?;
        (what, pinned) = (
            format!("manifest {} of {reference}", chosen.digest),
            Some(chosen.digest.clone()),
        );
    }
    let digest = store.put_bytes(&bytes)?;
    check(&what, pinned.as_ref(), &digest)?;
    let manifest: ImageManifest = parse(&bytes, &what)?;
    for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
        if store.contains(&blob.digest) {
            continue;
        }
        tracing::debug!(digest = %blob.digest, size = blob.size, "downloading blob");
        let what = format!("blob {} of {reference}", blob.digest);
        download_blob(&client, reference, &blob.digest, store, &what).await?;
    }
    Image::load(store, digest)
}

/// Pushes `image` from `store` to `reference`: layers and config (each only if the
/// registry lacks it), streamed from their files, then the manifest. Returns the manifest
/// digest the registry reports, which must be `image.manifest_digest`.
#[tracing::instrument(skip_all, fields(reference = %reference, manifest = %image.manifest_digest))]
pub async fn push(
    reference: &Reference,
    auth: Option<&RegistryAuth>,
    store: &BlobStore,
    image: &Image,
) -> Result<Digest, Error> {
    let (client, auth) = (client(reference, false), oci_auth(auth));
    authorize_push(&client, &auth, reference).await?;
    for blob in image.manifest.layers.iter().chain([&image.manifest.config]) {
        let open = || store.open(&blob.digest);
        upload_blob(&client, reference, &blob.digest, blob.size, open).await?;
    }
    let manifest = store.read(&image.manifest_digest)?;
    let media_type = image.manifest_media_type();
    let expected = &image.manifest_digest;
    put_manifest(&client, &auth, reference, manifest, media_type, expected).await
}

/// Logs in for pushing to `reference` (a bearer token, or basic auth for later requests).
pub(crate) async fn authorize_push(
    client: &Client,
    auth: &OciAuth,
    reference: &Reference,
) -> Result<(), Error> {
    let target = &reference.to_oci();
    let doing = format!("authorizing a push to {reference}");
    retry_registry(&reference.registry, &doing, || async move {
        let authorized = client.auth(target, auth, RegistryOperation::Push).await;
        authorized.map_err(|e| registry_error(reference, e))
    })
    .await
    .map(drop)
}

/// The raw manifest `reference` names (an OCI or Docker manifest or index).
pub(crate) async fn fetch_manifest(
    client: &Client,
    auth: &OciAuth,
    reference: &Reference,
) -> Result<Vec<u8>, Error> {
    let oci_ref = &reference.to_oci();
    let doing = format!("fetching the manifest of {reference}");
    retry_registry(&reference.registry, &doing, || async move {
        let fetched = client.pull_manifest_raw(oci_ref, auth, &MANIFEST_TYPES);
        let (bytes, _) = fetched.await.map_err(|e| registry_error(reference, e))?;
        Ok(bytes.to_vec())
    })
    .await
}

/// Downloads blob `digest` of `reference`'s repository into `store`, checking its digest
/// while it streams; a failed or corrupt download leaves nothing in the store. `what`
/// names the blob in errors. A download the registry cuts short is tried again from
/// where it stopped (an HTTP range), or from the start when the registry does not
/// serve ranges.
pub(crate) async fn download_blob(
    client: &Client,
    reference: &Reference,
    digest: &Digest,
    store: &BlobStore,
    what: &str,
) -> Result<(), Error> {
    let oci_ref = &reference.to_oci();
    let doing = format!("downloading {what}");
    let mut partial: Option<(BlobWriter, u64)> = None;
    let mut delay = REGISTRY_BACKOFF.first_delay;
    let mut attempt = 1;
    loop {
        let got = download_into(
            client,
            oci_ref,
            reference,
            digest,
            store,
            what,
            &mut partial,
        )
        .await;
        match got {
            Ok(()) => {
                let (writer, _) = partial.take().expect("a finished download has its writer");
                return writer
                    .finish(Some(digest))
                    .map(drop)
                    .map_err(|e| e.naming(what));
            }
            Err(e) if attempt < REGISTRY_BACKOFF.attempts && e.is_transient() => {
                let at = partial.as_ref().map_or(0, |(_, n)| *n);
                tracing::warn!(attempt, ?delay, error = %e, at, "{doing} failed; resuming");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e.unreachable(&reference.registry, &doing, attempt)),
        }
    }
}

/// One try of [`download_blob`]: continues `partial` (its writer and the bytes it has)
/// when there is one, else starts it.
async fn download_into(
    client: &Client,
    oci_ref: &OciRef,
    reference: &Reference,
    digest: &Digest,
    store: &BlobStore,
    what: &str,
    partial: &mut Option<(BlobWriter, u64)>,
) -> Result<(), Error> {
    let at = partial.as_ref().map_or(0, |(_, n)| *n);
    let fail = |e| registry_error(reference, e);
    let mut stream = if at == 0 {
        client
            .pull_blob_stream(oci_ref, digest.as_str())
            .await
            .map_err(fail)?
    } else {
        match client
            .pull_blob_stream_partial(oci_ref, digest.as_str(), at, None)
            .await
            .map_err(fail)?
        {
            oci_client::client::BlobResponse::Partial(s) => s,
            // No ranges: the whole blob again, into a new writer.
            oci_client::client::BlobResponse::Full(s) => {
                *partial = None;
                s
            }
        }
    };
    if partial.is_none() {
        *partial = Some((store.writer()?, 0));
    }
    let (writer, received) = partial.as_mut().expect("set above");
    while let Some(chunk) = stream.next().await {
        // A chunk lands in the page cache; a blocking write of one is cheap.
        let chunk = chunk.map_err(|e| {
            let digest_error = e.get_ref().and_then(|e| e.downcast_ref());
            let ours = digest_error.and_then(|d| mismatch(d, what));
            ours.unwrap_or_else(|| io_err(format!("downloading {what}"))(e))
        })?;
        std::io::Write::write_all(writer, &chunk).map_err(io_err(format!("storing {what}")))?;
        *received += chunk.len() as u64;
    }
    Ok(())
}

/// Uploads blob `digest` (`size` bytes) to `reference`'s repository, streamed from the
/// file `open` opens, unless the registry already has it.
pub(crate) async fn upload_blob(
    client: &Client,
    reference: &Reference,
    digest: &Digest,
    size: u64,
    open: impl Fn() -> Result<std::fs::File, Error>,
) -> Result<(), Error> {
    let (target, d, open) = (&reference.to_oci(), digest.as_str(), &open);
    let fail = |e| registry_error(reference, e);
    let doing = format!("uploading blob {digest} to {reference}");
    retry_registry(&reference.registry, &doing, || async move {
        if client.blob_exists(target, d).await.map_err(fail)? {
            return Ok(());
        }
        tracing::debug!(digest = d, size, "uploading blob");
        let file = tokio::fs::File::from_std(open()?);
        let stream = ReaderStream::new(file).map_err(OciError::from);
        let pushed = client.push_blob_stream(target, stream, d, Some(size)).await;
        pushed.map(drop).map_err(fail)
    })
    .await
}

/// Pushes `manifest` (of `media_type`) to `reference` and returns the digest the registry
/// reports for it, which must be `expected`.
pub(crate) async fn put_manifest(
    client: &Client,
    auth: &OciAuth,
    reference: &Reference,
    manifest: Vec<u8>,
    media_type: &str,
    expected: &Digest,
) -> Result<Digest, Error> {
    let (target, fail) = (&reference.to_oci(), |e| registry_error(reference, e));
    let (what, manifest) = (&format!("manifest {expected}"), &manifest);
    let doing = format!("pushing the {what} to {reference}");
    retry_registry(&reference.registry, &doing, || async move {
        let header = media_type.parse();
        let header = header.map_err(|_| unsupported(what, media_type))?;
        let pushed = client.push_manifest_raw(target, manifest.clone(), header);
        pushed.await.map(drop).map_err(fail)
    })
    .await?;
    let doing = format!("checking the {what} on {reference}");
    let reported = retry_registry(&reference.registry, &doing, || async move {
        let reported = client.fetch_manifest_digest(target, auth).await;
        reported.map_err(fail)
    })
    .await?
    .parse()?;
    check(
        &format!("manifest pushed to {reference}"),
        Some(expected),
        &reported,
    )?;
    Ok(reported)
}

/// Where Docker (and, second, podman) keep each registry's own certificate authorities:
/// `<dir>/<host[:port]>/*.crt`.
const CERTS_DIRS: [&str; 2] = ["/etc/docker/certs.d", "/etc/containers/certs.d"];

/// The certificate authorities Docker's `certs.d` holds for `registry` (`host[:port]`),
/// trusted for it on top of the system's. Each `*.crt` file of the registry's directory
/// is one (PEM), as Docker reads them.
fn registry_cas(registry: &str) -> Vec<oci_client::client::Certificate> {
    let mut cas = Vec::new();
    for dir in CERTS_DIRS {
        let Ok(entries) = std::fs::read_dir(Path::new(dir).join(registry)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "crt"))
        {
            match std::fs::read(file) {
                Ok(data) => cas.push(oci_client::client::Certificate {
                    encoding: oci_client::client::CertificateEncoding::Pem,
                    data,
                }),
                Err(e) => tracing::warn!(file = %file.display(), error = %e, "unreadable CA"),
            }
        }
    }
    cas
}

/// A client for `reference`'s registry: https, trusting the system's certificate
/// authorities and those `certs.d` holds for it; plain http for a loopback registry
/// that `certs.d` holds none for (Docker's default insecure registries) and, when
/// `insecure`, for any other.
pub(crate) fn client(reference: &Reference, insecure: bool) -> Client {
    let cas = registry_cas(&reference.registry);
    let protocol = match insecure || (reference.is_loopback() && cas.is_empty()) {
        true => ClientProtocol::Http,
        false => ClientProtocol::Https,
    };
    let timeout = request_timeout();
    Client::new(ClientConfig {
        protocol,
        // A blob is streamed in one PUT of known size: the chunked upload sends one
        // request per read buffer (4 KiB), which made a 10 MiB push take 10 s on
        // loopback; monolithic, it takes a few milliseconds.
        use_monolithic_push: true,
        // A registry that accepts the connection and never answers is given up on (and
        // tried again) instead of waited for for ever.
        connect_timeout: Some(timeout.min(std::time::Duration::from_secs(10))),
        read_timeout: Some(timeout),
        extra_root_certificates: cas,
        ..ClientConfig::default()
    })
}

/// How long one registry request may wait for the registry to answer (or to send the
/// next part of an answer): `KILN_REGISTRY_TIMEOUT` seconds, else 30.
pub fn request_timeout() -> std::time::Duration {
    std::env::var("KILN_REGISTRY_TIMEOUT")
        .ok()
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .and_then(|t| std::time::Duration::try_from_secs_f64(t).ok())
        .unwrap_or(std::time::Duration::from_secs(30))
}

pub(crate) fn oci_auth(auth: Option<&RegistryAuth>) -> OciAuth {
    auth.map_or(OciAuth::Anonymous, |a| {
        OciAuth::Basic(a.username.clone(), a.password.clone())
    })
}

pub(crate) fn check(what: &str, expected: Option<&Digest>, actual: &Digest) -> Result<(), Error> {
    match expected {
        Some(expected) if expected != actual => Err(Error::DigestMismatch {
            what: what.into(),
            expected: expected.clone(),
            actual: actual.clone(),
        }),
        _ => Ok(()),
    }
}

/// A digest mismatch oci-client found, as ours.
pub(crate) fn mismatch(e: &DigestError, what: &str) -> Option<Error> {
    let DigestError::VerificationError { expected, actual } = e else {
        return None;
    };
    let (expected, actual) = (expected.parse().ok()?, actual.parse().ok()?);
    Some(Error::DigestMismatch {
        what: what.into(),
        expected,
        actual,
    })
}

pub(crate) fn registry_error(reference: &Reference, e: OciError) -> Error {
    if let OciError::DigestError(d) = &e {
        if let Some(e) = mismatch(d, &format!("manifest of {reference}")) {
            return e;
        }
    }
    let codes: Vec<&Code> = match &e {
        OciError::RegistryError { envelope, .. } => {
            envelope.errors.iter().map(|e| &e.code).collect()
        }
        _ => Vec::new(),
    };
    let has = |wanted: &[Code]| codes.iter().any(|c| wanted.contains(*c));
    // http_status also covers a bare 401 from a HEAD request (blob_exists), which has no body.
    let status = match http_status(&e) {
        Some(status) => status,
        None if matches!(e, OciError::AuthenticationFailure(_)) => 401,
        None if has(&[Code::ManifestUnknown, Code::NameUnknown]) => 404,
        None if has(&[Code::Unauthorized, Code::Denied]) => 401,
        None => 0,
    };
    let (reference, registry) = (reference.to_string(), reference.registry.clone());
    match status {
        404 => Error::NotFound {
            reference,
            registry,
        },
        401 | 403 => Error::Unauthorized {
            reference,
            registry,
        },
        _ => Error::Registry {
            reference,
            source: Box::new(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> (String, String, Option<String>, Option<String>) {
        let r: Reference = s.parse().unwrap();
        (
            r.registry,
            r.repository,
            r.tag,
            r.digest.map(|d| d.to_string()),
        )
    }

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn docker_hub_defaults() {
        let hub = |repo: &str, tag: &str| ("docker.io".into(), repo.into(), Some(tag.into()), None);
        assert_eq!(parts("debian"), hub("library/debian", "latest"));
        assert_eq!(parts("debian:12"), hub("library/debian", "12"));
        assert_eq!(parts("index.docker.io/foo/bar:1"), hub("foo/bar", "1"));
        let shown = "debian".parse::<Reference>().unwrap().to_string();
        assert_eq!(shown, "docker.io/library/debian:latest");
    }

    #[test]
    fn host_port_and_loopback() {
        let r: Reference = "localhost:5000/a/b:v1".parse().unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("localhost:5000", "a/b", Some("v1"))
        );
        assert!(r.is_loopback());
        assert!("127.0.0.2:80/x".parse::<Reference>().unwrap().is_loopback());
        assert!("[::1]:5000/x:y".parse::<Reference>().unwrap().is_loopback());
        assert!(!"ghcr.io/x/y".parse::<Reference>().unwrap().is_loopback());
        assert_eq!(parts("quay.io/x").2.as_deref(), Some("latest"));
    }

    #[test]
    fn digest_and_tag_with_digest() {
        let by_digest = ("ghcr.io".into(), "x/y".into(), None, Some(D.into()));
        assert_eq!(parts(&format!("ghcr.io/x/y@{D}")), by_digest);
        assert_eq!(
            parts(&format!("localhost:5000/y:v2@{D}")).2.as_deref(),
            Some("v2")
        );
        let shown = format!("y:v2@{D}")
            .parse::<Reference>()
            .unwrap()
            .to_string();
        assert_eq!(shown, format!("docker.io/library/y:v2@{D}"));
    }

    #[test]
    fn rejects_bad_references() {
        for bad in ["Debian", "x@sha256:abc", "x:-tag", "a//b", "", "x:"] {
            assert!(bad.parse::<Reference>().is_err(), "{bad}");
        }
    }
}
