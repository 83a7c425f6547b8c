//! Parsing Go's `text/template` syntax, the subset Packer templates use: text,
//! `{{ pipelines }}` of function calls, literals, fields and parentheses,
//! `if` / `else` / `with` / `range` / `end`, comments and `{{-` / `-}}` trimming.

/// A parsed template string.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Its parts, in order.
    pub nodes: Vec<Node>,
}

/// A part of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Literal text.
    Text(String),
    /// `{{ pipeline }}`
    Action(Action),
    /// `{{if}}`, `{{with}}` or `{{range}}` up to its `{{end}}`.
    Control(Control),
}

/// A `{{ pipeline }}` action.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// What it computes.
    pub pipe: Pipeline,
    /// Its text as written, delimiters included, to be passed on when a component is to
    /// evaluate it.
    pub raw: String,
}

/// The kind of a control structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlKind {
    /// `{{if}}`
    If,
    /// `{{with}}`
    With,
    /// `{{range}}`
    Range,
}

impl ControlKind {
    /// The keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            ControlKind::If => "if",
            ControlKind::With => "with",
            ControlKind::Range => "range",
        }
    }
}

/// A control structure. `{{else if x}}` is an `If` alone in the `else` branch.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    /// Which keyword opened it.
    pub kind: ControlKind,
    /// The condition.
    pub pipe: Pipeline,
    /// The condition as written.
    pub pipe_src: String,
    /// What is rendered when the condition holds.
    pub body: Vec<Node>,
    /// The `{{else}}` branch.
    pub else_body: Option<Vec<Node>>,
}

/// Commands joined by `|`: each command's result becomes the last argument of the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// The commands.
    pub cmds: Vec<Command>,
}

/// A command: a function and its arguments, or a single operand.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The words.
    pub args: Vec<Arg>,
}

/// A word of a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A function name.
    Func(String),
    /// `.A.B` (empty for `.` itself): data only the component that runs the template
    /// knows.
    Field(Vec<String>),
    /// `$` or `$name`.
    Variable(String),
    /// A string literal.
    Str(String),
    /// A number (or character) literal.
    Number(NumConst),
    /// `true` or `false`
    Bool(bool),
    /// `nil`
    Nil,
    /// `( pipeline )`
    Pipe(Pipeline),
}

/// A numeric constant, kept in every form it can take, as Go does.
#[derive(Debug, Clone, PartialEq)]
pub struct NumConst {
    /// As written.
    pub text: String,
    /// Its value as an integer, when it is one.
    pub int: Option<i64>,
    /// Its value as a float.
    pub float: Option<f64>,
}

/// A template syntax error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong.
    pub message: String,
    /// What to do about it, when there is a likely fix.
    pub hint: Option<String>,
}

impl ParseError {
    fn new(message: impl Into<String>) -> Self {
        ParseError {
            message: message.into(),
            hint: None,
        }
    }
}

/// Every function a Packer JSON template may call: Packer's own and Go's builtins.
pub const FUNCTIONS: &[&str] = &[
    // Packer
    "build_name",
    "build_type",
    "env",
    "isotime",
    "strftime",
    "pwd",
    "split",
    "template_dir",
    "timestamp",
    "uuid",
    "user",
    "packer_version",
    "consul_key",
    "vault",
    "sed",
    "build",
    "aws_secretsmanager",
    "replace",
    "replace_all",
    "upper",
    "lower",
    // text/template
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "html",
    "js",
    "urlquery",
    "call",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
];

impl Pipeline {
    /// Whether evaluating it needs data only the component has: a field, a template
    /// variable, or Packer's `build` function.
    pub fn refers_to_data(&self) -> bool {
        self.cmds.iter().any(|c| {
            c.args.iter().any(|a| match a {
                Arg::Field(_) | Arg::Variable(_) => true,
                Arg::Func(f) => f == "build",
                Arg::Pipe(p) => p.refers_to_data(),
                _ => false,
            })
        })
    }
}

impl Template {
    /// Whether the string has no actions at all.
    pub fn is_literal(&self) -> bool {
        self.nodes.iter().all(|n| matches!(n, Node::Text(_)))
    }
}

/// Parses `src`.
pub fn parse(src: &str) -> Result<Template, ParseError> {
    let items = lex(src)?;
    check_depth(&items)?;
    let mut pos = 0;
    let (nodes, end) = build(&items, &mut pos)?;
    match end {
        Terminator::Eof => Ok(Template { nodes }),
        Terminator::Else(_) => Err(ParseError::new("unexpected {{else}}")),
        Terminator::End => Err(ParseError::new("unexpected {{end}}")),
    }
}

/// How deeply parentheses, and `if`/`with`/`range` blocks, may nest: the parser and the
/// evaluator recurse once a level.
const MAX_DEPTH: usize = 256;

/// Refuses a template nested deeper than [`MAX_DEPTH`], before anything recurses.
fn check_depth(items: &[Item]) -> Result<(), ParseError> {
    let too_deep = || {
        ParseError::new(format!(
            "max expression depth exceeded ({MAX_DEPTH} levels)"
        ))
    };
    let mut blocks = 0usize;
    for item in items {
        let Item::Action { tokens, .. } = item else {
            continue;
        };
        let mut parens = 0usize;
        for t in tokens {
            match t {
                Tok::LParen => {
                    parens += 1;
                    if parens > MAX_DEPTH {
                        return Err(too_deep());
                    }
                }
                Tok::RParen => parens = parens.saturating_sub(1),
                _ => {}
            }
        }
        match tokens.first() {
            Some(Tok::Ident(k)) if matches!(k.as_str(), "if" | "with" | "range") => {
                blocks += 1;
                if blocks > MAX_DEPTH {
                    return Err(too_deep());
                }
            }
            Some(Tok::Ident(k)) if k == "end" => blocks = blocks.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Text and actions, before control structures are matched up.
#[derive(Debug)]
enum Item {
    Text(String),
    Action { tokens: Vec<Tok>, raw: String },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Field(Vec<String>),
    Variable(String),
    Str(String),
    Char(char),
    Number(String),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

fn lex(src: &str) -> Result<Vec<Item>, ParseError> {
    let mut items = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            push_text(&mut items, rest, trim_next, false);
            break;
        };
        let after = &rest[open + 2..];
        let trim_left = after.starts_with('-') && after[1..].starts_with([' ', '\t', '\n', '\r']);
        push_text(&mut items, &rest[..open], trim_next, trim_left);
        let body_start = open + 2 + usize::from(trim_left);
        let (tokens, body_len, trim_right) = lex_action(&rest[body_start..])?;
        let end = body_start + body_len;
        let raw = rest[open..end].to_owned();
        if let Some(tokens) = tokens {
            items.push(Item::Action { tokens, raw });
        }
        trim_next = trim_right;
        rest = &rest[end..];
    }
    Ok(items)
}

fn push_text(items: &mut Vec<Item>, text: &str, trim_start: bool, trim_end: bool) {
    let mut t = text;
    if trim_start {
        t = t.trim_start_matches([' ', '\t', '\n', '\r']);
    }
    if trim_end {
        t = t.trim_end_matches([' ', '\t', '\n', '\r']);
    }
    if !t.is_empty() {
        items.push(Item::Text(t.to_owned()));
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Lexes an action body up to and including its `}}`. Returns the tokens (`None` for a
/// comment), the length consumed and whether it ended with a right trim marker.
#[allow(clippy::type_complexity)]
fn lex_action(s: &str) -> Result<(Option<Vec<Tok>>, usize, bool), ParseError> {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let off = |i: usize| chars.get(i).map_or(s.len(), |&(o, _)| o);
    let mut i = 0;
    // Comments: {{/* ... */}}, with optional trim markers.
    let mut j = i;
    while at(j).is_some_and(is_space) {
        j += 1;
    }
    if s[off(j)..].starts_with("/*") {
        let from = off(j) + 2;
        let Some(close) = s[from..].find("*/") else {
            return Err(ParseError::new("unclosed comment"));
        };
        let after = from + close + 2;
        let tail = &s[after..];
        let trimmed = tail.trim_start_matches(is_space);
        if let Some(t) = trimmed.strip_prefix("-}}") {
            if trimmed.len() < tail.len() {
                return Ok((None, s.len() - t.len(), true));
            }
        }
        if let Some(t) = tail.strip_prefix("}}") {
            return Ok((None, s.len() - t.len(), false));
        }
        return Err(ParseError::new("comment ends before closing delimiter"));
    }
    let mut tokens = Vec::new();
    loop {
        let Some(c) = at(i) else {
            return Err(ParseError::new("unclosed action"));
        };
        if is_space(c) {
            let mut j = i;
            while at(j).is_some_and(is_space) {
                j += 1;
            }
            if s[off(j)..].starts_with("-}}") {
                return Ok((Some(tokens), off(j) + 3, true));
            }
            i = j;
            continue;
        }
        if s[off(i)..].starts_with("}}") {
            return Ok((Some(tokens), off(i) + 2, false));
        }
        match c {
            '|' => {
                tokens.push(Tok::Pipe);
                i += 1;
            }
            '(' => {
                tokens.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                tokens.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                tokens.push(Tok::Comma);
                i += 1;
            }
            ':' if at(i + 1) == Some('=') => {
                tokens.push(Tok::Declare);
                i += 2;
            }
            '=' => {
                tokens.push(Tok::Assign);
                i += 1;
            }
            '"' => {
                let mut out = String::new();
                i += 1;
                loop {
                    match at(i) {
                        None | Some('\n') => {
                            return Err(ParseError::new("unterminated quoted string"))
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => {
                            let (ch, used) = escape(&chars[i + 1..])?;
                            out.push(ch);
                            i += 1 + used;
                        }
                        Some(ch) => {
                            out.push(ch);
                            i += 1;
                        }
                    }
                }
                tokens.push(Tok::Str(out));
            }
            '`' => {
                let from = off(i + 1);
                let Some(len) = s[from..].find('`') else {
                    return Err(ParseError::new("unterminated raw quoted string"));
                };
                tokens.push(Tok::Str(s[from..from + len].to_owned()));
                let end = from + len + 1;
                while off(i) < end {
                    i += 1;
                }
            }
            '\'' => {
                let (ch, used) = match at(i + 1) {
                    Some('\\') => escape(&chars[i + 2..]).map(|(c, n)| (c, n + 1))?,
                    Some(ch) if ch != '\'' && ch != '\n' => (ch, 1),
                    _ => return Err(ParseError::new("malformed character constant")),
                };
                if at(i + 1 + used) != Some('\'') {
                    return Err(ParseError::new("unterminated character constant"));
                }
                tokens.push(Tok::Char(ch));
                i += used + 2;
            }
            '.' if at(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                let n = number_len(&chars[i..]);
                tokens.push(Tok::Number(chars[i..i + n].iter().map(|p| p.1).collect()));
                i += n;
            }
            '.' => {
                let mut fields = Vec::new();
                while at(i) == Some('.') {
                    let mut j = i + 1;
                    while at(j).is_some_and(is_ident_char) {
                        j += 1;
                    }
                    if j == i + 1 {
                        if !fields.is_empty() {
                            return Err(ParseError::new("bad character '.' in field"));
                        }
                        i = j;
                        break;
                    }
                    fields.push(chars[i + 1..j].iter().map(|p| p.1).collect());
                    i = j;
                }
                tokens.push(Tok::Field(fields));
            }
            '$' => {
                let mut j = i + 1;
                while at(j).is_some_and(is_ident_char) {
                    j += 1;
                }
                tokens.push(Tok::Variable(chars[i..j].iter().map(|p| p.1).collect()));
                i = j;
            }
            '+' | '-' | '0'..='9' => {
                let n = number_len(&chars[i..]);
                if n == 0 || (n == 1 && !c.is_ascii_digit()) {
                    return Err(ParseError::new(format!("bad number syntax: {c:?}")));
                }
                tokens.push(Tok::Number(chars[i..i + n].iter().map(|p| p.1).collect()));
                i += n;
            }
            c if is_ident_char(c) => {
                let mut j = i;
                while at(j).is_some_and(is_ident_char) {
                    j += 1;
                }
                tokens.push(Tok::Ident(chars[i..j].iter().map(|p| p.1).collect()));
                i = j;
            }
            c => {
                return Err(ParseError::new(format!(
                    "unexpected {:?} in command",
                    c.to_string()
                )))
            }
        }
    }
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// How many characters of `chars` make a Go number (sign, digits, `.`, exponent,
/// hex/octal/binary prefixes, underscores).
fn number_len(chars: &[(usize, char)]) -> usize {
    let mut i = 0;
    let at = |i: usize| chars.get(i).map(|p| p.1);
    if matches!(at(0), Some('+' | '-')) {
        i += 1;
    }
    let mut digits = "0123456789_";
    if at(i) == Some('0') && matches!(at(i + 1), Some('x' | 'X' | 'o' | 'O' | 'b' | 'B')) {
        i += 2;
        digits = "0123456789abcdefABCDEF_";
    }
    while at(i).is_some_and(|c| digits.contains(c)) {
        i += 1;
    }
    if at(i) == Some('.') {
        i += 1;
        while at(i).is_some_and(|c| digits.contains(c)) {
            i += 1;
        }
    }
    if digits.len() == 11 && matches!(at(i), Some('e' | 'E')) {
        i += 1;
        if matches!(at(i), Some('+' | '-')) {
            i += 1;
        }
        while at(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
    }
    i
}

/// A Go escape sequence after the backslash: the character and how many characters of
/// `chars` it used.
fn escape(chars: &[(usize, char)]) -> Result<(char, usize), ParseError> {
    let at = |i: usize| chars.get(i).map(|p| p.1);
    let bad = || ParseError::new("invalid syntax in quoted string");
    let hex = |from: usize, n: usize| -> Result<char, ParseError> {
        let mut v = 0u32;
        for k in 0..n {
            v = v * 16 + at(from + k).and_then(|c| c.to_digit(16)).ok_or_else(bad)?;
        }
        char::from_u32(v).ok_or_else(bad)
    };
    Ok(match at(0).ok_or_else(bad)? {
        'a' => ('\u{7}', 1),
        'b' => ('\u{8}', 1),
        'f' => ('\u{c}', 1),
        'n' => ('\n', 1),
        'r' => ('\r', 1),
        't' => ('\t', 1),
        'v' => ('\u{b}', 1),
        '\\' => ('\\', 1),
        '"' => ('"', 1),
        '\'' => ('\'', 1),
        'x' => (hex(1, 2)?, 3),
        'u' => (hex(1, 4)?, 5),
        'U' => (hex(1, 8)?, 9),
        '0'..='7' => {
            let mut v = 0u32;
            for k in 0..3 {
                v = v * 8 + at(k).and_then(|c| c.to_digit(8)).ok_or_else(bad)?;
            }
            (char::from_u32(v).ok_or_else(bad)?, 3)
        }
        _ => return Err(bad()),
    })
}

fn number_const(text: &str) -> Result<NumConst, ParseError> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let lower = body.to_ascii_lowercase();
    let radix_int = |digits: &str, radix: u32| i64::from_str_radix(digits, radix).ok();
    let mut int = if let Some(h) = lower.strip_prefix("0x") {
        radix_int(h, 16)
    } else if let Some(o) = lower.strip_prefix("0o") {
        radix_int(o, 8)
    } else if let Some(b) = lower.strip_prefix("0b") {
        radix_int(b, 2)
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        radix_int(&lower[1..], 8)
    } else if lower.bytes().all(|b| b.is_ascii_digit()) {
        lower.parse().ok()
    } else {
        None
    };
    if neg {
        int = int.map(|i| -i);
    }
    let float = match int {
        Some(i) => Some(i as f64),
        None if lower.starts_with("0x") => None,
        None => clean.parse::<f64>().ok(),
    };
    if int.is_none() {
        if let Some(f) = float {
            if !lower.contains(['.', 'e']) {
                return Err(ParseError::new(format!("integer overflow: {text:?}")));
            }
            if f.fract() == 0.0 && f.abs() < 9.2e18 {
                int = Some(f as i64);
            }
        }
    }
    if int.is_none() && float.is_none() {
        return Err(ParseError::new(format!("bad number syntax: {text:?}")));
    }
    Ok(NumConst {
        text: text.to_owned(),
        int,
        float,
    })
}

enum Terminator {
    Eof,
    /// `{{else}}` or `{{else if ...}}` (the tokens after `else`).
    Else(Vec<Tok>),
    End,
}

fn build(items: &[Item], pos: &mut usize) -> Result<(Vec<Node>, Terminator), ParseError> {
    let mut nodes = Vec::new();
    while *pos < items.len() {
        let item = &items[*pos];
        *pos += 1;
        let (tokens, raw) = match item {
            Item::Text(t) => {
                nodes.push(Node::Text(t.clone()));
                continue;
            }
            Item::Action { tokens, raw } => (tokens, raw),
        };
        match tokens.first() {
            Some(Tok::Ident(k)) if k == "end" => {
                if tokens.len() > 1 {
                    return Err(ParseError::new("unexpected tokens after {{end}}"));
                }
                return Ok((nodes, Terminator::End));
            }
            Some(Tok::Ident(k)) if k == "else" => {
                return Ok((nodes, Terminator::Else(tokens[1..].to_vec())));
            }
            Some(Tok::Ident(k)) if matches!(k.as_str(), "if" | "with" | "range") => {
                let kind = match k.as_str() {
                    "if" => ControlKind::If,
                    "with" => ControlKind::With,
                    _ => ControlKind::Range,
                };
                nodes.push(Node::Control(control(kind, &tokens[1..], items, pos)?));
            }
            Some(Tok::Ident(k))
                if matches!(
                    k.as_str(),
                    "define" | "template" | "block" | "break" | "continue"
                ) =>
            {
                return Err(ParseError::new(format!(
                    "{{{{{k}}}}} is not supported by Kiln in JSON templates"
                )));
            }
            None => return Err(ParseError::new("missing value for command")),
            _ => nodes.push(Node::Action(Action {
                pipe: pipeline(tokens)?,
                raw: raw.clone(),
            })),
        }
    }
    Ok((nodes, Terminator::Eof))
}

fn control(
    kind: ControlKind,
    cond: &[Tok],
    items: &[Item],
    pos: &mut usize,
) -> Result<Control, ParseError> {
    if cond.is_empty() {
        return Err(ParseError::new(format!(
            "missing value for {}",
            kind.keyword()
        )));
    }
    let pipe = pipeline(cond)?;
    let pipe_src = source_of(cond);
    let (body, end) = build(items, pos)?;
    let else_body = match end {
        Terminator::Eof => {
            return Err(ParseError::new(format!(
                "unexpected EOF: {{{{{}}}}} has no {{{{end}}}}",
                kind.keyword()
            )))
        }
        Terminator::End => None,
        Terminator::Else(rest) if rest.is_empty() => {
            let (else_body, end) = build(items, pos)?;
            match end {
                Terminator::End => Some(else_body),
                Terminator::Else(_) => return Err(ParseError::new("expected end; found {{else}}")),
                Terminator::Eof => {
                    return Err(ParseError::new("unexpected EOF: {{else}} has no {{end}}"))
                }
            }
        }
        Terminator::Else(rest) => match rest.first() {
            Some(Tok::Ident(k)) if k == "if" && kind == ControlKind::If => {
                // `{{else if c}}` shares the outer `{{end}}`.
                Some(vec![Node::Control(control(
                    ControlKind::If,
                    &rest[1..],
                    items,
                    pos,
                )?)])
            }
            _ => return Err(ParseError::new("unexpected tokens after {{else}}")),
        },
    };
    Ok(Control {
        kind,
        pipe,
        pipe_src,
        body,
        else_body,
    })
}

/// Tokens back into text, for passing a condition on unevaluated.
fn source_of(tokens: &[Tok]) -> String {
    let mut out = String::new();
    for (i, t) in tokens.iter().enumerate() {
        let glue = matches!(t, Tok::RParen) || i == 0 || matches!(tokens[i - 1], Tok::LParen);
        if !glue {
            out.push(' ');
        }
        match t {
            Tok::Ident(s) | Tok::Number(s) | Tok::Variable(s) => out.push_str(s),
            Tok::Field(f) if f.is_empty() => out.push('.'),
            Tok::Field(f) => f.iter().for_each(|f| {
                out.push('.');
                out.push_str(f);
            }),
            Tok::Str(s) => out.push_str(&format!("{s:?}")),
            Tok::Char(c) => out.push_str(&format!("{c:?}")),
            Tok::Pipe => out.push('|'),
            Tok::LParen => out.push('('),
            Tok::RParen => out.push(')'),
            Tok::Declare => out.push_str(":="),
            Tok::Assign => out.push('='),
            Tok::Comma => out.push(','),
        }
    }
    out
}

fn pipeline(tokens: &[Tok]) -> Result<Pipeline, ParseError> {
    if tokens
        .iter()
        .any(|t| matches!(t, Tok::Declare | Tok::Assign | Tok::Comma))
    {
        return Err(ParseError::new(
            "template variables ($x := ...) are not supported by Kiln in JSON templates",
        ));
    }
    let mut pos = 0;
    let pipe = parse_pipe(tokens, &mut pos)?;
    if pos < tokens.len() {
        return Err(ParseError::new("unexpected \")\" in command"));
    }
    Ok(pipe)
}

fn parse_pipe(tokens: &[Tok], pos: &mut usize) -> Result<Pipeline, ParseError> {
    let mut cmds = Vec::new();
    let mut args = Vec::new();
    while *pos < tokens.len() {
        let tok = &tokens[*pos];
        *pos += 1;
        let arg = match tok {
            Tok::Pipe => {
                if args.is_empty() {
                    return Err(ParseError::new("missing command before \"|\""));
                }
                cmds.push(Command {
                    args: std::mem::take(&mut args),
                });
                continue;
            }
            Tok::RParen => {
                *pos -= 1;
                break;
            }
            Tok::LParen => {
                let inner = parse_pipe(tokens, pos)?;
                if tokens.get(*pos) != Some(&Tok::RParen) {
                    return Err(ParseError::new("unclosed left paren"));
                }
                *pos += 1;
                if inner.cmds.is_empty() {
                    return Err(ParseError::new("missing value for parenthesized pipeline"));
                }
                Arg::Pipe(inner)
            }
            Tok::Ident(name) => match name.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                n if FUNCTIONS.contains(&n) => Arg::Func(n.to_owned()),
                n => {
                    let mut e = ParseError::new(format!("function {n:?} not defined"));
                    e.hint = kiln_core::diag::did_you_mean(n, FUNCTIONS.iter().copied())
                        .map(|s| format!("Did you mean \"{s}\"?"));
                    return Err(e);
                }
            },
            Tok::Field(f) => Arg::Field(f.clone()),
            Tok::Variable(v) if v == "$" => Arg::Variable(v.clone()),
            Tok::Variable(v) => return Err(ParseError::new(format!("undefined variable {v:?}"))),
            Tok::Str(s) => Arg::Str(s.clone()),
            Tok::Char(c) => Arg::Number(NumConst {
                text: format!("{c:?}"),
                int: Some(i64::from(u32::from(*c))),
                float: Some(f64::from(u32::from(*c))),
            }),
            Tok::Number(n) => Arg::Number(number_const(n)?),
            Tok::Declare | Tok::Assign | Tok::Comma => unreachable!("rejected by pipeline()"),
        };
        args.push(arg);
    }
    if args.is_empty() {
        if !cmds.is_empty() {
            return Err(ParseError::new("missing command after \"|\""));
        }
    } else {
        cmds.push(Command { args });
    }
    for (i, cmd) in cmds.iter().enumerate() {
        let first = &cmd.args[0];
        if matches!(first, Arg::Nil) {
            return Err(ParseError::new("nil is not a command"));
        }
        if !matches!(first, Arg::Func(_) | Arg::Field(_) | Arg::Variable(_))
            && (cmd.args.len() > 1 || i > 0)
        {
            return Err(ParseError::new(format!(
                "can't give argument to non-function {}",
                describe(first)
            )));
        }
    }
    Ok(Pipeline { cmds })
}

/// An argument as Go's messages show it.
pub fn describe(arg: &Arg) -> String {
    match arg {
        Arg::Func(f) => f.clone(),
        Arg::Field(f) if f.is_empty() => ".".into(),
        Arg::Field(f) => f.iter().map(|f| format!(".{f}")).collect(),
        Arg::Variable(v) => v.clone(),
        Arg::Str(s) => format!("{s:?}"),
        Arg::Number(n) => n.text.clone(),
        Arg::Bool(b) => b.to_string(),
        Arg::Nil => "nil".into(),
        Arg::Pipe(_) => "(pipeline)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Vec<Arg>) -> Command {
        let mut all = vec![Arg::Func(name.into())];
        all.extend(args);
        Command { args: all }
    }

    #[test]
    fn text_and_actions() {
        let t = parse("echo {{user `x`}}!").unwrap();
        assert_eq!(
            t.nodes,
            vec![
                Node::Text("echo ".into()),
                Node::Action(Action {
                    pipe: Pipeline {
                        cmds: vec![call("user", vec![Arg::Str("x".into())])]
                    },
                    raw: "{{user `x`}}".into(),
                }),
                Node::Text("!".into()),
            ]
        );
    }

    #[test]
    fn pipes_and_parentheses() {
        let t = parse(r#"{{ split (user "a") "-" 0 | upper }}"#).unwrap();
        let Node::Action(a) = &t.nodes[0] else {
            panic!()
        };
        assert_eq!(a.pipe.cmds.len(), 2);
        assert!(matches!(&a.pipe.cmds[0].args[1], Arg::Pipe(p) if p.cmds.len() == 1));
        assert_eq!(a.pipe.cmds[1], call("upper", vec![]));
    }

    #[test]
    fn fields_are_data_references() {
        let t = parse("{{ .HTTPIP }}:{{.A.B}} {{ build `ID` }} {{ user `x` }}").unwrap();
        let refs: Vec<bool> = t
            .nodes
            .iter()
            .filter_map(|n| match n {
                Node::Action(a) => Some(a.pipe.refers_to_data()),
                _ => None,
            })
            .collect();
        assert_eq!(refs, [true, true, true, false]);
    }

    #[test]
    fn trim_markers_and_comments() {
        let t = parse("a  {{- `b` -}}  c{{/* note */}}d {{- /* x */ -}} e").unwrap();
        let texts: Vec<String> = t
            .nodes
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(texts, ["a", "c", "d", "e"]);
        // `{{-3}}` is a negative number, not a trim marker.
        let t = parse("{{-3}}").unwrap();
        assert!(
            matches!(&t.nodes[0], Node::Action(a) if matches!(&a.pipe.cmds[0].args[0], Arg::Number(n) if n.int == Some(-3)))
        );
    }

    #[test]
    fn control_structures_nest() {
        let t = parse("{{if .Sudo}}sudo {{else if eq 1 2}}x{{else}}y{{end}}run").unwrap();
        let Node::Control(c) = &t.nodes[0] else {
            panic!("{t:?}")
        };
        assert_eq!(c.kind, ControlKind::If);
        assert_eq!(c.pipe_src, ".Sudo");
        let Some([Node::Control(inner)]) = c.else_body.as_deref() else {
            panic!()
        };
        assert_eq!(inner.pipe_src, "eq 1 2");
        assert_eq!(inner.else_body, Some(vec![Node::Text("y".into())]));
        assert_eq!(t.nodes[1], Node::Text("run".into()));
    }

    #[test]
    fn numbers_take_every_form_they_can() {
        let n = |s: &str| number_const(s).unwrap();
        assert_eq!((n("3").int, n("3").float), (Some(3), Some(3.0)));
        assert_eq!((n("1.0").int, n("1.5").int), (Some(1), None));
        assert_eq!(n("0x1F").int, Some(31));
        assert_eq!(n("1e3").int, Some(1000));
    }

    #[test]
    fn errors() {
        let err = |s: &str| parse(s).unwrap_err().message;
        assert_eq!(err("{{ nosuch }}"), "function \"nosuch\" not defined");
        assert_eq!(err("{{ \"abc }}"), "unterminated quoted string");
        assert_eq!(err("{{ user `x` "), "unclosed action");
        assert_eq!(err("{{if true}}x"), "unexpected EOF: {{if}} has no {{end}}");
        assert_eq!(err("{{end}}"), "unexpected {{end}}");
        assert_eq!(err("{{ 3 4 }}"), "can't give argument to non-function 3");
        assert_eq!(err("{{ nil }}"), "nil is not a command");
        assert!(err("{{ $x := 1 }}").contains("not supported"));
    }
}
