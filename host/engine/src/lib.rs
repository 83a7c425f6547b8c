//! The engine: the only crate that orchestrates. It checks a plan against the builders
//! and components that will run it ([`check`]), runs its builds ([`run_all`]) — each
//! builder creating or reaching its machine and calling the provision hook, which runs
//! every provisioner component through the runtime, then the post-processor chains —
//! and resolves the components a template requires ([`components`]). It talks to the
//! person running it only through a [`Frontend`].
//!
//! The modules depend one way: `values`, `diagnostics`, `grants` and `request` know
//! nothing of the others; `check` uses them; `provision` and `post` run what `check`
//! made ready; `run` schedules builds over `provision` and `post`.

pub mod components;

mod check;
mod checkpoint;
mod diagnostics;
mod frontend;
mod grants;
pub mod last_build;
mod post;
mod prompt;
mod provision;
mod request;
mod run;
mod unsupported;
mod values;

pub use check::{
    check, grants_by_build, load_builtins, Breakpoint, CheckCx, ReadyBuild, ReadyPostProcessor,
    StepRunner,
};
pub use diagnostics::field_diagnostic;
pub use frontend::{Frontend, Unattended};
pub use prompt::OnError;
pub use run::{human, run_all, Outcome, Policy, RunOptions, SUMMARY_WIDTH};
pub use values::{archive_epoch, build_info, clock_epoch, run_uuid};
