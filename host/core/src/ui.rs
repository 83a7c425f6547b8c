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
