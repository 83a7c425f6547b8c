//! Reading the files templates name: regular files only, bounded in size.

use std::path::Path;

/// The most bytes Kiln reads of one file: a template, a variables file, or a file a
/// template function reads (`file`, `filebase64`, `templatefile`, ...).
pub const MAX_FILE_SIZE: u64 = 64 << 20;

/// Reads the regular file `path` whole, refusing anything else (a FIFO would block, a
/// device such as `/dev/zero` would never end) and anything over [`MAX_FILE_SIZE`]. The
/// file is opened without blocking and checked through its open handle, so what is
/// checked is what is read.
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a named pipe (FIFO)"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("it is {what}; Kiln reads regular files only"),
        ));
    }
    let too_big = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "it is larger than {} MiB, the most Kiln reads of one file",
                MAX_FILE_SIZE >> 20
            ),
        )
    };
    if meta.len() > MAX_FILE_SIZE {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(too_big());
    }
    Ok(bytes)
}
