//! Parsing Go's `text/template` syntax, the subset Packer templates use: text,
//! `{{ pipelines }}` of function calls, literals, fields and parentheses,
//! `if` / `else` / `with` / `range` / `end`, comments and `{{-` / `-}}` trimming.

pub(crate) use super::lex::*;

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
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ParseError {
            message: message.into(),
            hint: None,
        }
    }
}

/// Every function a Packer JSON template may call: Packer's own, then Go's
/// `text/template` builtins.
#[rustfmt::skip]
pub const FUNCTIONS: &[&str] = &[
    "build_name", "build_type", "env", "isotime", "strftime", "pwd", "split",
    "template_dir", "timestamp", "uuid", "user", "packer_version", "consul_key", "vault",
    "sed", "build", "aws_secretsmanager", "replace", "replace_all", "upper", "lower",
    "clean_resource_name",
    // text/template
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "html", "js",
    "urlquery", "call", "eq", "ne", "lt", "le", "gt", "ge",
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
