//! The `file` builder: writes one file from `content` or a `source` file to `target`.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use kiln_core::config::{decode, FieldError};
use kiln_core::{Artifact, ArtifactFile, BuildContext, BuildError, Builder, ProvisionHook};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    content: Option<String>,
    target: String,
}

#[derive(Debug)]
enum Input {
    Content(String),
    Source(PathBuf),
}

/// The configured `file` builder.
#[derive(Debug)]
pub struct FileBuilder {
    input: Input,
    target: PathBuf,
}

impl FileBuilder {
    /// Checks and keeps the source's configuration.
    pub fn new(
        config: &serde_json::Map<String, serde_json::Value>,
        cwd: &Path,
    ) -> Result<Self, FieldError> {
        let c: Config = decode(config)?;
        let input = match (c.source, c.content) {
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    "content",
                    "only one of source or content may be specified",
                ))
            }
            (Some(s), None) => Input::Source(cwd.join(s)),
            (None, Some(c)) => Input::Content(c),
            (None, None) => return Err(FieldError::block("source or content must be specified")),
        };
        if c.target.is_empty() {
            return Err(FieldError::new("target", "target must be specified"));
        }
        Ok(FileBuilder {
            input,
            target: cwd.join(c.target),
        })
    }
}

#[async_trait]
impl Builder for FileBuilder {
    async fn run(
        &self,
        cx: &BuildContext,
        hook: &dyn ProvisionHook,
    ) -> Result<Artifact, BuildError> {
        let fail = |what: &str, e: std::io::Error| BuildError::Failed(format!("{what}: {e}"));
        // As Packer's file builder does, the target's directory is made if it is missing.
        if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| fail(&format!("creating {}", dir.display()), e))?;
        }
        match &self.input {
            Input::Content(text) => {
                cx.ui.say("Writing content to target...");
                tokio::fs::write(&self.target, text.as_bytes())
                    .await
                    .map_err(|e| fail(&format!("writing {}", self.target.display()), e))?;
            }
            Input::Source(src) => {
                cx.ui.say(&format!(
                    "Copying {} to {}...",
                    src.display(),
                    self.target.display()
                ));
                tokio::fs::copy(src, &self.target)
                    .await
                    .map_err(|e| fail(&format!("copying {}", src.display()), e))?;
            }
        }
        // As in Packer, the build's provisioners run after the file is written, with no
        // machine to reach (shell-local and breakpoint work; a step that needs the
        // communicator fails saying there is none).
        hook.provision(None, crate::machine::unreached()).await?;
        let (size, sha256) = digest(&self.target)
            .await
            .map_err(|e| fail("reading back the target", e))?;
        let file = ArtifactFile {
            path: self.target.clone(),
            size,
            sha256,
        };
        Ok(Artifact {
            builder_id: "packer.file".into(),
            id: self.target.display().to_string(),
            files: vec![file],
            metadata: Default::default(),
            image: None,
            description: format!("Stored file: {}", self.target.display()),
        })
    }
}

/// Size and sha256 of the file at `path`, read in chunks so that a large file is never
/// held in memory.
pub(crate) async fn digest(path: &Path) -> std::io::Result<(u64, String)> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok((size, kiln_core::artifact::hex(&hasher.finalize())));
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
}
