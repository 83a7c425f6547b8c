//! Checking a plan before anything runs: every builder's configuration, every step's
//! component (found, compiled, of the right kind), its configuration (the component's
//! own `validate`), and what it needs of the host against what the template grants.
//! Every problem is collected; a plan runs only when there are none.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use kiln_core::diag::did_you_mean;
use kiln_core::plan::{BuildPlan, ConfigBlock, Plan, PostProcessorPlan, StepPlan};
use kiln_core::{Builder, Diagnostic, Grant, Location};
use kiln_runtime::{PreparedComponent, Runtime, StepCheck, StepRequest, World};

use crate::components::Resolved;
use crate::diagnostics::{field_diagnostic, issue_diagnostic};
use crate::grants;
use crate::request::{request_for, request_with, StepSpec, Target};
use crate::values;

/// The `breakpoint` provisioner's options: Packer's pause, run by the engine itself.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breakpoint {
    /// Skip the pause.
    #[serde(default)]
    pub disable: bool,
    /// Shown at the pause.
    #[serde(default)]
    pub note: String,
}

/// What runs a provisioner: a component, or the engine itself for `breakpoint`.
pub enum StepRunner {
    /// A WebAssembly component.
    Component(Arc<PreparedComponent>),
    /// Packer's `breakpoint` provisioner: waits for Enter.
    Breakpoint(Breakpoint),
}

/// A post-processor step, checked and ready.
pub struct ReadyPostProcessor {
    /// What the template says of it.
    pub plan: PostProcessorPlan,
    /// Its component.
    pub component: Arc<PreparedComponent>,
}

/// One build, checked and ready to run.
pub struct ReadyBuild {
    /// What the template says of it, but its steps: those are below, ready.
    pub plan: BuildPlan,
    /// Its builder, configured.
    pub builder: Box<dyn Builder>,
    /// Its provisioners, in order.
    pub steps: Vec<(Arc<StepPlan>, StepRunner)>,
    /// The `error-cleanup-provisioner`.
    pub error_cleanup: Option<(Arc<StepPlan>, Arc<PreparedComponent>)>,
    /// Its post-processor chains.
    pub post_processors: Vec<Vec<ReadyPostProcessor>>,
    /// The template's sensitive values.
    pub sensitive: Arc<[String]>,
}

/// What checking works with.
#[derive(Clone, Copy)]
pub struct CheckCx<'a> {
    /// Compiles and validates components.
    pub runtime: &'a Runtime,
    /// Relative paths resolve against it.
    pub cwd: &'a Path,
    /// The template's own components.
    pub required: &'a Resolved,
    /// Stops the checks when the run is interrupted.
    pub cancel: &'a CancellationToken,
    /// The person running Kiln refuses host execution (`-refuse-exec-host`): a step
    /// that would run commands on this host is an error, whatever the template says.
    pub refuse_exec_host: bool,
}

/// The component steps of a plan, gathered to be checked together.
struct Pending<'p> {
    build: &'p BuildPlan,
    spec: StepSpec<'p>,
    world: World,
    component: Arc<PreparedComponent>,
}

impl Pending<'_> {
    fn what(&self) -> String {
        format!("{} \"{}\"", self.world.name(), self.spec.kind)
    }
}

/// What `validate` and `needs` answer depends on the component, the configuration and
/// the grant alone: world, type, configuration (JSON) and grant (borrowed from the plan).
type Key<'p> = (World, &'p str, String, &'p Grant);

/// The pending steps of a plan, grouped twice. Steps of one plan (one step of a build
/// repeated over its sources) are one step: its problems are its block's. Steps whose keys are equal are one configuration: checked once.
/// A template with many sources has few of either, and each pending step costs an
/// address lookup.
struct Grouped {
    /// Each pending step's distinct step.
    step_of: Vec<usize>,
    /// Each distinct step: its first pending step and its configuration.
    steps: Vec<(usize, usize)>,
    /// Each configuration: its first pending step and its text (JSON).
    configs: Vec<(usize, String)>,
}

impl Grouped {
    fn new(pending: &[Pending<'_>]) -> Self {
        // A step repeated over a build's sources is one plan: one block and one grant,
        // at the same addresses (the type belongs to the same plan).
        use foldhash::{HashMap, HashMapExt};
        let mut by_plan: HashMap<(usize, usize, World), usize> = HashMap::new();
        let mut by_key: HashMap<Key<'_>, usize> = HashMap::new();
        let mut step_of = Vec::with_capacity(pending.len());
        let mut steps: Vec<(usize, usize)> = Vec::new();
        let mut firsts = Vec::new();
        for (i, p) in pending.iter().enumerate() {
            let plan = (
                std::ptr::from_ref(p.spec.block) as usize,
                std::ptr::from_ref(p.spec.grant) as usize,
                p.world,
            );
            let step = *by_plan.entry(plan).or_insert_with(|| {
                let config = serde_json::to_string(&p.spec.block.config).unwrap_or_default();
                let next = firsts.len();
                let c = *by_key
                    .entry((p.world, p.spec.kind, config, p.spec.grant))
                    .or_insert(next);
                if c == next {
                    firsts.push(i);
                }
                steps.push((i, c));
                steps.len() - 1
            });
            step_of.push(step);
        }
        let mut texts = vec![String::new(); firsts.len()];
        for ((_, _, config, _), c) in by_key {
            texts[c] = config;
        }
        Grouped {
            step_of,
            steps,
            configs: firsts.into_iter().zip(texts).collect(),
        }
    }
}

/// Finds and compiles the component a step of `world` named `kind` runs (once per kind
/// and world: `prepared` remembers); problems go to `errors`. The template's own
/// components come first; Kiln's builtins are granted the paths they name.
fn component(
    cx: &CheckCx<'_>,
    world: World,
    kind: &str,
    location: &Location,
    prepared: &mut Prepared,
    errors: &mut Vec<Diagnostic>,
) -> Option<Arc<PreparedComponent>> {
    if let Some((_, _, c)) = prepared.iter().find(|(w, k, _)| *w == world && k == kind) {
        return Some(c.clone());
    }
    let (bytes, builtin) = match component_bytes(cx, world, kind) {
        Some(found) => found,
        None => {
            let known: Vec<&str> = kiln_builtins::names(builtin_kind(world)).collect();
            let d = Diagnostic::error(
                format!("Unknown {} type \"{kind}\"", world.name()),
                Some(location.clone()),
            );
            errors.push(match did_you_mean(kind, known.iter().copied()) {
                Some(s) => d.with_hint(format!("Did you mean \"{s}\"?")),
                None => d.with_hint(format!(
                    "Kiln ships these {}s: {}. Others are components the template names \
                     in `packer {{ required_components {{ {kind} = {{ source = \"...\" }} }} }}`.",
                    world.name(),
                    known.join(", "),
                )),
            });
            return None;
        }
    };
    match cx.runtime.prepare(kind, bytes, world) {
        Ok(c) => {
            let c = Arc::new(if builtin {
                c.granted_its_needs(!cx.refuse_exec_host)
            } else {
                c
            });
            prepared.push((world, kind.to_owned(), c.clone()));
            Some(c)
        }
        Err(e) => {
            let mut d = Diagnostic::error(e.to_string(), Some(location.clone()));
            if let Some(source) = cx.required.source(kind) {
                d = d.with_hint(format!("The component comes from {source}."));
            }
            errors.push(d);
            None
        }
    }
}

/// The builtins' kind of step for `world`.
fn builtin_kind(world: World) -> kiln_builtins::Kind {
    match world {
        World::Provisioner => kiln_builtins::Kind::Provisioner,
        World::PostProcessor => kiln_builtins::Kind::PostProcessor,
    }
}

/// The component a step of `world` named `kind` runs, and whether it is a builtin: the
/// template's own components come first.
fn component_bytes<'a>(cx: &CheckCx<'a>, world: World, kind: &str) -> Option<(&'a [u8], bool)> {
    match cx.required.get(kind) {
        Some(bytes) => Some((bytes, false)),
        None => kiln_builtins::find(builtin_kind(world), kind).map(|bytes| (bytes, true)),
    }
}

/// The components found so far, with their world and type: a template uses a few types,
/// and a large one asks once per step, so a list read in turn answers fastest.
type Prepared = Vec<(World, String, Arc<PreparedComponent>)>;

/// Finds the components of a plan's steps and gathers those steps to be checked.
struct Finder<'c, 'p> {
    cx: CheckCx<'c>,
    prepared: Prepared,
    errors: Vec<Diagnostic>,
    pending: Vec<Pending<'p>>,
}

impl<'c, 'p> Finder<'c, 'p> {
    fn new(cx: CheckCx<'c>) -> Self {
        Finder {
            cx,
            prepared: Vec::new(),
            errors: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// The component of `spec`, a step of `world` in `build`, now pending its check.
    fn find(
        &mut self,
        build: &'p BuildPlan,
        world: World,
        spec: StepSpec<'p>,
    ) -> Option<Arc<PreparedComponent>> {
        let location = &spec.block.location;
        let found = component(
            &self.cx,
            world,
            spec.kind,
            location,
            &mut self.prepared,
            &mut self.errors,
        )?;
        self.pending.push(Pending {
            build,
            spec,
            world,
            component: found.clone(),
        });
        Some(found)
    }
}

/// Loads the builtin components among `provisioners` and `post_processors` (step types)
/// into `runtime`, which keeps them, when their compiled form is in the cache: a
/// command calls it on a thread of its own while the template is evaluated, and the
/// checks then find them loaded. What is not cached, and every problem, is left to the
/// checks, which meet them again; nothing is written, so the thread can be left behind
/// at any moment.
pub fn load_builtins(runtime: &Runtime, provisioners: &[String], post_processors: &[String]) {
    let worlds = [
        (World::Provisioner, provisioners),
        (World::PostProcessor, post_processors),
    ];
    for (world, names) in worlds {
        for name in names {
            if let Some(bytes) = kiln_builtins::find(builtin_kind(world), name) {
                let _ = runtime.prepare_cached(name, bytes, world);
            }
        }
    }
}

/// Loads the components of `plan`'s distinct step types side by side, on up to one
/// thread per core (this one among them), when there are several: the runtime keeps
/// each, and the checks then find them loaded. A component that is two types (a
/// provisioner and a post-processor) is loaded by one thread. Problems are left to
/// [`component`], which meets them again in order.
fn load_side_by_side(plan: &Plan, cx: &CheckCx<'_>) {
    let mut kinds: Vec<(World, &str)> = Vec::new();
    for build in &plan.builds {
        let steps = build.provisioners.iter().chain(&build.error_cleanup);
        let steps = steps.map(|s| (World::Provisioner, s.kind.as_str()));
        let pps = build.post_processors.iter().flatten();
        for (world, kind) in steps.chain(pps.map(|p| (World::PostProcessor, p.kind.as_str()))) {
            if !kinds.contains(&(world, kind)) {
                kinds.push((world, kind));
            }
        }
    }
    let mut jobs: Vec<(World, &str, &[u8])> = Vec::new();
    for (world, kind) in kinds {
        if let Some((bytes, _)) = component_bytes(cx, world, kind) {
            if !jobs.iter().any(|(_, _, b)| std::ptr::eq(*b, bytes)) {
                jobs.push((world, kind, bytes));
            }
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(jobs.len());
    if threads < 2 {
        return;
    }
    let load = |first: usize| {
        for &(world, kind, bytes) in jobs.iter().skip(first).step_by(threads) {
            let _ = cx.runtime.prepare(kind, bytes, world);
        }
    };
    std::thread::scope(|s| {
        for first in 1..threads {
            s.spawn(move || load(first));
        }
        load(0);
    });
}

/// A build's builder, configured; problems go to `errors`.
fn builder(
    build: &BuildPlan,
    cwd: &Path,
    errors: &mut Vec<Diagnostic>,
) -> Option<Box<dyn Builder>> {
    let made = kiln_builders::new_builder(
        &build.source_type,
        &build.source_name,
        &build.source.config,
        cwd,
    );
    match made {
        Ok(b) => Some(b),
        Err(e) => {
            errors.push(field_diagnostic(
                &build.source,
                &format!("source \"{}\"", build.source_type),
                &e,
            ));
            None
        }
    }
}

/// Runs `needs` and `validate` of every configuration of `grouped`, one instance per
/// component (or per share of its configurations, when there are many: the shares are
/// made into requests and checked side by side, one thread each), and returns each
/// one's answer, in order.
async fn check_steps(
    pending: &[Pending<'_>],
    configs: Vec<(usize, String)>,
    cx: &CheckCx<'_>,
    sensitive: &[String],
) -> Vec<Result<StepCheck, String>> {
    let count = configs.len();
    // Each component's configurations. A template uses a few components, so a list
    // read in turn finds them.
    let mut by_component: Vec<(&Pending<'_>, Share)> = Vec::new();
    for (c, (first, config)) in configs.into_iter().enumerate() {
        let p = &pending[first];
        let same =
            |(q, _): &&mut (&Pending<'_>, _)| q.world == p.world && q.spec.kind == p.spec.kind;
        match by_component.iter_mut().find(same) {
            Some((_, list)) => list.push((c, first, config)),
            None => by_component.push((p, vec![(c, first, config)])),
        }
    }
    let threads = parallel_checks(count);
    // One component's checks cut into at most `threads` shares of at least
    // CHECKS_PER_THREAD, each for an instance of its own.
    let mut shares = Vec::new();
    for (p, list) in by_component {
        let parts = threads.min(list.len() / CHECKS_PER_THREAD).max(1);
        let size = list.len().div_ceil(parts).max(1);
        let mut list = list.into_iter().peekable();
        while list.peek().is_some() {
            shares.push((&p.component, list.by_ref().take(size).collect::<Vec<_>>()));
        }
    }
    let requests = |share| share_requests(share, pending, cx, sensitive);
    let results: Vec<(Vec<usize>, Vec<Result<StepCheck, _>>)> = if threads > 1 && shares.len() > 1 {
        let handle = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| {
            std::thread::scope(|s| {
                let running: Vec<_> = shares
                    .into_iter()
                    .map(|(component, share)| {
                        let handle = &handle;
                        s.spawn(move || {
                            let (places, reqs) = requests(share);
                            (
                                places,
                                handle.block_on(cx.runtime.check_all(component, &reqs)),
                            )
                        })
                    })
                    .collect();
                running
                    .into_iter()
                    .map(|t| t.join().expect("a check thread panicked"))
                    .collect()
            })
        })
    } else {
        let mut all = Vec::new();
        for (component, share) in shares {
            let (places, reqs) = requests(share);
            all.push((places, cx.runtime.check_all(component, &reqs).await));
        }
        all
    };
    let mut answers: Vec<Option<Result<StepCheck, String>>> = vec![None; count];
    for (places, results) in results {
        for (c, result) in places.into_iter().zip(results) {
            answers[c] = Some(result.map_err(|e| e.to_string()));
        }
    }
    answers
        .into_iter()
        .map(|a| a.expect("every configuration is checked"))
        .collect()
}

/// Configurations to check: each one's place among all, its first pending step and its
/// text (JSON).
type Share = Vec<(usize, usize, String)>;

/// The requests of a share of configurations, with their places in the same order.
fn share_requests(
    share: Share,
    pending: &[Pending<'_>],
    cx: &CheckCx<'_>,
    sensitive: &[String],
) -> (Vec<usize>, Vec<StepRequest>) {
    let ui: Arc<dyn kiln_core::ui::Ui> = Arc::new(kiln_core::ui::DiscardUi);
    // A token of the share's own, cancelled with the run's: the share's thread asks it
    // before each call without meeting the other threads there.
    let cancel = cx.cancel.child_token();
    // What a step learns of its build, by build: shared by the configurations that hold
    // none of the template's sensitive values.
    let mut infos: HashMap<usize, Arc<kiln_core::BuildInfo>> = HashMap::new();
    let mut places = Vec::with_capacity(share.len());
    let mut reqs = Vec::with_capacity(share.len());
    for (c, first, config) in share {
        let p = &pending[first];
        let target = Target {
            build: p.build,
            sensitive,
            machine: None,
            ui: ui.clone(),
            cwd: cx.cwd,
            cancel: cancel.clone(),
        };
        // Without a machine, the configuration's JSON is the key's.
        let req = if values::sensitive_in(&config, sensitive).next().is_none() {
            let info = infos
                .entry(std::ptr::from_ref(p.build) as usize)
                .or_insert_with(|| Arc::new(values::build_info(p.build, None, "", sensitive)))
                .clone();
            request_for(p.spec, target, None, config, info)
        } else {
            request_with(p.spec, target, None, config)
        };
        places.push(c);
        reqs.push(req);
    }
    (places, reqs)
}

/// Fewer checks than this per thread are not worth a thread of their own.
const CHECKS_PER_THREAD: usize = 256;

/// How many threads check `count` configurations: one, unless there are many and the
/// runtime can lend its worker (a multi-threaded one).
fn parallel_checks(count: usize) -> usize {
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if !multi {
        return 1;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(count / CHECKS_PER_THREAD).clamp(1, 8)
}

/// The problems of one step's check: its configuration's, then what it asks beyond
/// its grant.
fn step_problems(
    p: &Pending<'_>,
    answer: &Result<StepCheck, String>,
    cx: &CheckCx<'_>,
    errors: &mut Vec<Diagnostic>,
) {
    let (block, cwd): (&ConfigBlock, _) = (p.spec.block, cx.cwd);
    match answer {
        Ok(check) => {
            for issue in &check.issues {
                errors.push(issue_diagnostic(block, &p.what(), issue));
            }
            let asks_exec = check.needs.as_ref().is_some_and(|n| n.exec_host)
                || p.component.declared.as_ref().is_some_and(|d| d.exec_host);
            if cx.refuse_exec_host && (asks_exec || p.spec.grant.exec_host) {
                errors.push(
                    Diagnostic::error(
                        format!(
                            "{} runs commands on this host, and host execution is refused",
                            p.what()
                        ),
                        Some(block.location.clone()),
                    )
                    .with_hint(
                        "Kiln was run with -refuse-exec-host (or KILN_REFUSE_EXEC_HOST=1). \
                         Remove the step, or run without the refusal if you trust the template.",
                    ),
                );
                return;
            }
            let missing = grants::missing(&p.component, p.spec.grant, check.needs.as_ref(), cwd);
            if !missing.is_empty() {
                errors.push(grants::refusal(&p.what(), &block.location, &missing));
            }
        }
        Err(e) => errors.push(Diagnostic::error(e.clone(), Some(block.location.clone()))),
    }
}

/// Checks every build of `plan`: builder configuration, step types, each component's
/// own `validate`, and what each step needs against what it is granted. Returns the
/// builds, ready, or every problem found (each once).
pub async fn check(plan: &Plan, cx: CheckCx<'_>) -> Result<Vec<ReadyBuild>, Vec<Diagnostic>> {
    if let Some(d) = crate::unsupported::unsupported_types(plan, cx.required) {
        return Err(vec![d]);
    }
    load_side_by_side(plan, &cx);
    let mut finder = Finder::new(cx);
    finder.pending.reserve(
        plan.builds
            .iter()
            .map(|b| {
                b.provisioners.len()
                    + usize::from(b.error_cleanup.is_some())
                    + b.post_processors.iter().map(Vec::len).sum::<usize>()
            })
            .sum(),
    );
    let mut checked = Vec::new();
    for build in &plan.builds {
        // Every build's steps are checked, also where the builder's configuration failed.
        let builder = builder(build, cx.cwd, &mut finder.errors);
        let mut steps = Vec::with_capacity(build.provisioners.len());
        for step in &build.provisioners {
            if step.kind == "breakpoint" && cx.required.get("breakpoint").is_none() {
                match kiln_core::config::decode::<Breakpoint>(&step.block.config) {
                    Ok(b) => steps.push((step.clone(), StepRunner::Breakpoint(b))),
                    Err(e) => finder.errors.push(field_diagnostic(
                        &step.block,
                        "provisioner \"breakpoint\"",
                        &e,
                    )),
                }
                continue;
            }
            if let Some(c) = finder.find(build, World::Provisioner, StepSpec::from(&**step)) {
                steps.push((step.clone(), StepRunner::Component(c)));
            }
        }
        let error_cleanup = build.error_cleanup.as_ref().and_then(|step| {
            let c = finder.find(build, World::Provisioner, StepSpec::from(&**step))?;
            Some((step.clone(), c))
        });
        let mut chains = Vec::new();
        for chain in &build.post_processors {
            let mut ready = Vec::new();
            for pp in chain {
                if let Some(component) = finder.find(build, World::PostProcessor, pp.into()) {
                    ready.push(ReadyPostProcessor {
                        plan: pp.clone(),
                        component,
                    });
                }
            }
            chains.push(ready);
        }
        checked.push((builder, build, steps, error_cleanup, chains));
    }
    let Finder {
        mut errors,
        pending,
        ..
    } = finder;
    tracing::debug!(
        steps = pending.len(),
        "builders configured, components ready"
    );
    let Grouped { steps, configs, .. } = Grouped::new(&pending);
    let answers = check_steps(&pending, configs, &cx, &plan.sensitive).await;
    tracing::debug!(configurations = answers.len(), "steps checked");
    // A step's problems follow from its block and its answer: a step shared by many
    // sources is looked at once.
    for (first, config) in &steps {
        step_problems(&pending[*first], &answers[*config], &cx, &mut errors);
    }
    if !errors.is_empty() {
        // The same mistake in a step shared by many sources is reported once.
        let mut seen = HashSet::new();
        errors.retain(|d| seen.insert(d.to_string()));
        return Err(errors);
    }
    let sensitive: Arc<[String]> = plan.sensitive.clone().into();
    Ok(checked
        .into_iter()
        .filter_map(|(builder, build, steps, error_cleanup, post_processors)| {
            Some(ReadyBuild {
                plan: without_steps(build),
                builder: builder?,
                steps,
                error_cleanup,
                post_processors,
                sensitive: sensitive.clone(),
            })
        })
        .collect())
}

/// `build` without its steps (those of a [`ReadyBuild`] are ready ones): a template
/// with many steps and sources would have them all copied again.
fn without_steps(build: &BuildPlan) -> BuildPlan {
    BuildPlan {
        name: build.name.clone(),
        source_type: build.source_type.clone(),
        source_name: build.source_name.clone(),
        source: build.source.clone(),
        provisioners: Vec::new(),
        error_cleanup: None,
        post_processors: Vec::new(),
    }
}

/// Each step's grant as `kiln inspect` shows it, by build: (build name, lines such as
/// `provisioner "file": read = ["/w/a.txt"]`). A step's grant is what the template
/// grants it, plus, for a builtin, the paths its configuration names (its `needs`);
/// every post-processor also reads its input artifact's files. A step whose component
/// is not at hand (not pulled yet) shows what the template grants it.
pub async fn grants_by_build(plan: &Plan, cx: CheckCx<'_>) -> Vec<(String, Vec<String>)> {
    let mut finder = Finder::new(cx);
    let mut entries = Vec::new();
    for build in &plan.builds {
        let steps = build
            .provisioners
            .iter()
            .chain(&build.error_cleanup)
            .filter(|s| s.kind != "breakpoint" || cx.required.get("breakpoint").is_some())
            .map(|s| (World::Provisioner, StepSpec::from(&**s)));
        let pps = build
            .post_processors
            .iter()
            .flatten()
            .map(|p| (World::PostProcessor, StepSpec::from(p)));
        for (world, spec) in steps.chain(pps) {
            let found = finder.find(build, world, spec);
            entries.push((build, world, spec, found));
        }
    }
    let pending = finder.pending;
    let Grouped {
        step_of,
        steps,
        configs,
    } = Grouped::new(&pending);
    let answers = check_steps(&pending, configs, &cx, &plan.sensitive).await;
    // The entries whose component was found are the pending steps, in order.
    let mut found_steps = step_of.iter();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (build, world, spec, found) in &entries {
        let grant: Grant = match found {
            Some(component) => {
                let step = found_steps
                    .next()
                    .expect("one pending step per entry found");
                let config = steps[*step].1;
                let needs = answers[config].as_ref().ok().and_then(|c| c.needs.as_ref());
                grants::effective(component, spec.grant, needs, cx.cwd)
            }
            None => spec.grant.clone(),
        };
        let mut lines = Vec::new();
        if *world == World::PostProcessor {
            lines.push("read = its input artifact's files".to_owned());
        }
        lines.extend(grant.to_hcl_lines());
        // Complete trust; whether what it runs is confined, said plainly.
        let confines = found.as_ref().is_some_and(|c| c.confines_host_commands());
        for line in lines.iter_mut().filter(|l| *l == "exec_host = true") {
            line.push_str(&exec_host_note(confines));
        }
        if out.last().is_none_or(|(name, _)| *name != build.name) {
            out.push((build.name.clone(), Vec::new()));
        }
        if !lines.is_empty() {
            let entry = &mut out.last_mut().expect("pushed above").1;
            entry.push(format!(
                "{} \"{}\": {}",
                world.name(),
                spec.kind,
                lines.join(", ")
            ));
        }
    }
    out.retain(|(_, lines)| !lines.is_empty());
    out
}

/// What `kiln inspect` says after `exec_host = true`: whether the step's host commands
/// run confined (`confines`: its component can run no other kind), here, and what they see.
fn exec_host_note(confines: bool) -> String {
    match (confines, kiln_runtime::confine::available()) {
        (true, Ok(())) => " (confined: its host commands, such as ansible-playbook, see this \
                           host's system directories read-only, their own installation, the \
                           files the step names, a private home and /tmp, and this host's \
                           network)"
            .to_owned(),
        (true, Err(why)) => format!(
            " (unconfined here, {why}: its host commands, such as ansible-playbook, see this \
             host as the person running kiln does)"
        ),
        (false, _) => " (unconfined: its host commands see this host as the person running \
                        kiln does)"
            .to_owned(),
    }
}
