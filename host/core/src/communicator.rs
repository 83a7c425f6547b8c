//! The connection to the machine being built. Builders connect one (SSH, a container
//! namespace, ...); the runtime hands it to provisioner components, which never see the
//! underlying transport.

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};

/// A failure of the communicator itself (not of a remote command, which reports an
/// [`ExitStatus`]).
#[derive(Debug, thiserror::Error)]
pub enum CommError {
    /// The transport failed or the connection was lost.
    #[error("connection to the machine failed: {0}")]
    Connection(String),
    /// The remote side refused or failed a file transfer.
    #[error("{0}")]
    Remote(String),
    /// A local file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// How a remote command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal, named without the `SIG` prefix.
    Killed(String),
    /// The connection dropped before an exit status arrived (e.g. the machine rebooted).
    Disconnected,
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Exited(code) => write!(f, "exit status {code}"),
            ExitStatus::Killed(sig) => write!(f, "killed by signal {sig}"),
            ExitStatus::Disconnected => write!(f, "disconnected before exit"),
        }
    }
}

/// Which remote stream a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// A piece of remote output as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Where it came from.
    pub stream: OutputStream,
    /// The bytes, not necessarily whole lines.
    pub data: Vec<u8>,
}

/// A running remote command.
#[async_trait]
pub trait RemoteProcess: Send {
    /// The next piece of output, or `None` once both streams are closed.
    async fn next_output(&mut self) -> Option<Output>;
    /// Waits for the exit status, discarding output not yet read.
    async fn wait(&mut self) -> Result<ExitStatus, CommError>;
}

/// One entry of a directory tree being copied, depth first.
pub enum TreeEntry {
    /// Enter a subdirectory (created if missing).
    EnterDir {
        /// A single path component.
        name: String,
        /// Unix permission bits.
        mode: u32,
    },
    /// A regular file in the current directory.
    File {
        /// A single path component.
        name: String,
        /// Unix permission bits.
        mode: u32,
        /// Exact size; the reader yields exactly this many bytes.
        size: u64,
        /// The contents.
        reader: Box<dyn AsyncRead + Send + Unpin>,
    },
    /// Leave the current subdirectory.
    LeaveDir,
}

impl std::fmt::Debug for TreeEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TreeEntry::EnterDir { name, mode } => write!(f, "EnterDir({name}, {mode:o})"),
            TreeEntry::File {
                name, mode, size, ..
            } => write!(f, "File({name}, {mode:o}, {size})"),
            TreeEntry::LeaveDir => write!(f, "LeaveDir"),
        }
    }
}

/// A host-side directory tree to upload, produced lazily so that large trees stream.
#[async_trait]
pub trait TreeSource: Send {
    /// The next entry, or `None` at the end of the tree.
    async fn next_entry(&mut self) -> std::io::Result<Option<TreeEntry>>;
}

/// A host-side directory receiving a downloaded tree.
#[async_trait]
pub trait TreeSink: Send {
    /// Creates (if missing) and enters the subdirectory `name`.
    async fn enter_dir(&mut self, name: &str, mode: u32) -> std::io::Result<()>;
    /// Leaves the current subdirectory.
    async fn leave_dir(&mut self) -> std::io::Result<()>;
    /// Opens the file `name` in the current directory for writing, replacing it.
    async fn create_file(
        &mut self,
        name: &str,
        mode: u32,
    ) -> std::io::Result<Box<dyn AsyncWrite + Send + Unpin>>;
}

/// The connection to the machine being built.
#[async_trait]
pub trait Communicator: Send + Sync {
    /// Starts `command` with the remote shell.
    async fn start(&self, command: &str) -> Result<Box<dyn RemoteProcess>, CommError>;

    /// Starts `command` as [`Communicator::start`] does, with its standard input fed
    /// from the returned writer (closing the writer ends the input). [`start`] gives
    /// commands no input at all; this is for a caller that relays a stream, such as
    /// the SSH adapter.
    ///
    /// [`start`]: Communicator::start
    async fn start_with_stdin(
        &self,
        _command: &str,
    ) -> Result<(Box<dyn RemoteProcess>, Box<dyn AsyncWrite + Send + Unpin>), CommError> {
        Err(CommError::Remote(
            "this communicator cannot feed a command's standard input".into(),
        ))
    }

    /// Writes `size` bytes from `reader` to the remote file `dest` with `mode`.
    async fn upload(
        &self,
        dest: &str,
        reader: &mut (dyn AsyncRead + Send + Unpin),
        size: u64,
        mode: u32,
    ) -> Result<(), CommError>;

    /// Copies the entries of `tree` into the remote directory `dest`, creating it.
    async fn upload_dir(&self, dest: &str, tree: &mut dyn TreeSource) -> Result<(), CommError>;

    /// Copies the remote file `src` into `writer`; returns the number of bytes.
    async fn download(
        &self,
        src: &str,
        writer: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<u64, CommError>;

    /// Copies the contents of the remote directory `src` into `sink`.
    async fn download_dir(&self, src: &str, sink: &mut dyn TreeSink) -> Result<(), CommError>;

    /// How a program on this host could reach the machine over SSH itself; `None` for a
    /// communicator that is not SSH.
    fn ssh_endpoint(&self) -> Option<SshEndpoint> {
        None
    }
}

/// Where and as whom an SSH communicator logs in.
#[derive(Clone, PartialEq, Eq)]
pub struct SshEndpoint {
    /// `ssh_host`.
    pub host: String,
    /// `ssh_port`.
    pub port: u16,
    /// `ssh_username`.
    pub user: String,
    /// `ssh_private_key_file`, absolute.
    pub private_key_file: Option<std::path::PathBuf>,
    /// `ssh_password`.
    pub password: Option<String>,
}

impl std::fmt::Debug for SshEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshEndpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("private_key_file", &self.private_key_file)
            .finish_non_exhaustive()
    }
}
