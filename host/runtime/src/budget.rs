//! What bounds one call into a component: its computing time (the `cpu` limit), the
//! step's `timeout`, the disk a post-processor may fill, and the one way every trap
//! becomes a message that names the limit it hit.
//!
//! Computing time is measured with wasmtime's call hooks: the clock runs while the
//! guest executes and stops while a host call runs (a remote command, an archive being
//! written, a sleep), so a step that waits an hour for `apt-get` spends none of its
//! budget, while a loop that never returns spends all of it. The epoch callback, which
//! wasmtime calls every tick while the guest runs, checks it.

use std::time::{Duration, Instant};

use wasmtime::CallHook;

/// The guest's computing time in the current export call.
#[derive(Debug, Clone)]
pub(crate) struct CpuMeter {
    /// What one export call may spend.
    pub(crate) budget: Duration,
    used: Duration,
    /// When the guest last started running, while it runs.
    since: Option<Instant>,
}

impl CpuMeter {
    pub(crate) fn new(budget: Duration) -> Self {
        CpuMeter {
            budget,
            used: Duration::ZERO,
            since: None,
        }
    }

    /// Follows the guest in and out of wasm.
    pub(crate) fn hook(&mut self, hook: CallHook) {
        match hook {
            CallHook::CallingWasm | CallHook::ReturningFromHost => {
                if self.since.is_none() {
                    self.since = Some(Instant::now());
                }
            }
            CallHook::ReturningFromWasm | CallHook::CallingHost => {
                if let Some(since) = self.since.take() {
                    self.used += since.elapsed();
                }
            }
        }
    }

    /// Time spent computing so far in this call.
    pub(crate) fn used(&self) -> Duration {
        self.used + self.since.map_or(Duration::ZERO, |s| s.elapsed())
    }

    /// Whether the call has spent its budget.
    pub(crate) fn exhausted(&self) -> bool {
        self.used() > self.budget
    }
}

/// Bytes a post-processor has written to the host, against its `disk` limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DiskBudget {
    pub(crate) limit: u64,
    pub(crate) written: u64,
}

impl DiskBudget {
    /// What may still be written.
    pub(crate) fn left(&self) -> u64 {
        self.limit.saturating_sub(self.written)
    }
}

/// `1m`, `90s`, `1.5s`, `250ms`: a limit as a template writes it.
pub(crate) fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms >= 1000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{ms}ms")
    }
}

/// The trap that ends a step which hit one of its limits: names the limit, its value,
/// and how to raise it.
pub(crate) fn limit_hit(name: &str, value: impl std::fmt::Display, what: &str) -> wasmtime::Error {
    wasmtime::Error::msg(limit_message(name, value, what))
}

/// The words of [`limit_hit`].
pub(crate) fn limit_message(name: &str, value: impl std::fmt::Display, what: &str) -> String {
    format!(
        "the step hit its {name} limit ({value}): {what}; raise it with `limits {{ {name} = ... }}` if the step needs more"
    )
}

/// The CPU limit's trap.
pub(crate) fn cpu_exhausted(budget: Duration) -> wasmtime::Error {
    limit_hit(
        "cpu",
        show_duration(budget),
        "the component computed that long in one call without finishing (time spent \
         waiting for the machine or the host does not count)",
    )
}

/// The memory limit's words, when `trap` is wasmtime refusing to grow memory past it.
pub(crate) fn memory_exhausted(trap: &str, limit: u64) -> Option<String> {
    trap.contains("forcing trap when growing memory").then(|| {
        limit_message(
            "memory",
            format!("{limit} bytes"),
            "the component asked for more linear memory than that",
        )
    })
}

/// The words for a trap of the resource table being full: the component holds as many
/// host handles (remote processes, sockets, streams, pollables) as one instance may.
pub(crate) fn handles_exhausted(trap: &str, max: usize) -> Option<String> {
    trap.contains("resource table has no free keys").then(|| {
        format!(
            "the step hit its limit of {max} host handles held at once (remote processes, \
             sockets, streams, pollables): the component never dropped them"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_in_host_calls_is_not_computing_time() {
        let mut m = CpuMeter::new(Duration::from_millis(50));
        m.hook(CallHook::CallingWasm);
        std::thread::sleep(Duration::from_millis(20));
        m.hook(CallHook::CallingHost);
        std::thread::sleep(Duration::from_millis(100));
        // A wasm call from inside the host call (a realloc) counts, and stops again.
        m.hook(CallHook::CallingWasm);
        m.hook(CallHook::ReturningFromWasm);
        m.hook(CallHook::ReturningFromHost);
        let used = m.used();
        assert!(used >= Duration::from_millis(20), "{used:?}");
        assert!(used < Duration::from_millis(90), "{used:?}");
        assert!(!m.exhausted());
        std::thread::sleep(Duration::from_millis(40));
        assert!(m.exhausted());
    }

    #[test]
    fn limits_read_as_templates_write_them() {
        assert_eq!(show_duration(Duration::from_secs(60)), "1m");
        assert_eq!(show_duration(Duration::from_secs(90)), "90s");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(show_duration(Duration::from_millis(250)), "250ms");
    }
}
