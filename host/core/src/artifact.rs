//! What a build produces.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// One file of an artifact, with its size and digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArtifactFile {
    /// Host path of the file.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex sha256 of the contents, where Kiln took it writing the file; empty
    /// where no step wrote it through the host (Kiln reads no file only to hash it).
    pub sha256: String,
}

/// The result of a builder or a post-processor.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Artifact {
    /// Identifies the kind of artifact, as Packer's builder ids do (`packer.file`).
    pub builder_id: String,
    /// A free-form identifier.
    pub id: String,
    /// The files that make up the artifact.
    pub files: Vec<ArtifactFile>,
    /// Builder-specific facts.
    pub metadata: BTreeMap<String, String>,
    /// The one line `kiln build` prints for this artifact in its summary.
    pub description: String,
}

/// Lower-case hex of `bytes` (how digests are written everywhere in Kiln).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
