//! Evaluating a parsed template string with Packer's functions.
//!
//! Anything that reads the template's data (`.Field`, `$`, `build`) is data only the
//! component that runs the step has (shell's `{{.Vars}}`, a builder's `{{.HTTPIP}}`):
//! such actions are passed on as written, as Packer's first interpolation pass does.

use super::clock::Clock;
use super::parse::{
    describe, Arg, Command, Control, ControlKind, Node, NumConst, Pipeline, Template,
};
use kiln_functions::gotime::RFC3339;

pub use super::error::EvalError;

/// What a template string can see besides user variables.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    /// The environment, where `{{env}}` is allowed (only in variable defaults).
    pub env: Option<&'a [(String, String)]>,
    /// `{{build_name}}` and `{{build_type}}`, inside a build.
    pub build: Option<(&'a str, &'a str)>,
    /// `{{template_dir}}`: the template's directory, absolute.
    pub template_dir: &'a str,
    /// `{{pwd}}`
    pub pwd: &'a str,
    /// `{{packer_version}}`, where Packer provides it (builder and provisioner
    /// configuration).
    pub packer_version: Option<&'a str>,
    /// The time of this load.
    pub clock: Clock,
}

/// Where `{{user}}` reads from.
pub trait UserVars {
    /// The value of user variable `name`, or why there is none.
    fn user(&mut self, name: &str) -> Result<String, EvalError>;
}

/// A value inside a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// No value.
    Nil,
}

impl Val {
    fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) => "string",
            Val::Int(_) => "int",
            Val::Float(_) => "float64",
            Val::Bool(_) => "bool",
            Val::Nil => "nil",
        }
    }

    /// Go's truth: non-empty, non-zero, `true`.
    pub fn truthy(&self) -> bool {
        match self {
            Val::Str(s) => !s.is_empty(),
            Val::Int(i) => *i != 0,
            Val::Float(f) => *f != 0.0,
            Val::Bool(b) => *b,
            Val::Nil => false,
        }
    }

    /// As Go's `fmt.Sprint` prints it.
    fn print(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => go_float(*f),
            Val::Bool(b) => b.to_string(),
            Val::Nil => "<nil>".into(),
        }
    }
}

/// Renders `template`, reading user variables from `vars`.
pub fn render(
    template: &Template,
    scope: &Scope<'_>,
    vars: &mut dyn UserVars,
) -> Result<String, EvalError> {
    let mut ev = Evaluator { scope, vars };
    let mut out = String::new();
    ev.nodes(&template.nodes, &mut out)?;
    Ok(out)
}

/// Evaluates one pipeline (used by `hcl2_upgrade` to fold constant expressions).
pub fn eval_pipeline(
    pipe: &Pipeline,
    scope: &Scope<'_>,
    vars: &mut dyn UserVars,
) -> Result<Val, EvalError> {
    Evaluator { scope, vars }.pipe(pipe)
}

/// What a function parameter accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Str,
    Int,
    Any,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Str => "string",
            Ty::Int => "int",
            Ty::Any => "interface {}",
        }
    }
}

/// The parameters of function `name`: fixed ones and the type of variadic ones.
fn signature(name: &str) -> (&'static [Ty], Option<Ty>) {
    use Ty::{Any, Int, Str};
    match name {
        "build_name" | "build_type" | "pwd" | "template_dir" | "timestamp" | "uuid"
        | "packer_version" => (&[], None),
        "env"
        | "user"
        | "consul_key"
        | "build"
        | "upper"
        | "lower"
        | "strftime"
        | "clean_resource_name" => (&[Str], None),
        "isotime" | "aws_secretsmanager" => (&[], Some(Str)),
        "vault" | "sed" => (&[Str, Str], None),
        "split" => (&[Str, Str, Int], None),
        "replace" => (&[Str, Str, Int, Str], None),
        "replace_all" => (&[Str, Str, Str], None),
        "and" | "or" | "eq" | "index" => (&[Any], Some(Any)),
        "not" | "len" => (&[Any], None),
        "ne" | "lt" | "le" | "gt" | "ge" => (&[Any, Any], None),
        "printf" => (&[Str], Some(Any)),
        _ => (&[], Some(Any)),
    }
}

struct Evaluator<'s, 'v> {
    scope: &'s Scope<'s>,
    vars: &'v mut dyn UserVars,
}

impl Evaluator<'_, '_> {
    fn nodes(&mut self, nodes: &[Node], out: &mut String) -> Result<(), EvalError> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Action(a) if a.pipe.refers_to_data() => out.push_str(&a.raw),
                Node::Action(a) => {
                    let v = self.pipe(&a.pipe).map_err(|e| EvalError::InAction {
                        action: a.raw.clone(),
                        error: Box::new(e),
                    })?;
                    match v {
                        Val::Nil => out.push_str("<no value>"),
                        v => out.push_str(&v.print()),
                    }
                }
                Node::Control(c) => self.control(c, out)?,
            }
        }
        Ok(())
    }

    fn control(&mut self, c: &Control, out: &mut String) -> Result<(), EvalError> {
        if c.pipe.refers_to_data() {
            out.push_str(&format!("{{{{{} {}}}}}", c.kind.keyword(), c.pipe_src));
            self.nodes(&c.body, out)?;
            if let Some(e) = &c.else_body {
                out.push_str("{{else}}");
                self.nodes(e, out)?;
            }
            out.push_str("{{end}}");
            return Ok(());
        }
        if c.kind != ControlKind::If {
            return Err(EvalError::UnsupportedControl {
                keyword: c.kind.keyword(),
                pipe: c.pipe_src.clone(),
            });
        }
        let cond = self.pipe(&c.pipe).map_err(|e| EvalError::InCondition {
            condition: c.pipe_src.clone(),
            error: Box::new(e),
        })?;
        if cond.truthy() {
            self.nodes(&c.body, out)
        } else if let Some(e) = &c.else_body {
            self.nodes(e, out)
        } else {
            Ok(())
        }
    }

    fn pipe(&mut self, p: &Pipeline) -> Result<Val, EvalError> {
        let mut piped = None;
        for cmd in &p.cmds {
            piped = Some(self.command(cmd, piped)?);
        }
        Ok(piped.unwrap_or(Val::Nil))
    }

    fn command(&mut self, cmd: &Command, piped: Option<Val>) -> Result<Val, EvalError> {
        match &cmd.args[0] {
            Arg::Func(name) => self.call(name, &cmd.args[1..], piped),
            Arg::Pipe(p) => self.pipe(p),
            Arg::Str(s) => Ok(Val::Str(s.clone())),
            Arg::Number(n) => Ok(ideal(n)),
            Arg::Bool(b) => Ok(Val::Bool(*b)),
            Arg::Nil => Err(EvalError::NilCommand),
            Arg::Field(_) | Arg::Variable(_) => Err(EvalError::TemplateData),
        }
    }

    fn call(&mut self, name: &str, args: &[Arg], piped: Option<Val>) -> Result<Val, EvalError> {
        let (fixed, variadic) = signature(name);
        let given = args.len() + usize::from(piped.is_some());
        match variadic {
            None if given != fixed.len() => {
                return Err(EvalError::WrongArgCount {
                    function: name.to_owned(),
                    want: fixed.len(),
                    got: given,
                })
            }
            Some(_) if given < fixed.len() => {
                return Err(EvalError::TooFewArgs {
                    function: name.to_owned(),
                    want: fixed.len(),
                    got: given,
                })
            }
            _ => {}
        }
        let ty_of = |i: usize| fixed.get(i).copied().or(variadic).unwrap_or(Ty::Any);
        let mut vals = Vec::with_capacity(given);
        for (i, a) in args.iter().enumerate() {
            vals.push(self.arg(a, ty_of(i))?);
        }
        if let Some(v) = piped {
            vals.push(check(v, ty_of(given - 1))?);
        }
        self.apply(name, vals).map_err(|e| EvalError::Calling {
            function: name.to_owned(),
            error: Box::new(e),
        })
    }

    /// An argument, converted to `ty` as Go's `evalArg` does.
    fn arg(&mut self, a: &Arg, ty: Ty) -> Result<Val, EvalError> {
        match (a, ty) {
            (Arg::Str(s), Ty::Str | Ty::Any) => Ok(Val::Str(s.clone())),
            (Arg::Number(n), Ty::Int) => {
                n.int
                    .map(Val::Int)
                    .ok_or_else(|| EvalError::ExpectedInteger {
                        found: n.text.clone(),
                    })
            }
            (Arg::Number(n), Ty::Any) => Ok(ideal(n)),
            (Arg::Bool(b), Ty::Any) => Ok(Val::Bool(*b)),
            (Arg::Nil, Ty::Any) => Ok(Val::Nil),
            (Arg::Nil, ty) => Err(EvalError::NilArgument {
                expected: ty.name(),
            }),
            (Arg::Func(f), _) => {
                let v = self.call(f, &[], None)?;
                check(v, ty)
            }
            (Arg::Pipe(p), _) => {
                let v = self.pipe(p)?;
                check(v, ty)
            }
            (Arg::Field(_) | Arg::Variable(_), _) => Err(EvalError::TemplateData),
            (a, Ty::Str) => Err(EvalError::ExpectedString { found: describe(a) }),
            (a, _) => Err(EvalError::ExpectedInteger { found: describe(a) }),
        }
    }

    fn str_arg(v: &Val) -> &str {
        match v {
            Val::Str(s) => s,
            _ => "",
        }
    }

    fn apply(&mut self, name: &str, args: Vec<Val>) -> Result<Val, EvalError> {
        let s = |i: usize| Self::str_arg(&args[i]).to_owned();
        let int = |i: usize| match args[i] {
            Val::Int(n) => n,
            _ => 0,
        };
        let scope = self.scope;
        let text = |v: String| Ok(Val::Str(v));
        match name {
            "user" => self.vars.user(&s(0)).map(Val::Str),
            "env" => match scope.env {
                Some(env) => text(
                    env.iter()
                        .rev()
                        .find(|(k, _)| *k == s(0))
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default(),
                ),
                None => Err(EvalError::EnvNotAllowed),
            },
            "build_name" => {
                scope
                    .build
                    .map(|(n, _)| Val::Str(n.to_owned()))
                    .ok_or(EvalError::NotAvailable {
                        function: "build_name",
                    })
            }
            "build_type" => {
                scope
                    .build
                    .map(|(_, t)| Val::Str(t.to_owned()))
                    .ok_or(EvalError::NotAvailable {
                        function: "build_type",
                    })
            }
            "template_dir" => text(scope.template_dir.to_owned()),
            "pwd" => text(scope.pwd.to_owned()),
            "packer_version" => scope.packer_version.map(|v| Val::Str(v.to_owned())).ok_or(
                EvalError::NotAvailable {
                    function: "packer_version",
                },
            ),
            "timestamp" => text(scope.clock.unix.to_string()),
            "uuid" => text(time_ordered_uuid(scope.clock)),
            "isotime" => match args.len() {
                0 => text(scope.clock.format_go(RFC3339)),
                1 => text(scope.clock.format_go(&s(0))),
                _ => Err(EvalError::TooManyValues {
                    values: args.iter().map(Val::print).collect(),
                }),
            },
            "strftime" => text(scope.clock.strftime(&s(0))),
            "split" => {
                let (k, sep, i) = (s(0), s(1), int(2));
                let parts = go_split(&k, &sep);
                match usize::try_from(i).ok().and_then(|i| parts.get(i)) {
                    Some(p) => text((*p).to_owned()),
                    None if i < 0 => Err(EvalError::NegativeSplitIndex { index: i }),
                    None => Err(EvalError::SubstringUnavailable {
                        index: i,
                        found: parts.len(),
                        separator: sep,
                    }),
                }
            }
            "replace" => {
                let (old, new, n, src) = (s(0), s(1), int(2), s(3));
                text(match usize::try_from(n) {
                    Ok(n) => src.replacen(&old, &new, n),
                    Err(_) => src.replace(&old, &new),
                })
            }
            "replace_all" => text(s(2).replace(&s(0), &s(1))),
            "upper" => text(s(0).to_uppercase()),
            "lower" => text(s(0).to_lowercase()),
            // The amazon builders' function: every character an AMI name cannot hold
            // becomes `-`.
            "clean_resource_name" => text(
                s(0).chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c) {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect(),
            ),
            "sed" => Err(EvalError::SedDeprecated),
            "consul_key" | "vault" | "aws_secretsmanager" => Err(match (scope.env, name) {
                (None, "consul_key") => EvalError::ConsulKeyNotAllowed,
                (None, "vault") => EvalError::VaultNotAllowed,
                (None, _) => EvalError::SecretsManagerNotAllowed,
                (Some(_), _) => EvalError::SecretsService {
                    function: name.to_owned(),
                },
            }),
            "and" => Ok(args
                .iter()
                .find(|v| !v.truthy())
                .or(args.last())
                .cloned()
                .unwrap_or(Val::Nil)),
            "or" => Ok(args
                .iter()
                .find(|v| v.truthy())
                .or(args.last())
                .cloned()
                .unwrap_or(Val::Nil)),
            "not" => Ok(Val::Bool(!args[0].truthy())),
            "len" => match &args[0] {
                Val::Str(s) => Ok(Val::Int(i64::try_from(s.len()).unwrap_or(i64::MAX))),
                v => Err(EvalError::LenOfType { ty: v.type_name() }),
            },
            "index" => {
                let mut v = args[0].clone();
                for ix in &args[1..] {
                    v = match (&v, ix) {
                        (Val::Str(s), Val::Int(i)) => usize::try_from(*i)
                            .ok()
                            .and_then(|i| s.as_bytes().get(i))
                            .map(|b| Val::Int(i64::from(*b)))
                            .ok_or(EvalError::IndexOutOfRange { index: *i })?,
                        (Val::Str(_), other) => {
                            return Err(EvalError::IndexType {
                                ty: other.type_name(),
                            })
                        }
                        (other, _) => {
                            return Err(EvalError::NotIndexable {
                                ty: other.type_name(),
                            })
                        }
                    };
                }
                Ok(v)
            }
            "print" => text(go_sprint(&args)),
            "println" => text(args.iter().map(Val::print).collect::<Vec<_>>().join(" ") + "\n"),
            "printf" => text(go_sprintf(&s(0), &args[1..])),
            "eq" => {
                if args.len() < 2 {
                    return Err(EvalError::MissingComparisonArgument);
                }
                for other in &args[1..] {
                    if compare(&args[0], other)? == std::cmp::Ordering::Equal {
                        return Ok(Val::Bool(true));
                    }
                }
                Ok(Val::Bool(false))
            }
            "ne" => Ok(Val::Bool(
                compare(&args[0], &args[1])? != std::cmp::Ordering::Equal,
            )),
            "lt" | "le" | "gt" | "ge" => {
                if matches!(args[0], Val::Bool(_) | Val::Nil) {
                    return Err(EvalError::InvalidComparisonType);
                }
                let o = compare(&args[0], &args[1])?;
                use std::cmp::Ordering::{Greater, Less};
                Ok(Val::Bool(match name {
                    "lt" => o == Less,
                    "le" => o != Greater,
                    "gt" => o == Greater,
                    _ => o != Less,
                }))
            }
            other => Err(EvalError::UnsupportedFunction {
                function: other.to_owned(),
            }),
        }
    }
}

/// A numeric literal used on its own: an int unless written as a float.
fn ideal(n: &NumConst) -> Val {
    let floaty =
        !n.text.starts_with("0x") && !n.text.starts_with('\'') && n.text.contains(['.', 'e', 'E']);
    match (n.int, n.float) {
        (Some(i), _) if !floaty => Val::Int(i),
        (_, Some(f)) => Val::Float(f),
        (Some(i), None) => Val::Int(i),
        (None, None) => Val::Nil,
    }
}

/// A computed value passed where `ty` is expected.
fn check(v: Val, ty: Ty) -> Result<Val, EvalError> {
    match (&v, ty) {
        (_, Ty::Any) | (Val::Str(_), Ty::Str) | (Val::Int(_), Ty::Int) => Ok(v),
        (Val::Nil, ty) => Err(EvalError::NilValue {
            expected: ty.name(),
        }),
        (v, ty) => Err(EvalError::WrongType {
            expected: ty.name(),
            got: v.type_name(),
        }),
    }
}

fn compare(a: &Val, b: &Val) -> Result<std::cmp::Ordering, EvalError> {
    use std::cmp::Ordering;
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => Ok(x.cmp(y)),
        (Val::Int(x), Val::Int(y)) => Ok(x.cmp(y)),
        (Val::Float(x), Val::Float(y)) => Ok(x.partial_cmp(y).unwrap_or(Ordering::Less)),
        (Val::Bool(x), Val::Bool(y)) => Ok(x.cmp(y)),
        (Val::Nil, Val::Nil) => Ok(Ordering::Equal),
        _ => Err(EvalError::IncomparableTypes),
    }
}

/// Go's `strings.Split`.
fn go_split<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    if sep.is_empty() {
        let mut out: Vec<&str> = Vec::new();
        let mut idx = s.char_indices().map(|(i, _)| i).peekable();
        while let Some(i) = idx.next() {
            let end = idx.peek().copied().unwrap_or(s.len());
            out.push(&s[i..end]);
        }
        return out;
    }
    s.split(sep).collect()
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
fn go_sprint(args: &[Val]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Val::Str(_)) && !matches!(args[i - 1], Val::Str(_)) {
            out.push(' ');
        }
        out.push_str(&a.print());
    }
    out
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %q %t %f %x %%`, with
/// flags `-` and `0`, width and precision.
fn go_sprintf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut zero) = (false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '0' => zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let body = match (verb, arg) {
            ('v', a) => a.print(),
            ('s', Val::Str(s)) => match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            ('q', Val::Str(s)) => format!("{s:?}"),
            ('d', Val::Int(i)) => i.to_string(),
            ('x', Val::Int(i)) => format!("{i:x}"),
            ('X', Val::Int(i)) => format!("{i:X}"),
            ('x', Val::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('t', Val::Bool(b)) => b.to_string(),
            ('f', Val::Float(f)) => format!("{f:.*}", prec.unwrap_or(6)),
            (v, a) => format!("%!{v}({}={})", a.type_name(), a.print()),
        };
        let width: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len >= width {
            out.push_str(&body);
        } else if left {
            out.push_str(&body);
            out.push_str(&" ".repeat(width - len));
        } else {
            let pad = if zero && matches!(arg, Val::Int(_) | Val::Float(_)) {
                "0"
            } else {
                " "
            };
            out.push_str(&pad.repeat(width - len));
            out.push_str(&body);
        }
    }
    if next < args.len() {
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), a.print()))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

/// Go's `%v` for a float64: the shortest representation, in exponent form below 1e-4
/// and from 1e6 (`%g` with the shortest precision).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}e{esign}{:02}", exp.abs());
    }
    let nd = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let dp = exp + 1;
    let body = if dp <= 0 {
        format!(
            "0.{}{digits}",
            "0".repeat(usize::try_from(-dp).unwrap_or(0))
        )
    } else if dp >= nd {
        format!(
            "{digits}{}",
            "0".repeat(usize::try_from(dp - nd).unwrap_or(0))
        )
    } else {
        let (a, b) = digits.split_at(usize::try_from(dp).unwrap_or(0));
        format!("{a}.{b}")
    };
    format!("{sign}{body}")
}

/// Packer's `TimeOrderedUUID`: 32 bits of Unix time, then 96 random bits.
fn time_ordered_uuid(clock: Clock) -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = |salt: u64| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u32(clock.nanos);
        h.finish()
    };
    let (a, b) = (random(1), random(2));
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:04x}{:08x}",
        clock.unix as u32,
        (a >> 48) & 0xffff,
        (a >> 32) & 0xffff,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b & 0xffff_ffff
    )
}
