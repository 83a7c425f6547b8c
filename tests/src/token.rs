//! A token server as Docker Hub and most private registries have one (the Docker
//! registry token authentication specification): a client that the registry answers
//! with `401` and `WWW-Authenticate: Bearer realm=...,service=...,scope=...` asks the
//! realm for a token with its basic-auth credentials, then sends the token to the
//! registry. Tokens are JWTs signed RS256 by a key made for the test, whose
//! self-signed certificate the registry trusts (`rootcertbundle`) and which each token
//! carries in its `x5c` header.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use crate::command;

/// The registry's name in tokens (`aud`) and the issuer's (`iss`).
pub const SERVICE: &str = "kiln-test-registry";
pub const ISSUER: &str = "kiln-test-issuer";

/// A running token server; stops when dropped.
pub struct TokenServer {
    /// `http://127.0.0.1:<port>/token`.
    pub realm: String,
    /// The certificate the registry checks tokens with.
    pub cert: PathBuf,
    /// Tokens given so far (requests with the right credentials).
    pub issued: Arc<AtomicUsize>,
    /// Requests refused for missing or wrong credentials.
    pub refused: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    port: u16,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenServer {
    /// Makes a signing key and certificate in `dir` and serves tokens to `user` with
    /// `password` alone.
    pub fn start(dir: &Path, user: &str, password: &str) -> TokenServer {
        let out = command("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "token.key",
                "-out",
                "token.crt",
                "-days",
                "2",
                "-subj",
                "/CN=kiln test token issuer",
            ])
            .current_dir(dir)
            .output()
            .expect("running openssl");
        assert!(out.status.success(), "openssl req: {:?}", crate::text(&out));
        let der = command("openssl")
            .args(["x509", "-in", "token.crt", "-outform", "DER"])
            .current_dir(dir)
            .output()
            .expect("running openssl");
        assert!(der.status.success());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (issued, refused, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let signer = Signer {
            key: dir.join("token.key"),
            x5c: base64::engine::general_purpose::STANDARD.encode(&der.stdout),
            basic: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
            user: user.to_owned(),
        };
        let thread = {
            let (issued, refused, stop) = (issued.clone(), refused.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (issued, refused) = (issued.clone(), refused.clone());
                    let signer = signer.clone();
                    std::thread::spawn(move || {
                        let _ = serve(stream, &signer, &issued, &refused);
                    });
                }
            })
        };
        TokenServer {
            realm: format!("http://127.0.0.1:{port}/token"),
            cert: dir.join("token.crt"),
            issued,
            refused,
            stop,
            port,
            thread: Some(thread),
        }
    }

    /// The registry's `auth` configuration for this server.
    pub fn registry_config(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            self.realm,
            self.cert.display()
        )
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Clone)]
struct Signer {
    key: PathBuf,
    x5c: String,
    basic: String,
    user: String,
}

/// Answers one request: a token for the scopes asked for, or 401.
fn serve(
    mut stream: TcpStream,
    signer: &Signer,
    issued: &AtomicUsize,
    refused: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut authorization = None;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "authorization" => authorization = Some(value.trim().to_owned()),
                "content-length" => length = value.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    // A POST (the OAuth2 form) carries its parameters in the body.
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let target = request.split_whitespace().nth(1).unwrap_or("/");
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let form = String::from_utf8_lossy(&body);
    let params: Vec<(String, String)> = query
        .split('&')
        .chain(form.split('&'))
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    if authorization.as_deref() != Some(signer.basic.as_str()) {
        refused.fetch_add(1, Ordering::SeqCst);
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"wrong credentials"}]}"#;
        return write!(
            stream,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
    let access: Vec<serde_json::Value> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|scope| {
            // type:name:actions, where the name may hold a port's colon.
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            Some(serde_json::json!({
                "type": kind,
                "name": name,
                "actions": actions.split(',').collect::<Vec<_>>(),
            }))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": signer.user,
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("{now}-{}", issued.load(Ordering::SeqCst)),
        "access": access,
    });
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [signer.x5c]});
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!(
        "{}.{}",
        url.encode(header.to_string()),
        url.encode(claims.to_string())
    );
    let mut openssl = command("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&signer.key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    openssl
        .stdin
        .take()
        .expect("piped")
        .write_all(signing_input.as_bytes())?;
    let signature = openssl.wait_with_output()?;
    assert!(signature.status.success(), "openssl dgst -sign failed");
    let token = format!("{signing_input}.{}", url.encode(&signature.stdout));
    issued.fetch_add(1, Ordering::SeqCst);
    let body = serde_json::json!({"token": token, "access_token": token, "expires_in": 300});
    let body = body.to_string();
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Percent-decoding of a query parameter (`+` is a space).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
