//! The HTTP server a builder runs for Packer's `http_directory` and `http_content`: the
//! guest fetches its preseed, kickstart or autoinstall files from it while it boots.
//!
//! hyper speaks HTTP/1; this module decides what to answer: `GET` and `HEAD` of a
//! regular file, one request per connection, no directory listings. Files are streamed
//! from disk and opened relative to the served directory through `cap-std`, so neither
//! `..`, absolute paths nor symlinks can reach anything outside it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cap_std::fs::Dir;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

/// How long a client may take to send its request line and headers.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request head accepted (hyper's smallest buffer); guests send a few
/// hundred bytes.
const MAX_HEAD: usize = 8 * 1024;

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

type Body = BoxBody<Bytes, io::Error>;

/// Serves one request on `stream` and closes it.
async fn handle(stream: TcpStream, peer: SocketAddr, served: Arc<Served>) {
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let served = served.clone();
        async move {
            let response = answer(&req, &served).await;
            tracing::debug!(
                %peer,
                method = %req.method(),
                path = %req.uri(),
                status = response.status().as_u16(),
                "HTTP request"
            );
            Ok::<_, Infallible>(response)
        }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .title_case_headers(true)
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
}

/// The answer to `req`.
async fn answer(req: &Request<Incoming>, served: &Served) -> Response<Body> {
    let head_only = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head_only {
        let mut r = error(StatusCode::METHOD_NOT_ALLOWED, false);
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let Some(path) = request_path(req) else {
        return error(StatusCode::BAD_REQUEST, head_only);
    };
    match served {
        Served::Content(content) => match content.get(&path) {
            Some(text) => ok(
                "text/plain; charset=utf-8",
                text.len() as u64,
                full(text.clone().into_bytes(), head_only),
            ),
            None => error(StatusCode::NOT_FOUND, head_only),
        },
        Served::Directory(dir) => {
            let opened = {
                let dir = dir.clone();
                let path = path.clone();
                tokio::task::spawn_blocking(move || open_beneath(&dir, &path)).await
            };
            let Ok(Some((file, len))) = opened else {
                return error(StatusCode::NOT_FOUND, head_only);
            };
            let body = if head_only {
                full(Vec::new(), true)
            } else {
                let file = tokio::io::AsyncReadExt::take(tokio::fs::File::from_std(file), len);
                let chunks = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
                let frames = futures_util::TryStreamExt::map_ok(chunks, Frame::data);
                BodyExt::boxed(StreamBody::new(frames))
            };
            ok(content_type(&path), len, body)
        }
    }
}

/// A body of `data` (empty for `HEAD`).
fn full(data: Vec<u8>, head_only: bool) -> Body {
    let data = if head_only { Vec::new() } else { data };
    Full::new(Bytes::from(data))
        .map_err(|never| match never {})
        .boxed()
}

/// A 200 answer whose body is `len` bytes of `content_type`.
fn ok(content_type: &'static str, len: u64, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    r
}

/// An error answer with a one-line text body (none for `HEAD`).
fn error(status: StatusCode, head_only: bool) -> Response<Body> {
    let text = format!(
        "{} {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    );
    let len = text.len() as u64;
    let mut r = ok(
        "text/plain; charset=utf-8",
        len,
        full(text.into_bytes(), head_only),
    );
    *r.status_mut() = status;
    r
}

/// The percent-decoded path of a request, with a leading `/` (origin form `/a/b?q` or
/// absolute form `http://host/a/b`); `None` when it is not valid.
fn request_path(req: &Request<Incoming>) -> Option<String> {
    let uri = req.uri();
    if uri.scheme().is_none() && !uri.path().starts_with('/') {
        return None;
    }
    let decoded = String::from_utf8(percent_decode(uri.path())?).ok()?;
    Some(if decoded.starts_with('/') {
        decoded
    } else {
        format!("/{decoded}")
    })
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

#[cfg(test)]
mod tests;
