//! `kiln fmt`: HCL2 source laid out exactly as `packer fmt` lays it out.
//!
//! Packer's formatter works on tokens, not on the syntax tree, and so does this one: it
//! changes only the blank space between tokens and keeps comments, blank lines and
//! heredocs. Each line is split into up to three cells: the *lead*, an *assign* cell
//! from the first `=` when the rest of the line is a whole expression, and a trailing
//! line *comment*. Then
//!
//! 1. each line is indented two spaces per open bracket level, counted per line;
//! 2. tokens of a cell are one space apart, with exceptions by token kind: none inside
//!    `()`, `[]` and `${}`, around `.`, before `,`, after a function name or a negating
//!    `-`, or next to template text; `{ a = 1 }` keeps its inner spaces but `{}` does
//!    not; `!` keeps a space after it (`! a`), as Packer 1.6.6 does;
//! 3. the `=` of consecutive lines that have an assign cell line up, and so do the
//!    comments of consecutive lines that end in one.
//!
//! Blank space before the end of the file is kept as it is (tabs become spaces), and no
//! newline is added: `packer fmt` does the same.

mod lex;

use std::path::Path;

use kiln_core::Diagnostic;

use lex::{Kind, Refused, Token};

/// Formats HCL2 source text the way `packer fmt` does.
///
/// Source that does not parse is an error located at `name:line:col`.
pub fn format_hcl(source: &str, name: &str) -> Result<String, Diagnostic> {
    // HCL skips a byte order mark; the parser does not.
    let text = source.strip_prefix('\u{feff}').unwrap_or(source);
    let file = crate::SourceFile::parse(Path::new(name), text.to_owned())?;
    // hcl-edit's parser takes a few things HCL does not.
    let mut tokens = lex::tokenize(source).map_err(|refused| {
        let bom = source.len() - text.len();
        let (span, summary, hint) = match refused {
            Refused::UnterminatedHeredoc(span) => (
                span,
                "Unterminated template string",
                "No closing marker was found for the string.",
            ),
            Refused::StrayCarriageReturn(span) => (
                span,
                "Invalid character",
                "A carriage return may only come right before a newline.",
            ),
            Refused::MultiLineString(span) => (
                span,
                "Invalid multi-line string",
                "Quoted strings may not be split over multiple lines. To produce a multi-line \
                 string, either use the \\n escape to represent a newline character or use the \
                 \"heredoc\" multi-line template syntax.",
            ),
        };
        let at = file.location(Some(span.start - bom..span.end - bom));
        Diagnostic::error(summary, Some(at)).with_hint(hint)
    })?;
    let lines = split_lines(&tokens);
    indent(&mut tokens, &lines);
    space(&mut tokens, &lines);
    align(&mut tokens, &lines);
    let mut out = String::with_capacity(source.len() + source.len() / 8);
    for t in &tokens {
        out.extend(std::iter::repeat_n(' ', t.spaces));
        out.push_str(t.text);
    }
    // A safety net: never hand back text that no longer parses. It happens only where
    // the parser reads a file differently from HCL (found by fuzzing: a template
    // directive left open across a heredoc's end marker).
    if let Err(broken) = crate::SourceFile::parse(Path::new(name), out.clone()) {
        let line = broken.location.as_ref().map_or(0, |l| l.line);
        return Err(Diagnostic::error(
            "Kiln cannot format this file: it is not valid HCL as Packer reads it",
            Some(file.location(Some(0..0))),
        )
        .with_hint(format!(
            "Formatting would make line {line} unparseable; check that every heredoc and \
             template directive (%{{ for }}, %{{ if }}) is closed where intended."
        )));
    }
    Ok(out)
}

/// One line, as ranges of token indices: `lead` is `start..assign`, the assign cell is
/// `assign..end` (empty when the line has none) and the trailing comment, if any, is
/// token `end`.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    assign: usize,
    end: usize,
    comment: bool,
}

impl Line {
    fn lead(&self) -> std::ops::Range<usize> {
        self.start..self.assign
    }

    fn assign(&self) -> Option<std::ops::Range<usize>> {
        (self.assign < self.end).then_some(self.assign..self.end)
    }
}

/// Splits the tokens (without the final end-of-file) into lines and their cells.
fn split_lines(tokens: &[Token<'_>]) -> Vec<Line> {
    let body = &tokens[..tokens.len() - 1];
    let mut lines = Vec::new();
    let mut start = 0;
    while start < body.len() {
        let end = body[start..]
            .iter()
            .position(Token::ends_line)
            .map_or(body.len(), |i| start + i + 1);
        let mut line = Line {
            start,
            assign: end,
            end,
            comment: false,
        };
        if end - start > 1 && body[end - 1].kind == Kind::Comment {
            line.end -= 1;
            line.assign -= 1;
            line.comment = true;
        }
        let cell = &body[start..line.end];
        if let Some(eq) = cell.iter().skip(1).position(|t| t.kind == Kind::Equal) {
            let eq = eq + 1;
            if net_nesting(&cell[eq..]) == 0 {
                line.assign = start + eq;
            }
        }
        lines.push(line);
        start = end;
    }
    lines
}

/// Brackets opened minus brackets closed, up to the first heredoc opener.
fn net_nesting(tokens: &[Token<'_>]) -> i32 {
    let upto = tokens
        .iter()
        .position(|t| t.kind == Kind::OHeredoc)
        .map_or(tokens.len(), |i| i + 1);
    tokens[..upto].iter().map(|t| t.kind.nesting()).sum()
}

/// Indents each line by two spaces per level. A line that opens brackets starts a level
/// (however many it opens); a line that closes brackets ends the levels whose openers it
/// has closed, and is indented as the new level.
fn indent(tokens: &mut [Token<'_>], lines: &[Line]) {
    let mut levels: Vec<i32> = Vec::new();
    for line in lines {
        let first = &mut tokens[line.start];
        if first.kind == Kind::Newline {
            first.spaces = 0;
            continue;
        }
        let net = net_nesting(&tokens[line.lead()])
            + line.assign().map_or(0, |a| net_nesting(&tokens[a]));
        if net > 0 {
            tokens[line.start].spaces = 2 * levels.len();
            levels.push(net);
            continue;
        }
        let mut closed = -net;
        while closed > 0 {
            let Some(top) = levels.last_mut() else { break };
            if closed < *top {
                *top -= closed;
                break;
            }
            closed -= *top;
            levels.pop();
        }
        tokens[line.start].spaces = 2 * levels.len();
    }
}

/// Sets the space between neighbouring tokens of each cell.
fn space(tokens: &mut [Token<'_>], lines: &[Line]) {
    for line in lines {
        for cell in [Some(line.lead()), line.assign()].into_iter().flatten() {
            for i in cell.start + 1..cell.end {
                let before = (i >= cell.start + 2).then(|| tokens[i - 2].kind);
                let one = space_between(before, tokens[i - 1], tokens[i]);
                tokens[i].spaces = usize::from(one);
            }
        }
        if let Some(a) = line.assign() {
            tokens[a.start].spaces = 1;
        }
    }
}

/// Whether one space separates `left` from `right` (`before` precedes `left` in the
/// same cell).
fn space_between(before: Option<Kind>, left: Token<'_>, right: Token<'_>) -> bool {
    use Kind::*;
    let (l, r) = (left.kind, right.kind);
    match () {
        _ if r == Newline => false,
        _ if l == Ident && r == OParen => false,
        _ if l == Dot || r == Dot => false,
        _ if r == Comma || r == Ellipsis => false,
        _ if l == Comma => true,
        // Nothing is added inside template text.
        _ if matches!(l, QuotedLit | StringLit | OQuote | OHeredoc)
            || matches!(r, QuotedLit | StringLit | CQuote | CHeredoc) =>
        {
            false
        }
        // `for x in [list]`: `in` is a keyword here, not something being indexed.
        _ if l == Ident && left.text == "in" && before == Some(Ident) => true,
        _ if r == OBrack && (matches!(l, Ident | Number) || l.nesting() < 0) => false,
        // A minus after something that cannot end an operand is a negation.
        _ if l == Minus => !matches!(
            before,
            None | Some(
                OParen
                    | OBrace
                    | OBrack
                    | Equal
                    | Colon
                    | Comma
                    | Question
                    | Plus
                    | Minus
                    | Star
                    | Slash
                    | Percent
                    | EqualOp
                    | NotEqual
                    | Less
                    | LessEq
                    | Greater
                    | GreaterEq
                    | And
                    | Or
                    | Bang
            )
        ),
        // Braces have a space inside, except when empty: `{ a = 1 }`, `{}`.
        _ if l == OBrace || r == CBrace => !(l == OBrace && r == CBrace),
        _ if matches!(l, TemplateInterp | TemplateControl) && r == OBrace => true,
        _ if l == CBrace && r == TemplateSeqEnd => true,
        _ if l == TemplateSeqEnd && matches!(r, TemplateInterp | TemplateControl) => false,
        _ if l.nesting() > 0 || r.nesting() < 0 => false,
        _ => true,
    }
}

/// Lines up the assign cells, then the trailing comments, of consecutive lines.
fn align(tokens: &mut [Token<'_>], lines: &[Line]) {
    let columns = |tokens: &[Token<'_>], range: std::ops::Range<usize>| -> usize {
        tokens[range]
            .iter()
            .map(|t| t.spaces + t.text.chars().count())
            .sum()
    };
    for run in lines.chunk_by(|a, b| a.assign().is_some() == b.assign().is_some()) {
        if run[0].assign().is_none() {
            continue;
        }
        let widest = run.iter().map(|l| columns(tokens, l.lead())).max();
        for line in run {
            tokens[line.assign].spaces = widest.unwrap_or(0) - columns(tokens, line.lead()) + 1;
        }
    }
    for run in lines.chunk_by(|a, b| a.comment == b.comment) {
        if !run[0].comment {
            continue;
        }
        let widest = run.iter().map(|l| columns(tokens, l.start..l.end)).max();
        for line in run {
            tokens[line.end].spaces =
                widest.unwrap_or(0) - columns(tokens, line.start..line.end) + 1;
        }
    }
}
