//! Deterministic archives (tar, zip) and compressed streams (gzip, zstd, xz) of artifacts,
//! written as they are read.

use std::fs::File;
use std::io::{self, Seek, Write};
use std::ops::RangeInclusive;

mod formats;
mod pipeline;

use self::formats::*;
use self::pipeline::*;

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
