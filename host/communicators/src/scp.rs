//! The scp protocol over an SSH session channel (`scp -t` to send, `scp -f` to
//! receive), which every OpenSSH server has and which Packer uses too.
//!
//! Bulk data goes out in large chunks straight from the reader, so a transfer costs one
//! copy into the SSH layer and is limited by the channel window, not by small writes.
//! Records are pipelined: a sender goes on without waiting for each acknowledgement and
//! collects them as they come (the first refusal fails the transfer), and a receiver
//! acknowledges ahead. When the remote refuses a file it is already being sent, the rest
//! of what was sent reaches a remote scp that stopped making sense of it; the transfer
//! fails with the remote's first refusal either way, and a step that can send files can
//! also run commands on the machine, so this reaches nothing more.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use kiln_core::communicator::{CommError, ExitStatus, Output, TreeEntry, TreeSink, TreeSource};

use crate::ssh::{spawn_reader, Ended, SshCommunicator};

const CHUNK: usize = 1 << 20;

/// How many acknowledgements an exchange lets the remote owe us when sending, and how
/// many it gives the remote in advance when receiving. Each is a round trip not waited
/// for: a directory of many small files goes out (or comes in) as one stream instead of
/// two round trips a file. Kept below the output channel's capacity, so acknowledgements
/// not yet read never stall the connection.
const AHEAD: usize = 32;

/// Quotes `s` for the remote POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r#"'"'"'"#))
}

fn remote(message: impl Into<String>) -> CommError {
    CommError::Remote(message.into())
}

fn conn(e: russh::Error) -> CommError {
    CommError::Connection(e.to_string())
}

fn base_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(trimmed)
}

/// One scp exchange: a remote `scp` process and the byte stream of its stdout.
struct Scp {
    write: russh::ChannelWriteHalf<russh::client::Msg>,
    output: mpsc::Receiver<Output>,
    buf: Bytes,
    ended: Option<tokio::task::JoinHandle<Ended>>,
    what: String,
    /// Acknowledgements the remote owes for records already sent.
    owed: usize,
    /// Acknowledgements of records received, not sent yet: they go out `BATCH` at a
    /// time, in one packet, while the remote still holds credit from those sent ahead.
    unsent: usize,
}

/// How many acknowledgements of received records go out in one packet. Below `AHEAD`,
/// so that the remote, given `AHEAD` in advance, never waits for one.
const BATCH: usize = AHEAD / 2;

impl Scp {
    async fn start(
        comm: &SshCommunicator,
        command: String,
        what: String,
    ) -> Result<Self, CommError> {
        let exec = comm.exec(&command).await?;
        let (tx, rx) = mpsc::channel(64);
        let ended = spawn_reader(exec.read, tx, false, None);
        Ok(Scp {
            write: exec.write,
            output: rx,
            buf: Bytes::new(),
            ended: Some(ended),
            what,
            owed: 0,
            unsent: 0,
        })
    }

    /// Whether a byte from the remote is here without waiting.
    fn ready(&mut self) -> bool {
        while self.buf.is_empty() {
            match self.output.try_recv() {
                Ok(o) => self.buf = Bytes::from(o.data),
                Err(_) => return false,
            }
        }
        true
    }

    /// Counts one more acknowledgement owed for what was just sent and reads those that
    /// have arrived; waits only while more than `AHEAD` are owed.
    async fn owe_ack(&mut self) -> Result<(), CommError> {
        self.owed += 1;
        while self.owed > AHEAD || (self.owed > 0 && self.ready()) {
            self.owed -= 1;
            self.ack().await?;
        }
        Ok(())
    }

    /// Waits for every acknowledgement still owed.
    async fn settle(&mut self) -> Result<(), CommError> {
        while self.owed > 0 {
            self.owed -= 1;
            self.ack().await?;
        }
        Ok(())
    }

    async fn fill(&mut self) -> Result<(), CommError> {
        while self.buf.is_empty() {
            match self.output.recv().await {
                Some(o) => self.buf = Bytes::from(o.data),
                None => return Err(self.failure().await),
            }
        }
        Ok(())
    }

    /// The remote scp ended early: explain with its stderr.
    async fn failure(&mut self) -> CommError {
        match self.ended.take() {
            Some(h) => self.explain(h.await),
            None => remote(format!("{}: remote scp ended", self.what)),
        }
    }

    fn explain(&self, ended: Result<Ended, tokio::task::JoinError>) -> CommError {
        match ended {
            Ok(Ended { status, stderr }) => {
                let text = String::from_utf8_lossy(&stderr).trim().to_owned();
                if status == ExitStatus::Disconnected && text.is_empty() {
                    CommError::Connection(format!("{}: the connection closed", self.what))
                } else if text.is_empty() {
                    remote(format!("{}: remote scp ended ({status})", self.what))
                } else {
                    remote(format!("{}: {text}", self.what))
                }
            }
            Err(e) => CommError::Connection(e.to_string()),
        }
    }

    async fn byte(&mut self) -> Result<u8, CommError> {
        self.fill().await?;
        Ok(self.buf.get_u8())
    }

    async fn line(&mut self) -> Result<String, CommError> {
        let mut line = Vec::new();
        loop {
            let b = self.byte().await?;
            if b == b'\n' {
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            line.push(b);
            if line.len() > 64 * 1024 {
                return Err(remote(format!("{}: protocol line too long", self.what)));
            }
        }
    }

    /// Reads scp's one-byte answer: 0 is success, 1 and 2 carry a message.
    async fn ack(&mut self) -> Result<(), CommError> {
        match self.byte().await? {
            0 => Ok(()),
            1 | 2 => {
                let msg = self.line().await?;
                Err(remote(format!(
                    "{}: {}",
                    self.what,
                    msg.trim_start_matches("scp: ")
                )))
            }
            other => {
                let rest = self.line().await.unwrap_or_default();
                Err(remote(format!(
                    "{}: unexpected reply from remote scp: {:?}",
                    self.what,
                    format!("{}{rest}", other as char)
                )))
            }
        }
    }

    /// Sends `data`; when the remote has gone, says why (its stderr), as a record sent
    /// ahead may be the first to find it gone.
    /// A remote that ended stops taking data without closing the window it had given,
    /// so the send also waits for the remote's end.
    async fn send(&mut self, data: impl Into<Bytes>) -> Result<(), CommError> {
        let Some(ended) = self.ended.as_mut() else {
            return self.write.data_bytes(data.into()).await.map_err(conn);
        };
        tokio::select! {
            sent = self.write.data_bytes(data.into()) => match sent {
                Ok(()) => Ok(()),
                Err(_) => Err(self.failure().await),
            },
            gone = ended => {
                self.ended = None;
                Err(self.explain(gone))
            }
        }
    }

    async fn send_body(
        &mut self,
        reader: &mut (dyn AsyncRead + Send + Unpin),
        size: u64,
    ) -> Result<(), CommError> {
        let mut left = size;
        while left > 0 {
            let want = CHUNK.min(usize::try_from(left).unwrap_or(CHUNK));
            let mut chunk = BytesMut::with_capacity(want);
            while chunk.len() < want {
                let n = (&mut *reader)
                    .take((want - chunk.len()) as u64)
                    .read_buf(&mut chunk)
                    .await?;
                if n == 0 {
                    return Err(remote(format!(
                        "{}: the local file is shorter than its size",
                        self.what
                    )));
                }
            }
            left -= chunk.len() as u64;
            self.send(chunk.freeze()).await?;
        }
        self.send(Bytes::from_static(b"\0")).await?;
        self.owe_ack().await
    }

    async fn send_file(
        &mut self,
        name: &str,
        mode: u32,
        size: u64,
        reader: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<(), CommError> {
        self.send(format!("C{:04o} {size} {name}\n", mode & 0o7777))
            .await?;
        self.owe_ack().await?;
        self.send_body(reader, size).await
    }

    async fn recv_body(
        &mut self,
        size: u64,
        writer: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<(), CommError> {
        let mut left = size;
        while left > 0 {
            self.fill().await?;
            let n = self
                .buf
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            let part = self.buf.split_to(n);
            writer.write_all(&part).await?;
            left -= n as u64;
        }
        self.ack().await?;
        self.acknowledge().await
    }

    /// Acknowledges a record received. The remote was acknowledged ahead and may have
    /// finished and gone already, so that it is gone is no error here: a read that
    /// needed it says so.
    async fn acknowledge(&mut self) -> Result<(), CommError> {
        self.unsent += 1;
        if self.unsent >= BATCH {
            let n = std::mem::take(&mut self.unsent);
            if !self.ended.as_ref().is_some_and(|h| h.is_finished()) {
                let _ = self.write.data_bytes(Bytes::from(vec![0u8; n])).await;
            }
        }
        Ok(())
    }

    /// Collects what is owed, closes our side and checks that the remote scp exited
    /// cleanly.
    async fn finish(mut self) -> Result<(), CommError> {
        self.settle().await?;
        let _ = self.write.eof().await;
        while self.output.recv().await.is_some() {}
        let ended = match self.ended.take() {
            Some(h) => h.await.map_err(|e| CommError::Connection(e.to_string()))?,
            None => return Ok(()),
        };
        match ended.status {
            ExitStatus::Exited(0) => Ok(()),
            status => {
                let text = String::from_utf8_lossy(&ended.stderr).trim().to_owned();
                Err(remote(format!(
                    "{}: remote scp failed ({status}) {text}",
                    self.what
                )))
            }
        }
    }
}

/// A parsed `C` or `D` record: mode, size, name.
fn parse_record(line: &str) -> Result<(u32, u64, String), CommError> {
    let mut parts = line[1..].splitn(3, ' ');
    let mode = parts.next().and_then(|m| u32::from_str_radix(m, 8).ok());
    let size = parts.next().and_then(|s| s.parse().ok());
    let name = parts.next();
    match (mode, size, name) {
        (Some(m), Some(s), Some(n)) => Ok((m, s, n.to_owned())),
        _ => Err(remote(format!("malformed scp record {line:?}"))),
    }
}

/// Writes `size` bytes from `reader` to the remote file `dest`.
pub async fn upload_file(
    comm: &SshCommunicator,
    dest: &str,
    reader: &mut (dyn AsyncRead + Send + Unpin),
    size: u64,
    mode: u32,
) -> Result<(), CommError> {
    let what = format!("upload to {dest}");
    let mut scp = Scp::start(comm, format!("scp -t {}", shell_quote(dest)), what).await?;
    scp.owe_ack().await?; // the remote scp says it started
    scp.send_file(base_name(dest), mode, size, reader).await?;
    scp.finish().await
}

/// Creates the remote directory `dest` and copies `tree` into it.
pub async fn upload_dir(
    comm: &SshCommunicator,
    dest: &str,
    tree: &mut dyn TreeSource,
) -> Result<(), CommError> {
    let what = format!("upload to {dest}");
    // One command: the directory is made and the transfer starts without a round trip
    // between them; a failing `mkdir` ends the exchange with its own message.
    let dest = shell_quote(dest);
    let mut scp = Scp::start(comm, format!("mkdir -p {dest} && scp -r -t {dest}"), what).await?;
    scp.owe_ack().await?; // the remote scp says it started
    while let Some(entry) = tree.next_entry().await? {
        match entry {
            TreeEntry::EnterDir { name, mode } => {
                scp.send(format!("D{:04o} 0 {name}\n", mode & 0o7777))
                    .await?;
                scp.owe_ack().await?;
            }
            TreeEntry::LeaveDir => {
                scp.send(Bytes::from_static(b"E\n")).await?;
                scp.owe_ack().await?;
            }
            TreeEntry::File {
                name,
                mode,
                size,
                mut reader,
            } => {
                scp.send_file(&name, mode, size, &mut reader).await?;
            }
        }
    }
    scp.finish().await
}

/// A record a download does not take: a time record (`T`) is acknowledged and skipped;
/// an error record (1, 2) or anything else ends the transfer with an error.
async fn skip_or_fail(scp: &mut Scp, first: u8, what: &str) -> Result<(), CommError> {
    match first {
        b'T' => {
            scp.line().await?;
            scp.acknowledge().await
        }
        1 | 2 => {
            let msg = scp.line().await?;
            Err(remote(format!(
                "{what}: {}",
                msg.trim_start_matches("scp: ")
            )))
        }
        other => Err(remote(format!(
            "{what}: unexpected scp record {:?}",
            other as char
        ))),
    }
}

/// Copies the remote file `src` into `writer`.
pub async fn download_file(
    comm: &SshCommunicator,
    src: &str,
    writer: &mut (dyn AsyncWrite + Send + Unpin),
) -> Result<u64, CommError> {
    let what = format!("download of {src}");
    let mut scp = Scp::start(comm, format!("scp -f {}", shell_quote(src)), what.clone()).await?;
    // Acknowledged ahead, as a directory's download is.
    scp.send(Bytes::from(vec![0u8; 1 + AHEAD])).await?;
    loop {
        let first = scp.byte().await?;
        match first {
            b'C' => {
                let line = format!("C{}", scp.line().await?);
                let (_mode, size, _name) = parse_record(&line)?;
                scp.acknowledge().await?;
                scp.recv_body(size, writer).await?;
                writer.flush().await?;
                scp.finish().await?;
                return Ok(size);
            }
            other => skip_or_fail(&mut scp, other, &what).await?,
        }
    }
}

/// Copies the contents of the remote directory `src` into `sink`.
pub async fn download_dir(
    comm: &SshCommunicator,
    src: &str,
    sink: &mut dyn TreeSink,
) -> Result<(), CommError> {
    let what = format!("download of {src}");
    let src_trim = src.trim_end_matches('/');
    let src_trim = if src_trim.is_empty() { "/" } else { src_trim };
    let mut scp = Scp::start(
        comm,
        format!("scp -r -f {}", shell_quote(src_trim)),
        what.clone(),
    )
    .await?;
    // The acknowledgement that starts the transfer, and `AHEAD` more in advance: the
    // remote never waits for one, and reads none it was not going to (what is left when
    // it is done goes unread).
    scp.send(Bytes::from(vec![0u8; 1 + AHEAD])).await?;
    // The first record is `src` itself; its contents go straight into the sink.
    let mut depth = 0usize;
    loop {
        match scp.byte().await? {
            b'D' => {
                let line = format!("D{}", scp.line().await?);
                let (mode, _, name) = parse_record(&line)?;
                if depth > 0 {
                    sink.enter_dir(&name, mode).await?;
                }
                depth += 1;
                scp.acknowledge().await?;
            }
            b'E' => {
                scp.line().await?;
                depth = depth.saturating_sub(1);
                if depth > 0 {
                    sink.leave_dir().await?;
                }
                scp.acknowledge().await?;
                if depth == 0 {
                    break;
                }
            }
            b'C' => {
                let line = format!("C{}", scp.line().await?);
                let (mode, size, name) = parse_record(&line)?;
                if depth == 0 {
                    return Err(remote(format!(
                        "{what}: `{src}` is a file, not a directory"
                    )));
                }
                let mut w = sink.create_file(&name, mode).await?;
                scp.acknowledge().await?;
                scp.recv_body(size, &mut w).await?;
                w.flush().await?;
            }
            other => skip_or_fail(&mut scp, other, &what).await?,
        }
    }
    scp.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("it's"), r#"'it'"'"'s'"#);
    }

    #[test]
    fn records_parse() {
        assert_eq!(
            parse_record("C0644 12 a file").unwrap(),
            (0o644, 12, "a file".to_owned())
        );
        assert!(parse_record("C06x4 12 a").is_err());
        assert_eq!(base_name("/tmp/dir/"), "dir");
    }
}
