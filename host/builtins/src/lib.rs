//! The builtin components Kiln embeds: provisioners `shell`, `file`, `ansible`,
//! `ansible-local`, `puppet-masterless`, `salt-masterless`; post-processors `checksum`,
//! `compress`, `manifest`, `artifice`, `docker-tag`, `docker-push`, `docker-save`,
//! `docker-import`, `disk-convert`, `vagrant`; `shell-local`, which is both. What each needs of the host it says
//! itself, from its configuration (the `needs` of `wit/plugin.wit`): this crate knows
//! their names and bytes, nothing of their configuration.

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// A kind of step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A provisioner.
    Provisioner,
    /// A post-processor.
    PostProcessor,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Provisioner => "provisioner",
            Kind::PostProcessor => "post-processor",
        }
    }
}

/// The bytes of the builtin `name` when it is a step of `kind`.
pub fn find(kind: Kind, name: &str) -> Option<&'static [u8]> {
    EMBEDDED
        .iter()
        .find(|(n, kinds, _, _)| *n == name && kinds.contains(&kind.name()))
        .map(|(_, _, bytes, _)| *bytes)
}

/// The SHA-256 (lowercase hex) of `bytes` when they are a builtin's own embedded bytes,
/// taken when Kiln was built: those never change, so it need not be taken again.
pub fn digest(bytes: &[u8]) -> Option<&'static str> {
    EMBEDDED
        .iter()
        .find(|(_, _, embedded, _)| std::ptr::eq(*embedded, bytes))
        .map(|(_, _, _, sha256)| *sha256)
}

/// The names of every builtin step of `kind`.
pub fn names(kind: Kind) -> impl Iterator<Item = &'static str> {
    EMBEDDED
        .iter()
        .filter(move |(_, kinds, _, _)| kinds.contains(&kind.name()))
        .map(|(n, _, _, _)| *n)
}

/// The bytes of the builtin provisioner `name`.
pub fn component(name: &str) -> Option<&'static [u8]> {
    find(Kind::Provisioner, name)
}

/// The bytes of the builtin post-processor `name`.
pub fn post_processor(name: &str) -> Option<&'static [u8]> {
    find(Kind::PostProcessor, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_embedded_components() {
        for (name, _, bytes, _) in EMBEDDED {
            // The component-model layer of the binary format: `\0asm`, then version 0x0d, layer 1.
            assert_eq!(&bytes[..4], b"\0asm");
            assert_eq!(
                &bytes[4..8],
                &[0x0d, 0x00, 0x01, 0x00],
                "{name} is not a component"
            );
        }
        let provisioners: Vec<_> = names(Kind::Provisioner).collect();
        let post: Vec<_> = names(Kind::PostProcessor).collect();
        assert_eq!(
            provisioners,
            [
                "shell",
                "file",
                "ansible",
                "ansible-local",
                "puppet-masterless",
                "salt-masterless",
                "shell-local"
            ]
        );
        assert_eq!(
            post,
            [
                "shell-local",
                "checksum",
                "compress",
                "manifest",
                "artifice",
                "docker-tag",
                "docker-push",
                "docker-save",
                "docker-import",
                "disk-convert",
                "vagrant"
            ]
        );
        assert!(component("checksum").is_none());
        assert!(post_processor("shell").is_none());
    }

    /// The digest taken when Kiln was built is each builtin's, and only its own
    /// embedded bytes get it: a copy of them is hashed as any other component is.
    #[test]
    fn each_builtin_carries_its_own_digest() {
        use sha2::{Digest, Sha256};
        for (name, _, bytes, _) in EMBEDDED {
            let hex: String = Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(digest(bytes), Some(hex.as_str()), "{name}");
            let copy = bytes.to_vec();
            assert_eq!(digest(&copy), None, "{name}");
            assert_eq!(digest(&bytes[..bytes.len() - 1]), None, "{name}");
        }
    }
}
