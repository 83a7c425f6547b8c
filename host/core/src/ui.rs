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

/// A `Ui` that records every line, for tests and for capturing output.
#[derive(Debug, Default)]
pub struct RecordingUi {
    lines: std::sync::Mutex<Vec<(UiLevel, String)>>,
}

/// Which `Ui` method produced a recorded line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiLevel {
    /// [`Ui::say`]
    Say,
    /// [`Ui::message`]
    Message,
    /// [`Ui::error`]
    Error,
}

impl RecordingUi {
    /// Every line recorded so far, in order.
    pub fn lines(&self) -> Vec<(UiLevel, String)> {
        self.lines.lock().expect("ui lock").clone()
    }
}

impl Ui for RecordingUi {
    fn say(&self, message: &str) {
        self.lines
            .lock()
            .expect("ui lock")
            .push((UiLevel::Say, message.to_owned()));
    }
    fn message(&self, message: &str) {
        self.lines
            .lock()
            .expect("ui lock")
            .push((UiLevel::Message, message.to_owned()));
    }
    fn error(&self, message: &str) {
        self.lines
            .lock()
            .expect("ui lock")
            .push((UiLevel::Error, message.to_owned()));
    }
}
