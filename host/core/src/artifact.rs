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
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// The container image the artifact stands for, in Kiln's image store. Only the
    /// host sets it (a builder's commit, the `images` calls of a post-processor): a
    /// component can neither name another image nor forge the names it may push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRef>,
}

/// An image in Kiln's image store, as an artifact carries it from step to step.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageRef {
    /// The manifest's digest (`sha256:...`).
    pub digest: String,
    /// Names given to the image in this chain by steps granted the network of the
    /// name's registry (`docker-tag` with its `repository`): a later step may push the
    /// image under them without a grant of its own, as the name was granted with it.
    pub pushable: Vec<String>,
}

/// Lower-case hex of `bytes` (how digests are written everywhere in Kiln).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
