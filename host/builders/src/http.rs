//! The HTTP server a builder runs for Packer's `http_directory` and `http_content`: the
//! guest fetches its preseed, kickstart or autoinstall files from it while it boots.
//!
//! The server is deliberately small: HTTP/1.0 and 1.1 `GET` and `HEAD`, one request per
//! connection, no directory listings. Files are streamed from disk and opened relative to
//! the served directory through `cap-std`, so neither `..`, absolute paths nor symlinks can
//! reach anything outside it.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cap_std::fs::Dir;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

/// How long a client may take to send its request line and headers.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request head accepted; guests send a few hundred bytes.
const MAX_HEAD: usize = 16 * 1024;
/// How long to wait for the client to close after the response, so unread request bytes
/// do not turn the close into a reset that loses the response.
const LINGER: Duration = Duration::from_secs(1);

/// What the server serves.
#[derive(Debug, Clone)]
pub enum HttpSource {
    /// `http_directory`: the regular files under this directory.
    Directory(PathBuf),
    /// `http_content`: each body keyed by its URL path, such as `/preseed.cfg` (the leading
    /// `/` is optional).
    Content(BTreeMap<String, String>),
}

/// The source as the connection tasks use it.
#[derive(Debug)]
enum Served {
    Directory(Arc<Dir>),
    Content(BTreeMap<String, String>),
}

/// A running HTTP server. Stop it with [`HttpServer::stop`]; dropping it also stops it,
/// though the listener then closes in the background.
#[derive(Debug)]
pub struct HttpServer {
    port: u16,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `bind` on a port in `port_min..=port_max` (Packer: a random port in the range,
    /// trying others when taken) and serves in a background tokio task. A range of `0..=0`
    /// lets the system pick the port.
    pub async fn start(
        bind: IpAddr,
        port_min: u16,
        port_max: u16,
        source: HttpSource,
    ) -> io::Result<HttpServer> {
        if port_min > port_max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "http_port_min ({port_min}) is greater than http_port_max ({port_max}); \
                     make http_port_min the lower bound of the range"
                ),
            ));
        }
        let served = match source {
            HttpSource::Directory(path) => {
                let opened = {
                    let path = path.clone();
                    tokio::task::spawn_blocking(move || {
                        Dir::open_ambient_dir(&path, cap_std::ambient_authority())
                    })
                    .await
                    .map_err(io::Error::other)?
                };
                let dir = opened.map_err(|e| {
                    io::Error::new(e.kind(), format!("http_directory {}: {e}", path.display()))
                })?;
                Served::Directory(Arc::new(dir))
            }
            HttpSource::Content(content) => Served::Content(
                content
                    .into_iter()
                    .map(|(key, body)| {
                        let key = if key.starts_with('/') {
                            key
                        } else {
                            format!("/{key}")
                        };
                        (key, body)
                    })
                    .collect(),
            ),
        };
        let listener = bind_in_range(bind, port_min, port_max).await?;
        let port = listener.local_addr()?.port();
        tracing::debug!(%bind, port, "HTTP server listening");
        let cancel = CancellationToken::new();
        let task = tokio::spawn(serve(listener, Arc::new(served), cancel.clone()));
        Ok(HttpServer {
            port,
            cancel,
            task: Some(task),
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops serving and closes the listener (also done on Drop). Requests in flight are
    /// cut off; when this returns the port is free again.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::debug!(error = %e, "HTTP server task ended abnormally");
            }
        }
        tracing::debug!(port = self.port, "HTTP server stopped");
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Binds the first free port of the range, starting at a random one and wrapping around.
async fn bind_in_range(ip: IpAddr, min: u16, max: u16) -> io::Result<TcpListener> {
    let mut last_error = None;
    for port in crate::ports_from_random_start(min, max) {
        let addr = SocketAddr::new(ip, port);
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied
                ) =>
            {
                tracing::debug!(%addr, error = %e, "HTTP server port unavailable; trying another");
                last_error = Some(e);
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("binding the HTTP server to {addr}: {e}"),
                ))
            }
        }
    }
    let last = last_error.map(|e| e.to_string()).unwrap_or_default();
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!(
            "no free port for the HTTP server on {ip} in {min}-{max} ({last}); \
             widen the range with http_port_min and http_port_max"
        ),
    ))
}

/// Accepts connections until `cancel`, then closes the listener and cuts off the
/// connections still open.
async fn serve(listener: TcpListener, served: Arc<Served>, cancel: CancellationToken) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(handle(stream, peer, served.clone()));
                }
                Err(e) => {
                    // Such as running out of file descriptors: back off instead of spinning.
                    tracing::debug!(error = %e, "HTTP server accept failed");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            },
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// An HTTP status the server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
}

impl Status {
    fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
        }
    }
}

/// What reading the request head produced.
enum Head {
    /// The request line and headers, up to the blank line.
    Complete(Vec<u8>),
    /// The client closed before sending anything.
    Closed,
    /// Too long, or the client closed in the middle.
    Malformed,
}

/// Serves one request on `stream` and closes it.
async fn handle(mut stream: TcpStream, peer: SocketAddr, served: Arc<Served>) {
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Head::Complete(head))) => head,
        Ok(Ok(Head::Closed)) => return,
        Ok(Ok(Head::Malformed)) => Vec::new(),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "HTTP request could not be read");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "HTTP request head timed out");
            return;
        }
    };
    let (method, target, status) = answer(&mut stream, &head, &served).await;
    tracing::debug!(%peer, %method, path = %target, status = status.code(), "HTTP request");
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(LINGER, async {
        let mut sink = [0u8; 4096];
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Reads until the blank line that ends the request head.
async fn read_head(stream: &mut TcpStream) -> io::Result<Head> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(if buf.is_empty() {
                Head::Closed
            } else {
                Head::Malformed
            });
        }
        let searched_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&buf[searched_from..]) {
            buf.truncate(searched_from + end);
            return Ok(Head::Complete(buf));
        }
        if buf.len() > MAX_HEAD {
            return Ok(Head::Malformed);
        }
    }
}

/// Where the head ends in `buf` (after `\r\n\r\n`, or `\n\n` from lax clients).
fn head_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find_map(|i| {
        let rest = &buf[i..];
        if rest.starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if rest.starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        }
    })
}

/// Answers the request in `head`; returns what to log: the method, the target and the
/// status.
async fn answer(stream: &mut TcpStream, head: &[u8], served: &Served) -> (String, String, Status) {
    let Some((method, target)) = parse_head(head) else {
        let _ = respond_error(stream, Status::BadRequest, false).await;
        return ("?".into(), "?".into(), Status::BadRequest);
    };
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        let _ = respond_error(stream, Status::MethodNotAllowed, false).await;
        return (method, target, Status::MethodNotAllowed);
    }
    let Some(path) = request_path(&target) else {
        let _ = respond_error(stream, Status::BadRequest, head_only).await;
        return (method, target, Status::BadRequest);
    };
    let status = match serve_path(stream, served, &path, head_only).await {
        Ok(status) => status,
        Err(e) => {
            tracing::debug!(path = %path, error = %e, "HTTP response failed");
            Status::Ok
        }
    };
    (method, target, status)
}

/// Checks the request line and headers; returns the method and the request target.
fn parse_head(head: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next()?;
    let mut parts = request_line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        || target.is_empty()
        || !target.bytes().all(|b| b.is_ascii_graphic())
        || !matches!(version, "HTTP/1.0" | "HTTP/1.1")
    {
        return None;
    }
    for line in lines {
        if line.is_empty() {
            break;
        }
        let (name, _) = line.split_once(':')?;
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return None;
        }
    }
    Some((method.to_string(), target.to_string()))
}

/// The percent-decoded path of a request target (origin form `/a/b?q` or absolute form
/// `http://host/a/b`); `None` when it is not valid.
fn request_path(target: &str) -> Option<String> {
    let path = if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        rest.find('/').map_or("/", |i| &rest[i..])
    } else if target.starts_with('/') {
        target
    } else {
        return None;
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    String::from_utf8(percent_decode(path)?).ok()
}

/// Decodes `%XX` escapes; `None` for a malformed escape.
pub(crate) fn percent_decode(s: &str) -> Option<Vec<u8>> {
    fn digit(b: u8) -> Option<u8> {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = digit(*bytes.get(i + 1)?)?;
            let lo = digit(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Writes the response for `path` (already decoded); returns the status sent.
async fn serve_path(
    stream: &mut TcpStream,
    served: &Served,
    path: &str,
    head_only: bool,
) -> io::Result<Status> {
    match served {
        Served::Content(content) => {
            let key = if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/{path}")
            };
            let Some(body) = content.get(&key) else {
                respond_error(stream, Status::NotFound, head_only).await?;
                return Ok(Status::NotFound);
            };
            let len = u64::try_from(body.len()).unwrap_or(u64::MAX);
            write_head(stream, Status::Ok, "text/plain; charset=utf-8", len, "").await?;
            if !head_only {
                stream.write_all(body.as_bytes()).await?;
            }
            stream.flush().await?;
            Ok(Status::Ok)
        }
        Served::Directory(dir) => {
            let opened = {
                let dir = dir.clone();
                let path = path.to_string();
                tokio::task::spawn_blocking(move || open_beneath(&dir, &path))
                    .await
                    .map_err(io::Error::other)?
            };
            let Some((file, len)) = opened else {
                respond_error(stream, Status::NotFound, head_only).await?;
                return Ok(Status::NotFound);
            };
            write_head(stream, Status::Ok, content_type(path), len, "").await?;
            if !head_only {
                let file = tokio::fs::File::from_std(file);
                let mut reader = BufReader::with_capacity(256 * 1024, file.take(len));
                tokio::io::copy_buf(&mut reader, stream).await?;
            }
            stream.flush().await?;
            Ok(Status::Ok)
        }
    }
}

/// Opens the regular file at the URL path `path` beneath `dir`, with its length; `None`
/// for anything else (missing, a directory, a path that leaves `dir`).
fn open_beneath(dir: &Dir, path: &str) -> Option<(std::fs::File, u64)> {
    let mut relative = PathBuf::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => return None,
            c if c.contains('\0') => return None,
            c => relative.push(c),
        }
    }
    if relative.as_os_str().is_empty() {
        return None;
    }
    // Checked before opening so a FIFO is never opened (that would block).
    let found = dir.metadata(&relative).and_then(|meta| {
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "not a regular file",
            ));
        }
        let file = dir.open(&relative)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "not a regular file",
            ));
        }
        Ok((file.into_std(), meta.len()))
    });
    match found {
        Ok(found) => Some(found),
        Err(e) => {
            tracing::debug!(path = %relative.display(), error = %e, "HTTP file not served");
            None
        }
    }
}

/// The Content-Type for a served file: text for the usual boot configuration files.
fn content_type(path: &str) -> &'static str {
    let extension = path
        .rsplit('/')
        .next()
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match extension.as_deref() {
        Some(
            "cfg" | "conf" | "txt" | "ks" | "seed" | "preseed" | "sh" | "ps1" | "bat" | "cmd"
            | "yaml" | "yml" | "json" | "xml" | "ipxe" | "cnf",
        ) => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Writes the status line and headers.
async fn write_head(
    stream: &mut TcpStream,
    status: Status,
    content_type: &str,
    len: u64,
    extra: &str,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n{extra}Connection: close\r\n\r\n",
        status.code(),
        status.reason(),
    );
    stream.write_all(head.as_bytes()).await
}

/// Writes an error response with a one-line text body (none for `HEAD`).
async fn respond_error(stream: &mut TcpStream, status: Status, head_only: bool) -> io::Result<()> {
    let body = format!("{} {}\n", status.code(), status.reason());
    let extra = if status == Status::MethodNotAllowed {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let len = u64::try_from(body.len()).unwrap_or(u64::MAX);
    write_head(stream, status, "text/plain; charset=utf-8", len, extra).await?;
    if !head_only {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

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
            std::os::unix::fs::symlink(root.path().join("outside.txt"), www.join("absolute"))
                .unwrap();
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
        let (status, head, _) =
            raw(port, "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").await;
        assert_eq!(status, 405);
        assert!(head.contains("Allow: GET, HEAD\r\n"), "{head}");
        for garbage in [
            "HELLO\r\n\r\n",
            "GET /x HTTP/2.0\r\n\r\n",
            "GET x HTTP/1.1\r\n\r\n",
            "GET /%zz HTTP/1.1\r\n\r\n",
            "GET /x HTTP/1.1\r\nno colon here\r\n\r\n",
            "GET /x  HTTP/1.1\r\n\r\n",
            "GET /x HTTP/1.1\r\n",
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
}
