//! A tokenizer for HCL2 that keeps everything the formatter needs: every byte of the
//! source belongs to a token, except the spaces and tabs between tokens, which are
//! counted in [`Token::spaces`].
//!
//! Tokens are split the way HCL's own scanner splits them, because `packer fmt` decides
//! spacing by token kind: line comments (`#`, `//`) take their newline with them, a
//! heredoc opener (`<<EOF`) takes its newline, and a heredoc's closing line (indentation
//! and marker) is one token, so the text of a heredoc comes out as it went in.

use std::ops::Range;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `\n` or `\r\n`.
    Newline,
    /// `# ...` or `// ...` (with their newline) or `/* ... */`.
    Comment,
    /// A name; may contain `-`. Keywords (`for`, `in`, `true`) are names too.
    Ident,
    /// `1`, `1.5`, `2e10`.
    Number,
    /// `"` opening a quoted template.
    OQuote,
    /// `"` closing a quoted template.
    CQuote,
    /// Literal text inside a quoted template (escapes included).
    QuotedLit,
    /// `<<EOF` or `<<-EOF` and its newline.
    OHeredoc,
    /// The closing line of a heredoc: indentation and marker.
    CHeredoc,
    /// Literal text inside a heredoc.
    StringLit,
    /// `${` or `${~`.
    TemplateInterp,
    /// `%{` or `%{~`.
    TemplateControl,
    /// `}` or `~}` ending an interpolation or directive.
    TemplateSeqEnd,
    /// `{`
    OBrace,
    /// `}`
    CBrace,
    /// `[`
    OBrack,
    /// `]`
    CBrack,
    /// `(`
    OParen,
    /// `)`
    CParen,
    /// `=`
    Equal,
    /// `,`
    Comma,
    /// `.`
    Dot,
    /// `...`
    Ellipsis,
    /// `:`
    Colon,
    /// `?`
    Question,
    /// `=>`
    FatArrow,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `%`
    Percent,
    /// `==`
    EqualOp,
    /// `!=`
    NotEqual,
    /// `<`
    Less,
    /// `<=`
    LessEq,
    /// `>`
    Greater,
    /// `>=`
    GreaterEq,
    /// `&&`
    And,
    /// `||`
    Or,
    /// `!`
    Bang,
    /// A character HCL does not know.
    Invalid,
    /// The end of the source (empty text).
    Eof,
}

impl Kind {
    /// +1 for a token that opens a nesting level, -1 for one that closes it.
    pub fn nesting(self) -> i32 {
        match self {
            Kind::OBrace | Kind::OBrack | Kind::OParen => 1,
            Kind::TemplateInterp | Kind::TemplateControl => 1,
            Kind::CBrace | Kind::CBrack | Kind::CParen | Kind::TemplateSeqEnd => -1,
            _ => 0,
        }
    }
}

/// One token of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'s> {
    /// What it is.
    pub kind: Kind,
    /// Its exact text.
    pub text: &'s str,
    /// Bytes of blank space (spaces, tabs) before it.
    pub spaces: usize,
}

impl Token<'_> {
    /// Whether the token ends a line: a newline, or a line comment with its newline.
    pub fn ends_line(&self) -> bool {
        self.kind == Kind::Newline || (self.kind == Kind::Comment && self.text.ends_with('\n'))
    }
}

/// What the scanner is inside.
enum Mode<'s> {
    /// `${ ... }` or `%{ ... }`, with the number of `{` opened inside it.
    Sequence(usize),
    /// `" ... "`.
    Quoted,
    /// A heredoc.
    Heredoc {
        /// The word that closes it.
        marker: &'s str,
        /// Whether the next byte starts a line.
        at_start: bool,
        /// Where its opener (`<<EOF`) is.
        opener: Range<usize>,
    },
}

/// Source HCL's scanner refuses although hcl-edit's parser takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A heredoc whose closing marker never comes (HCL wants the marker alone on its
    /// line, blanks after it allowed, then a newline): the span of its opener.
    UnterminatedHeredoc(Range<usize>),
    /// A quoted string with a line break in its text: the span of the break.
    MultiLineString(Range<usize>),
    /// A carriage return that does not end a line (HCL allows it only in `\r\n`).
    StrayCarriageReturn(Range<usize>),
}

/// Splits `src` into tokens; the last one is [`Kind::Eof`].
pub fn tokenize(src: &str) -> Result<Vec<Token<'_>>, Refused> {
    let mut lexer = Lexer {
        src,
        // A byte order mark counts as blank space.
        pos: if src.starts_with('\u{feff}') { 3 } else { 0 },
        gap_start: 0,
        modes: Vec::new(),
        tokens: Vec::new(),
        refused: None,
    };
    lexer.run();
    for mode in &lexer.modes {
        if let Mode::Heredoc { opener, .. } = mode {
            return Err(Refused::UnterminatedHeredoc(opener.clone()));
        }
    }
    match lexer.refused {
        Some(refused) => Err(refused),
        None => Ok(lexer.tokens),
    }
}

struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    /// Where the blank space before the next token starts.
    gap_start: usize,
    modes: Vec<Mode<'s>>,
    tokens: Vec<Token<'s>>,
    /// The first thing HCL would refuse.
    refused: Option<Refused>,
}

impl<'s> Lexer<'s> {
    fn rest(&self) -> &'s str {
        &self.src[self.pos..]
    }

    /// Emits the next `len` bytes as a token of `kind`.
    fn emit(&mut self, kind: Kind, len: usize) {
        let end = self.pos + len;
        self.tokens.push(Token {
            kind,
            text: &self.src[self.pos..end],
            spaces: self.pos - self.gap_start,
        });
        self.pos = end;
        self.gap_start = end;
    }

    fn run(&mut self) {
        loop {
            let more = match self.modes.last() {
                None | Some(Mode::Sequence(_)) => self.expression(),
                Some(Mode::Quoted) => self.quoted(),
                Some(&Mode::Heredoc {
                    marker, at_start, ..
                }) => self.heredoc(marker, at_start),
            };
            if !more {
                self.emit(Kind::Eof, 0);
                return;
            }
        }
    }

    /// Scans one token of expression syntax; false at the end of the source.
    fn expression(&mut self) -> bool {
        let rest = self.rest();
        let skipped = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        self.pos += skipped;
        let rest = self.rest();
        let Some(c) = rest.chars().next() else {
            return false;
        };
        let two = rest.get(..2).unwrap_or("");
        let (kind, len) = match c {
            '\n' => (Kind::Newline, 1),
            '\r' if two == "\r\n" => (Kind::Newline, 2),
            '\r' => {
                self.refused
                    .get_or_insert(Refused::StrayCarriageReturn(self.pos..self.pos + 1));
                return false;
            }
            '#' => (Kind::Comment, line_len(rest)),
            '/' if two == "//" => (Kind::Comment, line_len(rest)),
            '/' if two == "/*" => (
                Kind::Comment,
                rest[2..].find("*/").map_or(rest.len(), |i| i + 4),
            ),
            '"' => {
                self.modes.push(Mode::Quoted);
                (Kind::OQuote, 1)
            }
            '<' if two == "<<" => match heredoc_opener(rest) {
                Some((len, marker)) => {
                    let opener = self.pos..self.pos + rest[..len].trim_end().len();
                    self.modes.push(Mode::Heredoc {
                        marker,
                        at_start: true,
                        opener,
                    });
                    (Kind::OHeredoc, len)
                }
                None => (Kind::Less, 1),
            },
            '0'..='9' => (Kind::Number, number_len(rest)),
            c if c.is_alphabetic() || c == '_' => {
                let end = rest
                    .char_indices()
                    .find(|&(_, c)| !(c.is_alphanumeric() || c == '_' || c == '-'))
                    .map_or(rest.len(), |(i, _)| i);
                (Kind::Ident, end)
            }
            '{' => {
                if let Some(Mode::Sequence(depth)) = self.modes.last_mut() {
                    *depth += 1;
                }
                (Kind::OBrace, 1)
            }
            '}' | '~' => match self.modes.last_mut() {
                Some(Mode::Sequence(0)) if c == '}' || two == "~}" => {
                    self.modes.pop();
                    self.after_sequence();
                    (Kind::TemplateSeqEnd, if c == '~' { 2 } else { 1 })
                }
                Some(Mode::Sequence(depth)) if c == '}' => {
                    *depth -= 1;
                    (Kind::CBrace, 1)
                }
                _ if c == '}' => (Kind::CBrace, 1),
                _ => (Kind::Invalid, 1),
            },
            '.' if rest.starts_with("...") => (Kind::Ellipsis, 3),
            '=' if two == "==" => (Kind::EqualOp, 2),
            '=' if two == "=>" => (Kind::FatArrow, 2),
            '!' if two == "!=" => (Kind::NotEqual, 2),
            '<' if two == "<=" => (Kind::LessEq, 2),
            '>' if two == ">=" => (Kind::GreaterEq, 2),
            '&' if two == "&&" => (Kind::And, 2),
            '|' if two == "||" => (Kind::Or, 2),
            _ => (single(c), c.len_utf8()),
        };
        self.emit(kind, len);
        true
    }

    /// After a `}` that ends `${`/`%{`: inside a heredoc, the line continues.
    fn after_sequence(&mut self) {
        if let Some(Mode::Heredoc { at_start, .. }) = self.modes.last_mut() {
            *at_start = false;
        }
    }

    /// Scans one token inside a quoted template.
    fn quoted(&mut self) -> bool {
        let rest = self.rest();
        if rest.is_empty() || rest.starts_with(['\n', '\r']) {
            let line_break = self.pos..self.pos + rest.len().min(1);
            self.refused
                .get_or_insert(Refused::MultiLineString(line_break));
            self.modes.pop();
            return true;
        }
        if rest.starts_with('"') {
            self.modes.pop();
            self.emit(Kind::CQuote, 1);
        } else if let Some((kind, len)) = sequence_opener(rest) {
            self.modes.push(Mode::Sequence(0));
            self.emit(kind, len);
        } else {
            let len = literal_len(rest, true);
            self.emit(Kind::QuotedLit, len);
        }
        true
    }

    /// Scans one token inside a heredoc.
    fn heredoc(&mut self, marker: &str, at_start: bool) -> bool {
        let rest = self.rest();
        if rest.is_empty() {
            return false;
        }
        if at_start {
            let indent = rest.len() - rest.trim_start_matches([' ', '\t']).len();
            let after = &rest[indent..];
            if let Some(tail) = after.strip_prefix(marker) {
                // Blanks after the marker belong to it; a newline must follow.
                let blanks = tail.len() - tail.trim_start_matches([' ', '\t']).len();
                if tail[blanks..].starts_with('\n') || tail[blanks..].starts_with("\r\n") {
                    self.modes.pop();
                    self.emit(Kind::CHeredoc, indent + marker.len() + blanks);
                    return true;
                }
            }
        }
        if let Some((kind, len)) = sequence_opener(rest) {
            self.modes.push(Mode::Sequence(0));
            self.emit(kind, len);
            return true;
        }
        let len = literal_len(rest, false);
        let ends_line = rest[..len].ends_with('\n');
        if let Some(Mode::Heredoc { at_start, .. }) = self.modes.last_mut() {
            *at_start = ends_line;
        }
        self.emit(Kind::StringLit, len);
        true
    }
}

fn single(c: char) -> Kind {
    match c {
        '[' => Kind::OBrack,
        ']' => Kind::CBrack,
        '(' => Kind::OParen,
        ')' => Kind::CParen,
        '=' => Kind::Equal,
        ',' => Kind::Comma,
        '.' => Kind::Dot,
        ':' => Kind::Colon,
        '?' => Kind::Question,
        '+' => Kind::Plus,
        '-' => Kind::Minus,
        '*' => Kind::Star,
        '/' => Kind::Slash,
        '%' => Kind::Percent,
        '<' => Kind::Less,
        '>' => Kind::Greater,
        '!' => Kind::Bang,
        _ => Kind::Invalid,
    }
}

/// Length of a line comment, including its newline.
fn line_len(s: &str) -> usize {
    s.find('\n').map_or(s.len(), |i| i + 1)
}

/// Length of the number at the start of `s`: digits, an optional fraction and exponent.
fn number_len(s: &str) -> usize {
    let b = s.as_bytes();
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut len = digits(0);
    if b.get(len) == Some(&b'.') && b.get(len + 1).is_some_and(u8::is_ascii_digit) {
        len += 1 + digits(len + 1);
    }
    if matches!(b.get(len), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(b.get(len + 1), Some(b'+' | b'-')));
        let exp = digits(len + 1 + sign);
        if exp > 0 {
            len += 1 + sign + exp;
        }
    }
    len
}

/// `<<EOF\n` or `<<-EOF\n` at the start of `s`: its length (newline included) and marker.
fn heredoc_opener(s: &str) -> Option<(usize, &str)> {
    let start = if s.starts_with("<<-") { 3 } else { 2 };
    let body = &s[start..];
    if !body.starts_with(|c: char| c.is_alphabetic() || c == '_') {
        return None;
    }
    let end = body
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(body.len());
    let newline = match &body[end..] {
        t if t.starts_with('\n') => 1,
        t if t.starts_with("\r\n") => 2,
        _ => return None,
    };
    Some((start + end + newline, &body[..end]))
}

/// `${`, `${~`, `%{` or `%{~` at the start of `s`.
fn sequence_opener(s: &str) -> Option<(Kind, usize)> {
    let kind = match s.get(..2)? {
        "${" => Kind::TemplateInterp,
        "%{" => Kind::TemplateControl,
        _ => return None,
    };
    Some((kind, if s[2..].starts_with('~') { 3 } else { 2 }))
}

/// Length of template literal text at the start of `s`: up to the next `${`/`%{` (but
/// not the escapes `$${`/`%%{`), and in a quoted template up to the closing `"` (past
/// backslash escapes) or the end of the line; in a heredoc, through the end of the line.
fn literal_len(s: &str, quoted: bool) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'$' | b'%' if b.get(i + 1) == Some(&b[i]) && b.get(i + 2) == Some(&b'{') => i += 3,
            b'$' | b'%' if b.get(i + 1) == Some(&b'{') => break,
            b'\\' if quoted => i += 2,
            b'"' if quoted => break,
            b'\n' if quoted => break,
            b'\r' if quoted && b.get(i + 1) == Some(&b'\n') => break,
            b'\n' => return i + 1,
            _ => i += 1,
        }
    }
    // A backslash escape may have stepped past the end (or into a multi-byte char).
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::Kind::*;
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, &str)> {
        tokenize(src)
            .unwrap()
            .into_iter()
            .map(|t| (t.kind, t.text))
            .collect()
    }

    #[test]
    fn attribute_with_spaces_and_tabs() {
        let tokens = tokenize("a \t= 1\n").unwrap();
        let spaces: Vec<usize> = tokens.iter().map(|t| t.spaces).collect();
        assert_eq!(spaces, [0, 2, 1, 0, 0]);
        assert_eq!(
            kinds("a \t= 1\n"),
            [
                (Ident, "a"),
                (Equal, "="),
                (Number, "1"),
                (Newline, "\n"),
                (Eof, "")
            ]
        );
    }

    #[test]
    fn identifiers_take_dashes_and_unicode() {
        assert_eq!(
            kinds("x-1 é_b2"),
            [(Ident, "x-1"), (Ident, "é_b2"), (Eof, "")]
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(
            kinds("1.5e-3 2. 7e"),
            [
                (Number, "1.5e-3"),
                (Number, "2"),
                (Dot, "."),
                (Number, "7"),
                (Ident, "e"),
                (Eof, "")
            ]
        );
    }

    #[test]
    fn operators_longest_match_first() {
        let got: Vec<Kind> = kinds("== => = != ! <= < >= > && || ... . - + * / % ? :")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            got,
            [
                EqualOp, FatArrow, Equal, NotEqual, Bang, LessEq, Less, GreaterEq, Greater, And,
                Or, Ellipsis, Dot, Minus, Plus, Star, Slash, Percent, Question, Colon, Eof
            ]
        );
    }

    #[test]
    fn comments_keep_their_newline() {
        assert_eq!(
            kinds("# a\r\n// b\n/* c\n d */x"),
            [
                (Comment, "# a\r\n"),
                (Comment, "// b\n"),
                (Comment, "/* c\n d */"),
                (Ident, "x"),
                (Eof, "")
            ]
        );
        assert!(tokenize("# a\n").unwrap()[0].ends_line());
        assert!(!tokenize("/* a */").unwrap()[0].ends_line());
        assert!(!tokenize("# at the end").unwrap()[0].ends_line());
    }

    #[test]
    fn quoted_template_with_escapes_and_sequences() {
        assert_eq!(
            kinds(r#""a\"$${b}${ x.y }%{~ if c ~}d%{endif}""#),
            [
                (OQuote, "\""),
                (QuotedLit, r#"a\"$${b}"#),
                (TemplateInterp, "${"),
                (Ident, "x"),
                (Dot, "."),
                (Ident, "y"),
                (TemplateSeqEnd, "}"),
                (TemplateControl, "%{~"),
                (Ident, "if"),
                (Ident, "c"),
                (TemplateSeqEnd, "~}"),
                (QuotedLit, "d"),
                (TemplateControl, "%{"),
                (Ident, "endif"),
                (TemplateSeqEnd, "}"),
                (CQuote, "\""),
                (Eof, "")
            ]
        );
    }

    #[test]
    fn braces_inside_interpolation_and_nested_quotes() {
        assert_eq!(
            kinds(r#""${ {a="}"}.a }""#),
            [
                (OQuote, "\""),
                (TemplateInterp, "${"),
                (OBrace, "{"),
                (Ident, "a"),
                (Equal, "="),
                (OQuote, "\""),
                (QuotedLit, "}"),
                (CQuote, "\""),
                (CBrace, "}"),
                (Dot, "."),
                (Ident, "a"),
                (TemplateSeqEnd, "}"),
                (CQuote, "\""),
                (Eof, "")
            ]
        );
    }

    #[test]
    fn heredoc_is_kept_verbatim() {
        let src = "x = <<-EOT\n  a ${b} {c}\n    EOTX\n  EOT\ny";
        assert_eq!(
            kinds(src),
            [
                (Ident, "x"),
                (Equal, "="),
                (OHeredoc, "<<-EOT\n"),
                (StringLit, "  a "),
                (TemplateInterp, "${"),
                (Ident, "b"),
                (TemplateSeqEnd, "}"),
                (StringLit, " {c}\n"),
                (StringLit, "    EOTX\n"),
                (CHeredoc, "  EOT"),
                (Newline, "\n"),
                (Ident, "y"),
                (Eof, "")
            ]
        );
        let text: String = tokenize(src)
            .unwrap()
            .iter()
            .map(|t| t.text)
            .collect::<String>();
        assert_eq!(
            text.len() + 2,
            src.len(),
            "only the two blanks around `=` are gaps"
        );
    }

    #[test]
    fn heredoc_closing_marker_takes_trailing_blanks_only() {
        assert_eq!(
            kinds("<<EOT\nEOT \t\r\n"),
            [
                (OHeredoc, "<<EOT\n"),
                (CHeredoc, "EOT \t"),
                (Newline, "\r\n"),
                (Eof, "")
            ]
        );
        let unterminated = |span| Err(Refused::UnterminatedHeredoc(span));
        assert_eq!(tokenize("x = <<EOT\nEOT # c\n"), unterminated(4..9));
        assert_eq!(tokenize("x = <<-EOT\r\nEOT"), unterminated(4..10));
    }

    #[test]
    fn quoted_strings_stay_on_one_line() {
        assert_eq!(
            tokenize("x = \"a\nb\"\n"),
            Err(Refused::MultiLineString(6..7))
        );
        assert!(tokenize("x = \"${a +\nb}\"\n").is_ok());
    }

    #[test]
    fn less_than_is_not_a_heredoc() {
        assert_eq!(
            kinds("a<<b c"),
            [
                (Ident, "a"),
                (Less, "<"),
                (Less, "<"),
                (Ident, "b"),
                (Ident, "c"),
                (Eof, "")
            ]
        );
    }

    #[test]
    fn nesting() {
        let sum: i32 = tokenize(r#"f([{a="${b}"}])"#)
            .unwrap()
            .iter()
            .map(|t| t.kind.nesting())
            .sum();
        assert_eq!(sum, 0);
        assert_eq!(TemplateInterp.nesting(), 1);
        assert_eq!(TemplateSeqEnd.nesting(), -1);
    }
}
