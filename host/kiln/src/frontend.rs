//! The terminal as the engine's [`Frontend`]: each build's lines through its
//! [`BuildUi`], answers read from stdin, secrets learned while running masked in the log.

use std::sync::Arc;

use async_trait::async_trait;

use crate::ui::{self, BuildUi, Output};

/// The terminal a `kiln build` runs in.
pub struct Terminal {
    /// Where every line goes.
    pub out: Arc<Output>,
}

#[async_trait]
impl kiln_engine::Frontend for Terminal {
    fn build_ui(&self, name: &str, index: usize) -> Arc<dyn kiln_core::Ui> {
        Arc::new(BuildUi::new(name, index, self.out.clone()))
    }

    fn say(&self, line: &str) {
        self.out.line(line);
    }

    fn can_ask(&self) -> bool {
        std::io::IsTerminal::is_terminal(&std::io::stdin())
    }

    async fn read_line(&self) -> Option<String> {
        // Read off the async threads; `None` at the end of stdin or on error.
        let read = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map(|n| (n, line))
        })
        .await;
        match read {
            Ok(Ok((n, line))) if n > 0 => Some(line),
            _ => None,
        }
    }

    fn add_secrets(&self, secrets: &[String]) {
        ui::mask_in_log(secrets);
    }
}
