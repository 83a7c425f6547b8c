//! Deterministic archives (tar, zip) and compressed streams (gzip, zstd, xz) of artifacts,
//! written as they are read.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::ops::RangeInclusive;
use std::path::Path;

use crate::CHUNK;

/// What the compress post-processor writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    Tar,
    TarGz,
    TarZst,
    TarXz,
    Zip,
    Gz,
    Zst,
    Xz,
}

/// The compression wrapped around the bytes (a tar stream or a single file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
    Xz,
}

impl ArchiveFormat {
    /// Every format, in the order of the enum.
    pub const ALL: [ArchiveFormat; 8] = [
        ArchiveFormat::Tar,
        ArchiveFormat::TarGz,
        ArchiveFormat::TarZst,
        ArchiveFormat::TarXz,
        ArchiveFormat::Zip,
        ArchiveFormat::Gz,
        ArchiveFormat::Zst,
        ArchiveFormat::Xz,
    ];

    /// From a file name's extension as Packer's compress post-processor reads it:
    /// ".tar" ".tar.gz"/".tgz" ".tar.zst" ".tar.xz" ".zip" ".gz" ".zst" ".xz"; None otherwise.
    ///
    /// Extensions are matched as written (lower case), on the end of `path`.
    pub fn from_path(path: &str) -> Option<Self> {
        const SUFFIXES: [(&str, ArchiveFormat); 9] = [
            (".tar.gz", ArchiveFormat::TarGz),
            (".tgz", ArchiveFormat::TarGz),
            (".tar.zst", ArchiveFormat::TarZst),
            (".tar.xz", ArchiveFormat::TarXz),
            (".tar", ArchiveFormat::Tar),
            (".zip", ArchiveFormat::Zip),
            (".gz", ArchiveFormat::Gz),
            (".zst", ArchiveFormat::Zst),
            (".xz", ArchiveFormat::Xz),
        ];
        SUFFIXES
            .iter()
            .find(|(suffix, _)| path.ends_with(suffix))
            .map(|&(_, format)| format)
    }

    /// From a `format` setting: "tar", "tar.gz", "tgz", "tar.zst", "tar.xz", "zip", "gz", "zst", "xz".
    pub fn parse(name: &str) -> Option<Self> {
        if name == "tgz" {
            return Some(ArchiveFormat::TarGz);
        }
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The format's canonical `format` setting ("tar.gz" for [`ArchiveFormat::TarGz`]).
    pub fn name(self) -> &'static str {
        match self {
            ArchiveFormat::Tar => "tar",
            ArchiveFormat::TarGz => "tar.gz",
            ArchiveFormat::TarZst => "tar.zst",
            ArchiveFormat::TarXz => "tar.xz",
            ArchiveFormat::Zip => "zip",
            ArchiveFormat::Gz => "gz",
            ArchiveFormat::Zst => "zst",
            ArchiveFormat::Xz => "xz",
        }
    }

    /// Whether the format holds exactly one file's bytes (gz, zst, xz) rather than an archive.
    pub fn is_single_stream(self) -> bool {
        matches!(
            self,
            ArchiveFormat::Gz | ArchiveFormat::Zst | ArchiveFormat::Xz
        )
    }

    /// The compression levels the format accepts, or None when it does not compress (tar).
    /// gzip and zip (deflate) take 1..=9, zstd 1..=22, xz 0..=9.
    pub fn level_range(self) -> Option<RangeInclusive<i32>> {
        match self {
            ArchiveFormat::Tar => None,
            ArchiveFormat::TarGz | ArchiveFormat::Gz | ArchiveFormat::Zip => Some(1..=9),
            ArchiveFormat::TarZst | ArchiveFormat::Zst => Some(1..=22),
            ArchiveFormat::TarXz | ArchiveFormat::Xz => Some(0..=9),
        }
    }

    /// The level used when none is given: gzip 6, zstd 3, xz 6, zip (deflate) 6; None for tar.
    pub fn default_level(self) -> Option<i32> {
        match self {
            ArchiveFormat::Tar => None,
            ArchiveFormat::TarGz | ArchiveFormat::Gz | ArchiveFormat::Zip => Some(6),
            ArchiveFormat::TarZst | ArchiveFormat::Zst => Some(3),
            ArchiveFormat::TarXz | ArchiveFormat::Xz => Some(6),
        }
    }

    fn compression(self) -> Compression {
        match self {
            ArchiveFormat::Tar | ArchiveFormat::Zip => Compression::None,
            ArchiveFormat::TarGz | ArchiveFormat::Gz => Compression::Gzip,
            ArchiveFormat::TarZst | ArchiveFormat::Zst => Compression::Zstd,
            ArchiveFormat::TarXz | ArchiveFormat::Xz => Compression::Xz,
        }
    }

    /// The level to use: `level` checked against the format's range, or the default.
    /// Tar does not compress, so any level is accepted and ignored (0 is returned).
    fn resolve_level(self, level: Option<i32>) -> io::Result<i32> {
        let (Some(range), Some(default)) = (self.level_range(), self.default_level()) else {
            return Ok(0);
        };
        match level {
            None => Ok(default),
            Some(l) if range.contains(&l) => Ok(l),
            Some(l) => Err(invalid(format!(
                "compression level {l} is out of range for {}: valid levels are {} to {}",
                self.name(),
                range.start(),
                range.end()
            ))),
        }
    }
}

/// One file to put in an archive.
#[derive(Debug)]
pub struct Entry {
    /// The path inside the archive, '/'-separated and relative: no empty, `.` or `..`
    /// components, no leading or trailing '/', no backslash or NUL. Ignored by the
    /// single-stream formats.
    pub name: String,
    /// The file; its whole content is written, from its start whatever its current position.
    pub source: Source,
    /// Permission bits (`mode & 0o7777` is kept; zip keeps `mode & 0o777`).
    pub mode: u32,
    /// Modification time, seconds since the Unix epoch (clamped by `max_mtime`).
    pub mtime: u64,
}

/// Where an entry's bytes come from.
pub enum Source {
    /// A file already open.
    File(File),
    /// A file opened only when its turn comes and closed after it: an archive of any
    /// number of entries holds one file open at a time.
    Later(Box<dyn FnOnce() -> io::Result<File> + Send>),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(file) => f.debug_tuple("File").field(file).finish(),
            Source::Later(_) => f.write_str("Later(..)"),
        }
    }
}

impl Entry {
    /// An entry of the open file `file`.
    pub fn file(name: impl Into<String>, file: File, mode: u32, mtime: u64) -> Self {
        Entry {
            name: name.into(),
            source: Source::File(file),
            mode,
            mtime,
        }
    }

    /// An entry whose file `open` opens when the entry is written.
    pub fn opened_later(
        name: impl Into<String>,
        mode: u32,
        mtime: u64,
        open: impl FnOnce() -> io::Result<File> + Send + 'static,
    ) -> Self {
        Entry {
            name: name.into(),
            source: Source::Later(Box::new(open)),
            mode,
            mtime,
        }
    }
}

/// The error of an archive that would outgrow the most its writer may write.
#[derive(Debug)]
pub struct TooLarge {
    /// The most that may be written, bytes.
    pub limit: u64,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the output would be larger than {} bytes", self.limit)
    }
}

impl std::error::Error for TooLarge {}

/// The limit `e` reports having reached, when it is [`TooLarge`] (directly, or wrapped
/// by the zip writer).
pub fn too_large(e: &io::Error) -> Option<u64> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|e| e as _);
    while let Some(c) = cause {
        if let Some(t) = c.downcast_ref::<TooLarge>() {
            return Some(t.limit);
        }
        if let Some(inner) = c.downcast_ref::<io::Error>() {
            if let Some(limit) = too_large(inner) {
                return Some(limit);
            }
        }
        cause = c.source();
    }
    None
}

/// A writer that refuses to take more than `left` bytes in all.
struct Limited<W> {
    inner: W,
    limit: u64,
    left: u64,
}

impl<W> Limited<W> {
    fn new(inner: W, limit: u64) -> Self {
        Limited {
            inner,
            limit,
            left: limit,
        }
    }
}

impl<W: Write> Write for Limited<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                TooLarge { limit: self.limit },
            ));
        }
        let n = self.inner.write(buf)?;
        self.left -= n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Seek> Seek for Limited<W> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.into())
}

/// Writes `entries` to `out` in `format`. Deterministic: entries sorted by name, each mtime
/// clamped to `max_mtime` (min(entry.mtime, max_mtime)), uid/gid 0 with empty user/group names,
/// no extended/pax timestamps, gzip header without name and mtime 0, zip entries with
/// the clamped DOS time. `level`: compression level (None = the format's default; gzip 6,
/// zstd 3, xz 6, zip deflate 6); out-of-range levels are an InvalidInput error naming the valid range.
/// Single-stream formats need exactly one entry (InvalidInput otherwise).
/// Streams: memory stays bounded whatever the file sizes (no whole-file buffers).
/// Returns how many bytes reached `out` and, for sequential formats, their sha256.
///
/// The output starts at `out`'s current position; when `out` is a regular file it is first
/// truncated there, so no stale bytes follow the archive. Only zip needs `out` to be
/// seekable (its local headers are completed in place); the other formats are written
/// strictly sequentially.
///
/// Tar archives use GNU headers (long names as GNU long-name entries, sizes past 8 GiB in
/// base-256), regular-file entries only, no directory entries. Zip entries are deflated,
/// marked as made on Unix, with ZIP64 fields only for files near or past 4 GiB; DOS times
/// are the UTC calendar time of the clamped mtime, limited to 1980..=2107. Names must be
/// valid (see [`Entry::name`]) and unique in archive formats, else InvalidInput.
pub fn write_archive(
    entries: Vec<Entry>,
    out: File,
    format: ArchiveFormat,
    level: Option<i32>,
    max_mtime: u64,
) -> io::Result<Written> {
    write_archive_reporting(entries, out, format, level, max_mtime, u64::MAX, &|_| {})
}

/// [`write_archive`], writing at most `max_size` bytes (an error wrapping [`TooLarge`]
/// otherwise), and calling `progress` with the number of input bytes each time a piece
/// of an entry has been read (for a progress bar).
pub fn write_archive_reporting(
    entries: Vec<Entry>,
    mut out: File,
    format: ArchiveFormat,
    level: Option<i32>,
    max_mtime: u64,
    max_size: u64,
    progress: &dyn Fn(u64),
) -> io::Result<Written> {
    let level = format.resolve_level(level)?;
    let mut entries = entries;
    if format.is_single_stream() {
        if entries.len() != 1 {
            return Err(invalid(format!(
                "the {} format holds exactly one file, but {} were given",
                format.name(),
                entries.len()
            )));
        }
    } else {
        for e in &entries {
            check_name(&e.name)?;
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = entries.windows(2).find(|p| p[0].name == p[1].name) {
            return Err(invalid(format!(
                "duplicate archive entry {:?}",
                pair[0].name
            )));
        }
    }

    if out.metadata()?.is_file() {
        let start = out.stream_position()?;
        out.set_len(start)?;
    }
    let out = Limited::new(out, max_size);

    match format {
        // Zip completes its headers in place, so its bytes are not hashed on the way.
        ArchiveFormat::Zip => write_zip(entries, out, level, max_mtime, progress)
            .map(|size| Written { size, sha256: None }),
        _ if format.is_single_stream() => {
            let mut entry = entries.pop().expect("one entry, checked above");
            let mut sink = Sink::new(format.compression(), level, out)?;
            let (mut file, _) = open_entry(&mut entry)?;
            sink.read_from(&mut file, progress)?;
            sink.finish()
        }
        _ => write_tar(
            entries,
            Sink::new(format.compression(), level, out)?,
            max_mtime,
            progress,
        ),
    }
}

/// What `write_archive` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Bytes written.
    pub size: u64,
    /// Their lower-case hex sha256, when the format is written sequentially (every
    /// format but zip).
    pub sha256: Option<String>,
}

/// Rejects names that would not extract to the path they spell.
fn check_name(name: &str) -> io::Result<()> {
    let bad = name.is_empty()
        || name.contains('\0')
        || name.contains('\\')
        || name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(invalid(format!(
            "invalid archive entry name {name:?}: it must be a relative '/'-separated path \
             without empty, '.' or '..' components"
        )));
    }
    Ok(())
}

/// Copies `r` to its end into `w`, a chunk at a time. Returns the number of bytes copied.
fn copy_chunked(
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
struct Pipe<S: Stage> {
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
trait Stage: Send + 'static {
    type Output: Send + 'static;
    /// Takes the next bytes.
    fn take(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Ends the stage after the last bytes.
    fn end(self) -> io::Result<Self::Output>;
}

enum Message {
    Chunk(Vec<u8>, usize),
    End,
}

/// Chunks queued for a pipe's thread.
const QUEUE: usize = 4;

impl<S: Stage> Pipe<S> {
    fn spawn(name: &str, mut stage: S) -> io::Result<Self> {
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

    fn send(&mut self, message: Message) -> io::Result<()> {
        match self.chunks.as_ref().map(|tx| tx.send(message)) {
            Some(Ok(())) => Ok(()),
            // The thread stopped: at an error, which it returns.
            _ => self.join().map(drop),
        }
    }

    /// Hands the filled part of the chunk to the thread.
    fn hand_over(&mut self) -> io::Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let next = self.spare.try_recv().unwrap_or_else(|_| vec![0; CHUNK]);
        let full = std::mem::replace(&mut self.buf, next);
        let len = std::mem::take(&mut self.filled);
        self.send(Message::Chunk(full, len))
    }

    /// Waits for the thread; returns what it returned.
    fn join(&mut self) -> io::Result<S::Output> {
        drop(self.chunks.take());
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("an archive thread failed")),
            None => Err(io::Error::other("an archive thread stopped")),
        }
    }

    /// Hands over the last bytes and ends the stage; returns how many bytes were written
    /// here and what the stage ended with.
    fn finish(mut self) -> io::Result<(u64, S::Output)> {
        self.hand_over()?;
        self.send(Message::End)?;
        Ok((self.count, self.join()?))
    }

    /// Lets `f` write straight into the chunk being filled, which has at least `room`
    /// bytes free (else it is handed over first and a new one started). `f` returns how
    /// many bytes it wrote there, and a value passed on.
    fn fill<R>(
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
    fn read_from(&mut self, r: &mut impl Read, progress: &dyn Fn(u64)) -> io::Result<u64> {
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
struct ToFile {
    file: Limited<File>,
    sha256: sha2::Sha256,
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

/// The archive's file, written (and hashed) on a thread of its own.
type Out = Pipe<ToFile>;

fn finish_out(out: Out) -> io::Result<Written> {
    let (size, sha256) = out.finish()?;
    Ok(Written {
        size,
        sha256: Some(sha256),
    })
}

/// A compressor, run on a thread of its own between the reading and the writing.
enum Encoder {
    Gzip(flate2::write::GzEncoder<Out>),
    Zstd(Zstd),
    Xz(liblzma::write::XzEncoder<Out>),
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

/// A zstd stream compressing straight into the chunks of the archive's file: there is
/// always room for a whole compressed block, so zstd's own output buffer is not used.
/// Single-threaded (on the compressing thread): its output is the same on every machine,
/// it needs a fraction of the multi-threaded encoder's memory, and it does not reload
/// each job's overlap with the last.
struct Zstd {
    encoder: zstd::stream::raw::Encoder<'static>,
    out: Out,
}

impl Zstd {
    fn take(&mut self, bytes: &[u8]) -> io::Result<()> {
        use zstd::stream::raw::{InBuffer, Operation};
        let mut input = InBuffer::around(bytes);
        while input.pos() < bytes.len() {
            self.step(|encoder, output| encoder.run(&mut input, output))?;
        }
        Ok(())
    }

    /// Ends the frame; returns the archive's file.
    fn end(mut self) -> io::Result<Out> {
        use zstd::stream::raw::Operation;
        while self.step(|encoder, output| encoder.finish(output, true))? != 0 {}
        Ok(self.out)
    }

    /// Runs one step of the encoder with the chunk being filled as its output (room for a
    /// whole compressed block); returns what the step returned.
    fn step(
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

/// The compressed (or plain) byte stream a tar archive or a single file goes into: reading,
/// compressing, and writing with hashing each run on a thread of their own.
enum Sink {
    Plain(Out),
    Compressed(Pipe<Encoder>),
}

impl Sink {
    fn new(compression: Compression, level: i32, out: Limited<File>) -> io::Result<Self> {
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
    fn read_from(&mut self, r: &mut impl Read, progress: &dyn Fn(u64)) -> io::Result<u64> {
        match self {
            Sink::Plain(w) => w.read_from(r, progress),
            Sink::Compressed(w) => w.read_from(r, progress),
        }
    }

    /// Ends the stream; says how many bytes reached the file and their sha256.
    fn finish(self) -> io::Result<Written> {
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

/// Reads exactly `remaining` bytes of an entry: a file that shrank after its size went into
/// the header is an error rather than a corrupt archive, and bytes it gained are left out.
struct Exact<'a, R> {
    inner: R,
    remaining: u64,
    name: &'a str,
}

impl<R: Read> Read for Exact<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = usize::try_from(self.remaining).map_or(buf.len(), |r| r.min(buf.len()));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{:?} ended {} bytes short of its size: it changed while being archived",
                    self.name, self.remaining
                ),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Opens an entry's file (now, when it was to be opened later) for reading from its
/// start; returns it with its size.
fn open_entry(entry: &mut Entry) -> io::Result<(File, u64)> {
    let source = std::mem::replace(
        &mut entry.source,
        Source::Later(Box::new(|| {
            Err(io::Error::other("archive entry already written"))
        })),
    );
    let mut file = match source {
        Source::File(f) => f,
        Source::Later(open) => open()?,
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(invalid(format!(
            "archive entry {:?} is not a regular file",
            entry.name
        )));
    }
    file.rewind()?;
    Ok((file, meta.len()))
}

fn write_tar(
    entries: Vec<Entry>,
    sink: Sink,
    max_mtime: u64,
    progress: &dyn Fn(u64),
) -> io::Result<Written> {
    let mut builder = tar::Builder::new(sink);
    for mut entry in entries {
        let (file, size) = open_entry(&mut entry)?;
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(size);
        header.set_mode(entry.mode & 0o7777);
        header.set_uid(0);
        header.set_gid(0);
        header.set_username("")?;
        header.set_groupname("")?;
        header.set_mtime(entry.mtime.min(max_mtime));
        // The tar crate writes the header (after a GNU long-name entry when the name needs
        // one) and nothing else, since it is given no data; the data follows here in whole
        // chunks, read straight into the buffer the compressor takes them from, where the
        // crate's own copy would pass them through two more small buffers.
        builder.append_data(&mut header, Path::new(&entry.name), io::empty())?;
        let out = builder.get_mut();
        let mut data = Exact {
            inner: &file,
            remaining: size,
            name: &entry.name,
        };
        out.read_from(&mut data, progress)?;
        // Entries fill whole 512-byte blocks.
        let tail = (size % 512) as usize;
        if tail != 0 {
            out.write_all(&[0u8; 512][tail..])?;
        }
    }
    builder.into_inner()?.finish()
}

/// Files whose deflated size could reach 4 GiB get ZIP64 sizes. Deflate grows incompressible
/// data by well under 1/1024 (stored blocks cost 5 bytes per 64 KiB), so this margin holds.
fn needs_zip64(size: u64) -> bool {
    size.saturating_add(size / 1024 + 4096) >= u64::from(u32::MAX)
}

fn write_zip(
    entries: Vec<Entry>,
    mut out: Limited<File>,
    level: i32,
    max_mtime: u64,
    progress: &dyn Fn(u64),
) -> io::Result<u64> {
    let start = out.stream_position()?;
    let mut zip = zip::ZipWriter::new(BufWriter::with_capacity(CHUNK, out));
    let mut buf = vec![0u8; CHUNK];
    for mut entry in entries {
        let (file, size) = open_entry(&mut entry)?;
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(i64::from(level)))
            .last_modified_time(dos_time(entry.mtime.min(max_mtime)))
            .system(zip::System::Unix)
            .unix_permissions(entry.mode)
            .large_file(needs_zip64(size));
        zip.start_file(entry.name.as_str(), options)?;
        let mut data = Exact {
            inner: &file,
            remaining: size,
            name: &entry.name,
        };
        copy_chunked(&mut data, &mut zip, &mut buf, progress)?;
    }
    let mut out = zip.finish()?;
    let end = out.stream_position()?;
    out.flush()?;
    Ok(end - start)
}

/// The DOS date and time of `secs` since the Unix epoch, in UTC, limited to the range DOS
/// times can hold (1980-01-01 00:00:00 to 2107-12-31 23:59:58).
fn dos_time(secs: u64) -> zip::DateTime {
    let (year, month, day) = kiln_core::civil_from_days(secs / 86_400);
    if year < 1980 {
        return zip::DateTime::default();
    }
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, rem / 60 % 60, rem % 60);
    let fields = (
        u16::try_from(year).ok(),
        u8::try_from(hour),
        u8::try_from(minute),
        u8::try_from(second),
    );
    let latest = || zip::DateTime::from_date_and_time(2107, 12, 31, 23, 59, 58);
    match fields {
        (Some(y), Ok(h), Ok(mi), Ok(s)) if y <= 2107 => {
            zip::DateTime::from_date_and_time(y, month, day, h, mi, s)
        }
        _ => latest(),
    }
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_times() {
        // 2024-02-29 13:45:31 UTC: DOS keeps even seconds.
        let t = dos_time(1_709_214_331);
        assert_eq!(
            (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            (2024, 2, 29, 13, 45, 30)
        );
        assert_eq!(dos_time(0), zip::DateTime::default());
        let last = dos_time(u64::MAX);
        assert_eq!((last.year(), last.month(), last.day()), (2107, 12, 31));
    }

    #[test]
    fn names() {
        for good in ["a", "a/b.txt", "dir/sub/file.qcow2", ".hidden", "a..b"] {
            check_name(good).unwrap();
        }
        for bad in [
            "", "/abs", "a/", "a//b", "./a", "a/../b", "..", "a\\b", "a\0b",
        ] {
            assert_eq!(
                check_name(bad).unwrap_err().kind(),
                io::ErrorKind::InvalidInput,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn formats() {
        for f in ArchiveFormat::ALL {
            assert_eq!(ArchiveFormat::parse(f.name()), Some(f));
            assert_eq!(
                ArchiveFormat::from_path(&format!("out/image.{}", f.name())),
                Some(f)
            );
        }
        assert_eq!(ArchiveFormat::parse("tgz"), Some(ArchiveFormat::TarGz));
        assert_eq!(
            ArchiveFormat::from_path("image.tgz"),
            Some(ArchiveFormat::TarGz)
        );
        assert_eq!(
            ArchiveFormat::from_path("image.raw.gz"),
            Some(ArchiveFormat::Gz)
        );
        assert_eq!(ArchiveFormat::from_path("image.qcow2"), None);
        assert_eq!(ArchiveFormat::from_path("image.lz4"), None);
        assert_eq!(ArchiveFormat::parse("tar.bz2"), None);
        assert!(ArchiveFormat::Xz.is_single_stream());
        assert!(!ArchiveFormat::TarXz.is_single_stream());
        assert!(!ArchiveFormat::Zip.is_single_stream());
    }

    #[test]
    fn zip64_margin() {
        assert!(!needs_zip64(0));
        assert!(!needs_zip64(1 << 31));
        assert!(needs_zip64(u64::from(u32::MAX) - 1));
        assert!(needs_zip64(
            u64::from(u32::MAX) - (u64::from(u32::MAX) >> 10)
        ));
    }
}
