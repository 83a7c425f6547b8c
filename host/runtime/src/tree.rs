//! Directory trees moved between the host and the machine, walked through cap-std
//! handles so that a symbolic link or a hostile remote name cannot leave the granted
//! directory.

use async_trait::async_trait;
use cap_std::fs::{Dir, PermissionsExt};
use tokio::io::AsyncWrite;

use kiln_core::communicator::{TreeEntry, TreeSink, TreeSource};

const MAX_DEPTH: usize = 64;

struct Frame {
    dir: Dir,
    names: Vec<String>,
    next: usize,
}

/// Walks a granted host directory depth first, in name order.
pub struct DirSource {
    stack: Vec<Frame>,
    /// The path as the component named it, for messages.
    label: String,
}

fn frame(dir: Dir) -> std::io::Result<Frame> {
    let mut names = Vec::new();
    for entry in dir.entries()? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(Frame {
        dir,
        names,
        next: 0,
    })
}

fn escape_error(label: &str, name: &str, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(
        e.kind(),
        format!("refusing `{label}/{name}`: {e} (symbolic links must stay inside the granted directory)"),
    )
}

impl DirSource {
    /// Starts a walk of `dir`.
    pub fn new(dir: Dir, label: &str) -> std::io::Result<Self> {
        Ok(DirSource {
            stack: vec![frame(dir)?],
            label: label.to_owned(),
        })
    }
}

#[async_trait]
impl TreeSource for DirSource {
    async fn next_entry(&mut self) -> std::io::Result<Option<TreeEntry>> {
        let depth = self.stack.len();
        let Some(top) = self.stack.last_mut() else {
            return Ok(None);
        };
        if top.next == top.names.len() {
            self.stack.pop();
            return Ok(if self.stack.is_empty() {
                None
            } else {
                Some(TreeEntry::LeaveDir)
            });
        }
        let name = top.names[top.next].clone();
        top.next += 1;
        // `metadata` follows symbolic links, but only inside the directory handle:
        // one that leads out fails here.
        let meta = top
            .dir
            .metadata(&name)
            .map_err(|e| escape_error(&self.label, &name, e))?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            if depth >= MAX_DEPTH {
                return Err(std::io::Error::other(format!(
                    "`{}/{name}`: directory tree deeper than {MAX_DEPTH} levels (a symbolic link loop?)",
                    self.label
                )));
            }
            let sub = top
                .dir
                .open_dir(&name)
                .map_err(|e| escape_error(&self.label, &name, e))?;
            self.stack.push(frame(sub)?);
            Ok(Some(TreeEntry::EnterDir { name, mode }))
        } else {
            let file = top
                .dir
                .open(&name)
                .map_err(|e| escape_error(&self.label, &name, e))?;
            let size = meta.len();
            let file = tokio::fs::File::from_std(file.into_std());
            Ok(Some(TreeEntry::File {
                name,
                mode,
                size,
                reader: Box::new(file),
            }))
        }
    }
}

/// Receives a downloaded tree into a granted host directory.
pub struct DirSink {
    stack: Vec<Dir>,
}

impl DirSink {
    /// Writes into `dir`.
    pub fn new(dir: Dir) -> Self {
        DirSink { stack: vec![dir] }
    }

    fn current(&self) -> &Dir {
        self.stack.last().expect("sink stack is never empty")
    }
}

/// A remote name must be one plain path component.
fn check_name(name: &str) -> std::io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the machine sent an unsafe file name {name:?}"),
        ));
    }
    Ok(())
}

#[async_trait]
impl TreeSink for DirSink {
    async fn enter_dir(&mut self, name: &str, mode: u32) -> std::io::Result<()> {
        check_name(name)?;
        let dir = self.current();
        match dir.create_dir(name) {
            Ok(()) => {
                let _ =
                    dir.set_permissions(name, cap_std::fs::Permissions::from_mode(mode | 0o700));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let sub = dir.open_dir(name)?;
        self.stack.push(sub);
        Ok(())
    }

    async fn leave_dir(&mut self) -> std::io::Result<()> {
        if self.stack.len() > 1 {
            self.stack.pop();
        }
        Ok(())
    }

    async fn create_file(
        &mut self,
        name: &str,
        mode: u32,
    ) -> std::io::Result<Box<dyn AsyncWrite + Send + Unpin>> {
        check_name(name)?;
        let file = self.current().create(name)?;
        let _ = file.set_permissions(cap_std::fs::Permissions::from_mode(mode & 0o7777));
        Ok(Box::new(LocalFile(file.into_std())))
    }
}

/// A local file written in place: a download's writes are the size of SSH packets and
/// land in the page cache at once, so each is done on the spot rather than handed to a
/// blocking thread and waited for (a round trip per small file).
struct LocalFile(std::fs::File);

impl AsyncWrite for LocalFile {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::io::Write;
        std::task::Poll::Ready(self.get_mut().0.write(buf))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
