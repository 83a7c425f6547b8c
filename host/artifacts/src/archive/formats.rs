//! The container formats: tar (entries sorted, times clamped, owners zeroed) and zip.

use super::pipeline::*;
use super::*;
use crate::CHUNK;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::Path;

/// Reads exactly `remaining` bytes of an entry: a file that shrank after its size went into
/// the header is an error rather than a corrupt archive, and bytes it gained are left out.
pub(crate) struct Exact<'a, R> {
    inner: R,
    remaining: u64,
    name: &'a str,
}

/// Opens an entry's file (now, when it was to be opened later) for reading from its
/// start; returns it with its size.
pub(crate) fn open_entry(entry: &mut Entry) -> io::Result<(File, u64)> {
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

pub(crate) fn write_tar(
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
pub(crate) fn needs_zip64(size: u64) -> bool {
    size.saturating_add(size / 1024 + 4096) >= u64::from(u32::MAX)
}

pub(crate) fn write_zip(
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
pub(crate) fn dos_time(secs: u64) -> zip::DateTime {
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
