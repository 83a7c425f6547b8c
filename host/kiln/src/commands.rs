//! The commands that hand a loaded plan to the engine — `validate`, `build` and the
//! grants part of `inspect` — and print what it answers, in Packer's words.

use std::process::ExitCode;
use std::sync::Arc;

use clap::ArgMatches;
use tokio_util::sync::CancellationToken;

use kiln_core::{Artifact, BuildError};
use kiln_engine::{CheckCx, Outcome, Policy, RunOptions, SUMMARY_WIDTH};

use crate::load::{load, print_diagnostics, print_notices, Loaded, TemplateArgs};
use crate::ui::{self, Output};

fn runtime() -> Result<kiln_runtime::Runtime, ExitCode> {
    made(kiln_runtime::Runtime::new(kiln_runtime::default_cache_dir()))
}

/// The runtime, or the exit code after printing why it could not be made.
fn made(
    rt: Result<kiln_runtime::Runtime, kiln_runtime::RuntimeError>,
) -> Result<kiln_runtime::Runtime, ExitCode> {
    rt.map_err(|e| {
        eprintln!("Error: {e}");
        ExitCode::from(1)
    })
}

/// A runtime being made on a thread of its own, with the builtin components a template
/// names loaded into it, while the template is evaluated.
type WarmUp = std::thread::JoinHandle<Result<kiln_runtime::Runtime, kiln_runtime::RuntimeError>>;

/// Starts a [`WarmUp`] for the step types of `template`.
fn warm_up(template: &kiln_template::Parsed) -> Option<WarmUp> {
    let types = template.step_types();
    let work = move || {
        let rt = kiln_runtime::Runtime::new(kiln_runtime::default_cache_dir())?;
        kiln_engine::load_builtins(&rt, &types.provisioners, &types.post_processors);
        Ok(rt)
    };
    // Without a thread, the runtime is made when it is needed, as without a warm-up.
    std::thread::Builder::new()
        .name("kiln-warm-up".into())
        .spawn(work)
        .ok()
}

/// The runtime and the template's own components, or the exit code after printing why
/// not. `tolerant`: components not at hand (not pulled yet) are left out instead.
/// `warm`: the runtime, when one is being made already.
async fn prepared(
    loaded: &Loaded,
    args: &TemplateArgs,
    tolerant: bool,
    warm: Option<WarmUp>,
) -> Result<(kiln_runtime::Runtime, kiln_engine::components::Resolved), ExitCode> {
    let rt = match warm.map(std::thread::JoinHandle::join) {
        Some(Ok(rt)) => made(rt)?,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        None => runtime()?,
    };
    match kiln_engine::components::resolve(&loaded.plan, &args.template).await {
        Ok(required) => Ok((rt, required)),
        Err(_) if tolerant => Ok((rt, Default::default())),
        Err(diags) => {
            print_diagnostics(&diags);
            Err(ExitCode::from(1))
        }
    }
}

/// What the engine checks with: `rt`, the template's directory and components.
fn check_cx<'a>(
    rt: &'a kiln_runtime::Runtime,
    loaded: &'a Loaded,
    args: &TemplateArgs,
    required: &'a kiln_engine::components::Resolved,
    cancel: &'a CancellationToken,
) -> CheckCx<'a> {
    CheckCx {
        runtime: rt,
        cwd: &loaded.cwd,
        required,
        cancel,
        refuse_exec_host: args.refuses_exec_host(),
    }
}

/// `kiln validate`.
pub async fn validate(
    matches: &ArgMatches,
    args: &TemplateArgs,
    syntax_only: bool,
    evaluate_datasources: bool,
) -> ExitCode {
    // The components the template names load while it is evaluated.
    let mut warm = None;
    let loaded = crate::load::load_deferring(matches, args, !evaluate_datasources, |t| {
        if !syntax_only {
            warm = warm_up(t);
        }
    });
    let loaded = match loaded {
        Ok(l) => l,
        Err(code) => return code,
    };
    if syntax_only {
        println!("Syntax-only check passed. Everything looks okay.");
        return ExitCode::SUCCESS;
    }
    let (rt, required) = match prepared(&loaded, args, false, warm).await {
        Ok(p) => p,
        Err(code) => return code,
    };
    let never = CancellationToken::new();
    let checked = kiln_engine::check(
        &loaded.plan,
        check_cx(&rt, &loaded, args, &required, &never),
    )
    .await;
    print_notices(&rt);
    match checked {
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

/// What `kiln inspect` adds after Packer's sections: every step's grant (what the
/// template grants it, plus the paths a builtin's configuration names). Empty when no
/// step is granted anything beyond the communicator and the UI.
pub async fn inspect_grants(loaded: &Loaded, args: &TemplateArgs) -> Result<String, ExitCode> {
    // Components not pulled yet show what the template grants them.
    let (rt, required) = prepared(loaded, args, true, None).await?;
    let never = CancellationToken::new();
    let cx = check_cx(&rt, loaded, args, &required, &never);
    let by_build = kiln_engine::grants_by_build(&loaded.plan, cx).await;
    print_notices(&rt);
    let mut text = String::new();
    for (build, lines) in by_build {
        let lines: Vec<String> = lines.iter().map(|l| format!("    {l}")).collect();
        text.push_str(&format!("\n  {build}:\n\n{}\n", lines.join("\n")));
    }
    if text.is_empty() {
        return Ok(text);
    }
    Ok(format!(
        "\n> grants (Kiln):\n{text}\n  Steps not granted random = \"host\" get a generator seeded \
         from the build's clock:\n  predictable, never for passwords or keys.\n"
    ))
}

/// How `kiln build` runs and writes its output.
pub struct BuildFlags {
    pub parallel: usize,
    pub color: bool,
    pub machine_readable: bool,
    pub timestamps: bool,
    pub policy: Policy,
    pub share: kiln_core::checkpoint::CheckpointShare,
}

/// `kiln build`.
pub async fn build(matches: &ArgMatches, args: &TemplateArgs, flags: BuildFlags) -> ExitCode {
    let loaded = match load(matches, args) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let (rt, required) = match prepared(&loaded, args, false, None).await {
        Ok((rt, required)) => (Arc::new(rt), required),
        Err(code) => return code,
    };
    let out = Arc::new(Output {
        color: flags.color && std::env::var_os("NO_COLOR").is_none(),
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
    let checked = kiln_engine::check(
        &loaded.plan,
        check_cx(&rt, &loaded, args, &required, &cancel),
    )
    .await;
    print_notices(&rt);
    if let Some(code) = interrupted.exit_code() {
        return ExitCode::from(code);
    }
    let ready = match checked {
        Ok(r) => r,
        Err(diags) => {
            print_diagnostics(&diags);
            return ExitCode::from(1);
        }
    };
    let started = std::time::Instant::now();
    let frontend = Arc::new(crate::frontend::Terminal { out: out.clone() });
    let options = RunOptions {
        parallel: flags.parallel,
        policy: flags.policy,
        cwd: loaded.cwd.clone(),
        share: flags.share,
    };
    let outcomes = kiln_engine::run_all(ready, rt, frontend, options, cancel).await;
    out.line("");
    out.line(&format!(
        "==> Wait completed after {}",
        kiln_engine::human(started.elapsed())
    ));
    let failed = report(&out, &outcomes);
    if let Some(code) = interrupted.exit_code() {
        ExitCode::from(code)
    } else if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints how the builds ended, as Packer does: failures, artifacts, a summary. Returns
/// whether any build failed.
fn report(out: &Output, outcomes: &[Outcome]) -> bool {
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
                    // The sha256 where Kiln took it, writing the file; Kiln reads no
                    // file only to hash it.
                    for f in &artifact.files {
                        let digest = if f.sha256.is_empty() {
                            String::new()
                        } else {
                            format!(", sha256 {}", f.sha256)
                        };
                        out.line(&format!(
                            "    {} ({} bytes{digest})",
                            f.path.display(),
                            f.size,
                        ));
                    }
                }
            }
            out.machine(name, "artifact-count", &[&artifacts.len().to_string()]);
            for (i, artifact) in artifacts.iter().enumerate() {
                machine_artifact(out, name, i, artifact);
            }
        }
    } else if outcomes.is_empty() {
        out.line("==> No builds to run.");
    }
    if outcomes.len() > 1 || !failed.is_empty() {
        out.line("");
        out.line("==> Summary:");
        for o in outcomes {
            let took = kiln_engine::human(o.elapsed);
            out.line(&match &o.result {
                Ok(_) => format!("--> {}: succeeded after {took}", o.name),
                Err(BuildError::Cancelled) => format!("--> {}: cancelled after {took}", o.name),
                Err(e) => format!("--> {}: failed after {took}: {}", o.name, short(e)),
            });
        }
    }
    !failed.is_empty()
}

/// A build's error as the lines after the first one show it: where it happened, the
/// error was printed whole; a summary keeps its first line, shortened.
fn short(e: &BuildError) -> String {
    kiln_core::text::summary(&e.to_string(), SUMMARY_WIDTH).into_owned()
}

/// Packer's machine-readable records of artifact number `index` of a build.
fn machine_artifact(out: &ui::Output, name: &str, index: usize, artifact: &Artifact) {
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

/// Removes the leftovers of dead runs; prints each with `say` when `verbose`.
pub fn sweep_leftovers(verbose: bool) -> u64 {
    let Some(cache) = kiln_core::default_cache_dir() else {
        return 0;
    };
    let mut swept = kiln_builders::container::sweep(&cache);
    swept.extend(kiln_engine::last_build::sweep(&cache));
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

/// The cache's checkpoint store and blob store.
fn checkpoint_stores() -> Option<(
    kiln_registry::checkpoint::CheckpointStore,
    kiln_registry::BlobStore,
)> {
    let cache = kiln_core::default_cache_dir()?;
    Some((
        kiln_registry::checkpoint::CheckpointStore::new(cache.join("checkpoints")),
        kiln_registry::BlobStore::new(cache.join("blobs")),
    ))
}

/// `kiln cache list`: each checkpoint, oldest first, with the bytes it holds.
pub fn list_checkpoints() -> ExitCode {
    let Some((store, blobs)) = checkpoint_stores() else {
        println!("Error: no cache directory: set KILN_CACHE_DIR or HOME");
        return ExitCode::from(1);
    };
    let all = store.list(&blobs);
    if all.is_empty() {
        println!("No checkpoints in {}", store.root().display());
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<12}  {:<20}  {:>4}  {:<14}  {:<5}  {:>12}  build",
        "key", "taken", "step", "type", "kind", "bytes"
    );
    let mut total = 0;
    for (c, bytes) in &all {
        total += bytes;
        println!(
            "{:<12}  {:<20}  {:>4}  {:<14}  {:<5}  {:>12}  {}",
            &c.key[..12],
            kiln_core::rfc3339(c.created),
            c.step,
            c.step_type,
            c.kind,
            bytes,
            c.build
        );
    }
    println!("{} checkpoint(s), {total} bytes", all.len());
    ExitCode::SUCCESS
}

/// `kiln cache prune -checkpoints [-older-than D]`.
pub fn prune_checkpoints(older_than: Option<&str>) -> ExitCode {
    let Some((store, blobs)) = checkpoint_stores() else {
        println!("Error: no cache directory: set KILN_CACHE_DIR or HOME");
        return ExitCode::from(1);
    };
    let age = match older_than.map(kiln_core::decode::duration::parse_duration) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => {
            println!(
                "Error: -older-than {:?}: {e}",
                older_than.unwrap_or_default()
            );
            return ExitCode::from(1);
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (mut count, mut freed) = (0, 0);
    for (c, _) in store.list(&blobs) {
        if age.is_some_and(|a| now.saturating_sub(c.created) < a.as_secs()) {
            continue;
        }
        freed += store.remove(&c.key, &blobs);
        count += 1;
    }
    println!("{count} checkpoint(s) removed, {freed} bytes freed");
    ExitCode::SUCCESS
}
