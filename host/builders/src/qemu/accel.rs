//! Choosing the accelerator. `/dev/kvm` existing is not proof that KVM runs guests: on
//! some hosts (nested or paravirtualised hypervisors) it accepts a VM that then never
//! finishes booting. So when the template leaves `accelerator` unset, Kiln boots a tiny
//! guest under KVM first and uses KVM only if that guest finishes its work in time.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// How long the probe guest may take under KVM. It needs about 0.1 s under TCG; a working
/// KVM is faster still.
const PROBE_DEADLINE: Duration = Duration::from_secs(2);

/// The exit status QEMU reports when the probe guest writes 0x2a to the `isa-debug-exit`
/// port: `(0x2a << 1) | 1`.
const PROBE_PASSED: i32 = 85;

/// The probe guest, a boot sector (assembled from the GNU `as` source below, linked at
/// 0x7c00). It does what every Linux kernel does early on and what broken KVM setups
/// fail at: it enters protected mode, builds page tables, enters long mode, jumps to
/// the kernel's virtual address range (the top 2 GiB), runs a 20-million-iteration loop
/// of memory updates, then writes 0x2a to port 0xf4.
///
/// ```text
///   cli; xor %ax,%ax; mov %ax,%ds; lgdt gdtr
///   mov %cr0,%eax; or $1,%eax; mov %eax,%cr0; ljmp $0x08,$pm
/// pm: (32-bit) mov $0x10,%ax; mov %ax,%ds; mov %ax,%ss; mov $0x7c00,%esp
///   clear 0x1000-0x4fff; PML4[0]=0x2003, PDPT[0]=0x3003, PD[0]=0x83 (2 MiB page at 0)
///   PML4[511]=0x4003, PDPT2[510]=0x3003 (0xffffffff80000000 -> 0)
///   cr3=0x1000; cr4|=PAE; EFER|=LME; cr0|=PG; ljmp $0x18,$lm
/// lm: (64-bit) movabs $0xffffffff80000000+high,%rax; jmp *%rax
/// high: mov $20000000,%ecx
/// 1: add %rcx,0x5000; dec %rcx; jnz 1b
///   mov $0x2a,%al; out %al,$0xf4; hlt
/// gdt: null, code32 0x00cf9a000000ffff, data 0x00cf92000000ffff, code64 0x00af9a000000ffff
/// ```
const PROBE_CODE: &[u8] = &[
    0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0x0f, 0x01, 0x16, 0xe0, 0x7c, 0x0f, 0x20, 0xc0, 0x66, 0x83, 0xc8,
    0x01, 0x0f, 0x22, 0xc0, 0xea, 0x19, 0x7c, 0x08, 0x00, 0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd8, 0x8e,
    0xd0, 0xbc, 0x00, 0x7c, 0x00, 0x00, 0xbf, 0x00, 0x10, 0x00, 0x00, 0x31, 0xc0, 0xb9, 0x00, 0x10,
    0x00, 0x00, 0xf3, 0xab, 0xc7, 0x05, 0x00, 0x10, 0x00, 0x00, 0x03, 0x20, 0x00, 0x00, 0xc7, 0x05,
    0x00, 0x20, 0x00, 0x00, 0x03, 0x30, 0x00, 0x00, 0xc7, 0x05, 0x00, 0x30, 0x00, 0x00, 0x83, 0x00,
    0x00, 0x00, 0xc7, 0x05, 0xf8, 0x1f, 0x00, 0x00, 0x03, 0x40, 0x00, 0x00, 0xc7, 0x05, 0xf0, 0x4f,
    0x00, 0x00, 0x03, 0x30, 0x00, 0x00, 0xb8, 0x00, 0x10, 0x00, 0x00, 0x0f, 0x22, 0xd8, 0x0f, 0x20,
    0xe0, 0x83, 0xc8, 0x20, 0x0f, 0x22, 0xe0, 0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32, 0x0d, 0x00,
    0x01, 0x00, 0x00, 0x0f, 0x30, 0x0f, 0x20, 0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0,
    0xea, 0x97, 0x7c, 0x00, 0x00, 0x18, 0x00, 0x48, 0xb8, 0xa3, 0x7c, 0x00, 0x80, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xe0, 0xb9, 0x00, 0x2d, 0x31, 0x01, 0x48, 0x01, 0x0c, 0x25, 0x00, 0x50, 0x00, 0x00,
    0x48, 0xff, 0xc9, 0x75, 0xf3, 0xb0, 0x2a, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd, 0x0f, 0x1f, 0x40, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xcf, 0x00,
    0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0xcf, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xaf, 0x00,
    0x1f, 0x00, 0xc0, 0x7c,
];

/// The probe as a 512-byte boot sector.
fn boot_sector() -> [u8; 512] {
    let mut sector = [0u8; 512];
    sector[..PROBE_CODE.len()].copy_from_slice(PROBE_CODE);
    sector[510] = 0x55;
    sector[511] = 0xaa;
    sector
}

/// What the probe found, said once per run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// `kvm` or `tcg`.
    pub accelerator: &'static str,
    /// Why, for the build's output.
    pub reason: String,
}

static PROBED: LazyLock<Mutex<HashMap<String, Probe>>> = LazyLock::new(Mutex::default);

/// The accelerator for `qemu_binary` when the template sets none: `kvm` if `/dev/kvm`
/// can be opened and runs the probe guest within the deadline, `tcg` otherwise. The
/// answer is remembered for the rest of the run.
pub async fn default_accelerator(qemu_binary: &str) -> Probe {
    if let Some(p) = PROBED.lock().expect("probe cache").get(qemu_binary) {
        return p.clone();
    }
    let probe = run_probe(qemu_binary).await;
    PROBED
        .lock()
        .expect("probe cache")
        .insert(qemu_binary.to_owned(), probe.clone());
    probe
}

async fn run_probe(qemu_binary: &str) -> Probe {
    let tcg = |reason: String| Probe {
        accelerator: "tcg",
        reason,
    };
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return tcg(format!("/dev/kvm is not usable ({e})"));
    }
    let is_x86 = std::path::Path::new(qemu_binary)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with("x86_64") || n.ends_with("i386"));
    if !is_x86 {
        return Probe {
            accelerator: "kvm",
            reason: "/dev/kvm is usable (the probe guest is x86 only)".into(),
        };
    }
    match run_probe_guest(qemu_binary, "kvm", PROBE_DEADLINE).await {
        Ok(took) => Probe {
            accelerator: "kvm",
            reason: format!("KVM ran a test guest in {} ms", took.as_millis()),
        },
        Err(why) => tcg(format!("/dev/kvm exists but {why}")),
    }
}

/// Why the probe guest did not pass. The messages continue "/dev/kvm exists but ...".
#[derive(Debug, thiserror::Error)]
enum ProbeError {
    /// The probe's boot image could not be written to a temporary directory.
    #[error("the probe could not be written ({source})")]
    Image {
        #[source]
        source: std::io::Error,
    },
    /// QEMU did not start.
    #[error("{binary} did not start ({source})")]
    Spawn {
        binary: String,
        #[source]
        source: std::io::Error,
    },
    /// QEMU exited without the probe's "passed" status.
    #[error("a test guest failed under {accelerator} ({status})")]
    Failed {
        accelerator: String,
        status: std::process::ExitStatus,
    },
    /// Waiting for QEMU failed.
    #[error("a test guest failed under {accelerator} ({source})")]
    Wait {
        accelerator: String,
        #[source]
        source: std::io::Error,
    },
    /// The guest did not finish in time (KVM accepts guests it then never runs).
    #[error("a test guest did not finish within {:.1} s under {accelerator}", deadline.as_secs_f64())]
    Timeout {
        accelerator: String,
        deadline: Duration,
    },
}

/// Boots the probe guest under `accel`; how long it took, or why it did not pass.
async fn run_probe_guest(
    qemu_binary: &str,
    accel: &str,
    deadline: Duration,
) -> Result<Duration, ProbeError> {
    let dir = tempfile::Builder::new()
        .prefix("kiln-kvm-probe")
        .tempdir()
        .map_err(|source| ProbeError::Image { source })?;
    let image = dir.path().join("probe.img");
    std::fs::write(&image, boot_sector()).map_err(|source| ProbeError::Image { source })?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(qemu_binary)
        .arg("-machine")
        .arg(format!("pc,accel={accel}"))
        .args([
            "-display",
            "none",
            "-nodefaults",
            "-no-user-config",
            "-m",
            "16",
        ])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .arg("-drive")
        .arg(format!("file={},format=raw,if=ide", image.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ProbeError::Spawn {
            binary: qemu_binary.to_owned(),
            source,
        })?;
    let accelerator = accel.to_owned();
    match tokio::time::timeout(deadline, child.wait()).await {
        Ok(Ok(status)) if status.code() == Some(PROBE_PASSED) => Ok(started.elapsed()),
        Ok(Ok(status)) => Err(ProbeError::Failed {
            accelerator,
            status,
        }),
        Ok(Err(source)) => Err(ProbeError::Wait {
            accelerator,
            source,
        }),
        Err(_) => {
            let _ = child.kill().await;
            Err(ProbeError::Timeout {
                accelerator,
                deadline,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_is_a_boot_sector() {
        let s = boot_sector();
        assert_eq!(&s[510..], &[0x55, 0xaa]);
        assert_eq!(s[0], 0xfa, "starts with cli");
        // The GDT pointer's base is where the GDT starts (0x7cc0, 8-byte aligned).
        assert_eq!(&s[0xe0..0xe6], &[0x1f, 0x00, 0xc0, 0x7c, 0x00, 0x00]);
        assert_eq!(&s[0xc8..0xd0], &0x00cf_9a00_0000_ffffu64.to_le_bytes());
    }

    /// The probe is a working program: under software emulation (which always works)
    /// it reaches its final port write. Needs QEMU (apt-get install qemu-system-x86).
    #[tokio::test]
    async fn the_probe_passes_under_tcg() {
        run_probe_guest("qemu-system-x86_64", "tcg", Duration::from_secs(60))
            .await
            .unwrap();
    }

    /// A guest that cannot finish in time counts as a failure, and QEMU is stopped.
    #[tokio::test]
    async fn a_probe_past_its_deadline_fails() {
        let err = run_probe_guest("qemu-system-x86_64", "tcg", Duration::from_millis(1))
            .await
            .unwrap_err();
        assert!(matches!(err, ProbeError::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("did not finish"), "{err}");
    }
}
