//! The stages an archive goes through on threads of their own, joined by queues of\n//! reused 1 MiB chunks: reading entries, compressing, and writing to the file while\n//! hashing it.

use super::*;
use crate::CHUNK;
use std::fs::File;
use std::io::{self, Read, Write};

/// Copies `r` to its end into `w`, a chunk at a time. Returns the number of bytes copied.
pub(crate) fn copy_chunked(
    r: &mut impl Read,
    w: &mut impl Write,
    buf: &mut [u8],
    progress: &dyn Fn(u64),
) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match r.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        total += n as u64;
        progress(n as u64);
    }
}

/// The way into a pipeline stage that runs on a thread of its own: bytes written here (or
/// read straight in by [`Pipe::read_from`]) are gathered into chunks of `CHUNK` and
/// handed, whole chunks at a time, to the thread, which passes them to the stage and hands
/// the buffers back to be filled again. At most `QUEUE` chunks wait for the thread. A pipe
/// dropped without [`Pipe::finish`] stops its thread once the queue is drained, without
/// ending the stage, and waits for it.
pub(crate) struct Pipe<S: Stage> {
    count: u64,
    /// The chunk being filled: always `CHUNK` bytes long, of which `filled` are data.
    buf: Vec<u8>,
    filled: usize,
    chunks: Option<std::sync::mpsc::SyncSender<Message>>,
    /// Buffers the thread is done with.
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    thread: Option<std::thread::JoinHandle<io::Result<S::Output>>>,
}

/// What a [`Pipe`]'s thread does with the bytes.
pub(crate) trait Stage: Send + 'static {
    type Output: Send + 'static;
    /// Takes the next bytes.
    fn take(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Ends the stage after the last bytes.
    fn end(self) -> io::Result<Self::Output>;
}

pub(crate) enum Message {
    Chunk(Vec<u8>, usize),
    End,
}

/// Chunks queued for a pipe's thread.
pub(crate) const QUEUE: usize = 4;

impl<S: Stage> Pipe<S> {
    pub(crate) fn spawn(name: &str, mut stage: S) -> io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Message>(QUEUE);
        let (spare_tx, spare) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                for message in rx {
                    match message {
                        Message::Chunk(buf, len) => {
                            stage.take(&buf[..len])?;
                            // The pipe may be gone already.
                            let _ = spare_tx.send(buf);
                        }
                        Message::End => return stage.end(),
                    }
                }
                Err(io::Error::other("the archive was abandoned"))
            })?;
        Ok(Pipe {
            count: 0,
            buf: vec![0; CHUNK],
            filled: 0,
            chunks: Some(tx),
            spare,
            thread: Some(thread),
        })
    }

    pub(crate) fn send(&mut self, message: Message) -> io::Result<()> {
        match self.chunks.as_ref().map(|tx| tx.send(message)) {
            Some(Ok(())) => Ok(()),
            // The thread stopped: at an error, which it returns.
            _ => self.join().map(drop),
        }
    }

    /// Hands the filled part of the chunk to the thread.
    pub(crate) fn hand_over(&mut self) -> io::Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let next = self.spare.try_recv().unwrap_or_else(|_| vec![0; CHUNK]);
        let full = std::mem::replace(&mut self.buf, next);
        let len = std::mem::take(&mut self.filled);
        self.send(Message::Chunk(full, len))
    }

    /// Waits for the thread; returns what it returned.
    pub(crate) fn join(&mut self) -> io::Result<S::Output> {
        drop(self.chunks.take());
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("an archive thread failed")),
            None => Err(io::Error::other("an archive thread stopped")),
        }
    }

    /// Hands over the last bytes and ends the stage; returns how many bytes were written
    /// here and what the stage ended with.
    pub(crate) fn finish(mut self) -> io::Result<(u64, S::Output)> {
        self.hand_over()?;
        self.send(Message::End)?;
        Ok((self.count, self.join()?))
    }

    /// Lets `f` write straight into the chunk being filled, which has at least `room`
    /// bytes free (else it is handed over first and a new one started). `f` returns how
    /// many bytes it wrote there, and a value passed on.
    pub(crate) fn fill<R>(
        &mut self,
        room: usize,
        f: impl FnOnce(&mut [u8]) -> io::Result<(usize, R)>,
    ) -> io::Result<R> {
        if CHUNK - self.filled < room.clamp(1, CHUNK) {
            self.hand_over()?;
        }
        let (n, value) = f(&mut self.buf[self.filled..])?;
        self.filled += n;
        self.count += n as u64;
        Ok(value)
    }

    /// Reads `r` to its end straight into the chunks (no copy on the way); calls
    /// `progress` with every piece read. Returns the number of bytes read.
    pub(crate) fn read_from(
        &mut self,
        r: &mut impl Read,
        progress: &dyn Fn(u64),
    ) -> io::Result<u64> {
        let mut total = 0u64;
        loop {
            let n = match self.fill(1, |space| r.read(space).map(|n| (n, n))) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            total += n as u64;
            progress(n as u64);
        }
    }
}

impl<S: Stage> Write for Pipe<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.filled == CHUNK {
            self.hand_over()?;
        }
        let n = buf.len().min(CHUNK - self.filled);
        self.buf[self.filled..self.filled + n].copy_from_slice(&buf[..n]);
        self.filled += n;
        self.count += n as u64;
        Ok(n)
    }

    /// Hands the pending bytes over; the stage takes them soon after, in order.
    fn flush(&mut self) -> io::Result<()> {
        self.hand_over()
    }
}

impl<S: Stage> Drop for Pipe<S> {
    fn drop(&mut self) {
        // An abandoned stage stops at the end of its queue.
        let _ = self.join();
    }
}

/// The last stage: writes the archive's bytes to its file and hashes them (sha256), so a
/// sequentially written archive's digest costs neither a second read nor time on the
/// compressing path.
pub(crate) struct ToFile {
    file: Limited<File>,
    sha256: sha2::Sha256,
}

/// The archive's file, written (and hashed) on a thread of its own.
pub(crate) type Out = Pipe<ToFile>;

pub(crate) fn finish_out(out: Out) -> io::Result<Written> {
    let (size, sha256) = out.finish()?;
    Ok(Written {
        size,
        sha256: Some(sha256),
    })
}

/// A compressor, run on a thread of its own between the reading and the writing.
pub(crate) enum Encoder {
    Gzip(flate2::write::GzEncoder<Out>),
    Zstd(Zstd),
    Xz(liblzma::write::XzEncoder<Out>),
}

/// A zstd stream compressing straight into the chunks of the archive's file: there is
/// always room for a whole compressed block, so zstd's own output buffer is not used.
/// Single-threaded (on the compressing thread): its output is the same on every machine,
/// it needs a fraction of the multi-threaded encoder's memory, and it does not reload
/// each job's overlap with the last.
pub(crate) struct Zstd {
    encoder: zstd::stream::raw::Encoder<'static>,
    out: Out,
}

/// The compressed (or plain) byte stream a tar archive or a single file goes into: reading,
/// compressing, and writing with hashing each run on a thread of their own.
pub(crate) enum Sink {
    Plain(Out),
    Compressed(Pipe<Encoder>),
}

impl Stage for ToFile {
    type Output = String;

    fn take(&mut self, bytes: &[u8]) -> io::Result<()> {
        use sha2::Digest;
        self.file.write_all(bytes)?;
        self.sha256.update(bytes);
        Ok(())
    }

    fn end(mut self) -> io::Result<String> {
        use sha2::Digest;
        self.file.flush()?;
        Ok(kiln_core::artifact::hex(&self.sha256.finalize()))
    }
}

impl Stage for Encoder {
    type Output = Written;

    fn take(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Gzip(w) => w.write_all(bytes),
            Encoder::Zstd(w) => w.take(bytes),
            Encoder::Xz(w) => w.write_all(bytes),
        }
    }

    fn end(self) -> io::Result<Written> {
        finish_out(match self {
            Encoder::Gzip(encoder) => encoder.finish()?,
            Encoder::Zstd(encoder) => encoder.end()?,
            Encoder::Xz(encoder) => encoder.finish()?,
        })
    }
}

impl Zstd {
    pub(crate) fn take(&mut self, bytes: &[u8]) -> io::Result<()> {
        use zstd::stream::raw::{InBuffer, Operation};
        let mut input = InBuffer::around(bytes);
        while input.pos() < bytes.len() {
            self.step(|encoder, output| encoder.run(&mut input, output))?;
        }
        Ok(())
    }

    /// Ends the frame; returns the archive's file.
    pub(crate) fn end(mut self) -> io::Result<Out> {
        use zstd::stream::raw::Operation;
        while self.step(|encoder, output| encoder.finish(output, true))? != 0 {}
        Ok(self.out)
    }

    /// Runs one step of the encoder with the chunk being filled as its output (room for a
    /// whole compressed block); returns what the step returned.
    pub(crate) fn step(
        &mut self,
        op: impl FnOnce(
            &mut zstd::stream::raw::Encoder<'static>,
            &mut zstd::stream::raw::OutBuffer<'_, [u8]>,
        ) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let encoder = &mut self.encoder;
        self.out.fill(zstd::zstd_safe::CCtx::out_size(), |space| {
            let mut output = zstd::stream::raw::OutBuffer::around(space);
            let value = op(encoder, &mut output)?;
            Ok((output.pos(), value))
        })
    }
}

impl Sink {
    pub(crate) fn new(
        compression: Compression,
        level: i32,
        out: Limited<File>,
    ) -> io::Result<Self> {
        let out = Pipe::spawn(
            "kiln-archive-write",
            ToFile {
                file: out,
                sha256: sha2::Sha256::default(),
            },
        )?;
        // Levels were checked against the format's range, so the conversions hold.
        let unsigned = u32::try_from(level).map_err(|_| invalid("negative compression level"));
        let encoder = match compression {
            Compression::None => return Ok(Sink::Plain(out)),
            // No file name, mtime 0, OS "unknown": the header depends on the level only.
            Compression::Gzip => Encoder::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(out, flate2::Compression::new(unsigned?)),
            ),
            Compression::Zstd => {
                let mut encoder = zstd::stream::raw::Encoder::new(level)?;
                // A content checksum, as the zstd tool writes by default.
                encoder.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
                Encoder::Zstd(Zstd { encoder, out })
            }
            // CRC64 check, as the xz tool writes by default.
            Compression::Xz => Encoder::Xz(liblzma::write::XzEncoder::new(out, unsigned?)),
        };
        Ok(Sink::Compressed(Pipe::spawn(
            "kiln-archive-compress",
            encoder,
        )?))
    }

    /// Reads `r` to its end into the stream (see [`Pipe::read_from`]).
    pub(crate) fn read_from(
        &mut self,
        r: &mut impl Read,
        progress: &dyn Fn(u64),
    ) -> io::Result<u64> {
        match self {
            Sink::Plain(w) => w.read_from(r, progress),
            Sink::Compressed(w) => w.read_from(r, progress),
        }
    }

    /// Ends the stream; says how many bytes reached the file and their sha256.
    pub(crate) fn finish(self) -> io::Result<Written> {
        match self {
            Sink::Plain(out) => finish_out(out),
            Sink::Compressed(encoder) => encoder.finish().map(|(_, written)| written),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Compressed(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Compressed(w) => w.flush(),
        }
    }
}
