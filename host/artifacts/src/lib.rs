//! The host-side streaming work behind Kiln's post-processors: the checksums of the
//! `checksum` post-processor and the archives and compressed streams of the `compress`
//! post-processor.
//!
//! The post-processor components call into the host for this so that a multi-GiB artifact is
//! read once, in 1 MiB chunks, at native speed, and memory stays bounded whatever its size:
//! nothing here holds a whole file, only fixed-size buffers and the compressor's own state.

mod archive;
mod hash;

pub use archive::{
    too_large, write_archive, write_archive_reporting, ArchiveFormat, Entry, Source, TooLarge,
    Written,
};
pub use hash::{hash_reader, HashAlgorithm, Hasher};

/// The size of every read and write buffer: large enough that per-call overhead vanishes
/// next to the hashing or compression work, small enough that memory stays bounded.
const CHUNK: usize = 1 << 20;
