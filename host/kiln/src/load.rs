//! Loading a template the way every command does: variables from the command line and
//! the environment, builds selected by `-only`/`-except`, problems printed with the
//! template's sensitive values masked.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ArgMatches;
use kiln_template::VarArg;

use kiln_core::{Diagnostic, Severity};
use kiln_template::LoadOptions;

use crate::ui;

#[derive(Debug, clap::Args)]
pub struct TemplateArgs {
    /// A .pkr.hcl template file, or a directory of them.
    pub template: PathBuf,
    /// Set a variable: -var 'name=value'. May be repeated.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub var: Vec<String>,
    /// Read variables from a .pkrvars.hcl file. May be repeated.
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_file: Vec<PathBuf>,
    /// Run only the builds with these names (comma-separated, globs allowed).
    #[arg(long)]
    pub only: Vec<String>,
    /// Run every build except these (comma-separated, globs allowed).
    #[arg(long)]
    pub except: Vec<String>,
    /// Refuse host execution: a step that would run commands on this host (shell-local,
    /// or any step granted exec_host) is an error. KILN_REFUSE_EXEC_HOST=1 does the same.
    #[arg(long = "refuse-exec-host")]
    pub refuse_exec_host: bool,
}

impl TemplateArgs {
    /// Whether host execution is refused, by the flag or by KILN_REFUSE_EXEC_HOST.
    pub fn refuses_exec_host(&self) -> bool {
        self.refuse_exec_host
            || std::env::var_os("KILN_REFUSE_EXEC_HOST")
                .is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
    }
}

/// `-var` and `-var-file` in the order they were written.
pub fn ordered_var_args(matches: &ArgMatches, args: &TemplateArgs) -> Vec<VarArg> {
    let mut indexed: Vec<(usize, VarArg)> = Vec::new();
    if let Some(idx) = matches.indices_of("var") {
        for (i, raw) in idx.zip(&args.var) {
            let (k, v) = raw.split_once('=').unwrap_or((raw.as_str(), ""));
            indexed.push((i, VarArg::Pair(k.to_owned(), v.to_owned())));
        }
    }
    if let Some(idx) = matches.indices_of("var_file") {
        for (i, p) in idx.zip(&args.var_file) {
            indexed.push((i, VarArg::File(p.clone())));
        }
    }
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, a)| a).collect()
}

/// Prints diagnostics with the template's sensitive values masked: an error about a
/// value must not print it.
pub fn print_diagnostics(diags: &[Diagnostic]) {
    for d in diags {
        eprintln!("{}\n", ui::mask_known(&d.to_string()));
    }
}

/// What the runtime has to tell (compiled-cache entries it could not trust), once each.
pub fn print_notices(rt: &kiln_runtime::Runtime) {
    for n in rt.take_notices() {
        eprintln!("Warning: {}", kiln_core::text::escape_controls(&n));
    }
}

/// Packer's glob on build names (gobwas/glob without separators): `*` matches any run
/// of characters, `?` any one, `[abc]`, `[a-z]` and `[!abc]` one of (or none of) a
/// class, `{a,b}` any of the alternatives (which may hold globs), and `\` makes the
/// next character literal.
fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> bool {
    let Some(&first) = p.first() else {
        return n.is_empty();
    };
    match first {
        '*' => (0..=n.len()).any(|i| glob_at(&p[1..], &n[i..])),
        '?' => !n.is_empty() && glob_at(&p[1..], &n[1..]),
        '[' => match class_end(p) {
            Some(end) => {
                !n.is_empty() && in_class(&p[1..end], n[0]) && glob_at(&p[end + 1..], &n[1..])
            }
            None => n.first() == Some(&'[') && glob_at(&p[1..], &n[1..]),
        },
        '{' => match brace_end(p) {
            Some(end) => split_alternatives(&p[1..end]).into_iter().any(|alt| {
                let mut joined = alt.to_vec();
                joined.extend_from_slice(&p[end + 1..]);
                glob_at(&joined, n)
            }),
            None => n.first() == Some(&'{') && glob_at(&p[1..], &n[1..]),
        },
        '\\' if p.len() > 1 => n.first() == Some(&p[1]) && glob_at(&p[2..], &n[1..]),
        c => n.first() == Some(&c) && glob_at(&p[1..], &n[1..]),
    }
}

/// The index of the `]` closing the class that starts at `p[0]`.
fn class_end(p: &[char]) -> Option<usize> {
    let start = if p.get(1) == Some(&'!') { 2 } else { 1 };
    // A `]` right after the opening is a member, not the end.
    (start + 1..p.len()).find(|&i| p[i] == ']')
}

fn in_class(class: &[char], c: char) -> bool {
    let (negated, class) = match class.split_first() {
        Some(('!', rest)) => (true, rest),
        _ => (false, class),
    };
    let mut hit = false;
    let mut i = 0;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == '-' {
            hit |= class[i] <= c && c <= class[i + 2];
            i += 3;
        } else {
            hit |= class[i] == c;
            i += 1;
        }
    }
    hit != negated
}

/// The index of the `}` closing the alternatives that start at `p[0]`.
fn brace_end(p: &[char]) -> Option<usize> {
    let mut depth = 0;
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => i += 1,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The comma-separated alternatives of a `{...}`, commas in nested braces kept.
fn split_alternatives(inner: &[char]) -> Vec<&[char]> {
    let (mut parts, mut depth, mut start, mut i) = (Vec::new(), 0, 0, 0);
    while i < inner.len() {
        match inner[i] {
            '\\' => i += 1,
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&inner[start.min(inner.len())..]);
    parts
}

/// The patterns of `-only` / `-except` values: comma-separated, except for the commas
/// of a `{a,b}` alternative.
fn patterns(values: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for v in values {
        let (mut depth, mut current) = (0usize, String::new());
        for c in v.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    out.push(std::mem::take(&mut current));
                    continue;
                }
                _ => {}
            }
            current.push(c);
        }
        out.push(current);
    }
    out.retain(|p| !p.is_empty());
    out
}

fn selected(name: &str, only: &[String], except: &[String]) -> bool {
    // A build named `b.null.web` is also selected by `null.web`.
    let short = name
        .split_once('.')
        .map(|(_, rest)| rest)
        .filter(|_| name.matches('.').count() >= 2);
    let hit = |pats: &[String]| {
        pats.iter()
            .any(|p| glob(p, name) || short.is_some_and(|s| glob(p, s)))
    };
    (only.is_empty() || hit(only)) && !hit(except)
}

pub struct Loaded {
    pub plan: kiln_core::plan::Plan,
    pub inspection: kiln_template::Inspection,
    pub cwd: PathBuf,
}

/// The environment as text. A variable that is not UTF-8 is left out, unless Kiln needs
/// it (`PKR_VAR_*`), which is an error naming it.
pub fn environment() -> Result<Vec<(String, String)>, String> {
    let mut env = Vec::new();
    for (key, value) in std::env::vars_os() {
        match (key.into_string(), value.into_string()) {
            (Ok(k), Ok(v)) => env.push((k, v)),
            (Ok(k), Err(_)) if k.starts_with("PKR_VAR_") => {
                return Err(format!(
                    "the environment variable {k} is not valid UTF-8; Kiln reads variable \
                     values as text: set it in UTF-8, or pass the value with -var or a \
                     -var-file"
                ))
            }
            (Err(k), _) if k.to_string_lossy().starts_with("PKR_VAR_") => {
                return Err(format!(
                    "the name of the environment variable {} is not valid UTF-8",
                    k.to_string_lossy()
                ))
            }
            _ => {}
        }
    }
    Ok(env)
}

pub fn load(matches: &ArgMatches, args: &TemplateArgs) -> Result<Loaded, ExitCode> {
    load_deferring(matches, args, false, |_| {})
}

/// [`load`], with the data sources that ask a cloud deferred (`kiln validate`), and
/// `parsed` called with the template once it is parsed, before it is evaluated.
pub fn load_deferring(
    matches: &ArgMatches,
    args: &TemplateArgs,
    defer_remote_data: bool,
    parsed: impl FnOnce(&kiln_template::Parsed),
) -> Result<Loaded, ExitCode> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let env = environment().map_err(|e| {
        eprintln!("Error: {e}");
        ExitCode::from(1)
    })?;
    let opts = LoadOptions {
        var_args: ordered_var_args(matches, args),
        env,
        cwd: cwd.clone(),
        defer_remote_data,
    };
    let loaded = kiln_template::parse(&args.template).and_then(|template| {
        parsed(&template);
        template.load(&opts)
    });
    match loaded {
        Ok(loaded) => {
            tracing::debug!(builds = loaded.plan.builds.len(), "template loaded");
            ui::mask_in_log(&loaded.plan.sensitive);
            print_diagnostics(&loaded.warnings);
            let mut plan = loaded.plan;
            let (only, except) = (patterns(&args.only), patterns(&args.except));
            plan.builds.retain(|b| selected(&b.name, &only, &except));
            Ok(Loaded {
                plan,
                inspection: loaded.inspection,
                cwd,
            })
        }
        Err(diags) => {
            print_diagnostics(&diags);
            let n = diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            eprintln!("{n} error(s) in {}", args.template.display());
            Err(ExitCode::from(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_select_builds_as_packer_does() {
        assert!(selected("null.web", &["null.*".into()], &[]));
        assert!(!selected("null.web", &["file.*".into()], &[]));
        assert!(!selected("null.web", &[], &["*.web".into()]));
        assert!(selected("app.null.web", &["null.web".into()], &[]));
        assert!(selected("app.null.web", &["app.*".into()], &[]));
    }

    #[test]
    fn only_and_except_take_packers_whole_glob_syntax() {
        let names = ["par.null.w1", "par.null.w2", "par.null.w3", "par.file.x"];
        let pick = |only: &str| -> Vec<&str> {
            names
                .iter()
                .copied()
                .filter(|n| selected(n, &[only.to_owned()], &[]))
                .collect()
        };
        assert_eq!(pick("par.null.w[12]"), ["par.null.w1", "par.null.w2"]);
        assert_eq!(
            pick("par.null.w?"),
            ["par.null.w1", "par.null.w2", "par.null.w3"]
        );
        assert_eq!(pick("par.{file.x,null.w3}"), ["par.null.w3", "par.file.x"]);
        assert_eq!(pick("null.w[!1-2]"), ["par.null.w3"]);
        assert_eq!(pick("*.{null,file}.*"), names);
        assert!(pick("par.null.w\\?").is_empty());
        assert!(glob("a\\?b", "a?b"));
        assert!(glob("{a,{b,c}d}", "cd"));
        assert!(glob("[]]", "]"));
        assert!(!selected("par.null.w1", &[], &["par.null.w[0-9]".into()]));
        assert_eq!(
            patterns(&["a.*,par.{w1,w3},".into(), "b".into()]),
            ["a.*", "par.{w1,w3}", "b"]
        );
    }
}
