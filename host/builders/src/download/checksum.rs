//! `iso_checksum` as Packer reads it: a digest with its algorithm, a bare digest, or\n//! `file:` a checksum file (local or fetched) with the entry for the ISO's name.

use super::*;
use kiln_artifacts::HashAlgorithm;
use std::fmt;
use std::path::{Path, PathBuf};

/// The largest checksum file read; real ones are a few kilobytes.
pub(crate) const MAX_CHECKSUM_FILE: u64 = 16 * 1024 * 1024;

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
    pub(crate) fn algorithm(self) -> HashAlgorithm {
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
pub(crate) const CHECKSUM_FORMS: &str = "write \"sha256:<hex>\" (or md5:, sha1:, sha512:), \
     \"file:<url or path of a checksum file such as SHA256SUMS>\", \
     or \"none\" to skip verification";

/// What is wrong with `iso_checksum`, or why its checksum file could not be read. Each
/// message says what to write instead.
#[derive(Debug, thiserror::Error)]
pub enum ChecksumError {
    /// `iso_checksum` is empty.
    #[error("iso_checksum must be set: {forms}", forms = CHECKSUM_FORMS)]
    Unset,
    /// `TYPE:HEX` with a type that is not md5, sha1, sha256 or sha512.
    #[error("iso_checksum {spec:?}: unknown checksum type {prefix:?}; {forms}", forms = CHECKSUM_FORMS)]
    UnknownType {
        /// `iso_checksum` as written (trimmed).
        spec: String,
        /// The type.
        prefix: String,
    },
    /// `TYPE:VALUE` where the value is not hex digits.
    #[error("iso_checksum {spec:?}: {hex:?} is not a hex digest; {forms}", forms = CHECKSUM_FORMS)]
    NotHex {
        /// `iso_checksum` as written (trimmed).
        spec: String,
        /// The value after the type.
        hex: String,
    },
    /// `TYPE:HEX` with the wrong number of digits for the type.
    #[error(
        "iso_checksum {spec:?}: a {kind} digest has {} hex digits, this one has {len}; \
         check the value, or write the matching type (or just the hex digits) instead",
        .kind.hex_len()
    )]
    WrongLength {
        /// `iso_checksum` as written (trimmed).
        spec: String,
        /// The type.
        kind: ChecksumKind,
        /// How many digits the value has.
        len: usize,
    },
    /// A bare value that is not hex digits.
    #[error("iso_checksum {spec:?} is not a checksum: {forms}", forms = CHECKSUM_FORMS)]
    NotAChecksum {
        /// `iso_checksum` as written (trimmed).
        spec: String,
    },
    /// Bare hex digits of a length no supported digest has.
    #[error(
        "iso_checksum {spec:?} has {} hex digits, which is no md5 (32), sha1 (40), \
         sha256 (64) or sha512 (128) digest; write the type explicitly, e.g. \"sha256:<hex>\"",
        .spec.len()
    )]
    UnknownLength {
        /// `iso_checksum` as written (trimmed).
        spec: String,
    },
    /// `file:` with nothing after it.
    #[error(
        "iso_checksum \"file:\" needs the URL or path of a checksum file, \
         e.g. \"file:https://releases.ubuntu.com/24.04/SHA256SUMS\"; or {forms}",
        forms = CHECKSUM_FORMS
    )]
    NoChecksumFile,
    /// `file:` without an ISO URL whose entry to look up.
    #[error("iso_checksum \"file:...\" needs iso_url or iso_urls to know which entry to use")]
    NoUrl,
    /// The ISO URL has no file name to look up.
    #[error(
        "cannot tell the file name of {url:?} to look up in the checksum file {location}; \
         give the checksum directly, e.g. \"sha256:<hex>\""
    )]
    NoFileName {
        /// The ISO's (first) URL.
        url: String,
        /// The checksum file.
        location: String,
    },
    /// The checksum file does not list the ISO.
    #[error(
        "checksum file {location} has no entry for {name:?} (the file name of {url}); \
         point file: at a checksum file that lists it, or give the checksum directly, \
         e.g. \"sha256:<hex>\""
    )]
    NoEntry {
        /// The checksum file.
        location: String,
        /// The file name looked up.
        name: String,
        /// The ISO's (first) URL.
        url: String,
    },
    /// The entry's digest does not fit the type given with `TYPE:file:`.
    #[error(
        "checksum file {location}: the entry for {name:?} (line {line}) has {len} hex digits, \
         not the {} of a {kind} digest; drop the \"{kind}:\" prefix or fix the file",
        .kind.hex_len()
    )]
    EntryWrongLength {
        /// The checksum file.
        location: String,
        /// The file name looked up.
        name: String,
        /// The entry's line number.
        line: usize,
        /// How many digits the entry has.
        len: usize,
        /// The type given.
        kind: ChecksumKind,
    },
    /// The entry's digest has a length no supported digest has.
    #[error(
        "checksum file {location}: the entry for {name:?} (line {line}) has {len} hex digits, \
         which is no md5, sha1, sha256 or sha512 digest; use a SHA256SUMS-style file \
         or give the checksum directly, e.g. \"sha256:<hex>\""
    )]
    EntryUnknownLength {
        /// The checksum file.
        location: String,
        /// The file name looked up.
        name: String,
        /// The entry's line number.
        line: usize,
        /// How many digits the entry has.
        len: usize,
    },
    /// The HTTP client could not be set up.
    #[error("creating the HTTP client: {}", chain(.source))]
    HttpClient {
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// Fetching the checksum file failed (before or while reading its body).
    #[error("fetching checksum file {location}: {}", chain(.source))]
    Fetch {
        /// The checksum file's URL.
        location: String,
        /// Why, with its causes.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("fetching checksum file {location}: the server answered {status}")]
    Status {
        /// The checksum file's URL.
        location: String,
        /// The status.
        status: reqwest::StatusCode,
    },
    /// A checksum file over [`MAX_CHECKSUM_FILE`] bytes.
    #[error("checksum file {location} is too large to be a checksum file")]
    TooLarge {
        /// The checksum file's URL or path.
        location: String,
    },
    /// Reading a local checksum file failed.
    #[error("reading checksum file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A checksum file URL with a scheme other than http(s) or file.
    #[error(
        "checksum file {location}: {scheme}:// is not supported; use an http(s) URL, \
         a file:// URL or a local path"
    )]
    UnsupportedScheme {
        /// The checksum file's URL.
        location: String,
        /// The scheme.
        scheme: String,
    },
}

/// Parses Packer's iso_checksum: `sha256:HEX` (also md5:, sha1:, sha512:), bare HEX (kind
/// from its length: 32 md5, 40 sha1, 64 sha256, 128 sha512), `file:URL-or-path` (a
/// checksum file such as SHA256SUMS in `HASH  NAME` / `HASH *NAME` form or BSD
/// `SHA256 (NAME) = HASH` form; the entry whose NAME matches the last path segment of the
/// first URL in `urls` is used; the file is fetched over http(s) or read from a local path
/// relative to `cwd`; the kind comes from the hash length), or `none`. Errors are clear
/// messages that say what to write instead.
pub async fn resolve_checksum(
    spec: &str,
    urls: &[String],
    cwd: &Path,
) -> Result<Checksum, ChecksumError> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(ChecksumError::Unset);
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
        return Err(ChecksumError::UnknownType {
            spec: spec.to_owned(),
            prefix: prefix.to_owned(),
        });
    };
    if let Some(location) = strip_prefix_ignore_case(value, "file:") {
        return from_checksum_file(location, Some(kind), urls, cwd).await;
    }
    let hex = value.trim();
    if !is_hex(hex) {
        return Err(ChecksumError::NotHex {
            spec: spec.to_owned(),
            hex: hex.to_owned(),
        });
    }
    if hex.len() != kind.hex_len() {
        return Err(ChecksumError::WrongLength {
            spec: spec.to_owned(),
            kind,
            len: hex.len(),
        });
    }
    Ok(Checksum::Digest {
        kind,
        hex: hex.to_ascii_lowercase(),
    })
}

/// A checksum without a `kind:` prefix: the kind comes from its length.
pub(crate) fn bare_digest(spec: &str) -> Result<Checksum, ChecksumError> {
    if !is_hex(spec) {
        return Err(ChecksumError::NotAChecksum {
            spec: spec.to_owned(),
        });
    }
    let kind =
        ChecksumKind::from_hex_len(spec.len()).ok_or_else(|| ChecksumError::UnknownLength {
            spec: spec.to_owned(),
        })?;
    Ok(Checksum::Digest {
        kind,
        hex: spec.to_ascii_lowercase(),
    })
}

pub(crate) fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

pub(crate) fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads the checksum file at `location` and picks the entry for the first URL's file.
async fn from_checksum_file(
    location: &str,
    forced: Option<ChecksumKind>,
    urls: &[String],
    cwd: &Path,
) -> Result<Checksum, ChecksumError> {
    let location = location.trim();
    if location.is_empty() {
        return Err(ChecksumError::NoChecksumFile);
    }
    let first = urls.first().ok_or(ChecksumError::NoUrl)?;
    let wanted = file_names(first).ok_or_else(|| ChecksumError::NoFileName {
        url: first.clone(),
        location: location.to_owned(),
    })?;
    let text = read_checksum_file(location, cwd).await?;
    let (hex, line) = find_entry(&text, &wanted).ok_or_else(|| ChecksumError::NoEntry {
        location: location.to_owned(),
        name: wanted[0].clone(),
        url: first.clone(),
    })?;
    let kind = match forced {
        Some(kind) if kind.hex_len() != hex.len() => {
            return Err(ChecksumError::EntryWrongLength {
                location: location.to_owned(),
                name: wanted[0].clone(),
                line,
                len: hex.len(),
                kind,
            })
        }
        Some(kind) => kind,
        None => ChecksumKind::from_hex_len(hex.len()).ok_or_else(|| {
            ChecksumError::EntryUnknownLength {
                location: location.to_owned(),
                name: wanted[0].clone(),
                line,
                len: hex.len(),
            }
        })?,
    };
    Ok(Checksum::Digest {
        kind,
        hex: hex.to_ascii_lowercase(),
    })
}

/// The names the file at `url` may be listed under in a checksum file: its last path
/// segment as written and percent-decoded.
pub(crate) fn file_names(url: &str) -> Option<Vec<String>> {
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
pub(crate) fn find_entry<'a>(text: &'a str, wanted: &[String]) -> Option<(&'a str, usize)> {
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
pub(crate) fn parse_line(line: &str) -> Option<(&str, &str)> {
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
async fn read_checksum_file(location: &str, cwd: &Path) -> Result<String, ChecksumError> {
    match classify(location, cwd) {
        Location::Http => {
            let fetch_error = |source| ChecksumError::Fetch {
                location: location.to_owned(),
                source,
            };
            let client = client().map_err(|source| ChecksumError::HttpClient { source })?;
            let response = client.get(location).send().await.map_err(fetch_error)?;
            let status = response.status();
            if !status.is_success() {
                return Err(ChecksumError::Status {
                    location: location.to_owned(),
                    status,
                });
            }
            if response.content_length().unwrap_or(0) > MAX_CHECKSUM_FILE {
                return Err(ChecksumError::TooLarge {
                    location: location.to_owned(),
                });
            }
            response.text().await.map_err(fetch_error)
        }
        Location::Local(path) => {
            let read_error = |source| ChecksumError::Read {
                path: path.clone(),
                source,
            };
            let meta = tokio::fs::metadata(&path).await.map_err(read_error)?;
            if meta.len() > MAX_CHECKSUM_FILE {
                return Err(ChecksumError::TooLarge {
                    location: path.display().to_string(),
                });
            }
            let bytes = tokio::fs::read(&path).await.map_err(read_error)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
        Location::Unsupported(scheme) => Err(ChecksumError::UnsupportedScheme {
            location: location.to_owned(),
            scheme,
        }),
    }
}
