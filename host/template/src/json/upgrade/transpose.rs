//! Go-template strings into HCL2 template strings: `{{user `x`}}` → `${var.x}`,
//! `{{timestamp}}` → `${local.timestamp}`, ..., as Packer's `hcl2_upgrade` maps them,
//! with the mappings it lacks added where HCL2 has an exact equivalent. Expressions of
//! constants (`{{ "a" | upper }}`) are computed now; data for the component
//! (`{{ .HTTPIP }}`) stays as written.

use std::cell::Cell;
use std::collections::BTreeSet;

use super::write::is_identifier;
use crate::hcl_string::{escape, quote};
use crate::json::interpolate::{
    self, Arg, Clock, Command, Control, EvalError, Node, Pipeline, Scope, Template, UserVars,
};
use kiln_functions::gotime::to_formatdate;

/// Where a string is written, which decides what the build functions become.
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    /// A variable's default, or a builder's name: no build is known.
    Core,
    /// The source block of one builder: its build name and type are constants.
    Source {
        /// The build name as HCL2 template text.
        name: &'a str,
        /// The builder type.
        ty: &'a str,
    },
    /// A provisioner or post-processor, shared by every build.
    Build,
}

/// Why a string could not be translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unhandled(pub String);

/// Translates strings; remembers whether `local.timestamp` was used.
#[derive(Debug, Default)]
pub struct Transposer {
    /// Variables whose value lives in a local of the same name.
    pub locals: BTreeSet<String>,
    /// Set once a translation used `local.timestamp`.
    pub uses_timestamp: Cell<bool>,
    /// Every variable a `{{user}}` call named.
    pub users: std::cell::RefCell<BTreeSet<String>>,
}

/// Functions whose result depends only on their arguments.
#[rustfmt::skip]
const PURE: &[&str] = &[
    "lower", "upper", "split", "replace", "replace_all", "print", "printf", "println",
    "and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index",
];

/// Whether function `f` computes from its arguments alone.
pub fn is_pure(f: &str) -> bool {
    PURE.contains(&f)
}

/// An argument: a literal as written, or a translated expression.
enum Operand<'a> {
    Lit(&'a Arg),
    Expr(String),
}

impl Transposer {
    /// `s` as the inside of an HCL2 quoted template.
    pub fn string(&self, s: &str, place: Place<'_>) -> Result<String, Unhandled> {
        let t = interpolate::parse(s)
            .map_err(|e| Unhandled(format!("could not parse template {s:?}: {}", e.message)))?;
        self.nodes(&t.nodes, place)
    }

    fn nodes(&self, nodes: &[Node], place: Place<'_>) -> Result<String, Unhandled> {
        let mut out = String::new();
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(&escape(t)),
                Node::Action(a) if a.pipe.refers_to_data() => out.push_str(&escape(&a.raw)),
                Node::Action(a) if is_constant(&a.pipe) => {
                    let one = Template {
                        nodes: vec![n.clone()],
                    };
                    let v = interpolate::render(&one, &const_scope(), &mut NoVars)
                        .map_err(|e| Unhandled(e.to_string()))?;
                    out.push_str(&escape(&v));
                }
                Node::Action(a) => {
                    // `{{build_name}}` / `{{build_type}}` alone in a source: the constant.
                    let alone = match a.pipe.cmds.as_slice() {
                        [Command { args }] if args.len() == 1 => match &args[0] {
                            Arg::Func(f) => Some(f.as_str()),
                            _ => None,
                        },
                        _ => None,
                    };
                    match (place, alone) {
                        (Place::Source { name, .. }, Some("build_name")) => out.push_str(name),
                        (Place::Source { ty, .. }, Some("build_type")) => out.push_str(&escape(ty)),
                        _ => {
                            let e = self
                                .pipe(&a.pipe, place)
                                .map_err(|Unhandled(why)| Unhandled(format!("{}: {why}", a.raw)))?;
                            out.push_str(&format!("${{{e}}}"));
                        }
                    }
                }
                Node::Control(c) => out.push_str(&self.control(c, place)?),
            }
        }
        Ok(out)
    }

    fn control(&self, c: &Control, place: Place<'_>) -> Result<String, Unhandled> {
        if c.pipe.refers_to_data() {
            let mut out = escape(&format!("{{{{{} {}}}}}", c.kind.keyword(), c.pipe_src));
            out.push_str(&self.nodes(&c.body, place)?);
            if let Some(e) = &c.else_body {
                out.push_str("{{else}}");
                out.push_str(&self.nodes(e, place)?);
            }
            out.push_str("{{end}}");
            return Ok(out);
        }
        if c.kind == interpolate::ControlKind::If && is_constant(&c.pipe) {
            let cond = interpolate::eval_pipeline(&c.pipe, &const_scope(), &mut NoVars)
                .map_err(|e| Unhandled(e.to_string()))?;
            return match (cond.truthy(), &c.else_body) {
                (true, _) => self.nodes(&c.body, place),
                (false, Some(e)) => self.nodes(e, place),
                (false, None) => Ok(String::new()),
            };
        }
        Err(Unhandled(format!(
            "{{{{{} {}}}}} has no HCL2 equivalent hcl2_upgrade can write",
            c.kind.keyword(),
            c.pipe_src
        )))
    }

    fn pipe(&self, p: &Pipeline, place: Place<'_>) -> Result<String, Unhandled> {
        let mut piped = None;
        for cmd in &p.cmds {
            piped = Some(self.command(cmd, piped, place)?);
        }
        piped.ok_or_else(|| Unhandled("empty pipeline".into()))
    }

    fn command(
        &self,
        cmd: &Command,
        piped: Option<String>,
        place: Place<'_>,
    ) -> Result<String, Unhandled> {
        match &cmd.args[0] {
            Arg::Func(f) => {
                let mut ops: Vec<Operand<'_>> = cmd.args[1..].iter().map(Operand::Lit).collect();
                if let Some(p) = piped {
                    ops.push(Operand::Expr(p));
                }
                self.call(f, ops, place)
            }
            a => self.operand(&Operand::Lit(a), place),
        }
    }

    fn operand(&self, o: &Operand<'_>, place: Place<'_>) -> Result<String, Unhandled> {
        match o {
            Operand::Expr(e) => Ok(e.clone()),
            Operand::Lit(a) => match a {
                Arg::Str(s) => Ok(quote(s)),
                Arg::Number(n) => Ok(n.text.clone()),
                Arg::Bool(b) => Ok(b.to_string()),
                Arg::Nil => Ok("null".into()),
                Arg::Func(f) => self.call(f, vec![], place),
                Arg::Pipe(p) if is_constant(p) => {
                    let v = interpolate::eval_pipeline(p, &const_scope(), &mut NoVars)
                        .map_err(|e| Unhandled(e.to_string()))?;
                    Ok(match v {
                        interpolate::Val::Str(s) => quote(&s),
                        interpolate::Val::Int(i) => i.to_string(),
                        interpolate::Val::Float(f) => interpolate::go_float(f),
                        interpolate::Val::Bool(b) => b.to_string(),
                        interpolate::Val::Nil => "null".into(),
                    })
                }
                Arg::Pipe(p) => self.pipe(p, place),
                Arg::Field(_) | Arg::Variable(_) => Err(Unhandled(
                    "template data is only known to the component".into(),
                )),
            },
        }
    }

    fn call(&self, f: &str, ops: Vec<Operand<'_>>, place: Place<'_>) -> Result<String, Unhandled> {
        let arity = |n: usize| {
            if ops.len() == n {
                Ok(())
            } else {
                Err(Unhandled(format!(
                    "wrong number of args for {f}: want {n} got {}",
                    ops.len()
                )))
            }
        };
        let e = |i: usize| self.operand(&ops[i], place);
        let literal_str = |i: usize| match &ops[i] {
            Operand::Lit(Arg::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let literal_int = |i: usize| match &ops[i] {
            Operand::Lit(Arg::Number(n)) => n.int,
            _ => None,
        };
        match f {
            "user" => {
                arity(1)?;
                let name = literal_str(0)
                    .filter(|n| is_identifier(n))
                    .ok_or_else(|| Unhandled("`user` takes a variable name written as a string".into()))?;
                self.users.borrow_mut().insert(name.clone());
                Ok(if self.locals.contains(&name) {
                    format!("local.{name}")
                } else {
                    format!("var.{name}")
                })
            }
            "env" => {
                arity(1)?;
                Ok(format!("env({})", e(0)?))
            }
            "build_name" | "build_type" => {
                arity(0)?;
                let name = f == "build_name";
                match place {
                    Place::Source { name: n, .. } if name => Ok(format!("\"{n}\"")),
                    Place::Source { ty, .. } => Ok(quote(ty)),
                    Place::Build if name => Ok("source.name".into()),
                    Place::Build => Ok("source.type".into()),
                    Place::Core => Err(Unhandled(format!("{f} is not available here"))),
                }
            }
            "timestamp" => {
                arity(0)?;
                self.uses_timestamp.set(true);
                Ok("local.timestamp".into())
            }
            "isotime" => match ops.len() {
                0 => {
                    self.uses_timestamp.set(true);
                    Ok("local.timestamp".into())
                }
                1 => {
                    let spec = literal_str(0)
                        .and_then(|l| to_formatdate(&l))
                        .ok_or_else(|| Unhandled("this isotime layout has no formatdate equivalent".into()))?;
                    Ok(format!("formatdate({}, timestamp())", quote(&spec)))
                }
                _ => Err(Unhandled("too many values for isotime".into())),
            },
            "uuid" => arity(0).map(|()| "uuidv4()".into()),
            "template_dir" => arity(0).map(|()| "path.root".into()),
            "pwd" => arity(0).map(|()| "path.cwd".into()),
            "packer_version" => arity(0).map(|()| "packer.version".into()),
            "lower" | "upper" => {
                arity(1)?;
                Ok(format!("{f}({})", e(0)?))
            }
            "split" => {
                arity(3)?;
                let (s, sep) = (e(0)?, e(1)?);
                Ok(match literal_int(2) {
                    Some(i) if i >= 0 => format!("split({sep}, {s})[{i}]"),
                    _ => format!("element(split({sep}, {s}), {})", e(2)?),
                })
            }
            "replace_all" => {
                arity(3)?;
                check_not_regex(literal_str(0))?;
                Ok(format!("replace({}, {}, {})", e(2)?, e(0)?, e(1)?))
            }
            "replace" => {
                arity(4)?;
                check_not_regex(literal_str(0))?;
                match literal_int(2) {
                    Some(n) if n < 0 => Ok(format!("replace({}, {}, {})", e(3)?, e(0)?, e(1)?)),
                    Some(0) => e(3),
                    _ => Err(Unhandled(
                        "`replace` with a count has no HCL2 equivalent; use replace(string, substring, replacement) for all occurrences".into(),
                    )),
                }
            }
            "consul_key" => {
                arity(1)?;
                Ok(format!("consul_key({})", e(0)?))
            }
            "vault" => {
                arity(2)?;
                Ok(format!("vault({}, {})", e(0)?, e(1)?))
            }
            "aws_secretsmanager" => {
                arity(2)?;
                Ok(format!("aws_secretsmanager({}, {})", e(0)?, e(1)?))
            }
            other => Err(Unhandled(format!(
                "`{other}` on values known only at build time has no HCL2 equivalent hcl2_upgrade can write"
            ))),
        }
    }
}

/// HCL2's `replace` reads a substring wrapped in slashes as a regular expression.
fn check_not_regex(old: Option<String>) -> Result<(), Unhandled> {
    match old {
        Some(s) if s.len() > 1 && s.starts_with('/') && s.ends_with('/') => Err(Unhandled(
            "HCL2's replace() would read this substring as a regular expression".into(),
        )),
        _ => Ok(()),
    }
}

/// Whether `p` computes from literals alone.
fn is_constant(p: &Pipeline) -> bool {
    p.cmds.iter().all(|c| {
        c.args.iter().all(|a| match a {
            Arg::Func(f) => is_pure(f),
            Arg::Pipe(p) => is_constant(p),
            Arg::Field(_) | Arg::Variable(_) => false,
            _ => true,
        })
    })
}

fn const_scope() -> Scope<'static> {
    Scope {
        env: None,
        build: None,
        template_dir: "",
        pwd: "",
        packer_version: None,
        clock: Clock { unix: 0, nanos: 0 },
    }
}

struct NoVars;

impl UserVars for NoVars {
    fn user(&mut self, _: &str) -> Result<String, EvalError> {
        Err(EvalError::NoVariables)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(s: &str, place: Place<'_>) -> Result<String, Unhandled> {
        let t = Transposer {
            locals: BTreeSet::from(["derived".to_owned()]),
            ..Default::default()
        };
        t.string(s, place)
    }

    /// Checks each `(template, HCL2)` pair, transposed in `place`.
    fn transposes(place: Place<'_>, cases: &[(&str, &str)]) {
        for (from, to) in cases {
            assert_eq!(tr(from, place).as_deref(), Ok(*to), "{from}");
        }
    }

    #[test]
    fn packer_mappings() {
        transposes(
            Place::Build,
            &[
                ("echo {{ user `x` }}", "echo ${var.x}"),
                ("{{user `derived`}}", "${local.derived}"),
                (
                    "{{timestamp}}-{{isotime}}",
                    "${local.timestamp}-${local.timestamp}",
                ),
                (
                    "{{template_dir}} {{pwd}} {{uuid}}",
                    "${path.root} ${path.cwd} ${uuidv4()}",
                ),
                (
                    "{{build_name}}/{{build_type}}",
                    "${source.name}/${source.type}",
                ),
            ],
        );
        transposes(Place::Core, &[("{{ env `HOME` }}", "${env(\"HOME\")}")]);
    }

    #[test]
    fn build_functions_are_constants_in_a_source() {
        let p = Place::Source {
            name: "web-${var.n}",
            ty: "null",
        };
        transposes(
            p,
            &[
                ("{{build_name}}", "web-${var.n}"),
                (
                    "{{ build_name | upper }}-{{build_type}}",
                    "${upper(\"web-${var.n}\")}-null",
                ),
            ],
        );
    }

    #[test]
    fn string_functions_become_hcl_functions() {
        transposes(
            Place::Build,
            &[
                ("{{ user `x` | lower }}", "${lower(var.x)}"),
                ("{{ split (user `x`) `-` 0 }}", "${split(\"-\", var.x)[0]}"),
                (
                    "{{ replace_all `-` `/` (user `x`) }}",
                    "${replace(var.x, \"-\", \"/\")}",
                ),
                (
                    "{{ isotime `2006-01-02` }}",
                    "${formatdate(\"YYYY-MM-DD\", timestamp())}",
                ),
            ],
        );
        assert!(tr("{{ replace `a` `b` 1 (user `x`) }}", Place::Build).is_err());
    }

    #[test]
    fn constants_are_computed_and_data_is_kept() {
        transposes(
            Place::Build,
            &[
                ("echo {{ `SOMETHING` | lower }}", "echo something"),
                ("{{ split `some-string` `-` 0 }}", "some"),
                (
                    "http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks",
                    "http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks",
                ),
                (
                    "{{if .Sudo}}sudo {{user `x`}}{{end}}",
                    "{{if .Sudo}}sudo ${var.x}{{end}}",
                ),
                ("literal ${not_hcl} \"q\"", "literal $${not_hcl} \\\"q\\\""),
            ],
        );
    }

    #[test]
    fn build_name_in_a_variable_is_unhandled() {
        assert!(tr("{{build_name}}", Place::Core).is_err());
    }
}
