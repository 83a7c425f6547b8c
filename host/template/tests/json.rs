//! Legacy JSON templates and `hcl2_upgrade`, checked against Packer 1.6.6.
//!
//! Every template under `tests/json/` is also given to `/usr/bin/packer validate`
//! (1.6.6), which must agree with Kiln on whether it is accepted; a missing Packer fails
//! the tests, it never skips them.
//!
//! - `accept/NAME.json`: loads; the plan must match `accept/NAME.plan` (a JSON summary
//!   with paths written as `<crate>`).
//! - `reject/NAME.json`: fails; the diagnostics must be `reject/NAME.err`, one
//!   `file:line:col: summary` per line.
//! - `upgrade/NAME.json`: `hcl2_upgrade` must print `upgrade/NAME.pkr.hcl`; Kiln's HCL2
//!   loader must read that into the same builds as the JSON, and `packer fmt` must find
//!   it formatted.
//!
//! `NAME.args` (optional) holds one setting per line: `-var k=v`, `-var-file FILE`
//! (relative to the fixture), `env K=V`, `syntax-only` (Packer checks only the
//! syntax, for builder types it does not know), or `text-only` (an upgrade whose values
//! differ by design, such as timestamps: only its text is compared). Set
//! `KILN_BLESS=1` to rewrite the expected files from Kiln's output.

use std::path::{Path, PathBuf};

use kiln_core::plan::{BuildPlan, ConfigBlock, Plan, PostProcessorPlan, StepPlan};
use kiln_core::Diagnostic;
use kiln_template::{hcl2_upgrade, load, load_json, LoadOptions, VarArg};
use serde_json::{json, Value};

/// Fixed so that `{{timestamp}}` and friends are stable (Kiln reads it; Packer ignores it).
const EPOCH: &str = "1607501226";

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fixtures of `tests/json/<kind>/`, as paths relative to the crate.
fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = crate_dir().join("tests/json").join(kind);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && !p.to_string_lossy().ends_with(".vars.json")
        })
        .map(|p| p.strip_prefix(crate_dir()).unwrap().to_owned())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no fixtures in {}", dir.display());
    out
}

/// A fixture's `.args`.
#[derive(Default)]
struct Args {
    vars: Vec<VarArg>,
    env: Vec<(String, String)>,
    syntax_only: bool,
    text_only: bool,
}

fn args_of(template: &Path) -> Args {
    let mut args = Args::default();
    let Ok(text) = std::fs::read_to_string(crate_dir().join(template.with_extension("args")))
    else {
        return args;
    };
    let dir = template.parent().unwrap();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(kv) = line.strip_prefix("-var ") {
            let (k, v) = kv.split_once('=').expect("-var k=v");
            args.vars.push(VarArg::Pair(k.into(), v.into()));
        } else if let Some(f) = line.strip_prefix("-var-file ") {
            args.vars.push(VarArg::File(dir.join(f)));
        } else if let Some(kv) = line.strip_prefix("env ") {
            let (k, v) = kv.split_once('=').expect("env K=V");
            args.env.push((k.into(), v.into()));
        } else if line == "syntax-only" {
            args.syntax_only = true;
        } else if line == "text-only" {
            args.text_only = true;
        } else {
            panic!("{}: unknown setting {line:?}", template.display());
        }
    }
    args
}

fn options(args: &Args) -> LoadOptions {
    let mut env = args.env.clone();
    env.push(("SOURCE_DATE_EPOCH".into(), EPOCH.into()));
    LoadOptions {
        var_args: args.vars.clone(),
        env,
        cwd: crate_dir(),
        defer_remote_data: false,
    }
}

/// Whether `packer validate` accepts the template, and what it printed.
fn packer_accepts(template: &Path, args: &Args) -> (bool, String) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = kiln_test_tools::command("packer");
    cmd.arg("validate");
    if args.syntax_only {
        cmd.arg("-syntax-only");
    }
    for v in &args.vars {
        match v {
            VarArg::Pair(k, val) => cmd.arg(format!("-var={k}={val}")),
            VarArg::File(f) => cmd.arg(format!("-var-file={}", f.display())),
        };
    }
    cmd.arg(template)
        .current_dir(crate_dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("CHECKPOINT_DISABLE", "1")
        .envs(args.env.iter().cloned());
    let out = cmd.output().expect("run packer");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn bless() -> bool {
    std::env::var_os("KILN_BLESS").is_some()
}

/// Compares `actual` with the file `expected`, or writes it when blessing.
fn check_golden(expected: &Path, actual: &str) {
    let path = crate_dir().join(expected);
    if bless() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e} (KILN_BLESS=1 writes it)", path.display()));
    assert_eq!(actual, want, "{} differs", expected.display());
}

fn location(l: &kiln_core::Location) -> String {
    format!("{}:{}", l.line, l.col)
}

fn config_summary(c: &ConfigBlock) -> Value {
    json!({
        "at": location(&c.location),
        "config": c.config,
        "fields": c.fields.iter().map(|(k, l)| (k.clone(), json!(location(l)))).collect::<serde_json::Map<_, _>>(),
    })
}

fn step_summary(s: &std::sync::Arc<StepPlan>) -> Value {
    let mut v = json!({ "kind": s.kind, "block": config_summary(&s.block) });
    if let Some(d) = s.pause_before {
        v["pause_before"] = json!(format!("{d:?}"));
    }
    if let Some(d) = s.timeout {
        v["timeout"] = json!(format!("{d:?}"));
    }
    if s.max_retries > 0 {
        v["max_retries"] = json!(s.max_retries);
    }
    if s.cacheable {
        v["cacheable"] = json!(true);
    }
    v
}

fn post_processor_summary(p: &PostProcessorPlan) -> Value {
    let mut v = json!({ "kind": p.kind, "block": config_summary(&p.block) });
    if let Some(n) = &p.name {
        v["name"] = json!(n);
    }
    if let Some(k) = p.keep_input_artifact {
        v["keep_input_artifact"] = json!(k);
    }
    if p.grant.exec_host {
        v["exec_host"] = json!(true);
    }
    v
}

fn build_summary(b: &BuildPlan) -> Value {
    let mut v = json!({
        "name": b.name,
        "source_type": b.source_type,
        "source_name": b.source_name,
        "source": config_summary(&b.source),
        "provisioners": b.provisioners.iter().map(step_summary).collect::<Vec<_>>(),
    });
    if let Some(c) = &b.error_cleanup {
        v["error_cleanup"] = step_summary(c);
    }
    if !b.post_processors.is_empty() {
        v["post_processors"] = b
            .post_processors
            .iter()
            .map(|chain| chain.iter().map(post_processor_summary).collect::<Value>())
            .collect();
    }
    v
}

fn plan_summary(p: &Plan) -> String {
    let v = json!({
        "template_dir": p.template_dir,
        "sensitive": p.sensitive,
        "builds": p.builds.iter().map(build_summary).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&v).unwrap() + "\n";
    text.replace(&crate_dir().display().to_string(), "<crate>")
}

fn hint(d: &Diagnostic) -> String {
    d.hint
        .as_deref()
        .map(|h| format!("  hint: {}\n", h.replace('\n', " ")))
        .unwrap_or_default()
}

fn diagnostics(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| match &d.location {
            Some(l) => format!(
                "{}:{}:{}: {}\n{}",
                l.file.file_name().unwrap().to_string_lossy(),
                l.line,
                l.col,
                d.summary,
                hint(d)
            ),
            None => format!("{}\n{}", d.summary, hint(d)),
        })
        .collect()
}

/// Accepted templates: the plan Kiln makes, and Packer accepts them too.
#[test]
fn accepted_templates_load_and_packer_agrees() {
    for template in fixtures("accept") {
        let args = args_of(&template);
        let loaded = load_json(&template, &options(&args)).unwrap_or_else(|d| {
            panic!(
                "{}: Kiln rejects it:\n{}",
                template.display(),
                diagnostics(&d)
            )
        });
        check_golden(
            &template.with_extension("plan"),
            &plan_summary(&loaded.plan),
        );
        let (ok, out) = packer_accepts(&template, &args);
        assert!(ok, "{}: Packer rejects it:\n{out}", template.display());
    }
}

/// Rejected templates: Kiln's diagnostics, and Packer rejects them too.
#[test]
fn rejected_templates_point_at_the_problem_and_packer_agrees() {
    for template in fixtures("reject") {
        let args = args_of(&template);
        let diags = match load_json(&template, &options(&args)) {
            Ok(_) => panic!("{}: Kiln accepts it", template.display()),
            Err(d) => d,
        };
        check_golden(&template.with_extension("err"), &diagnostics(&diags));
        let (ok, out) = packer_accepts(&template, &args);
        assert!(!ok, "{}: Packer accepts it:\n{out}", template.display());
    }
}

/// A `.pkr.json` file is HCL2 in JSON syntax for Packer 1.6.6, not a legacy template.
#[test]
fn a_legacy_template_named_pkr_json_loads_with_a_warning_packer_rejects_it() {
    let template = Path::new("tests/json/unsupported/legacy.pkr.json");
    let loaded = load(template, &options(&Args::default())).unwrap();
    assert_eq!(loaded.plan.builds.len(), 1);
    assert_eq!(loaded.plan.builds[0].source_type, "null");
    assert!(
        loaded.warnings[0]
            .summary
            .contains("is a legacy JSON template"),
        "{:?}",
        loaded.warnings
    );
    let (ok, out) = packer_accepts(template, &Args::default());
    assert!(!ok, "Packer accepts it:\n{out}");
    assert!(
        out.contains("No argument or block type is named \"builders\""),
        "{out}"
    );
}

/// The builds compared across the JSON and its upgrade: sources in source order (type,
/// then name), everything but names.
fn comparable(p: &Plan, sort: bool) -> Vec<Value> {
    let mut builds: Vec<&BuildPlan> = p.builds.iter().collect();
    if sort {
        builds.sort_by(|a, b| {
            (a.source_type.clone() + &a.source_name).cmp(&(b.source_type.clone() + &b.source_name))
        });
    }
    builds
        .iter()
        .map(|b| {
            let step = |s: &std::sync::Arc<StepPlan>| {
                json!({
                    "kind": s.kind,
                    "config": s.block.config,
                    "fields": s.block.fields.keys().collect::<Vec<_>>(),
                    "pause_before": s.pause_before.map(|d| d.as_nanos() as u64),
                    "timeout": s.timeout.map(|d| d.as_nanos() as u64),
                    "max_retries": s.max_retries,
                    "cacheable": s.cacheable,
                })
            };
            let post_processor = |p: &PostProcessorPlan| {
                json!({
                    "kind": p.kind,
                    "name": p.name,
                    "config": p.block.config,
                    "fields": p.block.fields.keys().collect::<Vec<_>>(),
                    "keep_input_artifact": p.keep_input_artifact,
                    "exec_host": p.grant.exec_host,
                })
            };
            json!({
                "type": b.source_type,
                "source": b.source.config,
                "source_fields": b.source.fields.keys().collect::<Vec<_>>(),
                "provisioners": b.provisioners.iter().map(step).collect::<Vec<_>>(),
                "error_cleanup": b.error_cleanup.as_ref().map(step),
                "post_processors": b.post_processors.iter().map(|c| c.iter().map(post_processor).collect::<Vec<_>>()).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// `hcl2_upgrade` prints the expected HCL2, which Kiln loads into the same builds and
/// Packer's formatter leaves as it is.
#[test]
fn upgraded_templates_mean_the_same_plan() {
    for template in fixtures("upgrade") {
        let hcl = hcl2_upgrade(&template).unwrap_or_else(|d| {
            panic!(
                "{}: hcl2_upgrade fails:\n{}",
                template.display(),
                diagnostics(&d)
            )
        });
        let expected = PathBuf::from(template.to_string_lossy().replace(".json", ".pkr.hcl"));
        check_golden(&expected, &hcl);

        // Both in one directory, so that template_dir and path.root agree.
        let dir = tempfile::tempdir().unwrap();
        let args = args_of(&template);
        let json_path = dir.path().join("template.json");
        let hcl_path = dir.path().join("template.pkr.hcl");
        std::fs::copy(crate_dir().join(&template), &json_path).unwrap();
        std::fs::write(&hcl_path, &hcl).unwrap();
        check_formatted(&template, &hcl_path);
        if args.text_only {
            continue;
        }
        let mut opts = options(&args);
        opts.var_args = opts
            .var_args
            .into_iter()
            .map(|v| match v {
                VarArg::File(f) => VarArg::File(crate_dir().join(f)),
                v => v,
            })
            .collect();
        let from_json = load_json(&json_path, &opts).unwrap_or_else(|d| {
            panic!(
                "{}: JSON load fails:\n{}",
                template.display(),
                diagnostics(&d)
            )
        });
        let from_hcl = load(&hcl_path, &opts).unwrap_or_else(|d| {
            panic!(
                "{}: Kiln cannot load the upgrade:\n{}\n{hcl}",
                template.display(),
                diagnostics(&d)
            )
        });
        assert_eq!(
            serde_json::to_string_pretty(&comparable(&from_json.plan, true)).unwrap(),
            serde_json::to_string_pretty(&comparable(&from_hcl.plan, false)).unwrap(),
            "{}: the upgrade means another plan",
            template.display()
        );
        let mut js = from_json.plan.sensitive.clone();
        let mut hs = from_hcl.plan.sensitive.clone();
        js.sort();
        hs.sort();
        assert_eq!(js, hs, "{}: sensitive values differ", template.display());
    }
}

/// `packer fmt` must leave the upgrade as it is.
fn check_formatted(template: &Path, hcl: &Path) {
    let out = kiln_test_tools::command("packer")
        .args(["fmt", "-check"])
        .arg(hcl)
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .expect("run packer fmt");
    assert!(
        out.status.success(),
        "{}: packer fmt would change the upgrade:\n{}{}",
        template.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
