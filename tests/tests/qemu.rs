//! End-to-end: the qemu builder boots a real virtual machine (QEMU, Debian's kernel, an
//! ext4 root with OpenSSH's sshd), provisions it with the shell and file components,
//! shuts it down and leaves a qcow2 whose filesystem shows the provisioning.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kiln_tests::{cache_dir, processes_with, read_from_ext4_image, sha256sum, text, vm_image};

fn kiln_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kiln-under-test"))
}

/// `kiln ARGS` in `dir` with a private temporary directory (to check that nothing is
/// left in it) and the shared compile cache.
fn kiln_command(dir: &Path, tmp: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(kiln_bin());
    c.args(args)
        .current_dir(dir)
        .env("KILN_CACHE_DIR", cache_dir())
        .env("TMPDIR", tmp)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

fn kiln(dir: &Path, tmp: &Path, args: &[&str]) -> Output {
    kiln_command(dir, tmp, args).output().expect("running kiln")
}

/// A qemu source booting the test image's disk with its kernel and initramfs.
/// `extra` is more HCL for the source block; `append` more kernel arguments.
fn qemu_source(name: &str, extra: &str, append: &str) -> String {
    let img = vm_image();
    qemu_source_on(
        name,
        &img.disk,
        &format!("sha256:{}", sha256sum(&img.disk)),
        extra,
        append,
    )
}

/// [`qemu_source`] starting from `disk` (checked with `checksum`) instead of the test
/// VM's own image.
fn qemu_source_on(name: &str, disk: &Path, checksum: &str, extra: &str, append: &str) -> String {
    let img = vm_image();
    format!(
        r#"source "qemu" "{name}" {{
  disk_image           = true
  iso_url              = "{disk}"
  iso_checksum         = "{checksum}"
  output_directory     = "out-{name}"
  vm_name              = "{name}.qcow2"
  headless             = true
  memory               = 512
  qemuargs             = [["-kernel", "{kernel}"], ["-initrd", "{initrd}"], ["-append", "console=ttyS0 quiet {append}"]]
  ssh_username         = "root"
  ssh_private_key_file = "{key}"
  ssh_timeout          = "4m"
  shutdown_command     = "poweroff"
{extra}
}}
"#,
        disk = disk.display(),
        kernel = img.kernel.display(),
        initrd = img.initrd.display(),
        key = img.key.display(),
    )
}

fn entries(dir: &Path) -> Vec<String> {
    kiln_tests::names_in(dir)
}

#[test]
fn boots_provisions_and_leaves_a_qcow2_showing_the_provisioning() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::write(w.join("app.conf"), "listen = 8080\n").unwrap();
    // The test VM has no python: Ansible's raw module, straight to its sshd.
    std::fs::write(
        w.join("raw.yml"),
        "- hosts: default\n  gather_facts: false\n  tasks:\n    - name: write through raw\n      \
         ansible.builtin.raw: echo \"ansible on $(hostname)\" > /etc/ansible-raw\n",
    )
    .unwrap();
    let template = format!(
        r#"{source}
build {{
  sources = ["source.qemu.vm"]
  provisioner "shell" {{
    inline = ["echo provisioned-by-kiln > /etc/kiln-motd", "echo kernel $(uname -r) on $(hostname)"]
  }}
  provisioner "file" {{
    source      = "app.conf"
    destination = "/etc/app.conf"
  }}
  provisioner "ansible" {{
    playbook_file = "raw.yml"
  }}
}}
"#,
        source = qemu_source("vm", "", "")
    );
    std::fs::write(w.join("vm.pkr.hcl"), template).unwrap();
    let out = kiln(w, tmp.path(), &["build", "vm.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "build failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("Using accelerator"), "{stdout}");
    assert!(
        stdout.contains("on kiln-test-vm"),
        "the shell ran in the guest:\n{stdout}"
    );
    assert!(stdout.contains("Gracefully halting"), "{stdout}");

    let image = w.join("out-vm/vm.qcow2");
    let info = kiln_tests::command("qemu-img")
        .args(["info", "--output=json"])
        .arg(&image)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert_eq!(
        info["virtual-size"],
        40960u64 << 20,
        "grown to Packer's default disk_size"
    );
    assert_standalone_and_sound(&image);
    assert_eq!(
        read_from_ext4_image(&image, "/etc/kiln-motd"),
        "provisioned-by-kiln\n"
    );
    assert_eq!(
        read_from_ext4_image(&image, "/etc/app.conf"),
        "listen = 8080\n"
    );
    assert_eq!(
        read_from_ext4_image(&image, "/etc/ansible-raw"),
        "ansible on kiln-test-vm\n"
    );
    // The base image is untouched.
    assert_eq!(read_from_ext4_image(&vm_image().disk, "/etc/kiln-motd"), "");
    assert!(
        stdout.contains(&sha256sum(&image)),
        "the artifact lists the disk's sha256:\n{stdout}"
    );
    assert!(
        processes_with(&image.display().to_string()).is_empty(),
        "QEMU is gone"
    );
    assert_eq!(
        entries(tmp.path()),
        Vec::<String>::new(),
        "no temporary files left"
    );

    // Without -force an existing output directory stops the build before it starts...
    let again = kiln(w, tmp.path(), &["build", "vm.pkr.hcl"]);
    let (so, se) = text(&again);
    assert_eq!(again.status.code(), Some(1));
    assert!(format!("{so}{se}").contains("-force"), "{so}{se}");
    assert!(image.exists(), "the earlier image is kept");
}

#[test]
fn boot_command_types_into_the_guest_which_fetches_from_the_http_server() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::create_dir(w.join("http")).unwrap();
    let token = format!("fetched-over-http-{}", std::process::id());
    std::fs::write(w.join("http/hello.txt"), format!("{token}\n")).unwrap();
    // The guest starts a shell on its first virtual terminal instead of sshd; the boot
    // command fetches the file from Kiln's HTTP server and then starts sshd.
    let extra = r#"  accelerator    = "tcg"
  http_directory = "http"
  boot_wait      = "10s"
  boot_command   = ["wget -O /root/fetched http://{{ .HTTPIP }}:{{ .HTTPPort }}/hello.txt; /usr/sbin/sshd<enter>"]
  boot_key_interval = "20ms""#;
    let template = format!(
        r#"{source}
build {{
  sources = ["source.qemu.typed"]
  provisioner "shell" {{
    inline = ["echo \"guest has: $(cat /root/fetched)\""]
  }}
}}
"#,
        source = qemu_source("typed", extra, "kiln.console")
    );
    std::fs::write(w.join("typed.pkr.hcl"), template).unwrap();
    let out = kiln(w, tmp.path(), &["build", "typed.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "build failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("Typing the boot command"), "{stdout}");
    assert!(stdout.contains(&format!("guest has: {token}")), "{stdout}");
    assert!(w.join("out-typed/typed.qcow2").exists());
}

#[test]
fn sigint_mid_build_stops_qemu_and_removes_the_half_built_disk() {
    interrupt_mid_build("-INT", 130);
}

/// SIGTERM is Ctrl-C: the same cleanup, exit 143.
#[test]
fn sigterm_mid_build_stops_qemu_and_removes_the_half_built_disk() {
    interrupt_mid_build("-TERM", 143);
}

fn interrupt_mid_build(signal: &str, code: i32) {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let w = work.path();
    let template = format!(
        r#"{source}
build {{
  sources = ["source.qemu.stopped"]
  provisioner "shell" {{
    inline = ["echo provisioning-has-started", "sleep 600"]
  }}
}}
"#,
        source = qemu_source("stopped", "", "")
    );
    std::fs::write(w.join("stop.pkr.hcl"), template).unwrap();
    let mut child = kiln_command(w, tmp.path(), &["build", "stop.pkr.hcl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("the provisioner never started:\n{}", seen.join("\n")));
        let started = line.contains("provisioning-has-started");
        seen.push(line);
        if started {
            break;
        }
    }
    let disk = w.join("out-stopped/stopped.qcow2");
    assert!(disk.exists(), "the disk is being built");
    assert!(
        !processes_with(&disk.display().to_string()).is_empty(),
        "QEMU runs"
    );
    let status = kiln_tests::command("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let rest: Vec<String> = rx.try_iter().collect();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let all = format!("{}\n{}\n{stderr}", seen.join("\n"), rest.join("\n"));
    assert_eq!(exit.code(), Some(code), "{all}");
    assert!(
        processes_with(&disk.display().to_string()).is_empty(),
        "QEMU is gone:\n{all}"
    );
    assert!(
        !w.join("out-stopped").exists(),
        "the half-built output is removed:\n{all}"
    );
    assert_eq!(
        entries(tmp.path()),
        Vec::<String>::new(),
        "no temporary files left"
    );
}

/// `busybox httpd` serving `dir` on a free loopback port; stopped on drop.
struct Httpd(std::process::Child, u16);

impl Httpd {
    fn start(dir: &Path) -> Httpd {
        let port = kiln_tests::free_port();
        let child = kiln_tests::command("/bin/busybox")
            .args(["httpd", "-f", "-p", &format!("127.0.0.1:{port}"), "-h"])
            .arg(dir)
            .spawn()
            .expect("starting busybox httpd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "busybox httpd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Httpd(child, port)
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn iso_is_downloaded_verified_cached_and_attached_to_an_empty_disk() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let served = tempfile::tempdir().unwrap();
    let w = work.path();
    // Any bytes make a CD-ROM QEMU attaches; the guest boots the test kernel, which
    // finds no root on the empty disk, and the build (communicator none) halts it.
    let iso: Vec<u8> = (0..2048 * 64).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(served.path().join("install.iso"), &iso).unwrap();
    let sum = sha256sum(&served.path().join("install.iso"));
    std::fs::write(
        served.path().join("SHA256SUMS"),
        format!("{sum}  install.iso\n"),
    )
    .unwrap();
    let httpd = Httpd::start(served.path());
    let img = vm_image();
    let template = format!(
        r#"source "qemu" "iso" {{
  iso_urls         = ["http://127.0.0.1:{port}/mirror-that-is-down/install.iso", "http://127.0.0.1:{port}/install.iso"]
  iso_checksum     = "file:http://127.0.0.1:{port}/SHA256SUMS"
  disk_size        = "64M"
  output_directory = "out-iso"
  communicator     = "none"
  accelerator      = "tcg"
  headless         = true
  qemuargs         = [["-kernel", "{kernel}"], ["-initrd", "{initrd}"], ["-append", "console=ttyS0 quiet"]]
}}
build {{
  sources = ["source.qemu.iso"]
}}
"#,
        port = httpd.1,
        kernel = img.kernel.display(),
        initrd = img.initrd.display(),
    );
    std::fs::write(w.join("iso.pkr.hcl"), template).unwrap();
    let run = |args: &[&str]| {
        let out = kiln_command(w, tmp.path(), args)
            .env("KILN_CACHE_DIR", cache.path())
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "build failed:\n{stdout}\n{stderr}");
        stdout
    };
    let first = run(&["build", "iso.pkr.hcl"]);
    assert!(
        first.contains("mirror-that-is-down/install.iso failed"),
        "the first URL 404s:\n{first}"
    );
    assert!(first.contains("Downloaded"), "{first}");
    let cached: Vec<_> = std::fs::read_dir(cache.path().join("iso"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert_eq!(std::fs::read(&cached[0]).unwrap(), iso);
    let disk = w.join("out-iso/packer-iso");
    let info = kiln_tests::command("qemu-img")
        .args(["info", "--output=json"])
        .arg(&disk)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["virtual-size"], 64u64 << 20);

    // The second build needs no server: the cached ISO verifies against the checksum
    // file... which is gone too, so give the checksum inline this time.
    drop(httpd);
    let t = std::fs::read_to_string(w.join("iso.pkr.hcl")).unwrap();
    let t = t.replace(
        &t[t.find("file:").unwrap()..t.find("/SHA256SUMS").unwrap() + "/SHA256SUMS".len()],
        &format!("sha256:{sum}"),
    );
    std::fs::write(w.join("iso.pkr.hcl"), t).unwrap();
    let second = run(&["build", "-force", "iso.pkr.hcl"]);
    assert!(second.contains("Using the cached copy"), "{second}");
    assert!(
        second.contains("Deleting previous output directory"),
        "{second}"
    );
    assert_eq!(
        entries(tmp.path()),
        Vec::<String>::new(),
        "no temporary files left"
    );
}

/// `communicator = "none"` builds: the VM starts and is stopped at once, which is enough
/// to check what the disk options make of the artifact.
fn quick_build(w: &Path, tmp: &Path, name: &str, options: &str) -> (String, PathBuf) {
    let img = vm_image();
    let template = format!(
        r#"source "qemu" "{name}" {{
  disk_image       = true
  iso_url          = "{disk}"
  iso_checksum     = "none"
  output_directory = "out-{name}"
  communicator     = "none"
  accelerator      = "tcg"
  headless         = true
  qemuargs         = [["-kernel", "{kernel}"], ["-initrd", "{initrd}"], ["-append", "console=ttyS0 quiet"]]
{options}
}}
build {{
  sources = ["source.qemu.{name}"]
}}
"#,
        disk = img.disk.display(),
        kernel = img.kernel.display(),
        initrd = img.initrd.display(),
    );
    std::fs::write(w.join(format!("{name}.pkr.hcl")), template).unwrap();
    let out = kiln(w, tmp, &["build", &format!("{name}.pkr.hcl")]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "build failed:\n{stdout}\n{stderr}");
    (stdout, w.join(format!("out-{name}")))
}

/// The qcow2 at `image` has no backing file and `qemu-img check` finds nothing wrong.
fn assert_standalone_and_sound(image: &Path) {
    let info = image_info(image);
    assert!(
        info.get("backing-filename").is_none(),
        "a standalone image: {info}"
    );
    let check = kiln_tests::command("qemu-img")
        .arg("check")
        .arg(image)
        .output()
        .unwrap();
    assert!(check.status.success(), "qemu-img check: {}", text(&check).0);
}

fn image_info(path: &Path) -> serde_json::Value {
    let out = kiln_tests::command("qemu-img")
        .args(["info", "--output=json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn disk_options_shape_the_artifact() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let w = work.path();

    // An overlay on the base image, left as it is (no compaction of an overlay).
    let (out, dir) = quick_build(
        w,
        tmp.path(),
        "overlay",
        "  use_backing_file = true\n  disk_size = \"1G\"",
    );
    assert!(out.contains("use_backing_file"), "{out}");
    let info = image_info(&dir.join("packer-overlay"));
    assert_eq!(
        info["backing-filename"],
        vm_image().disk.display().to_string()
    );
    assert_eq!(info["virtual-size"], 1u64 << 30);
    assert!(!out.contains("Converting"), "{out}");

    // A raw disk on IDE, booted with UEFI: the variable store lands beside the disk.
    // The firmware Kiln picks by default is Debian's OVMF.
    kiln_tests::tool("/usr/share/OVMF/OVMF_CODE_4M.fd");
    kiln_tests::tool("/usr/share/OVMF/OVMF_VARS_4M.fd");
    let (out, dir) = quick_build(
        w,
        tmp.path(),
        "raw",
        "  format = \"raw\"\n  disk_interface = \"ide\"\n  efi_boot = true\n  skip_resize_disk = true",
    );
    assert_eq!(entries(&dir), vec!["efivars.fd", "packer-raw"]);
    let info = image_info(&dir.join("packer-raw"));
    assert_eq!(info["format"], "raw");
    assert_eq!(
        info["virtual-size"],
        image_info(&vm_image().disk)["virtual-size"]
    );
    assert!(
        out.contains("efivars.fd"),
        "both files are in the artifact:\n{out}"
    );

    // Compressed qcow2: smaller on disk than the plain copy, same filesystem inside.
    let (_, plain) = quick_build(w, tmp.path(), "plain", "  skip_resize_disk = true");
    let (out, packed) = quick_build(
        w,
        tmp.path(),
        "packed",
        "  skip_resize_disk = true\n  disk_compression = true",
    );
    assert!(out.contains("Converting the disk (compressed)"), "{out}");
    let plain_size = std::fs::metadata(plain.join("packer-plain")).unwrap().len();
    let packed_size = std::fs::metadata(packed.join("packer-packed"))
        .unwrap()
        .len();
    assert!(packed_size < plain_size, "{packed_size} < {plain_size}");
    assert_eq!(
        read_from_ext4_image(&packed.join("packer-packed"), "/etc/hostname"),
        "kiln-test-vm\n"
    );
    assert_eq!(
        entries(tmp.path()),
        Vec::<String>::new(),
        "no temporary files left"
    );
}

#[test]
fn a_guest_that_does_not_power_off_is_stopped_after_shutdown_timeout() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let w = work.path();
    let source = qemu_source("stubborn", "", "").replace(
        "shutdown_command     = \"poweroff\"",
        "shutdown_command     = \"echo not today\"\n  shutdown_timeout     = \"3s\"",
    );
    std::fs::write(
        w.join("stubborn.pkr.hcl"),
        format!("{source}\nbuild {{\n  sources = [\"source.qemu.stubborn\"]\n}}\n"),
    )
    .unwrap();
    let out = kiln(w, tmp.path(), &["build", "stubborn.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains("did not power off within shutdown_timeout"),
        "{all}"
    );
    let disk = w.join("out-stubborn/stubborn.qcow2");
    assert!(
        processes_with(&disk.display().to_string()).is_empty(),
        "QEMU is gone"
    );
    assert!(
        !w.join("out-stubborn").exists(),
        "the failed build's output is removed"
    );
    assert_eq!(
        entries(tmp.path()),
        Vec::<String>::new(),
        "no temporary files left"
    );
}

/// A qemu build whose `run` step fails (no such QEMU binary), for -on-error.
fn failing_run_build(w: &Path) {
    let base = w.join("base.qcow2");
    let out = kiln_tests::command("qemu-img")
        .args(["create", "-f", "qcow2"])
        .arg(&base)
        .arg("16M")
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(
        w.join("fail.pkr.hcl"),
        format!(
            r#"source "qemu" "fail" {{
  disk_image       = true
  iso_url          = "{}"
  iso_checksum     = "none"
  output_directory = "out-fail"
  accelerator      = "tcg"
  qemu_binary      = "/nonexistent/qemu-system-x86_64"
  communicator     = "none"
}}
build {{
  sources = ["source.qemu.fail"]
}}
"#,
            base.display()
        ),
    )
    .unwrap();
}

#[test]
fn on_error_decides_after_a_builder_step_fails_too() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let w = work.path();
    failing_run_build(w);

    // cleanup (the default): the half-built output directory goes.
    let out = kiln(w, tmp.path(), &["build", "fail.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("/nonexistent/qemu-system-x86_64"),
        "{stdout}"
    );
    assert!(!w.join("out-fail").exists(), "{stdout}");

    // abort: everything stays for inspection.
    let out = kiln(w, tmp.path(), &["build", "-on-error=abort", "fail.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(w.join("out-fail/packer-fail").exists(), "{stdout}");
    std::fs::remove_dir_all(w.join("out-fail")).unwrap();

    // ask, on a terminal: retry (which fails again), then clean up.
    let command = format!("{} build -on-error=ask fail.pkr.hcl", kiln_bin().display());
    let cache = cache_dir();
    let (code, seen, typed) = kiln_tests::answer_on_a_terminal(
        &command,
        w,
        &[("KILN_CACHE_DIR", &cache), ("TMPDIR", tmp.path())],
        kiln_tests::ASK_PROMPT,
        &["r", "c"],
    );
    let all = seen.join("\n");
    assert_eq!(typed, 2, "both questions were asked:\n{all}");
    assert_eq!(code, Some(1), "{all}");
    assert!(all.contains("Step \"run\" failed"), "{all}");
    assert!(all.contains("Retrying step \"run\""), "{all}");
    assert!(
        !w.join("out-fail").exists(),
        "cleaned up after the answer:\n{all}"
    );
    assert_eq!(
        entries(tmp.path()),
        Vec::<String>::new(),
        "no temporary files left"
    );
}

/// Packer's device options reach a booted guest: the CD made from cd_files and
/// cd_content (read in the guest), the CPU topology and model, an additional disk and
/// the virtual TPM. (The cloud kernel has no floppy driver: the next test reads the
/// floppy with Debian's generic kernel.)
#[test]
fn device_options_reach_the_guest() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::write(w.join("meta-data"), "instance-id: kiln-vm\n").unwrap();
    std::fs::create_dir_all(w.join("extra")).unwrap();
    std::fs::write(w.join("extra/inner.txt"), "inner file\n").unwrap();
    std::fs::write(w.join("preseed.cfg"), "d-i preseed\n").unwrap();
    let extra = r##"  cd_files             = ["meta-data", "extra"]
  cd_content           = { "user-data" = "#cloud-config from kiln" }
  cd_label             = "cidata"
  floppy_files         = ["preseed.cfg"]
  sockets              = 1
  cores                = 2
  threads              = 1
  cpu_model            = "qemu64"
  disk_additional_size = ["64M"]
  vtpm                 = true"##;
    let template = format!(
        r#"{source}
build {{
  sources = ["source.qemu.dev"]
  provisioner "shell" {{
    inline = [
      "kiln-load-media",
      "mkdir -p /tmp/cd",
      "for d in /dev/sr0 /dev/sr1; do mount -t iso9660 -o ro $d /tmp/cd 2>/dev/null && break; done",
      "echo meta=$(cat /tmp/cd/meta-data) user=$(cat /tmp/cd/user-data) inner=$(cat /tmp/cd/extra/inner.txt)",
      "umount /tmp/cd",
      "echo cpus=$(grep -c ^processor /proc/cpuinfo)",
      "echo model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)",
      "test -b /dev/vdb && echo second-disk=yes",
      "test -e /sys/class/tpm/tpm0 && echo tpm=yes",
    ]
  }}
}}
"#,
        source = qemu_source("dev", extra, "")
    );
    std::fs::write(w.join("dev.pkr.hcl"), template).unwrap();
    let out = kiln(w, tmp.path(), &["build", "dev.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "build failed:\n{stdout}\n{stderr}");
    for line in [
        "meta=instance-id: kiln-vm user=#cloud-config from kiln inner=inner file",
        "cpus=2",
        "model= QEMU Virtual CPU",
        "second-disk=yes",
        "tpm=yes",
        "Creating the floppy disk...",
        "Started the virtual TPM (swtpm)",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }
    // The additional disk is part of the artifact; the floppy and CD are not.
    assert_eq!(entries(&w.join("out-dev")), ["dev.qcow2", "dev.qcow2-1"]);
    // Nothing is left behind: no swtpm, no scratch directory.
    assert!(processes_with("swtpm socket").is_empty());
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
}

/// The floppy made from floppy_files, floppy_dirs, floppy_content and floppy_label is
/// read by a guest booted with Debian's generic kernel (which has the floppy driver).
#[test]
fn a_guest_reads_the_floppy() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::write(w.join("preseed.cfg"), "d-i preseed\n").unwrap();
    std::fs::create_dir_all(w.join("scripts")).unwrap();
    std::fs::write(w.join("scripts/setup.sh"), "echo setup\n").unwrap();
    let img = vm_image();
    let generic = format!(
        r#"  floppy_files   = ["*.cfg"]
  floppy_dirs    = ["scripts"]
  floppy_content = {{ "meta/id.txt" = "kiln floppy" }}
  floppy_label   = "SEED"
  qemuargs       = [["-kernel", "{kernel}"], ["-initrd", "{initrd}"], ["-append", "console=ttyS0 quiet"]]"#,
        kernel = img.generic_kernel.display(),
        initrd = img.generic_initrd.display(),
    );
    // The source's own qemuargs (the cloud kernel) give way to these.
    let source = qemu_source("fd", "", "");
    let source = source
        .lines()
        .filter(|l| !l.trim_start().starts_with("qemuargs"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\n}", &format!("\n{generic}\n}}"));
    let template = format!(
        r#"{source}
build {{
  sources = ["source.qemu.fd"]
  provisioner "shell" {{
    inline = [
      "mkdir -p /tmp/fd",
      "mount -t vfat -o ro /dev/fd0 /tmp/fd",
      "echo cfg=$(cat /tmp/fd/preseed.cfg) script=$(cat /tmp/fd/scripts/setup.sh) id=$(cat /tmp/fd/meta/id.txt)",
      "echo label=$(dd if=/dev/fd0 bs=1 skip=43 count=11 2>/dev/null)",
      "umount /tmp/fd",
    ]
  }}
}}
"#
    );
    std::fs::write(w.join("fd.pkr.hcl"), template).unwrap();
    let out = kiln(w, tmp.path(), &["build", "fd.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "build failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("cfg=d-i preseed script=echo setup id=kiln floppy"),
        "{stdout}"
    );
    assert!(stdout.contains("label=SEED"), "the label: {stdout}");
    assert!(!stdout.contains("WARNING"), "{stdout}");
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
}

/// Issue 25: a qemu build that fails at its third provisioner keeps a qcow2 checkpoint
/// after each of the first two (the guest shut down cleanly between steps); once fixed,
/// `-resume` boots the VM from an overlay on the second, runs the third step alone and
/// leaves a standalone qcow2 holding all three steps' files.
#[test]
fn a_failed_qemu_build_resumes_booting_from_its_last_checkpoint() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let w = work.path();
    let cache = w.join("cache");
    std::fs::write(w.join("app.conf"), "listen = 8080\n").unwrap();
    let template = format!(
        r#"variable "fixed" {{
  default = "false"
}}
{source}
build {{
  sources = ["source.qemu.ck"]
  provisioner "shell" {{
    inline = ["echo one > /etc/one", "echo STEP-ONE-RAN"]
  }}
  provisioner "file" {{
    source      = "app.conf"
    destination = "/etc/app.conf"
  }}
  provisioner "shell" {{
    inline = ["test -e /etc/one && test -e /etc/app.conf", "${{var.fixed}} || exit 3", "echo three > /etc/three"]
  }}
}}
"#,
        source = qemu_source("ck", "", "")
    );
    std::fs::write(w.join("ck.pkr.hcl"), template).unwrap();
    let run = |args: &[&str]| {
        let out = kiln_command(w, tmp.path(), args)
            .env("KILN_CACHE_DIR", &cache)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        (out.status.code(), format!("{stdout}{stderr}"))
    };

    let (code, out) = run(&["build", "-checkpoint", "ck.pkr.hcl"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("STEP-ONE-RAN"), "{out}");
    assert_eq!(out.matches("shutting the guest down").count(), 2, "{out}");
    assert!(
        out.contains("Checkpoints are kept up to provisioner 2"),
        "{out}"
    );
    let (_, listed) = run(&["cache", "list"]);
    assert!(listed.contains("2 checkpoint(s)"), "{listed}");
    assert_eq!(listed.matches(" disk ").count(), 2, "{listed}");
    assert!(
        !w.join("out-ck").exists(),
        "the failed build's output is removed"
    );

    let (code, out) = run(&["build", "-resume", "-var", "fixed=true", "ck.pkr.hcl"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("Resuming after provisioner 2 \"file\"")
            && out.contains("the machine boots from it"),
        "{out}"
    );
    assert!(!out.contains("STEP-ONE-RAN"), "step 1 ran again:\n{out}");
    assert!(
        !out.contains("Copying the disk image"),
        "a resumed build copies no base:\n{out}"
    );
    let image = w.join("out-ck/ck.qcow2");
    assert_standalone_and_sound(&image);
    assert_eq!(read_from_ext4_image(&image, "/etc/one"), "one\n");
    assert_eq!(
        read_from_ext4_image(&image, "/etc/app.conf"),
        "listen = 8080\n"
    );
    assert_eq!(read_from_ext4_image(&image, "/etc/three"), "three\n");
    assert!(
        processes_with(&w.display().to_string()).is_empty(),
        "QEMU is gone"
    );
    assert_eq!(
        entries(tmp.path()),
        Vec::<String>::new(),
        "no temporary files left"
    );
}

/// Issue 27 (the first part): `format = "vmdk"`, `"vdi"`, `"vhdx"` or `"vpc"` runs the VM
/// on qcow2 and converts the built disk to that format. A chain of builds, each booting
/// the test VM from the previous build's disk in its format (QEMU's block layer reads it
/// into the new build's qcow2) and adding a file, shows that each format holds what the
/// guest wrote and boots: `qemu-img info` names the format, `qemu-img check` passes where
/// the format has a check, and converted back to raw the disk shows every step's file.
#[test]
fn other_hypervisors_disk_formats_hold_the_build_and_boot_again() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let w = work.path();
    let img = vm_image();
    let mut previous = img.disk.clone();
    let formats = ["vmdk", "vdi", "vhdx", "vpc"];
    for (i, format) in formats.iter().enumerate() {
        let name = format!("fmt{i}");
        let template = format!(
            r#"source "qemu" "{name}" {{
  disk_image           = true
  iso_url              = "{disk}"
  iso_checksum         = "none"
  skip_resize_disk     = true
  format               = "{format}"
  output_directory     = "out-{name}"
  vm_name              = "{name}.{format}"
  headless             = true
  memory               = 512
  qemuargs             = [["-kernel", "{kernel}"], ["-initrd", "{initrd}"], ["-append", "console=ttyS0 quiet"]]
  ssh_username         = "root"
  ssh_private_key_file = "{key}"
  ssh_timeout          = "4m"
  shutdown_command     = "poweroff"
}}
build {{
  sources = ["source.qemu.{name}"]
  provisioner "shell" {{
    inline = ["ls /etc/step-* 2>/dev/null | wc -l", "echo {format} > /etc/step-{i}"]
  }}
}}
"#,
            disk = previous.display(),
            kernel = img.kernel.display(),
            initrd = img.initrd.display(),
            key = img.key.display(),
        );
        std::fs::write(w.join(format!("{name}.pkr.hcl")), template).unwrap();
        let out = kiln(w, tmp.path(), &["build", &format!("{name}.pkr.hcl")]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{format}:\n{stdout}\n{stderr}");
        assert!(
            stdout.contains(&format!("Converting the disk to {format}")),
            "{stdout}"
        );
        // The guest saw the files of every build before it.
        assert!(
            stdout.contains(&format!("{name}: {i}\n")),
            "{format}:\n{stdout}"
        );
        let disk = w.join(format!("out-{name}/{name}.{format}"));
        let info = image_info(&disk);
        assert_eq!(info["format"], *format, "{info}");
        if matches!(*format, "vmdk" | "vdi" | "vhdx") {
            let check = kiln_tests::command("qemu-img")
                .arg("check")
                .arg(&disk)
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "qemu-img check {format}: {}",
                text(&check).0
            );
        }
        for (j, f) in formats.iter().enumerate().take(i + 1) {
            assert_eq!(
                read_from_ext4_image(&disk, &format!("/etc/step-{j}")),
                format!("{f}\n")
            );
        }
        previous = disk;
    }
    assert_eq!(
        entries(tmp.path()),
        Vec::<String>::new(),
        "no temporary files left"
    );
}

/// One qemu build feeds other hypervisors through the `disk-convert` post-processor:
/// its OVA's descriptor describes the machine the build ran (processors, memory, the
/// disk's virtual size), and the OVA's disk, unpacked, boots the test VM again under
/// QEMU with what the first build wrote.
#[test]
fn a_qemu_builds_ova_describes_its_machine_and_its_disk_boots_again() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let w = work.path();
    let img = vm_image();
    // The machine the appliance describes: 2 processors, 640 MiB.
    let source = |name: &str, disk: &Path| {
        qemu_source_on(
            name,
            disk,
            "none",
            "  skip_resize_disk     = true\n  cpus                 = 2",
            "",
        )
        .replace("memory               = 512", "memory               = 640")
    };
    let first = format!(
        "{}build {{\n  sources = [\"source.qemu.appliance\"]\n  provisioner \"shell\" {{\n    inline = [\"echo from-the-first-build > /etc/appliance\"]\n  }}\n  post-processor \"disk-convert\" {{\n    formats = [\"ova\", \"vdi\"]\n    keep_input_artifact = true\n    output  = \"dist/{{{{.BuildName}}}}.{{{{.Extension}}}}\"\n  }}\n  post-processor \"vagrant\" {{\n    output = \"dist/{{{{.Provider}}}}.box\"\n    keep_input_artifact = true\n  }}\n  post-processors {{\n    post-processor \"disk-convert\" {{\n      formats = [\"vhdx\"]\n      keep_input_artifact = true\n      output  = \"dist/hv/{{{{.BuildName}}}}.{{{{.Extension}}}}\"\n    }}\n    post-processor \"vagrant\" {{\n      output = \"dist/{{{{.Provider}}}}.box\"\n    }}\n  }}\n}}\n",
        source("appliance", &img.disk)
    );
    std::fs::write(w.join("first.pkr.hcl"), first).unwrap();
    let out = kiln(w, tmp.path(), &["build", "first.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let built = image_info(&w.join("out-appliance/appliance.qcow2"));
    let unpacked = w.join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let tar = kiln_tests::command("tar")
        .args(["-xf"])
        .arg(w.join("dist/appliance.ova"))
        .current_dir(&unpacked)
        .status()
        .unwrap();
    assert!(tar.success());
    let descriptor = std::fs::read_to_string(unpacked.join("appliance.ovf")).unwrap();
    for needle in [
        format!("ovf:capacity=\"{}\"", built["virtual-size"]),
        "<rasd:ResourceType>3</rasd:ResourceType>\n        <rasd:VirtualQuantity>2</rasd:VirtualQuantity>".to_owned(),
        "<rasd:ResourceType>4</rasd:ResourceType>\n        <rasd:VirtualQuantity>640</rasd:VirtualQuantity>".to_owned(),
    ] {
        assert!(descriptor.contains(&needle), "{needle}\n{descriptor}");
    }
    assert_eq!(image_info(&w.join("dist/appliance.vdi"))["format"], "vdi");
    // The libvirt box of the same build: its qcow2 disk, its size, TCG's driver.
    let read = |name: &str| {
        let out = kiln_tests::command("tar")
            .args(["-xOf"])
            .arg(w.join("dist/libvirt.box"))
            .arg(name)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}");
        out.stdout
    };
    let metadata: serde_json::Value = serde_json::from_slice(&read("metadata.json")).unwrap();
    let gib = built["virtual-size"].as_u64().unwrap().div_ceil(1 << 30);
    assert_eq!(
        metadata,
        serde_json::json!({"provider": "libvirt", "format": "qcow2", "virtual_size": gib})
    );
    let vagrantfile = String::from_utf8(read("Vagrantfile")).unwrap();
    assert!(
        vagrantfile.contains("libvirt.memory = 640") && vagrantfile.contains("libvirt.cpus = 2"),
        "{vagrantfile}"
    );
    assert_eq!(
        &read("box.img")[..4],
        b"QFI\xfb",
        "box.img is the qcow2 disk"
    );
    // The hyperv box made from disk-convert's VHDX describes the same machine: the
    // builder's processors and memory pass through disk-convert.
    let hyperv = kiln_tests::command("tar")
        .args(["-xOf"])
        .arg(w.join("dist/hyperv.box"))
        .arg("Virtual Machines/appliance.xml")
        .output()
        .unwrap();
    assert!(hyperv.status.success());
    let hyperv = String::from_utf8(hyperv.stdout).unwrap();
    for needle in [
        "<count type=\"integer\">2</count>",
        "<size type=\"integer\">640</size>",
        "<subtype type=\"integer\">0</subtype>",
    ] {
        assert!(hyperv.contains(needle), "{needle}\n{hyperv}");
    }
    // The appliance's disk boots again and holds the first build's file.
    let vmdk = unpacked.join("appliance-disk001.vmdk");
    let second = format!(
        "{}build {{\n  sources = [\"source.qemu.again\"]\n  provisioner \"shell\" {{\n    inline = [\"cat /etc/appliance\"]\n  }}\n}}\n",
        source("again", &vmdk)
    );
    std::fs::write(w.join("second.pkr.hcl"), second).unwrap();
    let out = kiln(w, tmp.path(), &["build", "second.pkr.hcl"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("again: from-the-first-build"), "{stdout}");
}
