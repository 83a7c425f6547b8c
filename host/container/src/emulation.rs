//! Containers of another architecture. The kernel runs a foreign program through the
//! emulator registered for its ELF machine with `binfmt_misc` (Debian's
//! `qemu-user-static` registers QEMU's user-mode emulators); registered with the `F`
//! flag, the emulator was opened at registration and works inside the container's root,
//! where its file is not.

use std::path::Path;

/// Where the kernel lists its `binfmt_misc` entries.
pub const BINFMT_MISC: &str = "/proc/sys/fs/binfmt_misc";

/// How this host runs the programs of an image of some architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runs {
    /// The processor runs them.
    Natively,
    /// The kernel hands them to this emulator.
    Through(String),
    /// They cannot run here; why, and what to do.
    Not(String),
}

/// The ELF class (1: 32-bit, 2: 64-bit), byte order (1: little, 2: big endian) and
/// machine number of an architecture as Docker names it.
fn elf_id(arch: &str) -> Option<(u8, u8, u16)> {
    Some(match arch {
        "amd64" => (2, 1, 62),
        "386" => (1, 1, 3),
        "arm64" => (2, 1, 183),
        "arm" => (1, 1, 40),
        "ppc64le" => (2, 1, 21),
        "s390x" => (2, 2, 22),
        "riscv64" => (2, 1, 243),
        "mips64le" => (2, 1, 8),
        "loong64" => (2, 1, 258),
        _ => return None,
    })
}

/// How programs for `arch` (Docker's name) run on this host, from the kernel's
/// `binfmt_misc` entries in `binfmt` (normally [`BINFMT_MISC`]).
pub fn how_runs(arch: &str, host_arch: &str, binfmt: &Path) -> Runs {
    // An x86-64 kernel runs 32-bit x86 programs itself, as Docker relies on.
    if arch == host_arch || (host_arch == "amd64" && arch == "386") {
        return Runs::Natively;
    }
    let install = "register one with binfmt_misc (on Debian: apt-get install \
                   qemu-user-static binfmt-support)";
    let Some((class, order, machine)) = elf_id(arch) else {
        return Runs::Not(format!(
            "Kiln does not know the programs of architecture {arch:?}"
        ));
    };
    let Ok(entries) = std::fs::read_dir(binfmt) else {
        return Runs::Not(format!(
            "{} is not mounted, so no emulator for {arch} is registered; {install}",
            binfmt.display()
        ));
    };
    let mut without_f = None;
    let mut names: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    names.sort();
    for path in names {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Some(entry) = Entry::parse(&text) else {
            continue;
        };
        if !entry.enabled || !entry.matches(class, order, machine) {
            continue;
        }
        if entry.fix_binary {
            return Runs::Through(entry.interpreter);
        }
        without_f = Some(entry.interpreter);
    }
    match without_f {
        Some(interp) => Runs::Not(format!(
            "the emulator {interp} registered for {arch} lacks binfmt_misc's F flag, so the \
             container cannot reach it inside its own root; register it with the F flag \
             (Debian's qemu-user-static does)"
        )),
        None => Runs::Not(format!("no emulator for {arch} is registered; {install}")),
    }
}

/// One `binfmt_misc` entry, as the kernel prints it.
struct Entry {
    enabled: bool,
    interpreter: String,
    fix_binary: bool,
    offset: usize,
    magic: Vec<u8>,
    mask: Vec<u8>,
}

impl Entry {
    fn parse(text: &str) -> Option<Entry> {
        let mut e = Entry {
            enabled: false,
            interpreter: String::new(),
            fix_binary: false,
            offset: 0,
            magic: Vec::new(),
            mask: Vec::new(),
        };
        for line in text.lines() {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "enabled" => e.enabled = true,
                "interpreter" => e.interpreter = value.to_owned(),
                "flags:" => e.fix_binary = value.contains('F'),
                "offset" => e.offset = value.parse().ok()?,
                "magic" => e.magic = hex(value)?,
                "mask" => e.mask = hex(value)?,
                _ => {}
            }
        }
        // Extension entries (`.jar`) have no magic: they never match an ELF file.
        (!e.magic.is_empty()).then_some(e)
    }

    /// Whether an ELF header of this class, byte order and machine passes the entry's
    /// magic under its mask.
    fn matches(&self, class: u8, order: u8, machine: u16) -> bool {
        let mut header = [0u8; 20];
        header[..4].copy_from_slice(b"\x7fELF");
        header[4] = class;
        header[5] = order;
        let m = if order == 2 {
            machine.to_be_bytes()
        } else {
            machine.to_le_bytes()
        };
        header[18..20].copy_from_slice(&m);
        // Only the bytes that tell machines apart are compared; the rest of a real
        // header (version, type) is what any entry for Linux programs expects.
        [0usize, 1, 2, 3, 4, 5, 18, 19].iter().all(|&i| {
            let Some(at) = i.checked_sub(self.offset) else {
                return true;
            };
            match self.magic.get(at) {
                None => true,
                Some(&want) => {
                    let mask = self.mask.get(at).copied().unwrap_or(0xff);
                    header[i] & mask == want & mask
                }
            }
        })
    }
}

fn hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries as Debian's qemu-user-static and binfmt-support register them.
    const AARCH64: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n\
        flags: PF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\n\
        mask ffffffffffffff00fffffffffffffffffeffffff\n";
    const S390X: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/s390x-binfmt-P\n\
        flags: PF\noffset 0\nmagic 7f454c4602020100000000000000000000020016\n\
        mask ffffffffffffff00fffffffffffffffffffeffff\n";
    const JAR: &str = "enabled\ninterpreter /usr/bin/jexec\nflags: \nextension .jar\n";

    fn dir(entries: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("register"), "").unwrap();
        std::fs::write(d.path().join("status"), "enabled\n").unwrap();
        for (name, text) in entries {
            std::fs::write(d.path().join(name), text).unwrap();
        }
        d
    }

    #[test]
    fn the_host_and_32_bit_x86_run_natively() {
        let none = Path::new("/nonexistent");
        assert_eq!(how_runs("amd64", "amd64", none), Runs::Natively);
        assert_eq!(how_runs("386", "amd64", none), Runs::Natively);
        assert!(
            matches!(how_runs("arm64", "amd64", none), Runs::Not(w) if w.contains("not mounted"))
        );
    }

    #[test]
    fn a_registered_emulator_is_found_by_its_elf_machine() {
        let d = dir(&[
            ("jar", JAR),
            ("qemu-aarch64", AARCH64),
            ("qemu-s390x", S390X),
        ]);
        let aarch64 = "/usr/libexec/qemu-binfmt/aarch64-binfmt-P".to_string();
        assert_eq!(how_runs("arm64", "amd64", d.path()), Runs::Through(aarch64));
        assert!(
            matches!(how_runs("s390x", "amd64", d.path()), Runs::Through(i) if i.contains("s390x"))
        );
        match how_runs("riscv64", "amd64", d.path()) {
            Runs::Not(why) => assert!(why.contains("qemu-user-static"), "{why}"),
            other => panic!("{other:?}"),
        }
        match how_runs("sparc", "amd64", d.path()) {
            Runs::Not(why) => assert!(why.contains("does not know"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_disabled_entry_or_one_without_the_f_flag_does_not_serve() {
        let disabled = AARCH64.replacen("enabled", "disabled", 1);
        let d = dir(&[("qemu-aarch64", &disabled)]);
        assert!(
            matches!(how_runs("arm64", "amd64", d.path()), Runs::Not(w) if w.contains("no emulator"))
        );
        let no_f = AARCH64.replace("flags: PF", "flags: P");
        let d = dir(&[("qemu-aarch64", &no_f)]);
        assert!(
            matches!(how_runs("arm64", "amd64", d.path()), Runs::Not(w) if w.contains("F flag"))
        );
    }
}
