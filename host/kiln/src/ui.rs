//! Terminal output as Packer users know it: `==> null.web: ...` for steps, indented
//! `    null.web: ...` for details such as remote output, sensitive values masked.

use std::io::Write;
use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kiln_core::Ui;

/// Shared by every build's UI: the output mode and the values to mask.
#[derive(Debug, Default)]
pub struct Output {
    /// Use ANSI colors.
    pub color: bool,
    /// Strings that must never be printed.
    pub sensitive: Vec<String>,
    /// `-machine-readable`: Packer's `timestamp,target,type,data...` lines.
    pub machine_readable: bool,
    /// `-timestamp-ui`: prefix every human line with the time.
    pub timestamps: bool,
    /// Draw progress bars (stderr is a terminal, and the output is for people).
    pub progress: bool,
}

/// Escapes one field of a machine-readable line as Packer does.
pub fn machine_escape(field: &str) -> String {
    field
        .replace(',', "%!(PACKER_COMMA)")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `text` with every value of `sensitive` replaced by `<sensitive>`, in every form
/// Kiln itself writes it in (see [`secret_forms`]).
pub fn mask_all(text: &str, sensitive: &[String]) -> String {
    let mut out = text.to_owned();
    for s in sensitive {
        for form in secret_forms(s) {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), "<sensitive>");
            }
        }
    }
    out
}

/// A secret as it may appear in what Kiln prints or logs: as it is; escaped as a JSON
/// string (configurations in the log), as Rust's debug format (log fields) and as a
/// component's text (control characters escaped); inside shell single quotes (the
/// shell provisioners quote variables); and base64-encoded (credentials). Longest first,
/// so that a form containing another is masked whole.
pub fn secret_forms(secret: &str) -> Vec<String> {
    use base64::Engine;
    if secret.is_empty() {
        return Vec::new();
    }
    let json = serde_json::to_string(secret).unwrap_or_default();
    let debug = format!("{secret:?}");
    let mut forms = vec![
        secret.to_owned(),
        json[1..json.len() - 1].to_owned(),
        debug[1..debug.len() - 1].to_owned(),
        kiln_core::text::escape_controls(secret).into_owned(),
        secret.replace('\'', r#"'"'"'"#),
        base64::engine::general_purpose::STANDARD.encode(secret),
    ];
    forms.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    forms.dedup();
    forms.retain(|f| !f.is_empty());
    forms
}

/// The sensitive values of the loaded template, masked in the log too.
static LOG_SECRETS: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Makes the log mask `sensitive` from now on.
pub fn mask_in_log(sensitive: &[String]) {
    if let Ok(mut secrets) = LOG_SECRETS.write() {
        for s in sensitive {
            if !s.is_empty() && !secrets.contains(s) {
                secrets.push(s.clone());
            }
        }
    }
}

/// `text` with every sensitive value of the loaded template masked (what
/// [`mask_in_log`] was given): for diagnostics and errors printed outside a build's UI.
pub fn mask_known(text: &str) -> String {
    match LOG_SECRETS.read() {
        Ok(secrets) if !secrets.is_empty() => mask_all(text, &secrets),
        _ => text.to_owned(),
    }
}

/// A log destination that masks sensitive values in everything written through it.
pub struct MaskingWriter<W: Write>(pub W);

impl<W: Write> Write for MaskingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let masked = match LOG_SECRETS.read() {
            Ok(secrets) if !secrets.is_empty() => mask_all(&String::from_utf8_lossy(buf), &secrets),
            _ => return self.0.write(buf),
        };
        self.0.write_all(masked.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl Output {
    /// Replaces every sensitive value in `text` with `<sensitive>`.
    pub fn mask(&self, text: &str) -> String {
        mask_all(text, &self.sensitive)
    }

    fn write(&self, text: &str) {
        let write = || {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{text}");
            let _ = stdout.flush();
        };
        // Lines go above the progress bars, which are redrawn below them.
        match BARS.get() {
            Some(bars) => bars.suspend(write),
            None => write(),
        }
    }

    /// Prints a UI line of `kind` (`say`, `message`, `error`), masked: as it is, or as
    /// a machine-readable `ui` record. One write per line, so that parallel builds do
    /// not interleave within a line. Control characters in it are shown, not obeyed
    /// (colors are kept when the output is colored; see `kiln_core::text`).
    pub fn ui(&self, kind: &str, text: &str) {
        let masked = self.mask(text);
        let text = kiln_core::text::terminal_line(&masked, self.color && !self.machine_readable);
        if self.machine_readable {
            self.write(&format!(
                "{},,ui,{kind},{}",
                unix_now(),
                machine_escape(&text)
            ));
        } else if self.timestamps {
            self.write(&format!("{}: {text}", kiln_core::rfc3339(unix_now())));
        } else {
            self.write(&text);
        }
    }

    /// A plain announcement line (`say`).
    pub fn line(&self, text: &str) {
        self.ui("say", text);
    }

    /// A machine-readable record for `target` (only in `-machine-readable` mode).
    pub fn machine(&self, target: &str, kind: &str, data: &[&str]) {
        if self.machine_readable {
            let fields: Vec<String> = data
                .iter()
                .map(|d| {
                    let escaped = machine_escape(&self.mask(d));
                    kiln_core::text::terminal_line(&escaped, false).into_owned()
                })
                .collect();
            self.write(&format!(
                "{},{target},{kind},{}",
                unix_now(),
                fields.join(",")
            ));
        }
    }

    /// Colors `text` with the ANSI code `code` when color is on.
    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.color && !self.machine_readable {
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

impl BuildUi {
    /// Each line of `message` after `lead` and the build's name, in `color`.
    fn lines(&self, color: &str, lead: &str, message: &str) {
        let line = |text: &str| {
            let text = format!("{lead} {}: {text}", self.prefix);
            self.out.line(&self.out.paint(color, &text));
        };
        if message.is_empty() {
            line("");
        }
        message.lines().for_each(line);
    }
}

impl Ui for BuildUi {
    fn say(&self, message: &str) {
        if !message.is_empty() {
            self.lines(self.color, "==>", message);
        }
    }

    fn message(&self, message: &str) {
        self.lines(self.color, "   ", message);
    }

    fn error(&self, message: &str) {
        if !message.is_empty() {
            self.lines("1;31", "==>", message);
        }
    }

    fn progress(&self, label: &str, total: Option<u64>) -> Box<dyn kiln_core::Progress> {
        let template = if total.is_some() {
            "{prefix} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}"
        } else {
            "{prefix} {msg} {spinner} {bytes} {bytes_per_sec}"
        };
        self.bar(label, total, template)
    }

    fn progress_percent(&self, label: &str) -> Box<dyn kiln_core::Progress> {
        self.bar(
            label,
            Some(10_000),
            "{prefix} {msg} [{bar:30}] {percent}% ETA {eta}",
        )
    }

    fn shows_progress(&self) -> bool {
        self.out.progress
    }
}

impl BuildUi {
    /// A bar of `total` (unknown when `None`) drawn with `template`, nothing unless
    /// progress is shown.
    fn bar(&self, label: &str, total: Option<u64>, template: &str) -> Box<dyn kiln_core::Progress> {
        if !self.out.progress {
            return Box::new(kiln_core::NoProgress);
        }
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(format!("    {}:", self.prefix));
        bar.set_message(self.out.mask(label));
        Box::new(Bar {
            bar,
            started: std::time::Instant::now(),
            shown: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

/// The progress bars of every build, on stderr (only when it is a terminal).
static BARS: std::sync::OnceLock<MultiProgress> = std::sync::OnceLock::new();

/// Operations shorter than this get no bar.
const BAR_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// One operation's bar, drawn once the operation has run for [`BAR_AFTER`], removed
/// when dropped.
struct Bar {
    bar: ProgressBar,
    started: std::time::Instant,
    shown: std::sync::atomic::AtomicBool,
}

impl kiln_core::Progress for Bar {
    fn advance(&self, n: u64) {
        use std::sync::atomic::Ordering;
        self.bar.inc(n);
        if !self.shown.load(Ordering::Relaxed)
            && self.started.elapsed() >= BAR_AFTER
            && !self.shown.swap(true, Ordering::Relaxed)
        {
            BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
                .add(self.bar.clone());
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        if let Some(bars) = BARS.get() {
            bars.remove(&self.bar);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: with KILN_LOG=debug, a secret holding `"` or `\` reached the log in
    /// its JSON-escaped form, past the mask.
    #[test]
    fn every_form_kiln_writes_a_secret_in_is_masked() {
        let secret = r#"pa"ss\wo'rd"#.to_owned();
        let config = serde_json::json!({ "password": secret }).to_string();
        let debug = format!("{:?}", secret);
        let quoted = format!("PW='{}'", secret.replace('\'', r#"'"'"'"#));
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&secret);
        for text in [config, debug, quoted, encoded, secret.clone()] {
            let masked = mask_all(&text, std::slice::from_ref(&secret));
            assert!(masked.contains("<sensitive>"), "{text} -> {masked}");
            for part in ["ss\\\\wo", "ss\\wo", "pa\\\"ss", "wo'\"'\"'rd"] {
                assert!(!masked.contains(part), "{text} -> {masked}");
            }
        }
    }

    #[test]
    fn machine_fields_escape_as_packer_does() {
        assert_eq!(machine_escape("a,b\nc"), "a%!(PACKER_COMMA)b\\nc");
    }
}
