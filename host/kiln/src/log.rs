//! The log (`KILN_LOG=debug`, to `KILN_LOG_PATH` or stderr), with sensitive values
//! masked as everywhere else.

use std::path::Path;
use std::sync::Arc;

use crate::ui;

pub fn init_tracing() {
    let Ok(level) = std::env::var("KILN_LOG") else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&level).unwrap_or_else(|_| "info".into());
    // Sensitive values are masked in the log as everywhere else.
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match std::env::var_os("KILN_LOG_PATH").and_then(|p| std::fs::File::create(Path::new(&p)).ok())
    {
        Some(file) => {
            let file = Arc::new(std::sync::Mutex::new(file));
            builder
                .with_writer(move || ui::MaskingWriter(SharedFile(file.clone())))
                .with_ansi(false)
                .init()
        }
        None => builder
            .with_writer(|| ui::MaskingWriter(std::io::stderr()))
            .init(),
    }
}

/// The log file, shared by every thread that logs.
struct SharedFile(Arc<std::sync::Mutex<std::fs::File>>);

impl std::io::Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut f) => f.write(buf),
            Err(_) => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut f) => f.flush(),
            Err(_) => Ok(()),
        }
    }
}
