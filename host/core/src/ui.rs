//! The UI a build writes to. Each build gets its own `Ui`, which prefixes its lines with
//! the build's name so interleaved parallel output stays readable.

/// Where a build's messages go. Implementations must be cheap to call from many tasks.
pub trait Ui: Send + Sync {
    /// A step-level announcement: `==> null.web: Provisioning with shell...`.
    fn say(&self, message: &str);
    /// Detail under a step, such as a line of remote output: `    null.web: hello`.
    fn message(&self, message: &str);
    /// An error the user should see.
    fn error(&self, message: &str);
    /// Starts reporting a long operation (a download, an upload, a compression) of
    /// `total` bytes (unknown when `None`) named `label`. The report ends when the
    /// handle is dropped. By default nothing is shown.
    fn progress(&self, _label: &str, _total: Option<u64>) -> Box<dyn Progress> {
        Box::new(NoProgress)
    }
    /// Starts reporting a long operation that tells only how far it has got in percent:
    /// [`Progress::advance`] counts hundredths of a percent, 10,000 in all.
    fn progress_percent(&self, _label: &str) -> Box<dyn Progress> {
        Box::new(NoProgress)
    }
    /// Whether [`Ui::progress`] and [`Ui::progress_percent`] show anything.
    fn shows_progress(&self) -> bool {
        false
    }
}

/// How far a long operation has got.
pub trait Progress: Send + Sync {
    /// `n` more bytes are done.
    fn advance(&self, n: u64);
}

/// Progress nobody sees.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn advance(&self, _n: u64) {}
}

/// A `Ui` that drops everything: for work whose messages nobody should see, such as
/// running components' `validate` while checking a template.
#[derive(Debug, Default)]
pub struct DiscardUi;

impl Ui for DiscardUi {
    fn say(&self, _message: &str) {}
    fn message(&self, _message: &str) {}
    fn error(&self, _message: &str) {}
}
