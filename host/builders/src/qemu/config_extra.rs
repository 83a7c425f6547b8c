//! The qemu source's options beyond the first ones (media, CPU topology, TPM, display,
//! firmware, ...): checked and turned into what the builder runs with.

use std::path::{Path, PathBuf};

use kiln_core::config::FieldError;

use super::{disk_size_text, BootStep, Config, Vtpm};
use crate::qemu::media::MediaSpec;

/// What the options beyond the first ones come to, checked.
pub(super) struct Extra {
    pub(super) boot_command: Vec<BootStep>,
    pub(super) floppy: MediaSpec,
    pub(super) cd: MediaSpec,
    pub(super) smp: String,
    pub(super) vtpm: Option<Vtpm>,
    pub(super) iso_target: Option<PathBuf>,
    pub(super) display: Option<String>,
    pub(super) additional_disks: Vec<String>,
    pub(super) firmware: Option<(PathBuf, bool)>,
    pub(super) qmp_socket: Option<PathBuf>,
}

impl Extra {
    pub(super) fn check(c: &Config, cwd: &Path, efi: bool) -> Result<Self, FieldError> {
        let refuse = |field: &str, why: &str| Err(FieldError::new(field, why.to_owned()));
        if !c.boot_steps.is_empty() && !c.boot_command.is_empty() {
            return refuse(
                "boot_steps",
                "set either boot_command or boot_steps, not both",
            );
        }
        let mut boot_command: Vec<BootStep> = c
            .boot_command
            .iter()
            .map(|k| BootStep {
                keys: k.clone(),
                description: None,
            })
            .collect();
        for step in &c.boot_steps {
            match &step[..] {
                [keys] => boot_command.push(BootStep {
                    keys: keys.clone(),
                    description: None,
                }),
                [keys, description] => boot_command.push(BootStep {
                    keys: keys.clone(),
                    description: Some(description.clone()),
                }),
                _ => {
                    return refuse(
                        "boot_steps",
                        "each boot step is [\"keys\"] or [\"keys\", \"description\"]",
                    )
                }
            }
        }
        if c.net_bridge.is_some() {
            return refuse("net_bridge", "net_bridge is not supported: Kiln reaches the guest through QEMU's user networking (host_port_min..host_port_max); a bridged guest needs qemu-bridge-helper and its address found on the bridge");
        }
        if c.vnc_use_password {
            return refuse("vnc_use_password", "vnc_use_password is not supported: Kiln binds VNC to vnc_bind_address (127.0.0.1 unless set) without a password; use an SSH tunnel to reach it");
        }
        if c.skip_nat_mapping {
            return refuse("skip_nat_mapping", "skip_nat_mapping is not supported: with QEMU's user networking the guest is only reachable through the mapped port");
        }
        if let Some(p) = c
            .http_network_protocol
            .as_deref()
            .filter(|p| !matches!(*p, "tcp" | "tcp4"))
        {
            return Err(FieldError::new("http_network_protocol", format!("http_network_protocol {p:?} is not supported: the HTTP server listens on IPv4 (tcp or tcp4)")));
        }
        let floppy = MediaSpec {
            files: c.floppy_files.clone(),
            dirs: c.floppy_dirs.clone(),
            content: c.floppy_content.clone(),
            label: c.floppy_label.clone(),
        };
        let cd = MediaSpec {
            files: c.cd_files.clone(),
            dirs: vec![],
            content: c.cd_content.clone(),
            label: c.cd_label.clone(),
        };
        // -smp: cpus alone, or with the topology; cpus defaults to what it multiplies to.
        let topology = [
            ("sockets", c.sockets),
            ("cores", c.cores),
            ("threads", c.threads),
        ];
        let smp = if topology.iter().all(|(_, v)| v.is_none()) {
            c.cpus.unwrap_or(1).max(1).to_string()
        } else {
            let product: u32 = topology
                .iter()
                .map(|(_, v)| v.unwrap_or(1).max(1))
                .product();
            let cpus = c.cpus.unwrap_or(product).max(1);
            let mut smp = format!("cpus={cpus}");
            for (name, v) in topology {
                if let Some(v) = v {
                    smp.push_str(&format!(",{name}={v}"));
                }
            }
            smp
        };
        let vtpm = c.vtpm.then(|| Vtpm {
            tpm1: c.use_tpm1,
            device: c
                .tpm_device_type
                .clone()
                .unwrap_or_else(|| "tpm-tis".into()),
        });
        let iso_target = c.iso_target_path.as_ref().map(|p| {
            let path = cwd.join(p);
            if p.ends_with('/') || path.is_dir() {
                // A directory: the file is named after the first URL, with the extension.
                let ext = c.iso_target_extension.as_deref().unwrap_or("iso");
                let url = c
                    .iso_url
                    .clone()
                    .or_else(|| c.iso_urls.first().cloned())
                    .unwrap_or_default();
                let stem = url
                    .rsplit('/')
                    .next()
                    .unwrap_or("image")
                    .split('.')
                    .next()
                    .unwrap_or("image")
                    .to_owned();
                path.join(format!("{stem}.{ext}"))
            } else {
                path
            }
        });
        let display = if c.headless {
            Some("none".to_owned())
        } else if c.use_default_display {
            None
        } else {
            match c.display.as_deref() {
                // "none" in Packer's display means: do not pass -display at all.
                Some("none") => None,
                Some(d) => Some(d.to_owned()),
                None => {
                    let has_display = std::env::var_os("DISPLAY").is_some()
                        || std::env::var_os("WAYLAND_DISPLAY").is_some();
                    (!has_display).then(|| "none".to_owned())
                }
            }
        };
        let additional_disks = c
            .disk_additional_size
            .iter()
            .map(|s| {
                disk_size_text(s.clone()).ok_or_else(|| {
                    FieldError::new(
                        "disk_additional_size",
                        "each size is a number of megabytes or a size such as \"10G\"",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let firmware = match &c.firmware {
            Some(_) if efi => {
                return refuse("firmware", "set either firmware or efi_boot, not both")
            }
            Some(f) => {
                let path = cwd.join(f);
                if !path.is_file() {
                    return Err(FieldError::new(
                        "firmware",
                        format!("{} does not exist", path.display()),
                    ));
                }
                Some((path, c.use_pflash))
            }
            None => None,
        };
        // With qmp_enable alone, the builder puts it beside the disk (VM_NAME.monitor).
        let qmp_socket = c.qmp_socket_path.as_ref().map(|p| cwd.join(p));
        Ok(Extra {
            boot_command,
            floppy,
            cd,
            smp,
            vtpm,
            iso_target,
            display,
            additional_disks,
            firmware,
            qmp_socket,
        })
    }
}
