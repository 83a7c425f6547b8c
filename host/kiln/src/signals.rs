//! Interrupts as Packer users expect them: Ctrl-C (SIGINT), SIGTERM and SIGHUP all
//! cancel the running builds, whose cleanup then runs (remote commands killed, scripts
//! removed, containers and VMs stopped, partial files deleted), and kiln exits with
//! 128 plus the signal's number.
//!
//! Tools such as `timeout -s INT` deliver a signal twice (to the process and to its
//! group), so a repeat within [`GRACE`] of the first is taken as the same interrupt.
//! Only a repeat after that skips the cleanup and exits at once, saying that what the
//! builds made may be left behind.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// A repeat of the interrupt within this time is the same interrupt.
pub const GRACE: Duration = Duration::from_secs(3);

/// The signal that interrupted the run, if one did.
#[derive(Debug, Clone, Default)]
pub struct Interrupted(Arc<AtomicI32>);

impl Interrupted {
    /// The signal's number, when the run was interrupted.
    pub fn signal(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n),
        }
    }

    /// The exit code of an interrupted run: 128 plus the signal's number.
    pub fn exit_code(&self) -> Option<u8> {
        self.signal().and_then(|n| u8::try_from(128 + n).ok())
    }
}

fn name(signo: i32) -> &'static str {
    match signo {
        libc::SIGINT => "Interrupt",
        libc::SIGTERM => "Terminate signal",
        libc::SIGHUP => "Hangup signal",
        _ => "Signal",
    }
}

/// Listens for SIGINT, SIGTERM and SIGHUP from now on: the first cancels `cancel`
/// (with `say` telling the person), a repeat after [`GRACE`] exits at once.
pub fn listen(cancel: CancellationToken, say: impl Fn(&str) + Send + 'static) -> Interrupted {
    let interrupted = Interrupted::default();
    let kinds = [
        (SignalKind::interrupt(), libc::SIGINT),
        (SignalKind::terminate(), libc::SIGTERM),
        (SignalKind::hangup(), libc::SIGHUP),
    ];
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<i32>();
    for (kind, signo) in kinds {
        let Ok(mut stream) = signal(kind) else {
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                if tx.send(signo).is_err() {
                    break;
                }
            }
        });
    }
    let state = interrupted.clone();
    tokio::spawn(async move {
        let mut first: Option<Instant> = None;
        while let Some(signo) = rx.recv().await {
            match first {
                None => {
                    first = Some(Instant::now());
                    state.0.store(signo, Ordering::SeqCst);
                    say(&format!(
                        "==> {} received. Cancelling builds and cleaning up...",
                        name(signo)
                    ));
                    cancel.cancel();
                }
                Some(at) if at.elapsed() < GRACE => {}
                Some(_) => {
                    say(&format!(
                        "==> {} received again: exiting now, without cleaning up; what the \
                         builds made so far may be left behind.",
                        name(signo)
                    ));
                    std::process::exit(128 + signo);
                }
            }
        }
    });
    interrupted
}
