//! A UI that keeps what a component said, shared by the hostile suites.

use std::sync::Mutex;

use kiln_core::Ui;

/// A UI that keeps what the component said.
#[derive(Default)]
pub struct RecordingUi {
    lines: Mutex<Vec<String>>,
    /// Bytes of message text received, whatever the kind.
    bytes: Mutex<usize>,
}

impl RecordingUi {
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
    /// The lines, cut short for a failure message (a flood must not flood the log).
    pub fn shown(&self) -> Vec<String> {
        let lines = self.lines();
        let mut shown: Vec<String> = lines
            .iter()
            .take(12)
            .map(|l| match l.char_indices().nth(120) {
                Some((cut, _)) => format!("{}... ({} bytes)", &l[..cut], l.len()),
                None => l.clone(),
            })
            .collect();
        if lines.len() > 12 {
            shown.push(format!("... and {} more lines", lines.len() - 12));
        }
        shown
    }
    pub fn bytes(&self) -> usize {
        *self.bytes.lock().unwrap()
    }
    fn record(&self, kind: &str, message: &str) {
        *self.bytes.lock().unwrap() += message.len();
        self.lines
            .lock()
            .unwrap()
            .push(format!("{kind}: {message}"));
    }
    /// The text after `prefix` of each `message:` line starting with it.
    pub fn reported(&self, prefix: &str) -> Vec<String> {
        self.lines()
            .iter()
            .filter_map(|l| l.strip_prefix("message: "))
            .filter_map(|l| l.strip_prefix(prefix))
            .map(str::to_owned)
            .collect()
    }
}

impl Ui for RecordingUi {
    fn say(&self, message: &str) {
        self.record("say", message);
    }
    fn message(&self, message: &str) {
        self.record("message", message);
    }
    fn error(&self, message: &str) {
        self.record("error", message);
    }
}
