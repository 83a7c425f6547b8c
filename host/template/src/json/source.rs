//! A JSON file read into spanned nodes, and diagnostics placed in it.

use std::ops::Range;
use std::path::{Path, PathBuf};

use kiln_core::{Diagnostic, Location};

use super::reader::{self, Node};

/// A JSON file and its text, so that spans become `file:line:col`.
#[derive(Debug)]
pub struct JsonFile {
    /// The path as given.
    pub path: PathBuf,
    /// The text (invalid UTF-8 replaced, as Go's decoder does).
    pub text: String,
    lines: crate::files::LineIndex,
}

impl JsonFile {
    /// Reads `path`.
    pub fn read(path: &Path) -> Result<Self, Diagnostic> {
        let bytes = crate::files::read_regular(path)
            .map_err(|e| Diagnostic::error(format!("cannot read {}: {e}", path.display()), None))?;
        if bytes.starts_with(b"\xEF\xBB\xBF") {
            // Named, where Go's decoder would say only "invalid character 'ï'".
            crate::files::utf8_text(path, bytes.clone())?;
        }
        Ok(JsonFile::new(
            path,
            String::from_utf8_lossy(&bytes).into_owned(),
        ))
    }

    /// `text`, the contents of `path`.
    pub fn new(path: &Path, text: String) -> Self {
        JsonFile {
            path: path.to_owned(),
            lines: crate::files::LineIndex::new(&text),
            text,
        }
    }

    /// Parses the text as one JSON value; a syntax error points at its character.
    pub fn parse(&self) -> Result<Node, Diagnostic> {
        reader::parse(&self.text).map_err(|e| {
            let end = self.text[e.offset..]
                .chars()
                .next()
                .map_or(e.offset, |c| e.offset + c.len_utf8());
            self.error(e.offset..end, format!("Error parsing JSON: {}", e.message))
        })
    }

    /// The location of `span`.
    pub fn loc(&self, span: Range<usize>) -> Location {
        self.lines.locate(&self.path, &self.text, span)
    }

    /// An error at `span`.
    pub fn error(&self, span: Range<usize>, summary: impl Into<String>) -> Diagnostic {
        Diagnostic::error(summary, Some(self.loc(span)))
    }

    /// A warning at `span`.
    pub fn warning(&self, span: Range<usize>, summary: impl Into<String>) -> Diagnostic {
        Diagnostic::warning(summary, Some(self.loc(span)))
    }
}
