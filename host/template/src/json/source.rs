//! A JSON file read into spanned nodes, and diagnostics placed in it.

use std::ops::Range;
use std::path::{Path, PathBuf};

use kiln_core::{Diagnostic, Location};

use super::reader::{self, Node};
use crate::files::location_in;

/// A JSON file and its text, so that spans become `file:line:col`.
#[derive(Debug)]
pub struct JsonFile {
    /// The path as given.
    pub path: PathBuf,
    /// The text (invalid UTF-8 replaced, as Go's decoder does).
    pub text: String,
}

impl JsonFile {
    /// Reads `path`.
    pub fn read(path: &Path) -> Result<Self, Diagnostic> {
        let bytes = std::fs::read(path)
            .map_err(|e| Diagnostic::error(format!("cannot read {}: {e}", path.display()), None))?;
        Ok(JsonFile {
            path: path.to_owned(),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        })
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
        location_in(&self.path, &self.text, span)
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
