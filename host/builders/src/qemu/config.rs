//! The qemu source's options: Packer's names, defaults and checks.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use kiln_communicators::SshConfig;
use kiln_core::config::{decode, duration_opt, FieldError};

/// `disk_size` as written: `"40960M"`, `"20G"` or a number of megabytes.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Size {
    Number(u64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    iso_url: Option<String>,
    #[serde(default)]
    iso_urls: Vec<String>,
    iso_checksum: Option<String>,
    #[serde(default)]
    disk_image: bool,
    #[serde(default)]
    use_backing_file: bool,
    disk_size: Option<Size>,
    format: Option<String>,
    disk_interface: Option<String>,
    disk_cache: Option<String>,
    disk_discard: Option<String>,
    disk_detect_zeroes: Option<String>,
    #[serde(default)]
    disk_compression: bool,
    #[serde(default)]
    skip_compaction: bool,
    #[serde(default)]
    skip_resize_disk: bool,
    output_directory: Option<String>,
    vm_name: Option<String>,
    accelerator: Option<String>,
    machine_type: Option<String>,
    cpus: Option<u32>,
    memory: Option<u32>,
    net_device: Option<String>,
    #[serde(default)]
    qemuargs: Vec<Vec<String>>,
    qemu_binary: Option<String>,
    #[serde(default)]
    headless: bool,
    #[serde(default)]
    efi_boot: bool,
    efi_firmware_code: Option<String>,
    efi_firmware_vars: Option<String>,
    http_directory: Option<String>,
    #[serde(default)]
    http_content: BTreeMap<String, String>,
    http_port_min: Option<u16>,
    http_port_max: Option<u16>,
    http_bind_address: Option<String>,
    #[serde(default)]
    boot_command: Vec<String>,
    #[serde(default, deserialize_with = "duration_opt::deserialize")]
    boot_wait: Option<Duration>,
    #[serde(default, deserialize_with = "duration_opt::deserialize")]
    boot_key_interval: Option<Duration>,
    host_port_min: Option<u16>,
    host_port_max: Option<u16>,
    vnc_bind_address: Option<String>,
    vnc_port_min: Option<u16>,
    vnc_port_max: Option<u16>,
    communicator: Option<String>,
    ssh_host: Option<String>,
    ssh_port: Option<u16>,
    ssh_username: Option<String>,
    ssh_password: Option<String>,
    ssh_private_key_file: Option<String>,
    #[serde(default, deserialize_with = "duration_opt::deserialize")]
    ssh_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration_opt::deserialize")]
    ssh_wait_timeout: Option<Duration>,
    ssh_handshake_attempts: Option<u32>,
    #[serde(default, deserialize_with = "duration_opt::deserialize")]
    pause_before_connecting: Option<Duration>,
    shutdown_command: Option<String>,
    #[serde(default, deserialize_with = "duration_opt::deserialize")]
    shutdown_timeout: Option<Duration>,
}

/// The configured `qemu` builder.
#[derive(Debug)]
pub struct QemuBuilder {
    pub(super) cwd: PathBuf,
    pub(super) iso_urls: Vec<String>,
    pub(super) iso_checksum: String,
    pub(super) disk_image: bool,
    pub(super) use_backing_file: bool,
    /// As given to `qemu-img` (`40960M`); `None` when the template leaves it unset.
    pub(super) disk_size: Option<String>,
    pub(super) format: String,
    pub(super) disk_interface: String,
    pub(super) disk_cache: String,
    pub(super) disk_discard: String,
    pub(super) disk_detect_zeroes: String,
    pub(super) disk_compression: bool,
    pub(super) skip_compaction: bool,
    pub(super) skip_resize_disk: bool,
    pub(super) output_directory: PathBuf,
    pub(super) vm_name: String,
    /// `None`: probe (see [`super::accel`]).
    pub(super) accelerator: Option<String>,
    pub(super) machine_type: String,
    pub(super) cpus: u32,
    pub(super) memory: u32,
    pub(super) net_device: String,
    pub(super) qemuargs: Vec<Vec<String>>,
    pub(super) qemu_binary: String,
    pub(super) headless: bool,
    pub(super) efi_firmware_code: Option<PathBuf>,
    pub(super) efi_firmware_vars: Option<PathBuf>,
    pub(super) http_directory: Option<PathBuf>,
    pub(super) http_content: BTreeMap<String, String>,
    pub(super) http_port_min: u16,
    pub(super) http_port_max: u16,
    pub(super) http_bind_address: IpAddr,
    pub(super) boot_command: Vec<String>,
    pub(super) boot_wait: Duration,
    pub(super) boot_key_interval: Duration,
    pub(super) host_port_min: u16,
    pub(super) host_port_max: u16,
    pub(super) vnc_bind_address: Option<String>,
    pub(super) vnc_port_min: Option<u16>,
    pub(super) vnc_port_max: Option<u16>,
    pub(super) ssh: Option<SshConfig>,
    /// The guest's SSH port, forwarded from `127.0.0.1:<host port>`.
    pub(super) guest_ssh_port: u16,
    pub(super) pause_before_connecting: Duration,
    pub(super) shutdown_command: Option<String>,
    pub(super) shutdown_timeout: Duration,
}

fn one_of(
    field: &str,
    value: Option<String>,
    default: &str,
    allowed: &[&str],
) -> Result<String, FieldError> {
    let v = value.unwrap_or_else(|| default.to_owned());
    if allowed.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(FieldError::new(
            field,
            format!(
                "{field} {v:?} is not supported; use one of: {}",
                allowed.join(", ")
            ),
        ))
    }
}

fn port_range(
    (min_field, min): (&str, Option<u16>),
    max: Option<u16>,
    defaults: (u16, u16),
) -> Result<(u16, u16), FieldError> {
    let (lo, hi) = (min.unwrap_or(defaults.0), max.unwrap_or(defaults.1));
    if lo > hi || lo == 0 {
        return Err(FieldError::new(
            min_field,
            format!("{min_field} ({lo}) must be at least 1 and not above the matching _max ({hi})"),
        ));
    }
    Ok((lo, hi))
}

/// `40960M` for 40960, `20G` for "20G"; `None` for text qemu-img would not take.
fn disk_size_text(size: Size) -> Option<String> {
    match size {
        Size::Number(mb) => Some(format!("{mb}M")),
        Size::Text(t) => {
            let t = t.trim();
            let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            let unit = &t[digits.len()..];
            let n: u64 = digits.parse().ok()?;
            match unit.to_ascii_uppercase().as_str() {
                "" => Some(format!("{n}M")),
                "K" | "M" | "G" | "T" => Some(format!("{n}{}", unit.to_ascii_uppercase())),
                "KB" | "MB" | "GB" | "TB" | "KIB" | "MIB" | "GIB" | "TIB" => {
                    Some(format!("{n}{}", &unit[..1].to_ascii_uppercase()))
                }
                _ => None,
            }
        }
    }
}

fn first_existing(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

impl QemuBuilder {
    /// Checks and keeps the source's configuration. Relative paths resolve against
    /// `cwd`; `source_name` names the default output directory and VM.
    pub fn new(
        config: &serde_json::Map<String, serde_json::Value>,
        cwd: &Path,
        source_name: &str,
    ) -> Result<Self, FieldError> {
        let c: Config = decode(config)?;
        let mut iso_urls = c.iso_urls;
        if let Some(u) = c.iso_url {
            if !iso_urls.is_empty() {
                return Err(FieldError::new(
                    "iso_url",
                    "set either iso_url or iso_urls, not both",
                ));
            }
            iso_urls.push(u);
        }
        if iso_urls.is_empty() {
            return Err(FieldError::new(
                "iso_url",
                "one of iso_url or iso_urls must be specified (with disk_image = true, the disk image to start from)",
            ));
        }
        let iso_checksum = c.iso_checksum.filter(|s| !s.is_empty()).ok_or_else(|| {
            FieldError::new(
                "iso_checksum",
                "iso_checksum must be specified: \"sha256:<hex>\", \"file:<url of a SHA256SUMS file>\", or \"none\" to skip the check",
            )
        })?;
        let format = one_of("format", c.format, "qcow2", &["qcow2", "raw"])?;
        if c.use_backing_file && !(c.disk_image && format == "qcow2") {
            return Err(FieldError::new(
                "use_backing_file",
                "use_backing_file needs disk_image = true and format = \"qcow2\"",
            ));
        }
        let disk_size = match c.disk_size {
            None => None,
            Some(s) => Some(disk_size_text(s).ok_or_else(|| {
                FieldError::new(
                    "disk_size",
                    "disk_size must be a number of megabytes or a size such as \"40960M\" or \"20G\"",
                )
            })?),
        };
        let disk_interface = one_of(
            "disk_interface",
            c.disk_interface,
            "virtio",
            &[
                "virtio",
                "ide",
                "sata",
                "scsi",
                "virtio-scsi",
                "floppy",
                "pflash",
                "sd",
                "mtd",
            ],
        )?;
        let disk_cache = one_of(
            "disk_cache",
            c.disk_cache,
            "writeback",
            &["writethrough", "writeback", "none", "unsafe", "directsync"],
        )?;
        let disk_discard = one_of(
            "disk_discard",
            c.disk_discard,
            "ignore",
            &["unmap", "ignore"],
        )?;
        let disk_detect_zeroes = one_of(
            "disk_detect_zeroes",
            c.disk_detect_zeroes,
            "off",
            &["off", "on", "unmap"],
        )?;
        let accelerator = match c.accelerator {
            None => None,
            Some(a) => Some(one_of(
                "accelerator",
                Some(a),
                "",
                &["kvm", "tcg", "none", "hvf", "whpx", "xen"],
            )?),
        };
        if c.http_directory.is_some() && !c.http_content.is_empty() {
            return Err(FieldError::new(
                "http_content",
                "set either http_directory or http_content, not both",
            ));
        }
        let http_directory = c.http_directory.map(|d| cwd.join(d));
        if let Some(d) = &http_directory {
            if !d.is_dir() {
                return Err(FieldError::new(
                    "http_directory",
                    format!("http_directory {} is not a directory", d.display()),
                ));
            }
        }
        let (http_port_min, http_port_max) = port_range(
            ("http_port_min", c.http_port_min),
            c.http_port_max,
            (8000, 9000),
        )?;
        let http_bind_address = match c.http_bind_address {
            None => IpAddr::from([0, 0, 0, 0]),
            Some(a) => a.parse().map_err(|_| {
                FieldError::new(
                    "http_bind_address",
                    format!("http_bind_address {a:?} is not an IP address"),
                )
            })?,
        };
        let (host_port_min, host_port_max) = port_range(
            ("host_port_min", c.host_port_min),
            c.host_port_max,
            (2222, 4444),
        )?;
        if let (Some(lo), Some(hi)) = (c.vnc_port_min, c.vnc_port_max) {
            port_range(("vnc_port_min", Some(lo)), Some(hi), (lo, hi))?;
        }
        let (efi_firmware_code, efi_firmware_vars) = if c.efi_boot {
            let code = match c.efi_firmware_code {
                Some(p) => cwd.join(p),
                None => first_existing(&["/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_CODE.fd"])
                    .ok_or_else(|| FieldError::new(
                        "efi_firmware_code",
                        "efi_boot needs UEFI firmware: install Debian's ovmf package or set efi_firmware_code and efi_firmware_vars",
                    ))?,
            };
            let vars = match c.efi_firmware_vars {
                Some(p) => cwd.join(p),
                None => first_existing(&["/usr/share/OVMF/OVMF_VARS_4M.fd", "/usr/share/OVMF/OVMF_VARS.fd"])
                    .ok_or_else(|| FieldError::new(
                        "efi_firmware_vars",
                        "efi_boot needs a UEFI variable store: install Debian's ovmf package or set efi_firmware_vars",
                    ))?,
            };
            for (field, p) in [("efi_firmware_code", &code), ("efi_firmware_vars", &vars)] {
                if !p.is_file() {
                    return Err(FieldError::new(
                        field,
                        format!("{} does not exist", p.display()),
                    ));
                }
            }
            (Some(code), Some(vars))
        } else {
            (None, None)
        };
        // The SSH port given is the guest's; Kiln connects to the forwarded host port.
        let ssh = crate::ssh::SshOptions {
            communicator: c.communicator,
            host: c.ssh_host,
            port: None,
            username: c.ssh_username,
            password: c.ssh_password,
            private_key_file: c.ssh_private_key_file,
            timeout: c.ssh_timeout.or(c.ssh_wait_timeout),
            handshake_attempts: c.ssh_handshake_attempts,
        }
        .resolve(cwd, "qemu", Some("127.0.0.1"))?;
        Ok(QemuBuilder {
            cwd: cwd.to_owned(),
            iso_urls,
            iso_checksum,
            disk_image: c.disk_image,
            use_backing_file: c.use_backing_file,
            disk_size,
            format,
            disk_interface,
            disk_cache,
            disk_discard,
            disk_detect_zeroes,
            disk_compression: c.disk_compression,
            skip_compaction: c.skip_compaction,
            skip_resize_disk: c.skip_resize_disk,
            output_directory: cwd.join(
                c.output_directory
                    .unwrap_or_else(|| format!("output-{source_name}")),
            ),
            vm_name: c.vm_name.unwrap_or_else(|| format!("packer-{source_name}")),
            accelerator,
            machine_type: c.machine_type.unwrap_or_else(|| "pc".into()),
            cpus: c.cpus.unwrap_or(1).max(1),
            memory: c.memory.unwrap_or(512),
            net_device: c.net_device.unwrap_or_else(|| "virtio-net".into()),
            qemuargs: c.qemuargs,
            qemu_binary: c.qemu_binary.unwrap_or_else(|| "qemu-system-x86_64".into()),
            headless: c.headless,
            efi_firmware_code,
            efi_firmware_vars,
            http_directory,
            http_content: c.http_content,
            http_port_min,
            http_port_max,
            http_bind_address,
            boot_command: c.boot_command,
            boot_wait: c.boot_wait.unwrap_or(Duration::from_secs(10)),
            boot_key_interval: c.boot_key_interval.unwrap_or(Duration::from_millis(100)),
            host_port_min,
            host_port_max,
            vnc_bind_address: c.vnc_bind_address,
            vnc_port_min: c.vnc_port_min,
            vnc_port_max: c.vnc_port_max,
            ssh,
            guest_ssh_port: c.ssh_port.unwrap_or(22),
            pause_before_connecting: c.pause_before_connecting.unwrap_or_default(),
            shutdown_command: c.shutdown_command.filter(|s| !s.is_empty()),
            shutdown_timeout: c.shutdown_timeout.unwrap_or(Duration::from_secs(300)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(json: serde_json::Value) -> Result<QemuBuilder, FieldError> {
        let serde_json::Value::Object(map) = json else {
            unreachable!()
        };
        QemuBuilder::new(&map, Path::new("/work"), "img")
    }

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "iso_url": "http://example.invalid/x.iso",
            "iso_checksum": "none",
            "ssh_username": "root",
            "ssh_password": "pw",
        })
    }

    #[test]
    fn packer_defaults() {
        let b = build(minimal()).unwrap();
        assert_eq!(b.format, "qcow2");
        assert_eq!(b.vm_name, "packer-img");
        assert_eq!(b.output_directory, Path::new("/work/output-img"));
        assert_eq!(b.disk_interface, "virtio");
        assert_eq!(b.disk_cache, "writeback");
        assert_eq!(b.disk_discard, "ignore");
        assert_eq!(b.machine_type, "pc");
        assert_eq!((b.cpus, b.memory), (1, 512));
        assert_eq!(b.net_device, "virtio-net");
        assert_eq!((b.host_port_min, b.host_port_max), (2222, 4444));
        assert_eq!((b.http_port_min, b.http_port_max), (8000, 9000));
        assert_eq!(b.boot_wait, Duration::from_secs(10));
        assert_eq!(b.boot_key_interval, Duration::from_millis(100));
        assert_eq!(b.shutdown_timeout, Duration::from_secs(300));
        assert_eq!(b.accelerator, None, "unset: probed at build time");
        assert_eq!(b.ssh.as_ref().unwrap().host, "127.0.0.1");
        assert_eq!(b.guest_ssh_port, 22);
    }

    #[test]
    fn disk_sizes() {
        assert_eq!(
            disk_size_text(Size::Number(40960)).as_deref(),
            Some("40960M")
        );
        assert_eq!(
            disk_size_text(Size::Text("20G".into())).as_deref(),
            Some("20G")
        );
        assert_eq!(
            disk_size_text(Size::Text("512".into())).as_deref(),
            Some("512M")
        );
        assert_eq!(
            disk_size_text(Size::Text("10GB".into())).as_deref(),
            Some("10G")
        );
        assert_eq!(disk_size_text(Size::Text("big".into())), None);
    }

    #[test]
    fn bad_options_name_the_field() {
        let cases = [
            (serde_json::json!({"format": "vmdk"}), "format"),
            (serde_json::json!({"accelerator": "fast"}), "accelerator"),
            (serde_json::json!({"disk_size": "lots"}), "disk_size"),
            (
                serde_json::json!({"use_backing_file": true}),
                "use_backing_file",
            ),
            (serde_json::json!({"iso_checksum": null}), "iso_checksum"),
            (
                serde_json::json!({"host_port_min": 5000, "host_port_max": 4000}),
                "host_port_min",
            ),
            (serde_json::json!({"communicator": "winrm"}), "communicator"),
            (
                serde_json::json!({"http_content": {"/a": "b"}, "http_directory": "."}),
                "http_content",
            ),
        ];
        for (patch, field) in cases {
            let mut j = minimal();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    j.as_object_mut().unwrap().remove(k);
                } else {
                    j[k] = v.clone();
                }
            }
            let err = build(j).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{err:?}");
        }
        let err = build(
            serde_json::json!({"iso_checksum": "none", "ssh_username": "u", "ssh_password": "p"}),
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("iso_url"));
    }
}
