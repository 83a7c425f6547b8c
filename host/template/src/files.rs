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
    /// The file's text (for HCL2's JSON syntax, the native HCL2 it was turned into).
    pub text: String,
    /// The parsed body.
    pub body: Body,
    /// Byte offset of the start of each line, so that a span's line is found by binary
    /// search (large templates ask for thousands of locations).
    line_starts: Vec<usize>,
    /// For a file in HCL2's JSON syntax: its JSON text and where each piece of
    /// [`SourceFile::text`] came from in it.
    json: Option<JsonOrigin>,
}

#[derive(Debug)]
struct JsonOrigin {
    text: String,
    origins: Vec<(usize, Range<usize>)>,
}

impl JsonOrigin {
    /// Where in the JSON the generated text at `offset` came from.
    fn locate(&self, path: &Path, offset: usize) -> Location {
        let at = self.origins.partition_point(|(o, _)| *o <= offset);
        let span = at
            .checked_sub(1)
            .map_or(0..0, |i| self.origins[i].1.clone());
        location_in(path, &self.text, span)
    }
}

impl SourceFile {
    /// Reads and parses `path`: native HCL2, or HCL2's JSON syntax when the name ends
    /// in `.json` (`*.pkr.json` templates, `*.pkrvars.json` variable files).
    pub fn load(path: &Path) -> Result<Self, Diagnostic> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Diagnostic::error(format!("cannot read {}: {e}", path.display()), None))?;
        if path.to_string_lossy().ends_with(".json") {
            let schema = if path.to_string_lossy().ends_with(".pkr.json") {
                crate::hcl_json::Schema::Template
            } else {
                crate::hcl_json::Schema::Vars
            };
            return Self::parse_json(path, text, schema);
        }
        Self::parse(path, text)
    }

    /// Parses `text`, HCL2 in its JSON syntax, as the contents of `path`.
    pub fn parse_json(
        path: &Path,
        text: String,
        schema: crate::hcl_json::Schema,
    ) -> Result<Self, Diagnostic> {
        let translated = crate::hcl_json::translate(&text, schema).map_err(|e| {
            Diagnostic::error(
                format!("Invalid JSON: {}", e.message),
                Some(location_in(path, &text, e.span)),
            )
        })?;
        let origin = JsonOrigin {
            text,
            origins: translated.origins,
        };
        let hcl = translated.hcl;
        match Self::parse(path, hcl.clone()) {
            Ok(mut file) => {
                file.json = Some(origin);
                Ok(file)
            }
            Err(mut d) => {
                // A string in the JSON is not a valid template or expression: point at
                // that string, not at the generated text.
                if let Some(loc) = &d.location {
                    let line_start: usize = hcl
                        .split_inclusive('\n')
                        .take(loc.line.saturating_sub(1))
                        .map(str::len)
                        .sum();
                    let offset = hcl[line_start..]
                        .char_indices()
                        .nth(loc.col.saturating_sub(1))
                        .map_or(hcl.len(), |(i, _)| line_start + i);
                    d.location = Some(origin.locate(path, offset));
                }
                Err(d)
            }
        }
    }

    /// Parses `text` as the contents of `path`.
    pub fn parse(path: &Path, text: String) -> Result<Self, Diagnostic> {
        match hcl::edit::parser::parse_body(&text) {
            Ok(body) => {
                let line_starts = std::iter::once(0)
                    .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                    .collect();
                Ok(SourceFile {
                    path: path.to_owned(),
                    text,
                    body,
                    line_starts,
                    json: None,
                })
            }
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

    /// Whether the file is written in HCL2's JSON syntax.
    pub fn is_json(&self) -> bool {
        self.json.is_some()
    }

    /// The location of byte range `span`.
    pub fn location(&self, span: Option<Range<usize>>) -> Location {
        let span = span.unwrap_or(0..0);
        if let Some(json) = &self.json {
            return json.locate(&self.path, span.start);
        }
        let line = self
            .line_starts
            .partition_point(|&s| s <= span.start)
            .max(1);
        locate(
            &self.path,
            &self.text,
            span,
            line,
            self.line_starts[line - 1],
        )
    }
}

/// The location of byte range `span` of `text`, the contents of `path`.
pub fn location_in(path: &Path, text: &str, span: Range<usize>) -> Location {
    let before = &text[..floor_boundary(text, span.start)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    locate(path, text, span, line, line_start)
}

fn floor_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The location of `span`, which starts on 1-based `line`, beginning at `line_start`.
fn locate(path: &Path, text: &str, span: Range<usize>, line: usize, line_start: usize) -> Location {
    let start = floor_boundary(text, span.start).max(line_start);
    let col = text[line_start..start].chars().count() + 1;
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let source_line = text[line_start..line_end].trim_end_matches('\r').to_owned();
    let mut end = span.end.clamp(start, line_end);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let width = text[start..end].chars().count().max(1);
    Location {
        file: path.to_owned(),
        line,
        col,
        source_line,
        width,
    }
}

/// The language a template path is written in, as Packer 1.6.6 decides it from the
/// path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    /// HCL2: a `*.pkr.hcl` file, or a directory of them.
    Hcl,
    /// HCL2 in its JSON syntax (`*.pkr.json`).
    HclJson,
    /// A legacy JSON template (`*.json` other than `*.pkr.json`), read by
    /// [`crate::load_json`].
    LegacyJson,
}

/// Which language the template at `path` is written in. Packer 1.6.6 reads
/// `*.pkr.json` as HCL2 in JSON syntax, not as a legacy template; only other `*.json`
/// files are legacy JSON templates.
pub fn kind(path: &Path) -> TemplateKind {
    let name = path.to_string_lossy();
    if name.ends_with(".pkr.json") {
        TemplateKind::HclJson
    } else if name.ends_with(".json") && !path.is_dir() {
        TemplateKind::LegacyJson
    } else {
        TemplateKind::Hcl
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
        if name.ends_with(".auto.pkrvars.hcl") || name.ends_with(".auto.pkrvars.json") {
            auto_vars.push(p);
        } else if name.ends_with(".pkr.hcl") || name.ends_with(".pkr.json") {
            templates.push(p);
        }
    }
    // Packer reads every native file, then every JSON one, each group in name order.
    let order = |p: &PathBuf| (p.to_string_lossy().ends_with(".json"), p.clone());
    templates.sort_by_key(order);
    auto_vars.sort_by_key(order);
    if templates.is_empty() {
        return Err(Diagnostic::error(
            format!(
                "no .pkr.hcl or .pkr.json template files in {}",
                path.display()
            ),
            None,
        ));
    }
    Ok((templates, auto_vars))
}
