//! Template files on disk and positions inside them.

use std::ops::Range;
use std::path::{Path, PathBuf};

use hcl::edit::structure::Body;
use kiln_core::{Diagnostic, Location};

/// One parsed file, kept with its text so that spans become `file:line:col`.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as given (relative paths stay relative, as users typed them).
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    /// The parsed body.
    pub body: Body,
}

impl SourceFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, Diagnostic> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Diagnostic::error(format!("cannot read {}: {e}", path.display()), None))?;
        Self::parse(path, text)
    }

    /// Parses `text` as the contents of `path`.
    pub fn parse(path: &Path, text: String) -> Result<Self, Diagnostic> {
        match hcl::edit::parser::parse_body(&text) {
            Ok(body) => Ok(SourceFile {
                path: path.to_owned(),
                text,
                body,
            }),
            Err(e) => {
                let loc = e.location();
                let location = Location {
                    file: path.to_owned(),
                    line: loc.line(),
                    col: loc.column(),
                    source_line: e.line().trim_end_matches(['\r', '\n']).to_owned(),
                    width: 1,
                };
                let message = e.message().to_owned();
                Err(Diagnostic::error(
                    format!("Invalid HCL: {message}"),
                    Some(location),
                ))
            }
        }
    }

    /// The location of byte range `span`.
    pub fn location(&self, span: Option<Range<usize>>) -> Location {
        let span = span.unwrap_or(0..0);
        let start = span.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..start].chars().count() + 1;
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let source_line = self.text[line_start..line_end]
            .trim_end_matches('\r')
            .to_owned();
        let end = span.end.clamp(start, line_end);
        let width = self.text[start..end].chars().count().max(1);
        Location {
            file: self.path.clone(),
            line,
            col,
            source_line,
            width,
        }
    }
}

/// The template files (`*.pkr.hcl`) and automatic variable files
/// (`*.auto.pkrvars.hcl`) of `path`: a directory, or a single template file.
pub fn discover(path: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), Diagnostic> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Diagnostic::error(
            format!("cannot open template {}: {e}", path.display()),
            None,
        )
        .with_hint("Pass a .pkr.hcl file or a directory containing .pkr.hcl files.")
    })?;
    if !meta.is_dir() {
        return Ok((vec![path.to_owned()], vec![]));
    }
    let mut templates = Vec::new();
    let mut auto_vars = Vec::new();
    let entries = std::fs::read_dir(path).map_err(|e| {
        Diagnostic::error(
            format!("cannot read directory {}: {e}", path.display()),
            None,
        )
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let p = if path == Path::new(".") {
            PathBuf::from(&name)
        } else {
            path.join(&name)
        };
        if name.ends_with(".auto.pkrvars.hcl") {
            auto_vars.push(p);
        } else if name.ends_with(".pkr.hcl") {
            templates.push(p);
        }
    }
    templates.sort();
    auto_vars.sort();
    if templates.is_empty() {
        return Err(Diagnostic::error(
            format!("no .pkr.hcl template files in {}", path.display()),
            None,
        ));
    }
    Ok((templates, auto_vars))
}
