//! Checksums of an artifact, every requested algorithm in one pass over its bytes.

use std::io::{self, Read};

use sha2::Digest;

use crate::CHUNK;

/// A checksum algorithm the checksum post-processor offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgorithm {
    /// Every algorithm, in the order of the enum.
    pub const ALL: [HashAlgorithm; 6] = [
        HashAlgorithm::Md5,
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha224,
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ];

    /// The algorithm's name as a template's `checksum_types` spells it: "md5", "sha1", ...
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Md5 => "md5",
            HashAlgorithm::Sha1 => "sha1",
            HashAlgorithm::Sha224 => "sha224",
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Sha384 => "sha384",
            HashAlgorithm::Sha512 => "sha512",
        }
    }
}

/// One running digest, fed piece by piece (for bytes that arrive as a stream, such as a
/// download).
pub enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// A digest of nothing yet.
    pub fn new(algorithm: HashAlgorithm) -> Self {
        match algorithm {
            HashAlgorithm::Md5 => Hasher::Md5(md5::Md5::new()),
            HashAlgorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashAlgorithm::Sha224 => Hasher::Sha224(sha2::Sha224::new()),
            HashAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            HashAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha224(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest in lower-case hex.
    pub fn finish_hex(self) -> String {
        match self {
            Hasher::Md5(h) => kiln_core::artifact::hex(&h.finalize()),
            Hasher::Sha1(h) => kiln_core::artifact::hex(&h.finalize()),
            Hasher::Sha224(h) => kiln_core::artifact::hex(&h.finalize()),
            Hasher::Sha256(h) => kiln_core::artifact::hex(&h.finalize()),
            Hasher::Sha384(h) => kiln_core::artifact::hex(&h.finalize()),
            Hasher::Sha512(h) => kiln_core::artifact::hex(&h.finalize()),
        }
    }
}

/// Lower-case hex digest of everything read from `r`, one per algorithm, in order; reads in
/// 1 MiB chunks, each chunk fed to every hasher (one pass over the data).
///
/// An algorithm listed twice gets its digest twice. With no algorithms, `r` is still read to
/// its end (so that read errors surface) and the result is empty.
pub fn hash_reader(mut r: impl Read, algorithms: &[HashAlgorithm]) -> io::Result<Vec<String>> {
    let mut hashers: Vec<Hasher> = algorithms.iter().map(|&a| Hasher::new(a)).collect();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for h in &mut hashers {
            h.update(&buf[..n]);
        }
    }
    Ok(hashers.into_iter().map(Hasher::finish_hex).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_known_digests() {
        let got = hash_reader(&b""[..], &[HashAlgorithm::Md5, HashAlgorithm::Sha256]).unwrap();
        assert_eq!(got[0], "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            got[1],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
