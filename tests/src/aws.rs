//! EC2 for the amazon-ebs tests: moto, PyPI's AWS API emulator, in server mode on a
//! free loopback port, and a proxy in front of it that injects what real AWS does
//! (throttling, 5xx answers, an AMI that stays `pending`) and stands in for the
//! instance's cloud-init: the public half of every key pair the build creates is put
//! in the test sshd's `authorized_keys`, as an instance would install it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// moto's server on 127.0.0.1.
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

/// The moto_server installed by tests/run.
pub fn moto_server() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/moto-venv/bin/moto_server");
    assert!(
        path.is_file(),
        "moto_server is not installed: run tests/run, which installs moto from PyPI into target/moto-venv"
    );
    path
}

impl Moto {
    /// Starts moto and waits until it answers.
    pub fn start() -> Moto {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::free_port();
        let child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdout(std::fs::File::create(dir.path().join("moto.log")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("moto.err")).unwrap())
            .spawn()
            .expect("starting moto_server");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto_server did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto {
            url: format!("http://127.0.0.1:{port}"),
            child,
            _dir: dir,
        }
    }

    /// The environment a kiln run needs to reach this moto: test credentials, a
    /// region, and every AWS endpoint (STS included) at `endpoint`.
    pub fn env(endpoint: &str) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", "AKIDKILNTEST"),
            ("AWS_SECRET_ACCESS_KEY", "kiln-test-secret-key"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", endpoint),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    /// Calls `action` in `region` with `params` (unsigned: moto does not check
    /// signatures, only reads the region from the credential scope), the XML answer.
    pub fn call(&self, region: &str, action: &str, params: &[(&str, &str)]) -> String {
        call(&self.url, region, action, params)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One EC2 Query API call to `url` (`http://host:port`), the answer's body.
pub fn call(url: &str, region: &str, action: &str, params: &[(&str, &str)]) -> String {
    call_service(url, "ec2", "2016-11-15", region, action, params)
}

/// One Query API call to `service` (`ec2`, `iam`) of API `version` at `url`.
pub fn call_service(
    url: &str,
    service: &str,
    version: &str,
    region: &str,
    action: &str,
    params: &[(&str, &str)],
) -> String {
    let mut body = format!("Action={action}&Version={version}");
    for (k, v) in params {
        body.push_str(&format!("&{}={}", encode(k), encode(v)));
    }
    let host = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKIDKILNTEST/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{action}: {head}\n{body}"
    );
    body.to_owned()
}

/// Every `<tag>value</tag>` in `xml`.
pub fn values_of(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.match_indices(&open)
        .filter_map(|(at, _)| {
            let rest = &xml[at + open.len()..];
            rest.find(&close).map(|end| rest[..end].to_owned())
        })
        .collect()
}

/// What the proxy does to requests of one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ec2Fault {
    /// Answers `RequestLimitExceeded`, as EC2 throttles.
    Throttle,
    /// Answers 503 Service Unavailable.
    Unavailable,
    /// Forwards, then shows every image as `pending`.
    ImagePending,
}

/// A rule: the first `times` requests of `action` get `fault`.
#[derive(Debug, Clone)]
pub struct Ec2Rule {
    pub action: &'static str,
    pub fault: Ec2Fault,
    pub times: usize,
}

/// The proxy in front of moto.
pub struct Ec2Proxy {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    stop: Arc<AtomicBool>,
    actions: Arc<Mutex<Vec<String>>>,
}

impl Ec2Proxy {
    /// Starts a proxy to `moto` applying `rules`; the public half of each key pair
    /// CreateKeyPair answers is appended to `authorized_keys`.
    pub fn start(moto: &Moto, rules: Vec<Ec2Rule>, authorized_keys: &Path) -> Ec2Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let actions = Arc::new(Mutex::new(Vec::new()));
        let rules = Arc::new(Mutex::new(rules));
        let upstream = moto.url.trim_start_matches("http://").to_owned();
        let keys = authorized_keys.to_owned();
        let actions2 = actions.clone();
        crate::serve(listener, stop.clone(), move |client| {
            let _ = relay(client, &upstream, &rules, &actions2, &keys);
        });
        Ec2Proxy { url, stop, actions }
    }

    /// The actions seen, in order.
    pub fn actions(&self) -> Vec<String> {
        self.actions.lock().unwrap().clone()
    }
}

impl Drop for Ec2Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn read_request(client: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let Some(head) = crate::read_head(client)? else {
        return Ok(None);
    };
    let mut body = vec![0u8; crate::content_length(&head)];
    client.read_exact(&mut body)?;
    Ok(Some((head, body)))
}

fn respond(client: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    client.write_all(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

fn relay(
    mut client: TcpStream,
    upstream: &str,
    rules: &Mutex<Vec<Ec2Rule>>,
    actions: &Mutex<Vec<String>>,
    keys: &Path,
) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    // A client may send several requests on one connection: each is relayed on a
    // connection of its own to moto.
    while let Some((head, body)) = read_request(&mut client)? {
        let form = String::from_utf8_lossy(&body).into_owned();
        let action = form
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .unwrap_or("")
            .to_owned();
        actions.lock().unwrap().push(action.clone());
        let fault = {
            let mut rules = rules.lock().unwrap();
            rules
                .iter_mut()
                .find(|r| r.times > 0 && r.action == action)
                .map(|r| {
                    r.times -= 1;
                    r.fault
                })
        };
        match fault {
            Some(Ec2Fault::Throttle) => {
                respond(
                    &mut client,
                    "503 Service Unavailable",
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>throttled</RequestID></Response>",
                )?;
                continue;
            }
            Some(Ec2Fault::Unavailable) => {
                respond(&mut client, "503 Service Unavailable", "")?;
                continue;
            }
            _ => {}
        }
        let mut server = TcpStream::connect(upstream)?;
        server.write_all(crate::closing(&head).as_bytes())?;
        server.write_all(&body)?;
        let mut answer = Vec::new();
        server.read_to_end(&mut answer)?;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let (answer_head, answer_body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = answer_head
            .lines()
            .next()
            .and_then(|l| l.split_once(' '))
            .map(|(_, s)| s.to_owned())
            .unwrap_or_else(|| "502 Bad Gateway".into());
        let mut answer_body = answer_body.to_owned();
        if fault == Some(Ec2Fault::ImagePending) {
            answer_body = answer_body.replace(
                "<imageState>available</imageState>",
                "<imageState>pending</imageState>",
            );
        }
        if action == "CreateKeyPair" {
            if let Some(material) = values_of(&answer_body, "keyMaterial").first() {
                authorize(material, keys);
            }
        }
        respond(&mut client, &status, &answer_body)?;
    }
    Ok(())
}

/// Puts the public half of `private_key` in `authorized_keys`.
fn authorize(private_key: &str, authorized_keys: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, format!("{}\n", private_key.trim())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = crate::command("ssh-keygen")
        .args(["-y", "-f"])
        .arg(&key)
        .output()
        .expect("running ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen -y on the created key pair: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(authorized_keys)
        .unwrap();
    f.write_all(&out.stdout).unwrap();
}
