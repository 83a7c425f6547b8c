//! The `kiln` program: the command line. It parses flags, loads the template, hands
//! the plan to the engine (`kiln-engine`) and prints what it answers through the
//! terminal UI; it is the only crate that knows clap.

pub mod cli;
mod commands;
mod component_cli;
mod console;
pub mod fmt;
mod frontend;
mod load;
mod log;
mod scaffold;
mod signals;
pub mod ui;
