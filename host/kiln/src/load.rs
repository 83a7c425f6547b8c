//! Loading a template the way every command does: variables from the command line and
//! the environment, builds selected by `-only`/`-except`, problems printed with the
//! template's sensitive values masked.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ArgMatches;

use kiln_core::{Diagnostic, Severity};
use kiln_template::LoadOptions;

use crate::cli::{ordered_var_args, TemplateArgs};
use crate::ui;

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

/// Packer's glob on build names: `*` matches any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
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
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let env = environment().map_err(|e| {
        eprintln!("Error: {e}");
        ExitCode::from(1)
    })?;
    let opts = LoadOptions {
        var_args: ordered_var_args(matches, args),
        env,
        cwd: cwd.clone(),
    };
    match kiln_template::load(&args.template, &opts) {
        Ok(loaded) => {
            tracing::debug!(builds = loaded.plan.builds.len(), "template loaded");
            ui::mask_in_log(&loaded.plan.sensitive);
            print_diagnostics(&loaded.warnings);
            let mut plan = loaded.plan;
            plan.builds
                .retain(|b| selected(&b.name, &args.only, &args.except));
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
}
