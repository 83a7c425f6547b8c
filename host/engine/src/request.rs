//! A step's request to the runtime: its configuration (build values filled in), what
//! it learns of its build, its grant, bounds and output.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use kiln_core::plan::{BuildPlan, ConfigBlock, PostProcessorPlan, StepPlan};
use kiln_core::{BuildInfo, Communicator, ConnectionInfo, Grant, Limits, Ui};
use kiln_runtime::StepRequest;

use crate::values;

/// What the template says of one step, provisioner or post-processor alike.
#[derive(Clone, Copy)]
pub struct StepSpec<'a> {
    /// The step's type (`shell`, `compress`).
    pub kind: &'a str,
    /// Its configuration.
    pub block: &'a ConfigBlock,
    /// What the template grants it.
    pub grant: &'a Grant,
    /// Its `timeout`.
    pub timeout: Option<Duration>,
    /// Its `limits`.
    pub limits: Limits,
}

impl<'a> From<&'a StepPlan> for StepSpec<'a> {
    fn from(s: &'a StepPlan) -> Self {
        StepSpec {
            kind: &s.kind,
            block: &s.block,
            grant: &s.grant,
            timeout: s.timeout,
            limits: s.limits,
        }
    }
}

impl<'a> From<&'a PostProcessorPlan> for StepSpec<'a> {
    fn from(p: &'a PostProcessorPlan) -> Self {
        StepSpec {
            kind: &p.kind,
            block: &p.block,
            grant: &p.grant,
            timeout: p.timeout,
            limits: p.limits,
        }
    }
}

/// Where a request goes and what it may touch beyond its grant.
pub struct Target<'a> {
    /// The build the step belongs to.
    pub build: &'a BuildPlan,
    /// The template's sensitive values.
    pub sensitive: &'a [String],
    /// The machine, when the builder reached one.
    pub machine: Option<(Arc<dyn Communicator>, ConnectionInfo)>,
    /// Where the step's messages go.
    pub ui: Arc<dyn Ui>,
    /// The template's directory.
    pub cwd: &'a Path,
    /// The run's cancellation.
    pub cancel: CancellationToken,
}

/// The runtime request of `step` for `target`, its grant extended by `extra` (a
/// post-processor's input files).
pub fn request(step: StepSpec<'_>, target: Target<'_>, extra: Option<&Grant>) -> StepRequest {
    let connection = target.machine.as_ref().map(|(_, info)| info);
    let config_json = values::config_json(step.block, connection);
    request_with(step, target, extra, config_json)
}

/// [`request`], with the step's configuration already as JSON (`build.*` values
/// filled in for the machine of `target`).
pub fn request_with(
    step: StepSpec<'_>,
    target: Target<'_>,
    extra: Option<&Grant>,
    config_json: String,
) -> StepRequest {
    let connection = target.machine.as_ref().map(|(_, info)| info.clone());
    let info = values::build_info(target.build, connection, &config_json, target.sensitive);
    request_for(step, target, extra, config_json, Arc::new(info))
}

/// [`request_with`], with what the step learns of its build (`info`) already made: the
/// checks of a build's many steps share one.
pub fn request_for(
    step: StepSpec<'_>,
    target: Target<'_>,
    extra: Option<&Grant>,
    config_json: String,
    info: Arc<BuildInfo>,
) -> StepRequest {
    let communicator = target.machine.map(|(c, _)| c);
    let mut grant = step.grant.clone();
    if let Some(extra) = extra {
        grant.extend(extra);
    }
    StepRequest {
        build: info,
        config_json,
        communicator,
        ui: target.ui,
        grant,
        cwd: target.cwd.to_owned(),
        timeout: step.timeout,
        limits: step.limits,
        cancel: target.cancel,
        clock_epoch: values::clock_epoch(),
        archive_epoch: values::archive_epoch(),
        digests: Vec::new(),
    }
}
