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
    /// Where each line starts, so that locations cost no more than their line's width
    /// (large templates ask for thousands of locations).
    lines: LineIndex,
    /// For a file in HCL2's JSON syntax: its JSON text and where each piece of
    /// [`SourceFile::text`] came from in it.
    json: Option<JsonOrigin>,
}

#[derive(Debug)]
struct JsonOrigin {
    text: String,
    lines: LineIndex,
    origins: Vec<(usize, Range<usize>)>,
}

impl JsonOrigin {
    /// Where in the JSON the generated text at `offset` came from.
    fn locate(&self, path: &Path, offset: usize) -> Location {
        let at = self.origins.partition_point(|(o, _)| *o <= offset);
        let span = at
            .checked_sub(1)
            .map_or(0..0, |i| self.origins[i].1.clone());
        self.lines.locate(path, &self.text, span)
    }
}

/// The lines of a text: where each starts and whether it is ASCII, so that a location's
/// line is a binary search and its column, on an ASCII line, a subtraction.
#[derive(Debug, Default)]
pub struct LineIndex {
    starts: Vec<usize>,
    ascii: Vec<bool>,
}

impl LineIndex {
    /// Indexes `text` in one pass.
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        let mut ascii = Vec::new();
        let mut line_ascii = true;
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                ascii.push(line_ascii);
                starts.push(i + 1);
                line_ascii = true;
            } else if !b.is_ascii() {
                line_ascii = false;
            }
        }
        ascii.push(line_ascii);
        LineIndex { starts, ascii }
    }

    /// The location of byte range `span` of `text`, the contents of `path`.
    pub fn locate(&self, path: &Path, text: &str, span: Range<usize>) -> Location {
        let line = self.starts.partition_point(|&s| s <= span.start).max(1);
        let line_end = self
            .starts
            .get(line)
            .map_or(text.len(), |next| next.saturating_sub(1));
        locate(
            path,
            text,
            span,
            line,
            self.starts[line - 1]..line_end,
            self.ascii[line - 1],
        )
    }
}

pub use kiln_functions::read_regular;

/// The text of `bytes` read from `path`: an error naming the place of the first byte
/// that is not UTF-8, or the byte-order mark a file must not start with.
pub fn utf8_text(path: &Path, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        return Err(Diagnostic::error(
            "the file starts with a UTF-8 byte-order mark (EF BB BF), which HCL and JSON \
             templates must not have"
                .to_owned(),
            Some(location_in(path, &text, 0..3)),
        )
        .with_hint("Save the file as UTF-8 without a byte-order mark."));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
        // The lossy text replaces each bad sequence with one U+FFFD: before the first,
        // offsets are the same.
        Diagnostic::error(
            format!(
                "the file is not valid UTF-8: byte {at} (0x{:02X}) is not part of a UTF-8 character",
                e.as_bytes()[at]
            ),
            Some(location_in(path, &text, at..at + 1)),
        )
        .with_hint("Templates and variable files are UTF-8 text.")
    })
}

/// Reads `path` as a template or variables file: a regular file of UTF-8 text.
pub fn read_template_text(path: &Path) -> Result<String, Diagnostic> {
    let bytes = read_regular(path)
        .map_err(|e| Diagnostic::error(format!("cannot read {}: {e}", path.display()), None))?;
    utf8_text(path, bytes)
}

impl SourceFile {
    /// Reads and parses `path`: native HCL2, or HCL2's JSON syntax when the name ends
    /// in `.json` (`*.pkr.json` templates, `*.pkrvars.json` variable files).
    pub fn load(path: &Path) -> Result<Self, Diagnostic> {
        let text = read_template_text(path)?;
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
            lines: LineIndex::new(&text),
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
                let lines = LineIndex::new(&text);
                Ok(SourceFile {
                    path: path.to_owned(),
                    text,
                    body,
                    lines,
                    json: None,
                })
            }
            Err(e) => {
                let loc = e.location();
                let (source_line, source_col) =
                    kiln_core::diag::excerpt(e.line().trim_end_matches(['\r', '\n']), loc.column());
                let location = Location {
                    file: path.into(),
                    line: loc.line(),
                    col: loc.column(),
                    source_line: source_line.into(),
                    width: 1,
                    source_col,
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
        self.lines.locate(&self.path, &self.text, span)
    }
}

/// The location of byte range `span` of `text`, the contents of `path`.
pub fn location_in(path: &Path, text: &str, span: Range<usize>) -> Location {
    let before = &text[..floor_boundary(text, span.start)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let ascii = text[line_start..line_end].is_ascii();
    locate(path, text, span, line, line_start..line_end, ascii)
}

fn floor_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// How many characters of a long line a location keeps on each side of its column.
const EXCERPT_SIDE: usize = 80;

/// The location of `span`, which starts on 1-based `line`, the bytes `line_range` of
/// `text` (without its newline); `ascii` says the line is ASCII, so that its column is a
/// subtraction. A long line is kept as an excerpt around the column, so that many
/// locations on one long line (a list of thousands of sources) neither copy nor scan it.
fn locate(
    path: &Path,
    text: &str,
    span: Range<usize>,
    line: usize,
    line_range: Range<usize>,
    ascii: bool,
) -> Location {
    let (line_start, line_end) = (line_range.start, line_range.end.max(line_range.start));
    let start = floor_boundary(text, span.start).clamp(line_start, line_end);
    let col = if ascii {
        start - line_start + 1
    } else {
        text[line_start..start].chars().count() + 1
    };
    let mut end = span.end.clamp(start, line_end);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let width = text[start..end]
        .chars()
        .take(4 * EXCERPT_SIDE)
        .count()
        .max(1);
    let whole = text[line_start..line_end].trim_end_matches('\r');
    if whole.len() <= 4 * EXCERPT_SIDE {
        return Location {
            file: path.into(),
            line,
            col,
            source_line: whole.into(),
            width,
            source_col: 0,
        };
    }
    let from = text[line_start..start]
        .char_indices()
        .rev()
        .nth(EXCERPT_SIDE - 1)
        .map_or(line_start, |(i, _)| line_start + i);
    let to = text[start..line_end]
        .char_indices()
        .nth(EXCERPT_SIDE)
        .map_or(line_end, |(i, _)| start + i);
    let mut source_line = String::new();
    let mut source_col = text[from..start].chars().count() + 1;
    if from > line_start {
        source_line.push_str("...");
        source_col += 3;
    }
    source_line.push_str(text[from..to].trim_end_matches('\r'));
    if to < line_end {
        source_line.push_str("...");
    }
    Location {
        file: path.into(),
        line,
        col,
        source_line: source_line.into(),
        width: width.min(EXCERPT_SIDE),
        source_col,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: every location on one long line (a list of thousands of sources)
    /// copied the whole line, so memory grew with the square of the template.
    #[test]
    fn locations_on_a_long_line_keep_an_excerpt() {
        let refs: Vec<String> = (0..20_000)
            .map(|i| format!("\"source.null.s{i}\""))
            .collect();
        let text = format!("build {{\n  sources = [{}]\n}}\n", refs.join(","));
        let lines = LineIndex::new(&text);
        let at = text.find("s19999").unwrap();
        let loc = lines.locate(Path::new("t.pkr.hcl"), &text, at..at + 6);
        assert_eq!(loc.line, 2);
        assert_eq!(loc.col, at - text.find("  sources").unwrap() + 1);
        assert!(
            loc.source_line.len() < 200,
            "{} bytes kept",
            loc.source_line.len()
        );
        let shown: String = loc
            .source_line
            .chars()
            .skip(loc.source_col - 1)
            .take(6)
            .collect();
        assert_eq!(shown, "s19999");
    }
}
