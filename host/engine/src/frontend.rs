//! What the engine needs of whoever runs it (the command line, a test): where each
//! build's output goes, lines about the whole run, answers from a person, and secrets
//! learned while running that must never be printed.

use std::sync::Arc;

use async_trait::async_trait;
use kiln_core::Ui;

/// The engine's view of its caller.
#[async_trait]
pub trait Frontend: Send + Sync {
    /// The output of build number `index`, named `name`.
    fn build_ui(&self, name: &str, index: usize) -> Arc<dyn Ui>;

    /// A line about the run as a whole.
    fn say(&self, line: &str);

    /// Whether a person can answer questions (`-on-error=ask`); when not, a failed
    /// step is cleaned up instead.
    fn can_ask(&self) -> bool;

    /// The next line the person types; `None` when the input has ended.
    async fn read_line(&self) -> Option<String>;

    /// Values learned while running (a machine's login secrets) that must never be
    /// printed from now on, wherever they appear.
    fn add_secrets(&self, secrets: &[String]);
}

/// A frontend for runs without a person: output nowhere, no answers, no secrets kept.
#[derive(Debug, Default)]
pub struct Unattended;

#[async_trait]
impl Frontend for Unattended {
    fn build_ui(&self, _name: &str, _index: usize) -> Arc<dyn Ui> {
        Arc::new(kiln_core::ui::DiscardUi)
    }

    fn say(&self, _line: &str) {}

    fn can_ask(&self) -> bool {
        false
    }

    async fn read_line(&self) -> Option<String> {
        None
    }

    fn add_secrets(&self, _secrets: &[String]) {}
}
