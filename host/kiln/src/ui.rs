//! Terminal output as Packer users know it: `==> null.web: ...` for steps, indented
//! `    null.web: ...` for details such as remote output, sensitive values masked.

use std::io::Write;
use std::sync::Arc;

use kiln_core::Ui;

/// Shared by every build's UI: the color switch and the values to mask.
#[derive(Debug, Default)]
pub struct Output {
    /// Use ANSI colors.
    pub color: bool,
    /// Strings that must never be printed.
    pub sensitive: Vec<String>,
}

impl Output {
    /// Replaces every sensitive value in `text` with `<sensitive>`.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.sensitive {
            if !s.is_empty() {
                out = out.replace(s.as_str(), "<sensitive>");
            }
        }
        out
    }

    /// Prints a line to stdout, masked; one write per line so parallel builds do not
    /// interleave within a line.
    pub fn line(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", self.mask(text));
        let _ = stdout.flush();
    }

    /// Colors `text` with the ANSI code `code` when color is on.
    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// One build's UI.
#[derive(Debug)]
pub struct BuildUi {
    prefix: String,
    color: &'static str,
    out: Arc<Output>,
}

const COLORS: &[&str] = &["1;32", "1;36", "1;35", "1;33", "1;34"];

impl BuildUi {
    /// The UI of the `index`th build, named `name`.
    pub fn new(name: &str, index: usize, out: Arc<Output>) -> Self {
        BuildUi {
            prefix: name.to_owned(),
            color: COLORS[index % COLORS.len()],
            out,
        }
    }
}

impl Ui for BuildUi {
    fn say(&self, message: &str) {
        for line in message.lines() {
            self.out.line(
                &self
                    .out
                    .paint(self.color, &format!("==> {}: {line}", self.prefix)),
            );
        }
    }

    fn message(&self, message: &str) {
        if message.is_empty() {
            self.out.line(
                &self
                    .out
                    .paint(self.color, &format!("    {}: ", self.prefix)),
            );
        }
        for line in message.lines() {
            self.out.line(
                &self
                    .out
                    .paint(self.color, &format!("    {}: {line}", self.prefix)),
            );
        }
    }

    fn error(&self, message: &str) {
        for line in message.lines() {
            self.out.line(
                &self
                    .out
                    .paint("1;31", &format!("==> {}: {line}", self.prefix)),
            );
        }
    }
}
