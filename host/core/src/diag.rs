//! Diagnostics that point at the place in a template that caused them.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A place in a template file. Lines and columns count from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The template file. Shared: a large template has many locations, each copied
    /// with the step it belongs to.
    pub file: Arc<Path>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// The source line the location is on, shown under the message; for a long line, an
    /// excerpt of it around the column (see [`excerpt`]).
    pub source_line: Arc<str>,
    /// Width of the marked span on `source_line`, at least 1.
    pub width: usize,
    /// The 1-based column within `source_line` when it is an excerpt; 0 when it is the
    /// whole line (the column is then `col`).
    pub source_col: usize,
}

impl Default for Location {
    fn default() -> Self {
        Location {
            file: Arc::from(Path::new("")),
            line: 0,
            col: 0,
            source_line: Arc::from(""),
            width: 0,
            source_col: 0,
        }
    }
}

impl Location {
    /// The 1-based column of the location within `source_line`.
    pub fn column_in_source_line(&self) -> usize {
        if self.source_col == 0 {
            self.col
        } else {
            self.source_col
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The template cannot be used.
    Error,
    /// The template works, but probably not as intended.
    Warning,
}

/// A problem found in a template, with where it is and, where one helps, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// One line saying what is wrong.
    pub summary: String,
    /// Where, when the problem has a place.
    pub location: Option<Location>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at `location`.
    pub fn error(summary: impl Into<String>, location: Option<Location>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            summary: summary.into(),
            location,
            hint: None,
        }
    }

    /// A warning at `location`.
    pub fn warning(summary: impl Into<String>, location: Option<Location>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            summary: summary.into(),
            location,
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Renders as Packer renders HCL diagnostics:
///
/// ```text
/// Error: Unsupported argument
///
///   on web.pkr.hcl line 3, column 3:
///    3:   ssh_usernme = "root"
///         ^^^^^^^^^^^
///
/// An argument named "ssh_usernme" is not expected here. Did you mean "ssh_username"?
/// ```
///
/// The first line always carries `file:line:col` so that it reads well alone.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "Error",
            Severity::Warning => "Warning",
        };
        match &self.location {
            Some(loc) => {
                write!(f, "{label}: {loc}: {}", self.summary)?;
                if !loc.source_line.is_empty() {
                    let num = loc.line.to_string();
                    let (shown, col) = excerpt(&loc.source_line, loc.column_in_source_line());
                    write!(f, "\n\n  {num} | {shown}")?;
                    let pad: String = shown
                        .chars()
                        .take(col.saturating_sub(1))
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    let room = shown.chars().count().saturating_sub(col.saturating_sub(1));
                    write!(
                        f,
                        "\n  {} | {pad}{}",
                        " ".repeat(num.len()),
                        "^".repeat(loc.width.clamp(1, room.max(1)))
                    )?;
                }
            }
            None => write!(f, "{label}: {}", self.summary)?,
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n\n{hint}")?;
        }
        Ok(())
    }
}

/// The most characters of a source line a diagnostic shows.
const SNIPPET_WIDTH: usize = 160;

/// The part of `line` a diagnostic shows, around column `col` (1-based, in
/// characters), and the column within it: a long line (a minified file) is cut to
/// [`SNIPPET_WIDTH`] characters with `...` where text was left out.
pub fn excerpt(line: &str, col: usize) -> (String, usize) {
    let len = line.chars().count();
    if len <= SNIPPET_WIDTH {
        return (line.to_owned(), col);
    }
    let at = col.saturating_sub(1).min(len);
    let start = at.saturating_sub(SNIPPET_WIDTH / 2);
    let end = (start + SNIPPET_WIDTH).min(len);
    let mut shown = String::new();
    let mut col = at - start + 1;
    if start > 0 {
        shown.push_str("...");
        col += 3;
    }
    shown.extend(line.chars().skip(start).take(end - start));
    if end < len {
        shown.push_str("...");
    }
    (shown, col)
}

/// Suggests the closest of `candidates` to `word`, for "did you mean" hints.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for cand in candidates {
        let d = edit_distance(word, cand);
        let limit = (word.len().max(cand.len()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// Edit distance where swapping two neighbouring letters counts as one edit, the
/// commonest typo (`buidl`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: one error on a minified file printed its whole 600 KB line.
    #[test]
    fn a_long_line_is_cut_around_the_column() {
        let line = format!("{}X{}", "a".repeat(300_000), "b".repeat(300_000));
        let d = Diagnostic::error(
            "bad",
            Some(Location {
                file: Path::new("t.json").into(),
                line: 1,
                col: 300_001,
                source_line: line.into(),
                width: 1,
                source_col: 0,
            }),
        );
        let text = d.to_string();
        assert!(text.len() < 600, "{} bytes", text.len());
        let lines: Vec<&str> = text.lines().collect();
        let at = lines[2].find('X').unwrap();
        assert_eq!(lines[3].find('^'), Some(at), "{text}");
        assert!(
            lines[2].contains("...a") && lines[2].ends_with("b..."),
            "{text}"
        );
    }

    #[test]
    fn suggests_close_names_only() {
        let names = ["ssh_username", "ssh_password", "ssh_host"];
        assert_eq!(did_you_mean("ssh_usernme", names), Some("ssh_username"));
        assert_eq!(did_you_mean("ssh_hots", names), Some("ssh_host"));
        assert_eq!(did_you_mean("colour", names), None);
        assert_eq!(did_you_mean("buidl", ["build", "source"]), Some("build"));
    }

    #[test]
    fn renders_location_and_marker() {
        let d = Diagnostic::error(
            "Unsupported argument \"ssh_usernme\"",
            Some(Location {
                file: Path::new("a.pkr.hcl").into(),
                line: 3,
                col: 3,
                source_line: "  ssh_usernme = \"root\"".into(),
                width: 11,
                source_col: 0,
            }),
        );
        let text = d.to_string();
        assert!(
            text.starts_with("Error: a.pkr.hcl:3:3: Unsupported argument"),
            "{text}"
        );
        assert!(
            text.contains("  3 |   ssh_usernme = \"root\"\n    |   ^^^^^^^^^^^"),
            "{text}"
        );
    }
}
