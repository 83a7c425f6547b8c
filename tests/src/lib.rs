//! Fixtures for Kiln's end-to-end tests: real services started on loopback, on free
//! ports, in temporary directories, and stopped when the fixture is dropped. A missing
//! service is a failure, never a skip.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

pub mod aws;
pub mod token;

pub use kiln_test_tools::{command, tool};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn user() -> String {
    let out = Command::new("id")
        .arg("-un")
        .output()
        .expect("running id -un");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn keygen(path: &Path) {
    let status = command("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("running ssh-keygen");
    assert!(status.success(), "ssh-keygen failed");
}

/// A real OpenSSH server on 127.0.0.1 with its own host key and a user key.
pub struct Sshd {
    /// Holds the keys, the configuration and the log.
    pub dir: tempfile::TempDir,
    /// The port it listens on.
    pub port: u16,
    /// The user to log in as (whoever runs the tests).
    pub user: String,
    /// A private key the server accepts.
    pub key: PathBuf,
    /// A private key the server does not accept.
    pub wrong_key: PathBuf,
    child: Child,
}

impl Sshd {
    /// Starts sshd and waits until it accepts connections.
    pub fn start() -> Sshd {
        let sshd = tool("/usr/sbin/sshd");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all("/run/sshd").ok();
        keygen(&d.join("host_key"));
        keygen(&d.join("id_ed25519"));
        keygen(&d.join("wrong_key"));
        std::fs::copy(d.join("id_ed25519.pub"), d.join("authorized_keys")).unwrap();
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             PidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPermitRootLogin yes\nPasswordAuthentication no\n\
             MaxStartups 100\nMaxSessions 100\nLogLevel ERROR\nSubsystem sftp /usr/lib/openssh/sftp-server\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
            .spawn()
            .expect("starting sshd");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "sshd did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Sshd {
            port,
            user: user(),
            key: d.join("id_ed25519"),
            wrong_key: d.join("wrong_key"),
            dir,
            child,
        }
    }

    /// A `source "null" "NAME"` block reaching this server with `key`.
    pub fn null_source(&self, name: &str, key: &Path) -> String {
        format!(
            "source \"null\" \"{name}\" {{\n  ssh_host             = \"127.0.0.1\"\n  ssh_port             = {}\n  \
             ssh_username         = \"{}\"\n  ssh_private_key_file = \"{}\"\n  ssh_timeout          = \"10s\"\n}}\n",
            self.port,
            self.user,
            key.display()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One compile cache shared by every test of a run, so components compile once.
pub fn cache_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-test-cache-{}", env!("CARGO_PKG_VERSION")));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The names in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Stdout and stderr of `out` as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `command` with `input` on its standard input, collecting what it prints.
pub fn output_with_input(command: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the command");
    let mut stdin = child.stdin.take().expect("piped");
    // A command that stops reading early closes the pipe; what it printed still counts.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("waiting for the command")
}

/// Makes a tiny root filesystem at `dir` from Debian's statically linked busybox
/// (package busybox-static): `/bin/busybox`, a link per applet, `/etc/passwd` and
/// `/etc/group`. It has no `/proc`, `/dev` or `/tmp`: the container builder adds them.
pub fn busybox_rootfs(dir: &Path) {
    let busybox = tool("/bin/busybox");
    let list = Command::new(&busybox)
        .arg("--list")
        .output()
        .expect("running busybox --list");
    let f = command("file").arg("-L").arg(&busybox).output().unwrap();
    assert!(
        String::from_utf8_lossy(&f.stdout).contains("statically linked"),
        "/bin/busybox must be the static one: apt-get install busybox-static"
    );
    for d in ["bin", "etc", "root"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy(&busybox, dir.join("bin/busybox")).unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
        }
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\n").unwrap();
}

/// Fills `dir` as [`busybox_rootfs`] does, with Debian's arm64 busybox-static: the same
/// package version as the host's, fetched from the host's Debian mirror once and kept in
/// the target directory.
pub fn busybox_arm64_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let busybox = arm64_busybox();
    std::fs::copy(&busybox, bin.join("busybox")).unwrap();
    // The applets are the host busybox's: the same version and configuration.
    let list = Command::new(tool("/bin/busybox"))
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
    }
    for d in ["etc", "root"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\n").unwrap();
}

/// The arm64 busybox binary, downloaded once (atomically: tests run in parallel).
fn arm64_busybox() -> PathBuf {
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-downloads");
    let kept = cache.join("busybox-arm64");
    if kept.is_file() {
        return kept;
    }
    std::fs::create_dir_all(&cache).unwrap();
    let show = command("apt-cache")
        .args(["show", "--no-all-versions", "busybox-static"])
        .output()
        .unwrap();
    let show = String::from_utf8_lossy(&show.stdout);
    let field = |name: &str| {
        show.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("apt-cache show busybox-static has no {name}\n{show}"))
            .to_owned()
    };
    let filename = field("Filename:").replace("_amd64.deb", "_arm64.deb");
    let sources = std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources")
        .or_else(|_| std::fs::read_to_string("/etc/apt/sources.list"))
        .unwrap_or_default();
    let mirror = sources
        .lines()
        .find_map(|l| {
            l.strip_prefix("URIs:")
                .map(|u| u.split_whitespace().next().unwrap_or_default().to_owned())
                .or_else(|| {
                    l.strip_prefix("deb ")
                        .and_then(|rest| rest.split_whitespace().find(|w| w.contains("://")))
                        .map(str::to_owned)
                })
        })
        .filter(|m| !m.contains("security"))
        .unwrap_or_else(|| "http://deb.debian.org/debian".into());
    let work = tempfile::tempdir_in(&cache).unwrap();
    let deb = work.path().join("busybox.deb");
    let url = format!("{}/{filename}", mirror.trim_end_matches('/'));
    let got = command("curl")
        .args(["-sSfL", "--retry", "3", "-o"])
        .arg(&deb)
        .arg(&url)
        .status()
        .unwrap();
    assert!(got.success(), "downloading {url} failed");
    let unpacked = work.path().join("x");
    let ok = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(ok.success(), "dpkg-deb -x {url} failed");
    std::fs::rename(unpacked.join("bin/busybox"), &kept).unwrap();
    kept
}

/// A real OCI registry (Debian's docker-registry, the CNCF distribution) on 127.0.0.1.
pub struct Registry {
    /// Holds the configuration and the stored images.
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`.
    pub address: String,
    /// The PEM of the certificate authority of a TLS registry.
    pub ca: Option<Vec<u8>>,
    /// Where the authority is trusted (`/etc/docker/certs.d/<address>`), removed on drop.
    certs_d: Option<PathBuf>,
    /// The token server of a registry with token authentication.
    pub token: Option<token::TokenServer>,
    child: Child,
}

impl Registry {
    /// Starts the registry and waits until it answers.
    pub fn start() -> Registry {
        Registry::start_with(|_| String::new())
    }

    /// Starts a registry that asks for HTTP basic auth and accepts only `user` with
    /// `password` (docker-registry's htpasswd auth, which takes bcrypt hashes only).
    pub fn start_with_basic_auth(user: &str, password: &str) -> Registry {
        Registry::start_with(|dir| {
            let htpasswd = dir.join("htpasswd");
            // Cost 4, the lowest: the registry checks the hash on every request.
            let hash = bcrypt::hash(password, 4).unwrap();
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            format!(
                "auth:\n  htpasswd:\n    realm: kiln-test\n    path: {}\n",
                htpasswd.display()
            )
        })
    }

    /// Starts a registry that speaks only HTTPS, with a certificate for 127.0.0.1 signed
    /// by a certificate authority made for it, and asks for `user` and `password`. The
    /// authority is trusted as Docker trusts a registry's own: in
    /// `/etc/docker/certs.d/<address>/ca.crt`, removed when the registry stops. Its
    /// PEM is also in [`Registry::ca`].
    pub fn start_with_tls(user: &str, password: &str) -> Registry {
        let mut ca = None;
        let mut registry = Registry::start_with(|dir| {
            let openssl = |args: &[&str]| {
                let out = command("openssl")
                    .args(args)
                    .current_dir(dir)
                    .output()
                    .expect("running openssl");
                assert!(out.status.success(), "openssl {args:?}: {:?}", text(&out));
            };
            let ec = [
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ];
            openssl(
                &[
                    &["req", "-x509"][..],
                    &ec,
                    &[
                        "-keyout",
                        "ca.key",
                        "-out",
                        "ca.crt",
                        "-days",
                        "2",
                        "-subj",
                        "/CN=kiln test CA",
                    ],
                ]
                .concat(),
            );
            openssl(
                &[
                    &["req"][..],
                    &ec,
                    &[
                        "-keyout",
                        "server.key",
                        "-out",
                        "server.csr",
                        "-subj",
                        "/CN=127.0.0.1",
                    ],
                ]
                .concat(),
            );
            std::fs::write(
                dir.join("san.ext"),
                "subjectAltName=IP:127.0.0.1
basicConstraints=CA:FALSE
",
            )
            .unwrap();
            openssl(&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "san.ext",
            ]);
            ca = Some(std::fs::read(dir.join("ca.crt")).unwrap());
            let htpasswd = dir.join("htpasswd");
            let hash = bcrypt::hash(password, 4).unwrap();
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            format!(
                "  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: kiln-test\n    path: {}\n",
                dir.join("server.crt").display(),
                dir.join("server.key").display(),
                htpasswd.display()
            )
        });
        let certs_d = Path::new("/etc/docker/certs.d").join(&registry.address);
        std::fs::create_dir_all(&certs_d).unwrap();
        std::fs::write(certs_d.join("ca.crt"), ca.as_ref().unwrap()).unwrap();
        registry.certs_d = Some(certs_d);
        registry.ca = ca;
        registry
    }

    /// Starts a registry with token authentication, as Docker Hub and most private
    /// registries have it: a token server on another loopback port gives tokens to
    /// `user` with `password` alone (see [`token`]).
    pub fn start_with_token(user: &str, password: &str) -> Registry {
        let mut server = None;
        let mut registry = Registry::start_with(|dir| {
            let s = token::TokenServer::start(dir, user, password);
            let config = s.registry_config();
            server = Some(s);
            config
        });
        registry.token = server;
        registry
    }

    /// The registry's storage root; blobs are under
    /// `docker/registry/v2/blobs/sha256/<first 2 hex>/<hex>/data`.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the registry with what `extra` returns appended to its configuration;
    /// `extra` may put files in the fixture's directory, which it is given.
    fn start_with(extra: impl FnOnce(&Path) -> String) -> Registry {
        let bin = tool("/usr/bin/docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let extra = extra(dir.path());
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{extra}",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = Command::new(&bin)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(std::fs::File::create(dir.path().join("registry.log")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("registry.err")).unwrap())
            .spawn()
            .expect("starting docker-registry");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "docker-registry did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Registry {
            dir,
            address: format!("127.0.0.1:{port}"),
            ca: None,
            certs_d: None,
            token: None,
            child,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(dir) = &self.certs_d {
            let _ = std::fs::remove_dir_all(dir);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `skopeo` (Debian's) with `args` and returns its stdout; panics with its stderr
/// when it fails.
pub fn skopeo(args: &[&str]) -> String {
    let out = command("skopeo")
        .args(args)
        .output()
        .expect("running skopeo");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "skopeo {args:?} failed: {stderr}");
    stdout
}

/// Host PIDs of live processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmdline).contains(marker) {
                found.push(pid);
            }
        }
    }
    found
}

/// This process's mount table (`/proc/self/mountinfo`), one mount per line.
pub fn mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Records everything under `path` into `out`: each link's target, each file's inode,
/// link count, mode and contents; so that two snapshots compare equal only when nothing
/// was created, removed, replaced or written (the hostile-component suites check the
/// host is unchanged with it).
pub fn snapshot_into(path: &Path, out: &mut std::collections::BTreeMap<PathBuf, String>) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    let what = if meta.file_type().is_symlink() {
        format!("link -> {}", std::fs::read_link(path).unwrap().display())
    } else if meta.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for n in names {
            snapshot_into(&n, out);
        }
        "dir".into()
    } else {
        use std::os::unix::fs::MetadataExt;
        format!(
            "file (inode {}, {} links, mode {:o}): {:?}",
            meta.ino(),
            meta.nlink(),
            meta.mode(),
            String::from_utf8_lossy(&std::fs::read(path).unwrap())
        )
    };
    out.insert(path.to_owned(), what);
}

/// The small bootable machine the qemu builder's tests boot, made by
/// `tests/vm/build-image.sh` from Debian's packages: the cloud kernel, a busybox
/// initramfs that loads virtio and switches to the disk, and an ext4 root disk (qcow2)
/// whose busybox init starts OpenSSH's sshd. Root logs in with `key`.
#[derive(Debug)]
pub struct VmImage {
    /// Debian's cloud kernel.
    pub kernel: PathBuf,
    /// The initramfs.
    pub initrd: PathBuf,
    /// The root disk, qcow2.
    pub disk: PathBuf,
    /// The private key root accepts.
    pub key: PathBuf,
    /// Debian's generic kernel, which has the floppy driver, and its initramfs.
    pub generic_kernel: PathBuf,
    pub generic_initrd: PathBuf,
}

/// The test VM image, built once per machine (kept beside the compile cache) and
/// reused; building it downloads the kernel package with apt-get.
pub fn vm_image() -> &'static VmImage {
    static IMAGE: std::sync::OnceLock<VmImage> = std::sync::OnceLock::new();
    IMAGE.get_or_init(|| {
        // What tests/vm/build-image.sh and the tests that boot the image use.
        for name in [
            "qemu-system-x86_64",
            "qemu-img",
            "mkfs.ext4",
            "debugfs",
            "apt-get",
            "dpkg-deb",
            "/bin/busybox",
            "/usr/sbin/sshd",
            "/usr/lib/openssh/sftp-server",
            "scp",
            "ssh-keygen",
        ] {
            tool(name);
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("vm/build-image.sh");
        // A changed script makes a new image.
        let version = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            std::fs::read(&script)
                .expect("tests/vm/build-image.sh")
                .hash(&mut h);
            h.finish()
        };
        let dir = std::env::temp_dir().join(format!("kiln-test-vm-{version:016x}"));
        let out = Command::new("sh")
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("running tests/vm/build-image.sh");
        let (_, stderr) = text(&out);
        assert!(
            out.status.success(),
            "building the test VM image failed: {stderr}"
        );
        VmImage {
            kernel: dir.join("vmlinuz"),
            initrd: dir.join("initrd.img"),
            disk: dir.join("disk.qcow2"),
            key: dir.join("id_ed25519"),
            generic_kernel: dir.join("vmlinuz-generic"),
            generic_initrd: dir.join("initrd-generic.img"),
        }
    })
}

/// The sha256 of the file at `path`, in lower-case hex (with `sha256sum`).
pub fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("running sha256sum");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// The contents of `file` inside the ext4 filesystem of the disk image `image` (any
/// format qemu-img reads), read with qemu-img and debugfs, without mounting.
pub fn read_from_ext4_image(image: &Path, file: &str) -> String {
    let raw = tempfile::NamedTempFile::new().unwrap();
    let out = command("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(image)
        .arg(raw.path())
        .output()
        .expect("running qemu-img");
    assert!(out.status.success(), "qemu-img convert: {}", text(&out).1);
    let out = command("debugfs")
        .args(["-R", &format!("cat {file}")])
        .arg(raw.path())
        .output()
        .expect("running debugfs");
    assert!(out.status.success(), "debugfs: {}", text(&out).1);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What `-on-error=ask` asks on a terminal.
pub const ASK_PROMPT: &str = "[c] Clean up and exit, [a] abort without cleanup, or [r] retry step";

/// Runs `command` in `dir` on a pseudo-terminal (util-linux `script`) with `envs`, and
/// types the next of `answers` (each followed by Enter) whenever a line containing
/// `prompt` appears. Returns the exit code, the lines shown, and how many answers
/// were typed.
pub fn answer_on_a_terminal(
    command: &str,
    dir: &Path,
    envs: &[(&str, &Path)],
    prompt: &str,
    answers: &[&str],
) -> (Option<i32>, Vec<String>, usize) {
    use std::io::{BufRead, Write};
    let mut child = Command::new("script")
        .args(["-qefc", command, "/dev/null"])
        .current_dir(dir)
        .envs(envs.iter().map(|(k, v)| (*k, *v)))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux is required");
    let mut stdin = child.stdin.take().unwrap();
    let mut seen = Vec::new();
    let mut typed = 0;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.contains(prompt) && typed < answers.len() {
            stdin
                .write_all(format!("{}\n", answers[typed]).as_bytes())
                .unwrap();
            stdin.flush().unwrap();
            typed += 1;
        }
        seen.push(line);
    }
    (child.wait().unwrap().code(), seen, typed)
}

/// What [`FaultProxy`] does to the requests a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers `500 Internal Server Error` without asking the registry.
    Fail500,
    /// Relays this many bytes of the registry's answer, then drops the connection.
    CutAnswerAfter(usize),
    /// Relays this many bytes of the request's body, then drops the connection.
    CutRequestAfter(usize),
    /// Reads the request and never answers (the connection stays open until the proxy
    /// is dropped).
    Hang,
}

/// A rule of a [`FaultProxy`]: requests whose method is `method` and whose path contains
/// `path` get `fault`, the first `times` of them.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// `GET`, `PUT`, `HEAD`, `POST`, `PATCH`.
    pub method: &'static str,
    /// A part of the request path (`/blobs/`, `/manifests/`).
    pub path: String,
    /// What happens to them.
    pub fault: Fault,
    /// How many matching requests it applies to.
    pub times: usize,
}

/// An HTTP proxy in front of a registry on loopback that injects faults: refused
/// answers, answers and uploads cut midway, requests never answered. Each connection
/// carries one request (the proxy asks the registry to close after it), so that every
/// request meets the rules. Stopped when dropped.
pub struct FaultProxy {
    /// `127.0.0.1:<port>`, where clients reach it.
    pub address: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Requests seen, as `METHOD path`, in order.
    pub seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`host:port`) applying `rules`.
    pub fn start(upstream: &str, rules: Vec<FaultRule>) -> FaultProxy {
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let rules = Arc::new(Mutex::new(rules));
        let (stop2, seen2, upstream) = (stop.clone(), seen.clone(), upstream.to_owned());
        serve(listener, stop.clone(), move |client| {
            let _ = proxy_one(client, &upstream, &rules, &seen2, &stop2);
        });
        FaultProxy {
            address,
            stop,
            seen,
        }
    }

    /// The requests seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Accepts connections on the non-blocking `listener` until `stop` is set, each handled
/// by `handle` on a thread of its own.
pub fn serve(
    listener: TcpListener,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: impl Fn(std::net::TcpStream) + Send + Sync + 'static,
) {
    let handle = std::sync::Arc::new(handle);
    std::thread::spawn(move || {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            match listener.accept() {
                Ok((client, _)) => {
                    let handle = handle.clone();
                    std::thread::spawn(move || handle(client));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
}

/// An HTTP request's head read from `stream` up to its blank line (`None` when the
/// connection closes first).
pub fn read_head(stream: &mut std::net::TcpStream) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}

/// The `Content-Length` of a request head (0 when it has none).
pub fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// `head` as forwarded to an upstream that is to close after answering it: its
/// `Connection` header replaced by `Connection: close`.
pub fn closing(head: &str) -> String {
    let mut forwarded = String::new();
    for line in head.split("\r\n") {
        if line.is_empty() || line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        forwarded.push_str(line);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    forwarded
}

/// Relays one request and its answer between `client` and `upstream`, applying the
/// first rule that matches it.
fn proxy_one(
    mut client: std::net::TcpStream,
    upstream: &str,
    rules: &std::sync::Mutex<Vec<FaultRule>>,
    seen: &std::sync::Mutex<Vec<String>>,
    stop: &std::sync::atomic::AtomicBool,
) -> std::io::Result<()> {
    use std::io::{Read, Write};
    client.set_nonblocking(false)?;
    // The request head, up to the blank line.
    let Some(text) = read_head(&mut client)? else {
        return Ok(());
    };
    let mut first = text.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (
        first.next().unwrap_or("").to_owned(),
        first.next().unwrap_or("").to_owned(),
    );
    let range = text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("range").then(|| v.trim().to_owned())
    });
    seen.lock().unwrap().push(match range {
        Some(r) => format!("{method} {path} range={r}"),
        None => format!("{method} {path}"),
    });
    let fault = {
        let mut rules = rules.lock().unwrap();
        rules
            .iter_mut()
            .find(|r| r.times > 0 && r.method == method && path.contains(r.path.as_str()))
            .map(|r| {
                r.times -= 1;
                r.fault
            })
    };
    match fault {
        Some(Fault::Fail500) => {
            client.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        }
        Some(Fault::Hang) => {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            return Ok(());
        }
        _ => {}
    }
    // One request per connection: the registry closes after answering.
    let forwarded = closing(&text);
    let length = content_length(&text);
    let mut server = std::net::TcpStream::connect(upstream)?;
    server.write_all(forwarded.as_bytes())?;
    // The body, whole or cut.
    let body_limit = match fault {
        Some(Fault::CutRequestAfter(n)) => n.min(length),
        _ => length,
    };
    let mut left = body_limit;
    let mut buf = vec![0u8; 64 << 10];
    while left > 0 {
        let room = left.min(buf.len());
        let n = client.read(&mut buf[..room])?;
        if n == 0 {
            break;
        }
        server.write_all(&buf[..n])?;
        left -= n;
    }
    if matches!(fault, Some(Fault::CutRequestAfter(_))) {
        let _ = client.shutdown(std::net::Shutdown::Both);
        let _ = server.shutdown(std::net::Shutdown::Both);
        return Ok(());
    }
    // The answer, whole or cut.
    let mut relayed = 0usize;
    let cut = match fault {
        Some(Fault::CutAnswerAfter(n)) => Some(n),
        _ => None,
    };
    loop {
        let n = server.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let n = match cut {
            Some(limit) => n.min(limit.saturating_sub(relayed)),
            None => n,
        };
        client.write_all(&buf[..n])?;
        relayed += n;
        if cut.is_some_and(|limit| relayed >= limit) {
            break;
        }
    }
    let _ = client.shutdown(std::net::Shutdown::Both);
    Ok(())
}
