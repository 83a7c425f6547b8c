//! The command line: `build`, `validate`, `inspect`, `console`, `fmt`, `hcl2_upgrade`,
//! `init`, `component` and `version`, with Packer's flags (`-var`,
//! `-var-file`, `-only`, `-except`, ...) spelled as Packer spells them.

use crate::{engine, ui};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use kiln_core::{Diagnostic, Severity};
use kiln_template::{LoadOptions, VarArg};

/// Exit status of an interrupted build, as shells report SIGINT.

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    about = "Build identical machine images from Packer templates; provisioners run as sandboxed WebAssembly components.",
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct TemplateArgs {
    /// A .pkr.hcl template file, or a directory of them.
    template: PathBuf,
    /// Set a variable: -var 'name=value'. May be repeated.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    var: Vec<String>,
    /// Read variables from a .pkrvars.hcl file. May be repeated.
    #[arg(long = "var-file", value_name = "FILE")]
    var_file: Vec<PathBuf>,
    /// Run only the builds with these names (comma-separated, globs allowed).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Run every build except these (comma-separated, globs allowed).
    #[arg(long, value_delimiter = ',')]
    except: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the images a template describes.
    Build {
        #[command(flatten)]
        template: TemplateArgs,
        /// Run at most this many builds at once (0: no limit).
        #[arg(long = "parallel-builds", default_value_t = 0)]
        parallel_builds: usize,
        /// Colored output (also off when NO_COLOR is set).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        color: bool,
        /// Print Packer's machine-readable `timestamp,target,type,data...` lines.
        #[arg(long = "machine-readable")]
        machine_readable: bool,
        /// Prefix every line with the time (UTC).
        #[arg(long = "timestamp-ui")]
        timestamp_ui: bool,
        /// What to do when a step fails.
        #[arg(long = "on-error", value_enum, default_value_t = engine::OnError::Cleanup)]
        on_error: engine::OnError,
        /// Delete what earlier builds left (such as a qemu output directory) before building.
        #[arg(long)]
        force: bool,
        /// Pause before each step until Enter is pressed; builds run one at a time.
        #[arg(long)]
        debug: bool,
    },
    /// Check that a template is valid, including every provisioner's configuration.
    Validate {
        #[command(flatten)]
        template: TemplateArgs,
        /// Only check the template's syntax and expressions, not what builders and
        /// provisioners make of their configuration.
        #[arg(long = "syntax-only")]
        syntax_only: bool,
    },
    /// Show a template's variables, locals and builds.
    Inspect {
        #[command(flatten)]
        template: TemplateArgs,
    },
    /// Evaluate expressions against a template's variables, locals and functions, one
    /// per line from stdin (with a prompt on a terminal).
    Console {
        /// The template (optional: without one, only functions are available).
        template: Option<PathBuf>,
        /// Set a variable: -var 'name=value'. May be repeated.
        #[arg(long = "var", value_name = "NAME=VALUE")]
        var: Vec<String>,
        /// Read variables from a .pkrvars.hcl file. May be repeated.
        #[arg(long = "var-file", value_name = "FILE")]
        var_file: Vec<PathBuf>,
    },
    /// Translate a legacy JSON template into HCL2.
    #[command(name = "hcl2_upgrade")]
    Hcl2Upgrade {
        /// The JSON template.
        template: PathBuf,
        /// Where to write the HCL2 (default: TEMPLATE.pkr.hcl next to the template).
        #[arg(long = "output-file")]
        output_file: Option<PathBuf>,
    },
    /// Rewrite HCL2 templates and variable files in the canonical layout (`packer fmt`).
    Fmt {
        /// A file, a directory of .pkr.hcl / .pkrvars.hcl files, or `-` for stdin.
        #[arg(default_value = ".")]
        target: PathBuf,
        /// Only check: list the files that are not formatted and exit with 3.
        #[arg(long)]
        check: bool,
        /// Show what would change as a unified diff.
        #[arg(long)]
        diff: bool,
        /// Write the result back to the files (-write=false to only show it).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        write: bool,
        /// Also format the files in subdirectories.
        #[arg(long)]
        recursive: bool,
    },
    /// Pull the components a template requires (`packer { required_components }`) and
    /// lock their digests next to it.
    Init {
        /// A .pkr.hcl template file, or a directory of them.
        template: PathBuf,
        /// Resolve tags again and move the lock forward.
        #[arg(long)]
        upgrade: bool,
    },
    /// Publish, fetch, inspect and create components.
    Component {
        #[command(subcommand)]
        command: crate::component_cli::ComponentCommand,
    },
    /// Look after Kiln's cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// Print Kiln's version.
    Version,
}

/// `kiln cache ...`
#[derive(Debug, Subcommand)]
enum CacheCommand {
    /// Remove what runs that died (killed, crashed, the machine rebooted) left in the
    /// cache and the temporary directory: partial blobs, container scratch directories.
    /// Safe while other builds run: what a live run holds is left alone.
    Prune,
}

/// Removes the leftovers of dead runs; prints each with `say` when `verbose`.
fn sweep_leftovers(verbose: bool) -> u64 {
    let Some(cache) = kiln_core::default_cache_dir() else {
        return 0;
    };
    let swept = kiln_builders::container::sweep(&cache);
    let total: u64 = swept.iter().map(|s| s.bytes).sum();
    if verbose {
        for s in &swept {
            println!("removed {} ({} bytes)", s.path.display(), s.bytes);
        }
        println!(
            "{} leftover(s) of interrupted runs removed, {total} bytes freed",
            swept.len()
        );
    } else if !swept.is_empty() {
        eprintln!(
            "==> Removed {} leftover(s) of interrupted runs ({total} bytes)",
            swept.len()
        );
    }
    total
}

/// Packer spells long flags with one dash (`-var`); clap wants two.
fn packer_style_args() -> Vec<String> {
    let mut out = Vec::new();
    let mut rest_is_positional = false;
    for (i, arg) in std::env::args().enumerate() {
        if i > 0 && !rest_is_positional {
            if arg == "--" {
                rest_is_positional = true;
            } else if arg.len() > 2 && arg.starts_with('-') && !arg.starts_with("--") {
                out.push(format!("-{arg}"));
                continue;
            }
        }
        out.push(arg);
    }
    out
}

/// `-var` and `-var-file` in the order they were written.
fn ordered_var_args(matches: &ArgMatches, args: &TemplateArgs) -> Vec<VarArg> {
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
fn print_diagnostics(diags: &[Diagnostic]) {
    for d in diags {
        eprintln!("{}\n", ui::mask_known(&d.to_string()));
    }
}

/// What the runtime has to tell (compiled-cache entries it could not trust), once each.
fn print_notices(rt: &kiln_runtime::Runtime) {
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

struct Loaded {
    plan: kiln_core::plan::Plan,
    inspection: kiln_template::Inspection,
    cwd: PathBuf,
}

/// The environment as text. A variable that is not UTF-8 is left out, unless Kiln needs
/// it (`PKR_VAR_*`), which is an error naming it.
fn environment() -> Result<Vec<(String, String)>, String> {
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

fn load(matches: &ArgMatches, args: &TemplateArgs) -> Result<Loaded, ExitCode> {
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

/// `kiln console`: one expression per line of stdin, its value on stdout.
fn console(
    matches: &ArgMatches,
    template: Option<PathBuf>,
    var: Vec<String>,
    var_file: Vec<PathBuf>,
) -> ExitCode {
    use std::io::{BufRead, IsTerminal, Write};
    let args = TemplateArgs {
        template: template.clone().unwrap_or_default(),
        var,
        var_file,
        only: vec![],
        except: vec![],
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let opts = LoadOptions {
        var_args: ordered_var_args(matches, &args),
        env: match environment() {
            Ok(env) => env,
            Err(e) => {
                eprintln!("Error: {e}");
                return ExitCode::from(1);
            }
        },
        cwd,
    };
    let loaded = match template {
        Some(t) => kiln_template::load(&t, &opts),
        None => kiln_template::load_source("console.pkr.hcl", "", &opts),
    };
    let loaded = match loaded {
        Ok(l) => l,
        Err(diags) => {
            print_diagnostics(&diags);
            return ExitCode::from(1);
        }
    };
    let interactive = std::io::stdin().is_terminal();
    let prompt = || {
        if interactive {
            print!("> ");
            let _ = std::io::stdout().flush();
        }
    };
    prompt();
    let mut unreadable = false;
    let mut stdin = std::io::stdin().lock();
    let mut raw = Vec::new();
    for number in 1.. {
        raw.clear();
        match stdin.read_until(b'\n', &mut raw) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("Error: reading line {number} of the input: {e}");
                unreadable = true;
                break;
            }
        }
        let Ok(line) = std::str::from_utf8(&raw) else {
            eprintln!("Error: line {number} of the input is not UTF-8 text; it is skipped");
            unreadable = true;
            prompt();
            continue;
        };
        let line = line.trim();
        if line == "exit" {
            break;
        }
        if !line.is_empty() {
            match loaded.evaluate(line) {
                Ok(serde_json::Value::String(s)) => println!("{s}"),
                Ok(other) => println!("{}", kiln_template::inspect::hcl_value(&other, 0)),
                Err(d) => eprintln!("{}", ui::mask_known(&d.to_string())),
            }
        }
        prompt();
    }
    if unreadable {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `kiln hcl2_upgrade`: writes the HCL2 translation of a JSON template.
fn hcl2_upgrade(template: &Path, output_file: Option<PathBuf>) -> ExitCode {
    let out = output_file.unwrap_or_else(|| {
        let mut name = template.as_os_str().to_owned();
        name.push(".pkr.hcl");
        PathBuf::from(name)
    });
    match kiln_template::hcl2_upgrade(template) {
        Ok(text) => match std::fs::write(&out, text) {
            Ok(()) => {
                println!("Successfully created {}", out.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("Error: writing {}: {e}", out.display());
                ExitCode::from(1)
            }
        },
        Err(diags) => {
            print_diagnostics(&diags);
            ExitCode::from(1)
        }
    }
}

fn runtime() -> Result<kiln_runtime::Runtime, ExitCode> {
    kiln_runtime::Runtime::new(kiln_runtime::default_cache_dir()).map_err(|e| {
        eprintln!("Error: {e}");
        ExitCode::from(1)
    })
}

async fn validate(matches: &ArgMatches, args: &TemplateArgs, syntax_only: bool) -> ExitCode {
    let loaded = match load(matches, args) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if syntax_only {
        println!("Syntax-only check passed. Everything looks okay.");
        return ExitCode::SUCCESS;
    }
    let rt = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let required = match crate::components::resolve(&loaded.plan, &args.template).await {
        Ok(r) => r,
        Err(diags) => {
            print_diagnostics(&diags);
            return ExitCode::from(1);
        }
    };
    let never = CancellationToken::new();
    let prepared = engine::prepare(&loaded.plan, &rt, &loaded.cwd, &required, &never).await;
    print_notices(&rt);
    match prepared {
        Ok(_) => {
            println!("The configuration is valid.");
            tracing::debug!("validated");
            // Nothing is left to do: exit without tearing down the plan and the
            // WebAssembly runtime, which takes longer than the check itself on large
            // templates.
            use std::io::Write;
            let _ = std::io::stdout().flush();
            std::process::exit(0)
        }
        Err(diags) => {
            print_diagnostics(&diags);
            ExitCode::from(1)
        }
    }
}

/// How `kiln build` writes its output.
struct OutputFlags {
    color: bool,
    machine_readable: bool,
    timestamps: bool,
    on_error: engine::OnError,
    force: bool,
    debug: bool,
}

async fn build(
    matches: &ArgMatches,
    args: &TemplateArgs,
    parallel: usize,
    flags: OutputFlags,
) -> ExitCode {
    let loaded = match load(matches, args) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let rt = match runtime() {
        Ok(r) => Arc::new(r),
        Err(code) => return code,
    };
    let required = match crate::components::resolve(&loaded.plan, &args.template).await {
        Ok(r) => r,
        Err(diags) => {
            print_diagnostics(&diags);
            return ExitCode::from(1);
        }
    };
    let color = flags.color && std::env::var_os("NO_COLOR").is_none();
    let out = Arc::new(ui::Output {
        color,
        sensitive: loaded.plan.sensitive.clone(),
        machine_readable: flags.machine_readable,
        timestamps: flags.timestamps,
        progress: !flags.machine_readable
            && std::io::IsTerminal::is_terminal(&std::io::stderr())
            && std::env::var("TERM").map_or(true, |t| t != "dumb"),
    });
    // What interrupted runs left behind goes first (safe beside builds running now).
    sweep_leftovers(false);
    // Interrupts are handled from here on: also while components are checked.
    let cancel = CancellationToken::new();
    let interrupted = {
        let out = out.clone();
        crate::signals::listen(cancel.clone(), move |line| out.line(line))
    };
    let prepared = engine::prepare(&loaded.plan, &rt, &loaded.cwd, &required, &cancel).await;
    print_notices(&rt);
    if let Some(code) = interrupted.exit_code() {
        return ExitCode::from(code);
    }
    let ready = match prepared {
        Ok(r) => r,
        Err(diags) => {
            print_diagnostics(&diags);
            return ExitCode::from(1);
        }
    };
    let on_error = flags.on_error;
    let policy = engine::Policy {
        on_error,
        force: flags.force,
        debug: flags.debug,
    };
    if flags.debug {
        out.line("==> Debug mode enabled. Builds will not be parallelized.");
    }
    if on_error == engine::OnError::Ask && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        out.line("==> -on-error=ask needs a terminal on stdin; a failed step will be cleaned up instead.");
    }
    let prompt = Arc::new(tokio::sync::Mutex::new(()));
    let limit = if flags.debug {
        1
    } else if parallel == 0 {
        ready.len().max(1)
    } else {
        parallel
    };
    let semaphore = Arc::new(tokio::sync::Semaphore::new(limit));
    let ready: Vec<Arc<engine::ReadyBuild>> = ready.into_iter().map(Arc::new).collect();
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for (i, b) in ready.iter().enumerate() {
        let (b, rt, out, cancel, sem, cwd) = (
            b.clone(),
            rt.clone(),
            out.clone(),
            cancel.clone(),
            semaphore.clone(),
            loaded.cwd.clone(),
        );
        let prompt = prompt.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            let bui: Arc<dyn kiln_core::Ui> = Arc::new(ui::BuildUi::new(&b.plan.name, i, out));
            engine::run_build(&b, &rt, bui, &cwd, cancel, policy, prompt).await
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        match t.await {
            Ok(o) => outcomes.push(o),
            Err(e) => out.line(&format!("==> a build task failed: {e}")),
        }
    }
    out.line("");
    out.line(&format!(
        "==> Wait completed after {}",
        engine::human(started.elapsed())
    ));
    let failed: Vec<_> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    if !failed.is_empty() {
        out.line("");
        out.line("==> Some builds didn't complete successfully and had errors:");
        for o in &failed {
            if let Err(e) = &o.result {
                out.line(&format!("--> {}: {}", o.name, short(e)));
                out.machine(&o.name, "error", &[&e.to_string()]);
            }
        }
    }
    let succeeded: Vec<_> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok().map(|a| (&o.name, a)))
        .collect();
    if !succeeded.is_empty() {
        out.line("");
        out.line("==> Builds finished. The artifacts of successful builds are:");
        for (name, artifacts) in succeeded {
            for artifact in artifacts {
                out.line(&format!("--> {name}: {}", artifact.description));
                // Machine-readable output carries the files in its artifact records.
                if !out.machine_readable {
                    for f in &artifact.files {
                        out.line(&format!(
                            "    {} ({} bytes, sha256 {})",
                            f.path.display(),
                            f.size,
                            f.sha256
                        ));
                    }
                }
            }
            out.machine(name, "artifact-count", &[&artifacts.len().to_string()]);
            for (i, artifact) in artifacts.iter().enumerate() {
                machine_artifact(&out, name, i, artifact);
            }
        }
    } else if outcomes.is_empty() {
        out.line("==> No builds to run.");
    }
    if outcomes.len() > 1 || !failed.is_empty() {
        out.line("");
        out.line("==> Summary:");
        for o in &outcomes {
            let took = engine::human(o.elapsed);
            out.line(&match &o.result {
                Ok(_) => format!("--> {}: succeeded after {took}", o.name),
                Err(kiln_core::BuildError::Cancelled) => {
                    format!("--> {}: cancelled after {took}", o.name)
                }
                Err(e) => format!("--> {}: failed after {took}: {}", o.name, short(e)),
            });
        }
    }
    if let Some(code) = interrupted.exit_code() {
        ExitCode::from(code)
    } else if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// A build's error as the lines after the first one show it: where it happened, the
/// error was printed whole; a summary keeps its first line, shortened.
fn short(e: &kiln_core::BuildError) -> String {
    kiln_core::text::summary(&e.to_string(), engine::SUMMARY_WIDTH).into_owned()
}

/// What `kiln inspect` adds after Packer's sections: every step's effective grant
/// (what a builtin's configuration implies plus the template's `grant` block). Empty
/// when no step is granted anything beyond the communicator and the UI.
fn grants_section(plan: &kiln_core::plan::Plan, cwd: &std::path::Path) -> String {
    let mut text = String::new();
    for build in &plan.builds {
        let mut lines = Vec::new();
        for step in build.provisioners.iter().chain(&build.error_cleanup) {
            let g = engine::effective_grant(step, cwd).to_hcl_lines();
            if !g.is_empty() {
                lines.push(format!(
                    "    provisioner \"{}\": {}",
                    step.kind,
                    g.join(", ")
                ));
            }
        }
        for pp in build.post_processors.iter().flatten() {
            let mut grant = kiln_builtins::post_processor_grant(&pp.kind, &pp.block.config, cwd);
            grant.extend(&pp.grant);
            let mut g = vec!["read = its input artifact's files".to_owned()];
            g.extend(grant.to_hcl_lines());
            lines.push(format!(
                "    post-processor \"{}\": {}",
                pp.kind,
                g.join(", ")
            ));
        }
        if !lines.is_empty() {
            text.push_str(&format!("\n  {}:\n\n{}\n", build.name, lines.join("\n")));
        }
    }
    if text.is_empty() {
        text
    } else {
        format!(
            "\n> grants (Kiln):\n{text}\n  Steps not granted random = \"host\" get a generator seeded \
             from the build's clock:\n  predictable, never for passwords or keys.\n"
        )
    }
}

/// Packer's machine-readable records of artifact number `index` of a build.
fn machine_artifact(out: &ui::Output, name: &str, index: usize, artifact: &kiln_core::Artifact) {
    let n = index.to_string();
    out.machine(name, "artifact", &[&n, "builder-id", &artifact.builder_id]);
    out.machine(name, "artifact", &[&n, "id", &artifact.id]);
    out.machine(name, "artifact", &[&n, "string", &artifact.description]);
    let count = artifact.files.len().to_string();
    out.machine(name, "artifact", &[&n, "files-count", &count]);
    for (i, f) in artifact.files.iter().enumerate() {
        let path = f.path.display().to_string();
        out.machine(name, "artifact", &[&n, "file", &i.to_string(), &path]);
    }
    out.machine(name, "artifact", &[&n, "end"]);
}

fn init_tracing() {
    let Ok(level) = std::env::var("KILN_LOG") else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&level).unwrap_or_else(|_| "info".into());
    // Sensitive values are masked in the log as everywhere else.
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match std::env::var_os("KILN_LOG_PATH").and_then(|p| std::fs::File::create(Path::new(&p)).ok())
    {
        Some(file) => {
            let file = Arc::new(std::sync::Mutex::new(file));
            builder
                .with_writer(move || ui::MaskingWriter(SharedFile(file.clone())))
                .with_ansi(false)
                .init()
        }
        None => builder
            .with_writer(|| ui::MaskingWriter(std::io::stderr()))
            .init(),
    }
}

/// The log file, shared by every thread that logs.
struct SharedFile(Arc<std::sync::Mutex<std::fs::File>>);

impl std::io::Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut f) => f.write(buf),
            Err(_) => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut f) => f.flush(),
            Err(_) => Ok(()),
        }
    }
}

/// Runs the command line and returns the process's exit status.
pub fn main() -> ExitCode {
    // The container runtime runs parts of itself as this binary with a hidden first
    // argument; those must start before any thread does.
    if let Some(code) = kiln_communicators::container::helper_main() {
        return code;
    }
    init_tracing();
    let matches = Cli::command().get_matches_from(packer_style_args());
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let sub = matches
        .subcommand()
        .map(|(_, m)| m.clone())
        .unwrap_or_default();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match cli.command {
        Command::Version => {
            println!("Kiln v{}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Init { template, upgrade } => {
            rt.block_on(crate::component_cli::init(&template, upgrade))
        }
        Command::Component { command } => rt.block_on(crate::component_cli::run(command)),
        Command::Cache {
            command: CacheCommand::Prune,
        } => {
            sweep_leftovers(true);
            ExitCode::SUCCESS
        }
        Command::Validate {
            template,
            syntax_only,
        } => rt.block_on(validate(&sub, &template, syntax_only)),
        Command::Inspect { template } => match load(&sub, &template) {
            Ok(loaded) => {
                print!("{}", loaded.inspection.render());
                print!("{}", grants_section(&loaded.plan, &loaded.cwd));
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Console {
            template,
            var,
            var_file,
        } => console(&sub, template, var, var_file),
        Command::Hcl2Upgrade {
            template,
            output_file,
        } => hcl2_upgrade(&template, output_file),
        Command::Fmt {
            target,
            check,
            diff,
            write,
            recursive,
        } => crate::fmt::run(
            &target,
            &crate::fmt::FmtOptions {
                check,
                diff,
                write,
                recursive,
            },
        ),
        Command::Build {
            template,
            parallel_builds,
            color,
            machine_readable,
            timestamp_ui,
            on_error,
            force,
            debug,
        } => {
            let flags = OutputFlags {
                color,
                machine_readable,
                timestamps: timestamp_ui,
                on_error,
                force,
                debug,
            };
            let code = rt.block_on(build(&sub, &template, parallel_builds, flags));
            // A prompt may still be waiting for a line on stdin after Ctrl-C.
            rt.shutdown_background();
            code
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
