//! Packer's `iso_url`/`iso_urls` and `iso_checksum`: resolving the checksum (including
//! `file:` checksum files such as `SHA256SUMS`) and making the ISO available locally, with
//! a download cache keyed by the checksum.
//!
//! Downloads are verified while they stream into a temporary file in the cache directory
//! and renamed into place only once the checksum matches, so the cache never holds a
//! partial or corrupt file under its final name.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::Digest;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use kiln_artifacts::Hasher;
use kiln_core::Ui;
mod checksum;

pub use self::checksum::*;

/// How often a running download reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Where a URL of `iso_urls` (or a checksum file) points.
enum Location {
    /// http:// or https://.
    Http,
    /// A local file: a path (relative to `cwd`) or a `file://` URL.
    Local(PathBuf),
    /// Another scheme.
    Unsupported(String),
}

fn classify(url: &str, cwd: &Path) -> Location {
    if let Some(rest) = strip_prefix_ignore_case(url, "file://") {
        // file:///abs and file://localhost/abs are absolute; go-getter's file://./rel is not.
        let rest = match rest.strip_prefix("localhost") {
            Some(path) if path.starts_with('/') => path,
            _ => rest,
        };
        let decoded = crate::http::percent_decode(rest)
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_else(|| rest.to_string());
        return Location::Local(cwd.join(decoded));
    }
    if strip_prefix_ignore_case(url, "http://").is_some()
        || strip_prefix_ignore_case(url, "https://").is_some()
    {
        return Location::Http;
    }
    if let Some((scheme, _)) = url.split_once("://") {
        if !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Location::Unsupported(scheme.to_string());
        }
    }
    Location::Local(cwd.join(url))
}

/// The HTTP client for downloads: rustls, redirects followed, stalls time out.
fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120))
        .build()
}

/// An error with its sources, which is where reqwest says what actually went wrong.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Why [`fetch`] could not make the ISO available. The variants below `AllUrlsFailed`
/// are why one URL failed; `fetch` returns them inside `UrlFailed` or `AllUrlsFailed`,
/// which name the URL.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// Neither `iso_url` nor `iso_urls` is set.
    #[error("no ISO to fetch: set iso_url or iso_urls")]
    NoUrls,
    /// The build was cancelled; nothing partial is left behind.
    #[error("the ISO download was cancelled")]
    Cancelled,
    /// The only URL failed.
    #[error("could not fetch the ISO from {url}: {source}")]
    UrlFailed {
        /// The URL.
        url: String,
        /// Why it failed.
        #[source]
        source: Box<DownloadError>,
    },
    /// Every one of several URLs failed.
    #[error(
        "could not fetch the ISO from any of its {} URLs:\n  {}",
        .failures.len(),
        list_failures(.failures)
    )]
    AllUrlsFailed {
        /// Each URL with why it failed, in the order tried.
        failures: Vec<(String, DownloadError)>,
    },
    /// A URL scheme other than http(s) or file.
    #[error("{scheme}:// URLs are not supported; use http(s)://, file:// or a local path")]
    UnsupportedScheme {
        /// The scheme.
        scheme: String,
    },
    /// A local ISO that cannot be looked at (missing, no permission).
    #[error("{}: {source}", path.display())]
    Local {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A local "ISO" that is a directory or a device.
    #[error("{} is not a file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// Reading a file to verify its checksum failed.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The thread computing a checksum panicked or was cancelled.
    #[error("hashing task failed: {0}")]
    HashTask(#[source] tokio::task::JoinError),
    /// The file's digest is not the one `iso_checksum` names.
    #[error("checksum mismatch: expected {kind}:{expected}, got {kind}:{got}")]
    Mismatch {
        /// The algorithm.
        kind: ChecksumKind,
        /// The digest from `iso_checksum`, lowercase hex.
        expected: String,
        /// The file's digest, lowercase hex.
        got: String,
    },
    /// The download cache directory could not be created.
    #[error("creating the download cache {}: {source}", dir.display())]
    CreateCache {
        /// The cache directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client could not be set up (TLS roots, for instance).
    #[error("creating the HTTP client: {}", chain(.source))]
    HttpClient {
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The request failed before an answer: DNS, connection, TLS, timeout.
    #[error("{}", chain(.source))]
    Request {
        /// The URL.
        url: String,
        /// Why, with its causes.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("the server answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: reqwest::StatusCode,
    },
    /// The temporary file for the download could not be created.
    #[error("creating a file in {}: {source}", dir.display())]
    CreatePartial {
        /// The cache directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing the download to disk failed (a full disk, for instance).
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The temporary file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The connection failed midway.
    #[error("the download broke off after {}: {}", size(*.received), chain(.source))]
    BrokeOff {
        /// How many bytes had arrived.
        received: u64,
        /// Why, with its causes.
        #[source]
        source: reqwest::Error,
    },
    /// The body ended before the length the server announced.
    #[error("the download ended after {received} of {total} bytes")]
    Truncated {
        /// How many bytes arrived.
        received: u64,
        /// How many the server announced.
        total: u64,
    },
    /// The verified download could not be renamed into the cache.
    #[error("moving the download to {}: {source}", target.display())]
    Persist {
        /// The cache file.
        target: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// `url: why` lines for [`DownloadError::AllUrlsFailed`].
fn list_failures(failures: &[(String, DownloadError)]) -> String {
    failures
        .iter()
        .map(|(url, e)| format!("{url}: {e}"))
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// Makes the ISO available locally: a local path (relative to `cwd`) or `file://` URL is
/// used in place after verifying it; an http(s) URL is downloaded into `cache_dir` (file
/// name derived from the checksum — sha256 of "kind:hex" plus the URL's extension — or
/// from the URL when the checksum is `none`), verified while streaming (never held in
/// memory), written to a temporary file in cache_dir and renamed into place only when the
/// checksum matches. A cached file whose checksum verifies is reused without downloading
/// (say so through `ui`). Each URL of `urls` is tried in order; the error lists every
/// URL's failure. A checksum mismatch says expected vs got. `cancel` stops a download
/// promptly and leaves no partial file.
///
/// With `none` there is nothing to check a cached file against, so it is downloaded again.
pub async fn fetch(
    urls: &[String],
    checksum: &Checksum,
    cache_dir: &Path,
    cwd: &Path,
    ui: &dyn Ui,
    cancel: &CancellationToken,
) -> Result<PathBuf, DownloadError> {
    if urls.is_empty() {
        return Err(DownloadError::NoUrls);
    }
    let mut failures = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        if cancel.is_cancelled() {
            return Err(DownloadError::Cancelled);
        }
        let result = match classify(url, cwd) {
            Location::Local(path) => use_local(&path, checksum, ui, cancel).await,
            Location::Http => download(url, checksum, cache_dir, ui, cancel).await,
            Location::Unsupported(scheme) => Err(DownloadError::UnsupportedScheme { scheme }),
        };
        match result {
            Ok(path) => return Ok(path),
            Err(DownloadError::Cancelled) => return Err(DownloadError::Cancelled),
            Err(e) => {
                if i + 1 < urls.len() {
                    ui.say(&format!("Fetching {url} failed: {e}; trying the next URL"));
                }
                failures.push((url.clone(), e));
            }
        }
    }
    Err(if failures.len() == 1 {
        let (url, e) = failures.pop().expect("one failure");
        DownloadError::UrlFailed {
            url,
            source: Box::new(e),
        }
    } else {
        DownloadError::AllUrlsFailed { failures }
    })
}

/// Verifies a local ISO where it is.
async fn use_local(
    path: &Path,
    checksum: &Checksum,
    ui: &dyn Ui,
    cancel: &CancellationToken,
) -> Result<PathBuf, DownloadError> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|source| DownloadError::Local {
            path: path.to_path_buf(),
            source,
        })?;
    if !meta.is_file() {
        return Err(DownloadError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    match checksum {
        Checksum::None => {
            ui.say(&format!(
                "Using {} without verifying it (iso_checksum is none)",
                path.display()
            ));
        }
        Checksum::Digest { kind, hex } => {
            ui.say(&format!(
                "Verifying the {kind} checksum of {}...",
                path.display()
            ));
            let got = hash_file(path, *kind, cancel).await?;
            if got != *hex {
                return Err(mismatch(*kind, hex, got));
            }
            ui.say(&format!("Using {} (checksum verified)", path.display()));
        }
    }
    Ok(path.to_path_buf())
}

fn mismatch(kind: ChecksumKind, expected: &str, got: String) -> DownloadError {
    DownloadError::Mismatch {
        kind,
        expected: expected.to_owned(),
        got,
    }
}

/// The digest of the file at `path`, computed off the async threads.
async fn hash_file(
    path: &Path,
    kind: ChecksumKind,
    cancel: &CancellationToken,
) -> Result<String, DownloadError> {
    let path = path.to_path_buf();
    let cancel = cancel.clone();
    tokio::task::spawn_blocking(move || {
        let read_error = |source: std::io::Error| DownloadError::Read {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::File::open(&path).map_err(read_error)?;
        let mut hasher = Hasher::new(kind.algorithm());
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            if cancel.is_cancelled() {
                return Err(DownloadError::Cancelled);
            }
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e)),
            };
            hasher.update(&buf[..n]);
        }
        Ok(hasher.finish_hex())
    })
    .await
    .map_err(DownloadError::HashTask)?
}

/// The cache file name for `url`: sha256 of `kind:hex` (or of the URL for `none`) plus the
/// URL's extension.
fn cache_file_name(url: &str, checksum: &Checksum) -> String {
    let key = match checksum {
        Checksum::Digest { kind, hex } => format!("{kind}:{hex}"),
        Checksum::None => url.to_string(),
    };
    let mut name = kiln_core::artifact::hex(&sha2::Sha256::digest(key.as_bytes()));
    let extension = file_names(url)
        .and_then(|names| {
            let last = names.last()?.clone();
            let (_, ext) = last.rsplit_once('.')?;
            Some(ext.to_string())
        })
        .filter(|ext| {
            !ext.is_empty() && ext.len() <= 10 && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if let Some(ext) = extension {
        name.push('.');
        name.push_str(&ext);
    }
    name
}

/// Downloads `url` into the cache (or reuses a verified cached copy).
async fn download(
    url: &str,
    checksum: &Checksum,
    cache_dir: &Path,
    ui: &dyn Ui,
    cancel: &CancellationToken,
) -> Result<PathBuf, DownloadError> {
    let target = cache_dir.join(cache_file_name(url, checksum));
    if let Checksum::Digest { kind, hex } = checksum {
        if tokio::fs::metadata(&target)
            .await
            .is_ok_and(|meta| meta.is_file())
        {
            let got = hash_file(&target, *kind, cancel).await?;
            if got == *hex {
                ui.say(&format!(
                    "Using the cached copy of {url} at {} (checksum verified)",
                    target.display()
                ));
                return Ok(target);
            }
            ui.say(&format!(
                "The cached copy of {url} at {} does not match its checksum; downloading it again",
                target.display()
            ));
            let _ = tokio::fs::remove_file(&target).await;
        }
    }
    tokio::fs::create_dir_all(cache_dir)
        .await
        .map_err(|source| DownloadError::CreateCache {
            dir: cache_dir.to_path_buf(),
            source,
        })?;

    ui.say(&format!("Downloading {url}..."));
    if *checksum == Checksum::None {
        ui.message("iso_checksum is none: the download is not verified, and not reused next time");
    }
    let started = Instant::now();
    let client = client().map_err(|source| DownloadError::HttpClient { source })?;
    let mut response = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Err(DownloadError::Cancelled),
        sent = client.get(url).send() => sent.map_err(|source| DownloadError::Request {
            url: url.to_owned(),
            source,
        })?,
    };
    let status = response.status();
    if !status.is_success() {
        return Err(DownloadError::Status {
            url: url.to_owned(),
            status,
        });
    }
    let total = response.content_length();

    // Removed on drop, so every early return (error, mismatch, cancel) cleans up.
    let partial = tempfile::Builder::new()
        .prefix(".kiln-download-")
        .suffix(".part")
        .tempfile_in(cache_dir)
        .map_err(|source| DownloadError::CreatePartial {
            dir: cache_dir.to_path_buf(),
            source,
        })?;
    let write_error = |source: std::io::Error| DownloadError::Write {
        path: partial.path().to_path_buf(),
        source,
    };
    let mut file = tokio::fs::File::from_std(partial.as_file().try_clone().map_err(write_error)?);
    let mut hasher = match checksum {
        Checksum::Digest { kind, .. } => Some(Hasher::new(kind.algorithm())),
        Checksum::None => None,
    };
    let mut received: u64 = 0;
    let mut last_report = Instant::now();
    let bar = ui.progress(&format!("Downloading {url}"), total);
    loop {
        let chunk = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(DownloadError::Cancelled),
            chunk = response.chunk() => chunk.map_err(|source| DownloadError::BrokeOff {
                received,
                source,
            })?,
        };
        let Some(chunk) = chunk else { break };
        if let Some(hasher) = &mut hasher {
            hasher.update(&chunk);
        }
        file.write_all(&chunk).await.map_err(write_error)?;
        received += u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        bar.advance(chunk.len() as u64);
        if last_report.elapsed() >= PROGRESS_EVERY {
            last_report = Instant::now();
            ui.message(&match total {
                Some(total) if total > 0 => format!(
                    "Downloaded {} of {} ({}%)",
                    size(received),
                    size(total),
                    received.saturating_mul(100) / total
                ),
                _ => format!("Downloaded {}", size(received)),
            });
        }
    }
    file.flush().await.map_err(write_error)?;
    file.sync_all().await.map_err(write_error)?;
    drop(file);
    if let Some(total) = total {
        if received != total {
            return Err(DownloadError::Truncated { received, total });
        }
    }
    if let (Some(hasher), Checksum::Digest { kind, hex }) = (hasher, checksum) {
        let got = hasher.finish_hex();
        if got != *hex {
            return Err(mismatch(*kind, hex, got));
        }
    }
    partial
        .persist(&target)
        .map_err(|e| DownloadError::Persist {
            target: target.clone(),
            source: e.error,
        })?;
    let seconds = started.elapsed().as_secs_f64().max(0.001);
    let rate = received as f64 / 1e6 / seconds;
    ui.say(&format!(
        "Downloaded {} in {seconds:.1}s ({rate:.1} MB/s) to {}",
        size(received),
        target.display()
    ));
    Ok(target)
}

/// A byte count for people: `812 B`, `3.4 MB`, `4.1 GB`.
fn size(bytes: u64) -> String {
    let value = bytes as f64;
    if bytes < 1_000 {
        format!("{bytes} B")
    } else if bytes < 1_000_000 {
        format!("{:.1} kB", value / 1e3)
    } else if bytes < 1_000_000_000 {
        format!("{:.1} MB", value / 1e6)
    } else {
        format!("{:.2} GB", value / 1e9)
    }
}

#[cfg(test)]
mod tests;
