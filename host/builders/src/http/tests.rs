use super::*;
use std::net::Ipv4Addr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where the head ends in `buf` (after `\r\n\r\n`).
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A range of ports starting at one the system just handed out.
fn free_range() -> (u16, u16) {
    let probe = std::net::TcpListener::bind((LOCALHOST, 0)).unwrap();
    let port = probe.local_addr().unwrap().port();
    (port, port.saturating_add(20))
}

async fn start(source: HttpSource) -> HttpServer {
    let (min, max) = free_range();
    let server = HttpServer::start(LOCALHOST, min, max, source)
        .await
        .unwrap();
    assert!((min..=max).contains(&server.port()));
    server
}

/// Sends `request` as is and returns the status, the head and the body.
async fn raw(port: u16, request: &str) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect((LOCALHOST, port)).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let end = head_end(&response).expect("a complete response head");
    let head = String::from_utf8(response[..end].to_vec()).unwrap();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, head, response[end..].to_vec())
}

async fn get(port: u16, path: &str) -> (u16, String, Vec<u8>) {
    raw(port, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")).await
}

/// `root/www` with a few files, and `root/outside.txt` next to it.
fn tree() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let www = root.path().join("www");
    std::fs::create_dir_all(www.join("sub")).unwrap();
    std::fs::write(
        www.join("preseed.cfg"),
        "d-i debian-installer/locale string en_US\n",
    )
    .unwrap();
    std::fs::write(www.join("sub/ks.cfg"), "text\nreboot\n").unwrap();
    std::fs::write(www.join("with space.cfg"), "spaced").unwrap();
    std::fs::write(root.path().join("outside.txt"), "secret").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("../outside.txt", www.join("escape")).unwrap();
        std::os::unix::fs::symlink(root.path().join("outside.txt"), www.join("absolute")).unwrap();
        std::os::unix::fs::symlink("preseed.cfg", www.join("alias.cfg")).unwrap();
    }
    (root, www)
}

#[tokio::test]
async fn serves_files_from_a_directory() {
    let (_root, www) = tree();
    let server = start(HttpSource::Directory(www)).await;
    let port = server.port();

    let (status, head, body) = get(port, "/preseed.cfg").await;
    assert_eq!(status, 200);
    assert!(head.contains("Content-Length: 41\r\n"), "{head}");
    assert!(head.contains("Connection: close\r\n"), "{head}");
    assert_eq!(body, b"d-i debian-installer/locale string en_US\n");

    let (status, _, body) = get(port, "/sub/ks.cfg").await;
    assert_eq!((status, body.as_slice()), (200, &b"text\nreboot\n"[..]));
    let (status, _, body) = get(port, "/with%20space.cfg").await;
    assert_eq!((status, body.as_slice()), (200, &b"spaced"[..]));
    let (status, _, body) = get(port, "/preseed.cfg?ignored=1").await;
    assert_eq!(status, 200);
    assert_eq!(body.len(), 41);
    let (status, _, _) = get(port, "http://10.0.2.2:8000/sub/ks.cfg").await;
    assert_eq!(status, 200);
    let (status, _, _) = raw(port, "GET /preseed.cfg HTTP/1.0\r\n\r\n").await;
    assert_eq!(status, 200);
    #[cfg(unix)]
    {
        let (status, _, body) = get(port, "/alias.cfg").await;
        assert_eq!((status, body.len()), (200, 41));
    }

    for missing in ["/nope.cfg", "/", "/sub", "/sub/", "/sub/nope"] {
        let (status, _, _) = get(port, missing).await;
        assert_eq!(status, 404, "{missing}");
    }
    server.stop().await;
}

#[tokio::test]
async fn nothing_outside_the_directory_is_reachable() {
    let (_root, www) = tree();
    let server = start(HttpSource::Directory(www)).await;
    for attempt in [
        "/../outside.txt",
        "/%2e%2e/outside.txt",
        "/%2E%2E%2Foutside.txt",
        "/sub/../../outside.txt",
        "/sub/%2e%2e/%2e%2e/outside.txt",
        "//etc/passwd",
        "/%2Fetc%2Fpasswd",
        "/escape",
        "/absolute",
        "/preseed.cfg%00",
    ] {
        let (status, _, body) = get(server.port(), attempt).await;
        assert_eq!(status, 404, "{attempt}");
        assert!(
            !String::from_utf8_lossy(&body).contains("secret"),
            "{attempt}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn streams_a_large_file() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("disk.img"), &data).unwrap();
    let server = start(HttpSource::Directory(dir.path().to_path_buf())).await;
    let (status, head, body) = get(server.port(), "/disk.img").await;
    assert_eq!(status, 200);
    assert!(head.contains("application/octet-stream"), "{head}");
    assert!(body == data, "the body differs from the file");
    server.stop().await;
}

#[tokio::test]
async fn serves_http_content() {
    let content = BTreeMap::from([
        ("/preseed.cfg".to_string(), "preseed body".to_string()),
        ("user-data".to_string(), "#cloud-config\n".to_string()),
    ]);
    let server = start(HttpSource::Content(content)).await;
    let port = server.port();
    let (status, head, body) = get(port, "/preseed.cfg").await;
    assert_eq!((status, body.as_slice()), (200, &b"preseed body"[..]));
    assert!(head.contains("Content-Length: 12\r\n"), "{head}");
    let (status, _, body) = get(port, "/user-data").await;
    assert_eq!((status, body.as_slice()), (200, &b"#cloud-config\n"[..]));
    let (status, _, _) = get(port, "/meta-data").await;
    assert_eq!(status, 404);
    let (status, _, _) = get(port, "/../preseed.cfg").await;
    assert_eq!(status, 404);

    let body = reqwest::get(format!("http://127.0.0.1:{port}/preseed.cfg"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "preseed body");
    server.stop().await;
}

#[tokio::test]
async fn head_has_headers_but_no_body() {
    let (_root, www) = tree();
    let server = start(HttpSource::Directory(www)).await;
    let (status, head, body) = raw(
        server.port(),
        "HEAD /preseed.cfg HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert!(head.contains("Content-Length: 41\r\n"), "{head}");
    assert!(body.is_empty());
    let (status, _, body) = raw(server.port(), "HEAD /nope HTTP/1.1\r\n\r\n").await;
    assert_eq!(status, 404);
    assert!(body.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn other_methods_and_garbage_are_refused() {
    let server = start(HttpSource::Content(BTreeMap::new())).await;
    let port = server.port();
    let (status, head, _) = raw(port, "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").await;
    assert_eq!(status, 405);
    assert!(head.contains("Allow: GET, HEAD\r\n"), "{head}");
    for garbage in [
        "HELLO\r\n\r\n",
        "GET /x HTTP/2.0\r\n\r\n",
        "GET x HTTP/1.1\r\n\r\n",
        "GET /%zz HTTP/1.1\r\n\r\n",
        "GET /x HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET /x  HTTP/1.1\r\n\r\n",
    ] {
        let mut stream = TcpStream::connect((LOCALHOST, port)).await.unwrap();
        stream.write_all(garbage.as_bytes()).await.unwrap();
        stream.shutdown().await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let response = String::from_utf8_lossy(&response);
        assert!(
            response.starts_with("HTTP/1.1 400 "),
            "{garbage:?}: {response}"
        );
    }
    // A head cut off by the client's close is not a request: the connection just
    // closes, as Packer's (Go's) server does.
    let mut stream = TcpStream::connect((LOCALHOST, port)).await.unwrap();
    stream.write_all(b"GET /x HTTP/1.1\r\n").await.unwrap();
    stream.shutdown().await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    assert!(
        response.is_empty(),
        "{}",
        String::from_utf8_lossy(&response)
    );
    server.stop().await;
}

#[tokio::test]
async fn a_taken_port_makes_it_pick_another_in_range() {
    // Two adjacent free ports; hold the first.
    let (taken, free) = loop {
        let probe = std::net::TcpListener::bind((LOCALHOST, 0)).unwrap();
        let port = probe.local_addr().unwrap().port();
        if port < u16::MAX && std::net::TcpListener::bind((LOCALHOST, port + 1)).is_ok() {
            break (probe, port + 1);
        }
    };
    let taken_port = taken.local_addr().unwrap().port();
    // The first port tried is random; repeat so both orders are likely exercised.
    for _ in 0..5 {
        let server = HttpServer::start(
            LOCALHOST,
            taken_port,
            free,
            HttpSource::Content(BTreeMap::new()),
        )
        .await
        .unwrap();
        assert_eq!(server.port(), free);
        server.stop().await;
    }
    let error = HttpServer::start(
        LOCALHOST,
        taken_port,
        taken_port,
        HttpSource::Content(BTreeMap::new()),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    assert!(error.to_string().contains("http_port_min"), "{error}");
    drop(taken);
}

#[tokio::test]
async fn bad_ranges_and_directories_are_errors() {
    let error = HttpServer::start(LOCALHOST, 9000, 8000, HttpSource::Content(BTreeMap::new()))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    let missing = tempfile::tempdir().unwrap().path().join("missing");
    let error = HttpServer::start(LOCALHOST, 0, 0, HttpSource::Directory(missing))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("http_directory"), "{error}");
}

#[tokio::test]
async fn stop_releases_the_port() {
    let server = start(HttpSource::Content(BTreeMap::new())).await;
    let port = server.port();
    let (status, _, _) = get(port, "/x").await;
    assert_eq!(status, 404);
    server.stop().await;
    std::net::TcpListener::bind((LOCALHOST, port)).expect("the port is free after stop");
    assert!(TcpStream::connect((LOCALHOST, port)).await.is_err());
}

#[tokio::test]
async fn drop_stops_the_server() {
    let server = start(HttpSource::Content(BTreeMap::new())).await;
    let port = server.port();
    drop(server);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while std::net::TcpListener::bind((LOCALHOST, port)).is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the port stayed taken"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn decodes_percent_escapes() {
    assert_eq!(percent_decode("/a%20b%2F%2e").unwrap(), b"/a b/.");
    assert_eq!(percent_decode("plain").unwrap(), b"plain");
    assert!(percent_decode("%2").is_none());
    assert!(percent_decode("%g0").is_none());
}
