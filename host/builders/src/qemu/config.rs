//! The qemu source's options: Packer's names, defaults and checks.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use kiln_communicators::SshConfig;
use kiln_core::config::{decode, duration_opt, FieldError};

/// `boot_wait` as Packer reads it: a negative duration (`"-1s"`) means no wait at all,
/// and zero means unset (Packer's default of 10s).
fn boot_wait<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Secs(f64),
    }
    let negative = |secs: f64| secs < 0.0;
    let wait = match Option::<Raw>::deserialize(d)? {
        None => return Ok(None),
        Some(Raw::Secs(s)) if negative(s) => return Ok(Some(Duration::ZERO)),
        Some(Raw::Secs(s)) => kiln_core::config::duration_from_secs(s),
        Some(Raw::Text(t)) => match t.trim().strip_prefix('-') {
            Some(rest) => {
                kiln_core::config::parse_duration(rest).map_err(serde::de::Error::custom)?;
                return Ok(Some(Duration::ZERO));
            }
            None => kiln_core::config::parse_duration(&t),
        },
    }
    .map_err(serde::de::Error::custom)?;
    Ok((!wait.is_zero()).then_some(wait))
}

/// `disk_size` as written: `"40960M"`, `"20G"` or a number of megabytes.
#[derive(Debug, Clone, Deserialize)]
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
    #[serde(default, deserialize_with = "boot_wait")]
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
    // Packer's options beyond the first ones above.
    #[serde(default)]
    boot_steps: Vec<Vec<String>>,
    #[serde(default, deserialize_with = "duration_opt::deserialize")]
    boot_keygroup_interval: Option<Duration>,
    #[serde(default)]
    floppy_files: Vec<String>,
    #[serde(default)]
    floppy_dirs: Vec<String>,
    #[serde(default)]
    floppy_content: BTreeMap<String, String>,
    floppy_label: Option<String>,
    #[serde(default)]
    cd_files: Vec<String>,
    #[serde(default)]
    cd_content: BTreeMap<String, String>,
    cd_label: Option<String>,
    cdrom_interface: Option<String>,
    sockets: Option<u32>,
    cores: Option<u32>,
    threads: Option<u32>,
    cpu_model: Option<String>,
    #[serde(default)]
    vtpm: bool,
    #[serde(default)]
    use_tpm1: bool,
    tpm_device_type: Option<String>,
    #[serde(default)]
    qemu_img_args: QemuImgArgs,
    iso_target_path: Option<String>,
    iso_target_extension: Option<String>,
    #[serde(default)]
    iso_skip_cache: bool,
    display: Option<String>,
    #[serde(default)]
    use_default_display: bool,
    #[serde(default)]
    disk_additional_size: Vec<Size>,
    firmware: Option<String>,
    #[serde(default)]
    use_pflash: bool,
    #[serde(default)]
    efi_drop_efivars: bool,
    net_bridge: Option<String>,
    #[serde(default)]
    skip_nat_mapping: bool,
    #[serde(default)]
    qmp_enable: bool,
    qmp_socket_path: Option<String>,
    #[serde(default)]
    vnc_use_password: bool,
    #[serde(default)]
    disable_vnc: bool,
    http_network_protocol: Option<String>,
    // Packer's older names of host_port_min/max.
    ssh_host_port_min: Option<u16>,
    ssh_host_port_max: Option<u16>,
}

/// `qemu_img_args`: extra arguments for each `qemu-img` subcommand.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QemuImgArgs {
    #[serde(default)]
    pub(super) create: Vec<String>,
    #[serde(default)]
    pub(super) convert: Vec<String>,
    #[serde(default)]
    pub(super) resize: Vec<String>,
}

/// One line of `boot_command`, or one of `boot_steps` with its description.
#[derive(Debug, Clone)]
pub(super) struct BootStep {
    pub(super) keys: String,
    pub(super) description: Option<String>,
}

/// The virtual TPM (`vtpm`): swtpm's TPM 2.0 (1.2 with `use_tpm1`) on this device.
#[derive(Debug, Clone)]
pub(super) struct Vtpm {
    pub(super) tpm1: bool,
    pub(super) device: String,
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
    /// The format the VM runs on: qcow2 or raw.
    pub(super) format: String,
    /// The artifact's format when it is another hypervisor's (`vmdk`, `vdi`, `vhdx`,
    /// `vpc`): the disk is converted to it once built.
    pub(super) output_format: Option<String>,
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
    pub(super) memory: u32,
    pub(super) net_device: String,
    pub(super) qemuargs: Vec<Vec<String>>,
    pub(super) qemu_binary: String,
    pub(super) efi_firmware_code: Option<PathBuf>,
    pub(super) efi_firmware_vars: Option<PathBuf>,
    pub(super) http_directory: Option<PathBuf>,
    pub(super) http_content: BTreeMap<String, String>,
    pub(super) http_port_min: u16,
    pub(super) http_port_max: u16,
    pub(super) http_bind_address: IpAddr,
    pub(super) boot_command: Vec<BootStep>,
    pub(super) boot_keygroup_interval: Option<Duration>,
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
    pub(super) floppy: super::media::MediaSpec,
    pub(super) cd: super::media::MediaSpec,
    /// The interface of the CD drives (the ISO's and cd_files'); QEMU's default if unset.
    pub(super) cdrom_interface: Option<String>,
    /// `-smp`'s value.
    pub(super) smp: String,
    pub(super) cpu_model: Option<String>,
    pub(super) vtpm: Option<Vtpm>,
    pub(super) qemu_img_args: QemuImgArgs,
    /// Where the fetched ISO is also kept (`iso_target_path`).
    pub(super) iso_target: Option<PathBuf>,
    pub(super) iso_skip_cache: bool,
    /// `-display`'s value; `None` leaves it to QEMU.
    pub(super) display: Option<String>,
    /// More disks, by size (`disk_additional_size`).
    pub(super) additional_disks: Vec<String>,
    /// `firmware`: as `-bios`, or as pflash with `use_pflash`.
    pub(super) firmware: Option<(PathBuf, bool)>,
    pub(super) qmp_socket: Option<PathBuf>,
    /// `disable_vnc`: no VNC even where vnc_* options are set.
    pub(super) disable_vnc: bool,
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
        let c: Config = decode(&crate::ssh::other_communicator_options(config)?)?;
        let extra = Extra::check(&c, cwd, c.efi_boot)?;
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
        let format = one_of(
            "format",
            c.format,
            "qcow2",
            &["qcow2", "raw", "vmdk", "vdi", "vhdx", "vpc"],
        )?;
        // Other hypervisors' formats: the VM runs on qcow2, converted once built.
        let (format, output_format) = match format.as_str() {
            "qcow2" | "raw" => (format, None),
            _ => ("qcow2".to_owned(), Some(format)),
        };
        if c.use_backing_file && !(c.disk_image && format == "qcow2" && output_format.is_none()) {
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
        let http_bind_address = match c.http_bind_address.filter(|a| !a.is_empty()) {
            // Unset or empty: every address, as Packer.
            None => IpAddr::from([0, 0, 0, 0]),
            Some(a) => a.parse().map_err(|_| {
                FieldError::new(
                    "http_bind_address",
                    format!("http_bind_address {a:?} is not an IP address"),
                )
            })?,
        };
        let (host_port_min, host_port_max) = port_range(
            ("host_port_min", c.host_port_min.or(c.ssh_host_port_min)),
            c.host_port_max.or(c.ssh_host_port_max),
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
        let output_directory = cwd.join(
            c.output_directory
                .clone()
                .unwrap_or_else(|| format!("output-{source_name}")),
        );
        let vm_name = c
            .vm_name
            .clone()
            .unwrap_or_else(|| format!("packer-{source_name}"));
        // Packer's default QMP socket: VM_NAME.monitor in the output directory.
        let qmp_default = Some(output_directory.join(format!("{vm_name}.monitor")));
        Ok(QemuBuilder {
            cwd: cwd.to_owned(),
            iso_urls,
            iso_checksum,
            disk_image: c.disk_image,
            use_backing_file: c.use_backing_file,
            disk_size,
            format,
            output_format,
            disk_interface,
            disk_cache,
            disk_discard,
            disk_detect_zeroes,
            disk_compression: c.disk_compression,
            skip_compaction: c.skip_compaction,
            skip_resize_disk: c.skip_resize_disk,
            output_directory,
            vm_name,
            accelerator,
            machine_type: c.machine_type.unwrap_or_else(|| "pc".into()),
            memory: c.memory.unwrap_or(512),
            net_device: c.net_device.unwrap_or_else(|| "virtio-net".into()),
            qemuargs: c.qemuargs,
            qemu_binary: c.qemu_binary.unwrap_or_else(|| "qemu-system-x86_64".into()),
            efi_firmware_code,
            efi_firmware_vars: efi_firmware_vars.filter(|_| !c.efi_drop_efivars),
            http_directory,
            http_content: c.http_content,
            http_port_min,
            http_port_max,
            http_bind_address,
            boot_command: extra.boot_command,
            boot_keygroup_interval: c.boot_keygroup_interval,
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
            floppy: extra.floppy,
            cd: extra.cd,
            cdrom_interface: c.cdrom_interface,
            smp: extra.smp,
            cpu_model: c.cpu_model.filter(|m| !m.is_empty()),
            vtpm: extra.vtpm,
            qemu_img_args: c.qemu_img_args,
            iso_target: extra.iso_target,
            iso_skip_cache: c.iso_skip_cache,
            display: extra.display,
            additional_disks: extra.additional_disks,
            firmware: extra.firmware,
            qmp_socket: extra.qmp_socket.or(qmp_default.filter(|_| c.qmp_enable)),
            disable_vnc: c.disable_vnc,
        })
    }
}

#[path = "config_extra.rs"]
mod extra;
use extra::Extra;

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
