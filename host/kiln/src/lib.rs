//! The `kiln` program: the command line, the engine that runs a plan, and the terminal
//! UI. The only crate that knows clap.

pub mod cli;
mod component_cli;
pub mod components;
pub mod engine;
pub mod fmt;
pub mod post;
mod scaffold;
mod shell_local;
mod signals;
pub mod ui;
