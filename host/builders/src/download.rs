//! Packer's `iso_url`/`iso_urls` and `iso_checksum`: resolving the checksum (including
//! `file:` checksum files such as `SHA256SUMS`) and making the ISO available locally, with
//! a download cache keyed by the checksum.
//!
//! Downloads are verified while they stream into a temporary file in the cache directory
//! and renamed into place only once the checksum matches, so the cache never holds a
//! partial or corrupt file under its final name.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::Digest;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use kiln_artifacts::{HashAlgorithm, Hasher};
use kiln_core::Ui;

/// How often a running download reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// The largest checksum file read; real ones are a few kilobytes.
const MAX_CHECKSUM_FILE: u64 = 16 * 1024 * 1024;

/// A checksum algorithm Packer's `iso_checksum` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumKind {
    /// MD5 (32 hex digits).
    Md5,
    /// SHA-1 (40 hex digits).
    Sha1,
    /// SHA-256 (64 hex digits).
    Sha256,
    /// SHA-512 (128 hex digits).
    Sha512,
}

impl ChecksumKind {
    /// The prefix Packer uses for this kind: `md5`, `sha1`, `sha256` or `sha512`.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumKind::Md5 => "md5",
            ChecksumKind::Sha1 => "sha1",
            ChecksumKind::Sha256 => "sha256",
            ChecksumKind::Sha512 => "sha512",
        }
    }

    /// The algorithm that computes it.
    fn algorithm(self) -> HashAlgorithm {
        match self {
            ChecksumKind::Md5 => HashAlgorithm::Md5,
            ChecksumKind::Sha1 => HashAlgorithm::Sha1,
            ChecksumKind::Sha256 => HashAlgorithm::Sha256,
            ChecksumKind::Sha512 => HashAlgorithm::Sha512,
        }
    }

    /// How many hex digits a digest of this kind has.
    pub fn hex_len(self) -> usize {
        match self {
            ChecksumKind::Md5 => 32,
            ChecksumKind::Sha1 => 40,
            ChecksumKind::Sha256 => 64,
            ChecksumKind::Sha512 => 128,
        }
    }

    /// The kind whose digests have `len` hex digits, if any.
    pub fn from_hex_len(len: usize) -> Option<ChecksumKind> {
        match len {
            32 => Some(ChecksumKind::Md5),
            40 => Some(ChecksumKind::Sha1),
            64 => Some(ChecksumKind::Sha256),
            128 => Some(ChecksumKind::Sha512),
            _ => None,
        }
    }

    /// The kind named `name` (case-insensitive), if any.
    pub fn from_name(name: &str) -> Option<ChecksumKind> {
        match name.to_ascii_lowercase().as_str() {
            "md5" => Some(ChecksumKind::Md5),
            "sha1" => Some(ChecksumKind::Sha1),
            "sha256" => Some(ChecksumKind::Sha256),
            "sha512" => Some(ChecksumKind::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for ChecksumKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A resolved `iso_checksum`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    /// `none`: nothing is verified.
    None,
    /// The digest the file must have; `hex` is lowercase.
    Digest {
        /// The algorithm.
        kind: ChecksumKind,
        /// The expected digest in lowercase hex.
        hex: String,
    },
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checksum::None => f.write_str("none"),
            Checksum::Digest { kind, hex } => write!(f, "{kind}:{hex}"),
        }
    }
}

/// What an `iso_checksum` can look like, for error messages.
const CHECKSUM_FORMS: &str = "write \"sha256:<hex>\" (or md5:, sha1:, sha512:), \
     \"file:<url or path of a checksum file such as SHA256SUMS>\", \
     or \"none\" to skip verification";

/// Parses Packer's iso_checksum: `sha256:HEX` (also md5:, sha1:, sha512:), bare HEX (kind
/// from its length: 32 md5, 40 sha1, 64 sha256, 128 sha512), `file:URL-or-path` (a
/// checksum file such as SHA256SUMS in `HASH  NAME` / `HASH *NAME` form or BSD
/// `SHA256 (NAME) = HASH` form; the entry whose NAME matches the last path segment of the
/// first URL in `urls` is used; the file is fetched over http(s) or read from a local path
/// relative to `cwd`; the kind comes from the hash length), or `none`. Errors are clear
/// messages that say what to write instead.
pub async fn resolve_checksum(spec: &str, urls: &[String], cwd: &Path) -> Result<Checksum, String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(format!("iso_checksum must be set: {CHECKSUM_FORMS}"));
    }
    if spec.eq_ignore_ascii_case("none") {
        return Ok(Checksum::None);
    }
    if let Some(location) = strip_prefix_ignore_case(spec, "file:") {
        return from_checksum_file(location, None, urls, cwd).await;
    }
    let Some((prefix, value)) = spec.split_once(':') else {
        return bare_digest(spec);
    };
    let Some(kind) = ChecksumKind::from_name(prefix) else {
        return Err(format!(
            "iso_checksum {spec:?}: unknown checksum type {prefix:?}; {CHECKSUM_FORMS}"
        ));
    };
    if let Some(location) = strip_prefix_ignore_case(value, "file:") {
        return from_checksum_file(location, Some(kind), urls, cwd).await;
    }
    let hex = value.trim();
    if !is_hex(hex) {
        return Err(format!(
            "iso_checksum {spec:?}: {hex:?} is not a hex digest; {CHECKSUM_FORMS}"
        ));
    }
    if hex.len() != kind.hex_len() {
        return Err(format!(
            "iso_checksum {spec:?}: a {kind} digest has {} hex digits, this one has {}; \
             check the value, or write the matching type (or just the hex digits) instead",
            kind.hex_len(),
            hex.len()
        ));
    }
    Ok(Checksum::Digest {
        kind,
        hex: hex.to_ascii_lowercase(),
    })
}

/// A checksum without a `kind:` prefix: the kind comes from its length.
fn bare_digest(spec: &str) -> Result<Checksum, String> {
    if !is_hex(spec) {
        return Err(format!(
            "iso_checksum {spec:?} is not a checksum: {CHECKSUM_FORMS}"
        ));
    }
    let kind = ChecksumKind::from_hex_len(spec.len()).ok_or_else(|| {
        format!(
            "iso_checksum {spec:?} has {} hex digits, which is no md5 (32), sha1 (40), \
             sha256 (64) or sha512 (128) digest; write the type explicitly, e.g. \"sha256:<hex>\"",
            spec.len()
        )
    })?;
    Ok(Checksum::Digest {
        kind,
        hex: spec.to_ascii_lowercase(),
    })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads the checksum file at `location` and picks the entry for the first URL's file.
async fn from_checksum_file(
    location: &str,
    forced: Option<ChecksumKind>,
    urls: &[String],
    cwd: &Path,
) -> Result<Checksum, String> {
    let location = location.trim();
    if location.is_empty() {
        return Err(format!(
            "iso_checksum \"file:\" needs the URL or path of a checksum file, \
             e.g. \"file:https://releases.ubuntu.com/24.04/SHA256SUMS\"; or {CHECKSUM_FORMS}"
        ));
    }
    let first = urls.first().ok_or_else(|| {
        "iso_checksum \"file:...\" needs iso_url or iso_urls to know which entry to use".to_string()
    })?;
    let wanted = file_names(first).ok_or_else(|| {
        format!(
            "cannot tell the file name of {first:?} to look up in the checksum file {location}; \
             give the checksum directly, e.g. \"sha256:<hex>\""
        )
    })?;
    let text = read_checksum_file(location, cwd).await?;
    let (hex, line) = find_entry(&text, &wanted).ok_or_else(|| {
        format!(
            "checksum file {location} has no entry for {:?} (the file name of {first}); \
             point file: at a checksum file that lists it, or give the checksum directly, \
             e.g. \"sha256:<hex>\"",
            wanted[0]
        )
    })?;
    let kind = match forced {
        Some(kind) if kind.hex_len() != hex.len() => {
            return Err(format!(
                "checksum file {location}: the entry for {:?} (line {line}) has {} hex digits, \
                 not the {} of a {kind} digest; drop the \"{kind}:\" prefix or fix the file",
                wanted[0],
                hex.len(),
                kind.hex_len()
            ))
        }
        Some(kind) => kind,
        None => ChecksumKind::from_hex_len(hex.len()).ok_or_else(|| {
            format!(
                "checksum file {location}: the entry for {:?} (line {line}) has {} hex digits, \
                 which is no md5, sha1, sha256 or sha512 digest; use a SHA256SUMS-style file \
                 or give the checksum directly, e.g. \"sha256:<hex>\"",
                wanted[0],
                hex.len()
            )
        })?,
    };
    Ok(Checksum::Digest {
        kind,
        hex: hex.to_ascii_lowercase(),
    })
}

/// The names the file at `url` may be listed under in a checksum file: its last path
/// segment as written and percent-decoded.
fn file_names(url: &str) -> Option<Vec<String>> {
    let path = if url.contains("://") {
        url.split(['?', '#']).next().unwrap_or_default()
    } else {
        url
    };
    let name = path.rsplit(['/', '\\']).next().filter(|n| !n.is_empty())?;
    let mut names = vec![name.to_string()];
    if let Some(decoded) = crate::http::percent_decode(name).and_then(|b| String::from_utf8(b).ok())
    {
        if decoded != name {
            names.push(decoded);
        }
    }
    Some(names)
}

/// The hash listed for one of `wanted` in a checksum file, with its line number. A file
/// holding nothing but one bare hash is taken as that hash.
fn find_entry<'a>(text: &'a str, wanted: &[String]) -> Option<(&'a str, usize)> {
    let entries = text
        .lines()
        .enumerate()
        .filter_map(|(i, line)| parse_line(line).map(|(hash, name)| (hash, name, i + 1)));
    let mut lone = None;
    let mut count = 0;
    for (hash, name, line) in entries {
        count += 1;
        if name.is_empty() {
            lone = Some((hash, line));
            continue;
        }
        let name = name.strip_prefix("./").unwrap_or(name);
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        if wanted.iter().any(|w| w == name || w == base) {
            return Some((hash, line));
        }
    }
    if count == 1 {
        lone
    } else {
        None
    }
}

/// One checksum line: `HASH  NAME`, `HASH *NAME`, `TAG (NAME) = HASH` or a bare `HASH`.
/// Anything else (comments, PGP armour, `Hash: SHA256`) is `None`.
fn parse_line(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    if let (Some(open), Some(close)) = (line.find(" ("), line.rfind(") = ")) {
        let tag = &line[..open];
        let hash = line[close + 4..].trim();
        if close > open
            && !tag.is_empty()
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && is_hex(hash)
        {
            return Some((hash, &line[open + 2..close]));
        }
    }
    let (hash, rest) = match line.split_once(char::is_whitespace) {
        Some((hash, rest)) => (hash, rest.trim_start()),
        None => (line, ""),
    };
    if !is_hex(hash) || hash.len() < 32 {
        return None;
    }
    let name = rest.strip_prefix('*').unwrap_or(rest);
    Some((hash, name))
}

/// The text of the checksum file at `location`: an http(s) URL, a `file://` URL or a
/// path relative to `cwd`.
async fn read_checksum_file(location: &str, cwd: &Path) -> Result<String, String> {
    match classify(location, cwd) {
        Location::Http => {
            let client = client()?;
            let response = client
                .get(location)
                .send()
                .await
                .map_err(|e| format!("fetching checksum file {location}: {}", chain(&e)))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!(
                    "fetching checksum file {location}: the server answered {status}"
                ));
            }
            if response.content_length().unwrap_or(0) > MAX_CHECKSUM_FILE {
                return Err(format!(
                    "checksum file {location} is too large to be a checksum file"
                ));
            }
            response
                .text()
                .await
                .map_err(|e| format!("fetching checksum file {location}: {}", chain(&e)))
        }
        Location::Local(path) => {
            let meta = tokio::fs::metadata(&path)
                .await
                .map_err(|e| format!("reading checksum file {}: {e}", path.display()))?;
            if meta.len() > MAX_CHECKSUM_FILE {
                return Err(format!(
                    "checksum file {} is too large to be a checksum file",
                    path.display()
                ));
            }
            let bytes = tokio::fs::read(&path)
                .await
                .map_err(|e| format!("reading checksum file {}: {e}", path.display()))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
        Location::Unsupported(scheme) => Err(format!(
            "checksum file {location}: {scheme}:// is not supported; use an http(s) URL, \
             a file:// URL or a local path"
        )),
    }
}

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
fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| format!("creating the HTTP client: {}", chain(&e)))
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

/// Why fetching from one URL failed.
enum Failure {
    Cancelled,
    Failed(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Failed(message)
    }
}

/// The message `fetch` returns when `cancel` fires.
const CANCELLED: &str = "the ISO download was cancelled";

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
) -> Result<PathBuf, String> {
    if urls.is_empty() {
        return Err("no ISO to fetch: set iso_url or iso_urls".into());
    }
    let mut failures = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        if cancel.is_cancelled() {
            return Err(CANCELLED.into());
        }
        let result = match classify(url, cwd) {
            Location::Local(path) => use_local(&path, checksum, ui, cancel).await,
            Location::Http => download(url, checksum, cache_dir, ui, cancel).await,
            Location::Unsupported(scheme) => Err(Failure::Failed(format!(
                "{scheme}:// URLs are not supported; use http(s)://, file:// or a local path"
            ))),
        };
        match result {
            Ok(path) => return Ok(path),
            Err(Failure::Cancelled) => return Err(CANCELLED.into()),
            Err(Failure::Failed(message)) => {
                if i + 1 < urls.len() {
                    ui.say(&format!(
                        "Fetching {url} failed: {message}; trying the next URL"
                    ));
                }
                failures.push(format!("{url}: {message}"));
            }
        }
    }
    Err(match failures.as_slice() {
        [only] => format!("could not fetch the ISO from {only}"),
        all => format!(
            "could not fetch the ISO from any of its {} URLs:\n  {}",
            all.len(),
            all.join("\n  ")
        ),
    })
}

/// Verifies a local ISO where it is.
async fn use_local(
    path: &Path,
    checksum: &Checksum,
    ui: &dyn Ui,
    cancel: &CancellationToken,
) -> Result<PathBuf, Failure> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()).into());
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
                return Err(mismatch(*kind, hex, &got).into());
            }
            ui.say(&format!("Using {} (checksum verified)", path.display()));
        }
    }
    Ok(path.to_path_buf())
}

fn mismatch(kind: ChecksumKind, expected: &str, got: &str) -> String {
    format!("checksum mismatch: expected {kind}:{expected}, got {kind}:{got}")
}

/// The digest of the file at `path`, computed off the async threads.
async fn hash_file(
    path: &Path,
    kind: ChecksumKind,
    cancel: &CancellationToken,
) -> Result<String, Failure> {
    let path = path.to_path_buf();
    let cancel = cancel.clone();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path)
            .map_err(|e| Failure::Failed(format!("reading {}: {e}", path.display())))?;
        let mut hasher = Hasher::new(kind.algorithm());
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            if cancel.is_cancelled() {
                return Err(Failure::Cancelled);
            }
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Failure::Failed(format!("reading {}: {e}", path.display()))),
            };
            hasher.update(&buf[..n]);
        }
        Ok(hasher.finish_hex())
    })
    .await
    .map_err(|e| Failure::Failed(format!("hashing task failed: {e}")))?
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
) -> Result<PathBuf, Failure> {
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
        .map_err(|e| format!("creating the download cache {}: {e}", cache_dir.display()))?;

    ui.say(&format!("Downloading {url}..."));
    if *checksum == Checksum::None {
        ui.message("iso_checksum is none: the download is not verified, and not reused next time");
    }
    let started = Instant::now();
    let client = client()?;
    let mut response = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Err(Failure::Cancelled),
        sent = client.get(url).send() => sent.map_err(|e| chain(&e))?,
    };
    let status = response.status();
    if !status.is_success() {
        return Err(format!("the server answered {status}").into());
    }
    let total = response.content_length();

    // Removed on drop, so every early return (error, mismatch, cancel) cleans up.
    let partial = tempfile::Builder::new()
        .prefix(".kiln-download-")
        .suffix(".part")
        .tempfile_in(cache_dir)
        .map_err(|e| format!("creating a file in {}: {e}", cache_dir.display()))?;
    let write_error = |e: std::io::Error| format!("writing {}: {e}", partial.path().display());
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
            _ = cancel.cancelled() => return Err(Failure::Cancelled),
            chunk = response.chunk() => chunk.map_err(|e| {
                format!("the download broke off after {}: {}", size(received), chain(&e))
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
            return Err(format!("the download ended after {received} of {total} bytes").into());
        }
    }
    if let (Some(hasher), Checksum::Digest { kind, hex }) = (hasher, checksum) {
        let got = hasher.finish_hex();
        if got != *hex {
            return Err(mismatch(*kind, hex, &got).into());
        }
    }
    partial
        .persist(&target)
        .map_err(|e| format!("moving the download to {}: {}", target.display(), e.error))?;
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
mod tests {
    use super::*;
    use crate::http::{HttpServer, HttpSource};
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Mutex;

    const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// Keeps every message.
    #[derive(Default)]
    struct RecordingUi(Mutex<Vec<String>>);

    impl RecordingUi {
        fn said(&self, needle: &str) -> bool {
            self.0.lock().unwrap().iter().any(|m| m.contains(needle))
        }
        fn all(&self) -> String {
            self.0.lock().unwrap().join("\n")
        }
    }

    impl Ui for RecordingUi {
        fn say(&self, message: &str) {
            self.0.lock().unwrap().push(message.to_string());
        }
        fn message(&self, message: &str) {
            self.0.lock().unwrap().push(message.to_string());
        }
        fn error(&self, message: &str) {
            self.0.lock().unwrap().push(message.to_string());
        }
    }

    fn digest_of(kind: ChecksumKind, data: &[u8]) -> String {
        let mut hasher = Hasher::new(kind.algorithm());
        hasher.update(data);
        hasher.finish_hex()
    }

    fn sha256(data: &[u8]) -> Checksum {
        Checksum::Digest {
            kind: ChecksumKind::Sha256,
            hex: digest_of(ChecksumKind::Sha256, data),
        }
    }

    /// Some megabytes of not-quite-uniform bytes.
    fn iso_bytes() -> Vec<u8> {
        (0..3_000_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    }

    async fn serve(dir: &Path) -> HttpServer {
        HttpServer::start(LOCALHOST, 0, 0, HttpSource::Directory(dir.to_path_buf()))
            .await
            .unwrap()
    }

    fn files_in(dir: &Path) -> Vec<String> {
        match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn urls(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn parses_every_inline_form() {
        let cwd = Path::new("/");
        let u = urls(&["https://example.com/x.iso"]);
        let cases = [
            ("md5:090992BA9FD140077B0661CB75F7CE13", ChecksumKind::Md5),
            (
                "sha1:ebfb681885ddf1234c18094a45bbeafd91467911",
                ChecksumKind::Sha1,
            ),
            (
                "sha256:ed363350696a726b7932db864dda019bd2017365c9e299627830f06954643f93",
                ChecksumKind::Sha256,
            ),
            (
                "SHA512:4f2c0cee9d4b2a1dd7e5e4a1f5d3c3e0c6f1e7fd5f4e1b8c26e8bd9c0f9b1c4b\
                 4f2c0cee9d4b2a1dd7e5e4a1f5d3c3e0c6f1e7fd5f4e1b8c26e8bd9c0f9b1c4b",
                ChecksumKind::Sha512,
            ),
            ("090992ba9fd140077b0661cb75f7ce13", ChecksumKind::Md5),
            (
                "ebfb681885ddf1234c18094a45bbeafd91467911",
                ChecksumKind::Sha1,
            ),
            (
                "  ED363350696A726B7932DB864DDA019BD2017365C9E299627830F06954643F93  ",
                ChecksumKind::Sha256,
            ),
            (
                "4f2c0cee9d4b2a1dd7e5e4a1f5d3c3e0c6f1e7fd5f4e1b8c26e8bd9c0f9b1c4b\
                 4f2c0cee9d4b2a1dd7e5e4a1f5d3c3e0c6f1e7fd5f4e1b8c26e8bd9c0f9b1c4b",
                ChecksumKind::Sha512,
            ),
        ];
        for (spec, kind) in cases {
            let checksum = resolve_checksum(spec, &u, cwd).await.unwrap();
            let hex = spec.trim().rsplit(':').next().unwrap().to_ascii_lowercase();
            assert_eq!(checksum, Checksum::Digest { kind, hex }, "{spec}");
        }
        assert_eq!(
            resolve_checksum("none", &u, cwd).await.unwrap(),
            Checksum::None
        );
        assert_eq!(
            resolve_checksum("NONE", &u, cwd).await.unwrap(),
            Checksum::None
        );
        assert_eq!(
            resolve_checksum("sha1:ebfb681885ddf1234c18094a45bbeafd91467911", &u, cwd)
                .await
                .unwrap()
                .to_string(),
            "sha1:ebfb681885ddf1234c18094a45bbeafd91467911"
        );
    }

    #[tokio::test]
    async fn bad_checksums_say_what_to_write() {
        let cwd = Path::new("/");
        let u = urls(&["https://example.com/x.iso"]);
        for (spec, says) in [
            ("", "sha256:<hex>"),
            ("sha384:abcd", "unknown checksum type \"sha384\""),
            ("sha256:xyz", "not a hex digest"),
            (
                "sha256:090992ba9fd140077b0661cb75f7ce13",
                "a sha256 digest has 64 hex digits",
            ),
            ("abc123", "which is no md5 (32)"),
            ("not a checksum", "\"none\" to skip verification"),
            ("file:", "needs the URL or path"),
            ("ftp://example.com/SUMS", "unknown checksum type \"ftp\""),
        ] {
            let error = resolve_checksum(spec, &u, cwd).await.unwrap_err();
            assert!(error.contains(says), "{spec:?}: {error}");
        }
        let error = resolve_checksum("file:SUMS", &[], cwd).await.unwrap_err();
        assert!(error.contains("iso_url"), "{error}");
    }

    /// A GNU-style SHA256SUMS for three names, with `target` as one of them.
    fn gnu_sums(target_hex: &str) -> String {
        format!(
            "# comment\n{}  other.iso\n{target_hex} *ubuntu-24.04-live-server-amd64.iso\n{}  ./third.iso\n",
            "a".repeat(64),
            "b".repeat(64)
        )
    }

    #[tokio::test]
    async fn reads_local_checksum_files_in_both_forms() {
        let dir = tempfile::tempdir().unwrap();
        let sha = digest_of(ChecksumKind::Sha256, b"one");
        let md5 = digest_of(ChecksumKind::Md5, b"two");
        std::fs::write(dir.path().join("SHA256SUMS"), gnu_sums(&sha)).unwrap();
        std::fs::write(
            dir.path().join("MD5SUMS.bsd"),
            format!(
                "MD5 (other.iso) = {}\nMD5 (ubuntu-24.04-live-server-amd64.iso) = {}\n",
                "c".repeat(32),
                md5.to_ascii_uppercase()
            ),
        )
        .unwrap();
        let u = urls(&[
            "https://releases.ubuntu.com/24.04/ubuntu-24.04-live-server-amd64.iso?x=1",
            "https://mirror.example/ignored.iso",
        ]);
        let expected_sha = Checksum::Digest {
            kind: ChecksumKind::Sha256,
            hex: sha.clone(),
        };
        for spec in [
            "file:SHA256SUMS",
            "file:./SHA256SUMS",
            "sha256:file:SHA256SUMS",
        ] {
            assert_eq!(
                resolve_checksum(spec, &u, dir.path()).await.unwrap(),
                expected_sha,
                "{spec}"
            );
        }
        let absolute = format!("file:file://{}", dir.path().join("SHA256SUMS").display());
        assert_eq!(
            resolve_checksum(&absolute, &u, Path::new("/"))
                .await
                .unwrap(),
            expected_sha
        );
        assert_eq!(
            resolve_checksum("file:MD5SUMS.bsd", &u, dir.path())
                .await
                .unwrap(),
            Checksum::Digest {
                kind: ChecksumKind::Md5,
                hex: md5
            }
        );
        // Local ISO paths name the entry too.
        let local = urls(&["isos/third.iso"]);
        assert_eq!(
            resolve_checksum("file:SHA256SUMS", &local, dir.path())
                .await
                .unwrap(),
            Checksum::Digest {
                kind: ChecksumKind::Sha256,
                hex: "b".repeat(64)
            }
        );

        let missing = urls(&["https://example.com/missing.iso"]);
        let error = resolve_checksum("file:SHA256SUMS", &missing, dir.path())
            .await
            .unwrap_err();
        assert!(error.contains("no entry for \"missing.iso\""), "{error}");
        let error = resolve_checksum("sha1:file:SHA256SUMS", &u, dir.path())
            .await
            .unwrap_err();
        assert!(error.contains("not the 40 of a sha1 digest"), "{error}");
        let error = resolve_checksum("file:NOPE", &u, dir.path())
            .await
            .unwrap_err();
        assert!(error.contains("NOPE"), "{error}");
    }

    #[tokio::test]
    async fn fetches_checksum_files_over_http() {
        let dir = tempfile::tempdir().unwrap();
        let sha = digest_of(ChecksumKind::Sha256, b"one");
        let sha512 = digest_of(ChecksumKind::Sha512, b"two");
        std::fs::write(dir.path().join("SHA256SUMS"), gnu_sums(&sha)).unwrap();
        std::fs::write(
            dir.path().join("SHA512SUMS"),
            format!(
                "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n\
                 SHA512 (ubuntu-24.04-live-server-amd64.iso) = {sha512}\n"
            ),
        )
        .unwrap();
        let server = serve(dir.path()).await;
        let port = server.port();
        let u = urls(&["https://releases.ubuntu.com/24.04/ubuntu-24.04-live-server-amd64.iso"]);
        let spec = format!("file:http://127.0.0.1:{port}/SHA256SUMS");
        assert_eq!(
            resolve_checksum(&spec, &u, Path::new("/")).await.unwrap(),
            Checksum::Digest {
                kind: ChecksumKind::Sha256,
                hex: sha
            }
        );
        let spec = format!("file:http://127.0.0.1:{port}/SHA512SUMS");
        assert_eq!(
            resolve_checksum(&spec, &u, Path::new("/")).await.unwrap(),
            Checksum::Digest {
                kind: ChecksumKind::Sha512,
                hex: sha512
            }
        );
        let spec = format!("file:http://127.0.0.1:{port}/MISSING");
        let error = resolve_checksum(&spec, &u, Path::new("/"))
            .await
            .unwrap_err();
        assert!(error.contains("404"), "{error}");
        server.stop().await;
    }

    #[tokio::test]
    async fn downloads_verifies_and_reuses_the_cache() {
        let served = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let data = iso_bytes();
        std::fs::write(served.path().join("image.iso"), &data).unwrap();
        let checksum = sha256(&data);
        let server = serve(served.path()).await;
        let u = urls(&[&format!("http://127.0.0.1:{}/image.iso", server.port())]);
        let ui = RecordingUi::default();
        let cancel = CancellationToken::new();

        let path = fetch(&u, &checksum, cache.path(), Path::new("/"), &ui, &cancel)
            .await
            .unwrap();
        let Checksum::Digest { hex, .. } = &checksum else {
            unreachable!()
        };
        let key =
            kiln_core::artifact::hex(&sha2::Sha256::digest(format!("sha256:{hex}").as_bytes()));
        assert_eq!(path, cache.path().join(format!("{key}.iso")));
        assert!(std::fs::read(&path).unwrap() == data);
        assert_eq!(files_in(cache.path()), vec![format!("{key}.iso")]);
        assert!(ui.said(&format!("Downloading {}", u[0])), "{}", ui.all());
        assert!(ui.said("MB/s"), "{}", ui.all());
        assert!(ui.said("3.0 MB"), "{}", ui.all());

        // The server is gone: a second fetch can only succeed from the cache.
        server.stop().await;
        let ui = RecordingUi::default();
        let again = fetch(&u, &checksum, cache.path(), Path::new("/"), &ui, &cancel)
            .await
            .unwrap();
        assert_eq!(again, path);
        assert!(ui.said("Using the cached copy"), "{}", ui.all());
        assert!(!ui.said("Downloading"), "{}", ui.all());
    }

    #[tokio::test]
    async fn a_corrupt_cached_file_is_downloaded_again() {
        let served = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let data = iso_bytes();
        std::fs::write(served.path().join("image.iso"), &data).unwrap();
        let checksum = sha256(&data);
        let server = serve(served.path()).await;
        let u = urls(&[&format!("http://127.0.0.1:{}/image.iso", server.port())]);
        let cached = cache.path().join(cache_file_name(&u[0], &checksum));
        std::fs::write(&cached, b"truncated").unwrap();
        let ui = RecordingUi::default();
        let path = fetch(
            &u,
            &checksum,
            cache.path(),
            Path::new("/"),
            &ui,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(path, cached);
        assert!(std::fs::read(&path).unwrap() == data);
        assert!(ui.said("does not match its checksum"), "{}", ui.all());
        server.stop().await;
    }

    #[tokio::test]
    async fn a_mismatch_leaves_nothing_in_the_cache() {
        let served = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let data = iso_bytes();
        std::fs::write(served.path().join("image.iso"), &data).unwrap();
        let server = serve(served.path()).await;
        let u = urls(&[&format!("http://127.0.0.1:{}/image.iso", server.port())]);
        let wrong = sha256(b"something else");
        let error = fetch(
            &u,
            &wrong,
            cache.path(),
            Path::new("/"),
            &RecordingUi::default(),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
        let Checksum::Digest { hex, .. } = &wrong else {
            unreachable!()
        };
        let actual = digest_of(ChecksumKind::Sha256, &data);
        assert!(error.contains(&format!("expected sha256:{hex}")), "{error}");
        assert!(error.contains(&format!("got sha256:{actual}")), "{error}");
        assert!(
            files_in(cache.path()).is_empty(),
            "{:?}",
            files_in(cache.path())
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn falls_back_to_the_next_url() {
        let served = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let data = iso_bytes();
        std::fs::write(served.path().join("image.iso"), &data).unwrap();
        let checksum = sha256(&data);
        let server = serve(served.path()).await;
        let base = format!("http://127.0.0.1:{}", server.port());
        let ui = RecordingUi::default();
        let cancel = CancellationToken::new();
        let u = urls(&[&format!("{base}/missing.iso"), &format!("{base}/image.iso")]);
        let path = fetch(&u, &checksum, cache.path(), Path::new("/"), &ui, &cancel)
            .await
            .unwrap();
        assert!(std::fs::read(&path).unwrap() == data);
        assert!(ui.said("404"), "{}", ui.all());

        let bad = urls(&[
            &format!("{base}/missing.iso"),
            "ftp://example.com/image.iso",
        ]);
        // A fresh cache: the one above now holds a file with this checksum.
        let empty = tempfile::tempdir().unwrap();
        let error = fetch(&bad, &checksum, empty.path(), Path::new("/"), &ui, &cancel)
            .await
            .unwrap_err();
        assert!(
            error.contains(&format!("{base}/missing.iso: the server answered 404")),
            "{error}"
        );
        assert!(
            error.contains("ftp://example.com/image.iso: ftp:// URLs are not supported"),
            "{error}"
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn local_files_are_verified_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let data = iso_bytes();
        std::fs::create_dir(dir.path().join("isos")).unwrap();
        std::fs::write(dir.path().join("isos/local.iso"), &data).unwrap();
        let checksum = sha256(&data);
        let ui = RecordingUi::default();
        let cancel = CancellationToken::new();

        let path = fetch(
            &urls(&["isos/local.iso"]),
            &checksum,
            &cache,
            dir.path(),
            &ui,
            &cancel,
        )
        .await
        .unwrap();
        assert_eq!(path, dir.path().join("isos/local.iso"));
        let file_url = format!("file://{}", dir.path().join("isos/local.iso").display());
        let path = fetch(
            &urls(&[&file_url]),
            &checksum,
            &cache,
            Path::new("/"),
            &ui,
            &cancel,
        )
        .await
        .unwrap();
        assert_eq!(path, dir.path().join("isos/local.iso"));
        assert!(!cache.exists(), "nothing is copied into the cache");
        assert!(ui.said("checksum verified"), "{}", ui.all());

        let error = fetch(
            &urls(&["isos/local.iso"]),
            &sha256(b"x"),
            &cache,
            dir.path(),
            &ui,
            &cancel,
        )
        .await
        .unwrap_err();
        assert!(error.contains("checksum mismatch"), "{error}");
        let error = fetch(
            &urls(&["isos/nope.iso"]),
            &checksum,
            &cache,
            dir.path(),
            &ui,
            &cancel,
        )
        .await
        .unwrap_err();
        assert!(error.contains("isos/nope.iso"), "{error}");
    }

    #[tokio::test]
    async fn none_skips_verification() {
        let served = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let data = iso_bytes();
        std::fs::write(served.path().join("image.iso"), &data).unwrap();
        let server = serve(served.path()).await;
        let url = format!("http://127.0.0.1:{}/image.iso", server.port());
        let ui = RecordingUi::default();
        let cancel = CancellationToken::new();
        let path = fetch(
            &urls(&[&url]),
            &Checksum::None,
            cache.path(),
            Path::new("/"),
            &ui,
            &cancel,
        )
        .await
        .unwrap();
        assert!(std::fs::read(&path).unwrap() == data);
        assert_eq!(path.extension().unwrap(), "iso");
        assert_eq!(
            path,
            cache.path().join(cache_file_name(&url, &Checksum::None))
        );
        let local = fetch(
            &urls(&["image.iso"]),
            &Checksum::None,
            cache.path(),
            served.path(),
            &ui,
            &cancel,
        )
        .await
        .unwrap();
        assert_eq!(local, served.path().join("image.iso"));
        assert!(ui.said("without verifying"), "{}", ui.all());
        server.stop().await;
    }

    #[tokio::test]
    async fn cancel_stops_a_download_and_leaves_no_file() {
        // A server that promises a gigabyte, sends a little and then stalls.
        let listener = tokio::net::TcpListener::bind((LOCALHOST, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stall = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
                .await
                .unwrap();
            stream.write_all(&[7u8; 65536]).await.unwrap();
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        let cache = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        let canceller = {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                cancel.cancel();
            })
        };
        let started = Instant::now();
        let error = fetch(
            &urls(&[&format!("http://127.0.0.1:{port}/big.iso")]),
            &sha256(b"whatever"),
            cache.path(),
            Path::new("/"),
            &RecordingUi::default(),
            &cancel,
        )
        .await
        .unwrap_err();
        assert_eq!(error, CANCELLED);
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(
            files_in(cache.path()).is_empty(),
            "{:?}",
            files_in(cache.path())
        );
        canceller.await.unwrap();
        stall.abort();

        // Already cancelled: nothing is tried.
        let error = fetch(
            &urls(&["http://127.0.0.1:1/x.iso"]),
            &Checksum::None,
            cache.path(),
            Path::new("/"),
            &RecordingUi::default(),
            &cancel,
        )
        .await
        .unwrap_err();
        assert_eq!(error, CANCELLED);
    }

    #[test]
    fn checksum_lines() {
        let h = "d".repeat(64);
        assert_eq!(
            parse_line(&format!("{h}  a.iso")),
            Some((h.as_str(), "a.iso"))
        );
        assert_eq!(
            parse_line(&format!("{h} *a.iso")),
            Some((h.as_str(), "a.iso"))
        );
        assert_eq!(
            parse_line(&format!("SHA256 (a b.iso) = {h}")),
            Some((h.as_str(), "a b.iso"))
        );
        assert_eq!(parse_line(&h), Some((h.as_str(), "")));
        assert_eq!(parse_line("Hash: SHA256"), None);
        assert_eq!(parse_line("# 0123"), None);
        assert_eq!(
            find_entry(&format!("{h}\n"), &["x.iso".into()]),
            Some((h.as_str(), 1))
        );
    }

    #[test]
    fn cache_names() {
        let c = Checksum::Digest {
            kind: ChecksumKind::Md5,
            hex: "0".repeat(32),
        };
        let name = cache_file_name("https://e.com/a/b.ISO?x=1", &c);
        assert!(name.ends_with(".ISO"), "{name}");
        assert_eq!(name.len(), 64 + 4);
        assert_eq!(name, cache_file_name("https://other.example/c.ISO", &c));
        assert!(!cache_file_name("https://e.com/download", &c).contains('.'));
        assert_ne!(
            cache_file_name("https://e.com/a.iso", &Checksum::None),
            cache_file_name("https://e.com/b.iso", &Checksum::None)
        );
    }
}
