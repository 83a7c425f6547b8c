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
        let error = resolve_checksum(spec, &u, cwd)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(says), "{spec:?}: {error}");
    }
    let error = resolve_checksum("file:SUMS", &[], cwd)
        .await
        .unwrap_err()
        .to_string();
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
        .unwrap_err()
        .to_string();
    assert!(error.contains("no entry for \"missing.iso\""), "{error}");
    let error = resolve_checksum("sha1:file:SHA256SUMS", &u, dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("not the 40 of a sha1 digest"), "{error}");
    let error = resolve_checksum("file:NOPE", &u, dir.path())
        .await
        .unwrap_err()
        .to_string();
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
        .unwrap_err()
        .to_string();
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
    let key = kiln_core::artifact::hex(&sha2::Sha256::digest(format!("sha256:{hex}").as_bytes()));
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
    .unwrap_err()
    .to_string();
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
        .unwrap_err()
        .to_string();
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
    .unwrap_err()
    .to_string();
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
    .unwrap_err()
    .to_string();
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
    assert!(matches!(error, DownloadError::Cancelled), "{error}");
    assert_eq!(error.to_string(), "the ISO download was cancelled");
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
    assert!(matches!(error, DownloadError::Cancelled), "{error}");
    assert_eq!(error.to_string(), "the ISO download was cancelled");
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
