//! Waiters: poll until a resource reaches a state, `aws_polling`'s attempts apart, and
//! say on timeout what was awaited, its last state and how to wait longer.

use std::future::Future;
use std::time::Duration;

use crate::access::Polling;
use crate::AwsError;

/// What one poll saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen<T = ()> {
    /// The state waited for, and what was seen in it.
    Done(T),
    /// Not yet: the state it is in.
    Pending(String),
    /// A state it will never leave for the one waited for.
    Failed(String),
}

/// A waiter's own defaults: how far apart it polls and how long it waits in all.
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    pub delay: Duration,
    pub max_wait: Duration,
}

/// An AMI becoming available (a creation or a copy): every 5 s for 30 minutes.
pub const IMAGE: Defaults = Defaults {
    delay: Duration::from_secs(5),
    max_wait: Duration::from_secs(30 * 60),
};

/// An instance running, stopped or terminated: every 15 s for 10 minutes.
pub const INSTANCE: Defaults = Defaults {
    delay: Duration::from_secs(15),
    max_wait: Duration::from_secs(10 * 60),
};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// The delay and attempts in force. `aws_polling`'s values win over
/// `AWS_POLL_DELAY_SECONDS` and `AWS_MAX_ATTEMPTS`; with attempts but no delay, polls
/// are 2 s apart; `AWS_TIMEOUT_SECONDS` bounds the whole wait when no attempts are set;
/// else the waiter's own defaults hold.
pub fn effective(polling: &Polling, defaults: Defaults) -> (Duration, u32) {
    let attempts = polling
        .max_attempts
        .or_else(|| env_u64("AWS_MAX_ATTEMPTS").and_then(|a| u32::try_from(a).ok()))
        .filter(|a| *a > 0);
    let delay = polling
        .delay
        .or_else(|| env_u64("AWS_POLL_DELAY_SECONDS").map(Duration::from_secs));
    let timeout = env_u64("AWS_TIMEOUT_SECONDS").filter(|t| *t > 0);
    let delay = match (delay, attempts.is_some() || timeout.is_some()) {
        (Some(d), _) => d,
        (None, true) => Duration::from_secs(2),
        (None, false) => defaults.delay,
    };
    let per = delay.as_secs().max(1);
    let attempts = attempts
        .or_else(|| timeout.and_then(|t| u32::try_from(t.div_ceil(per)).ok()))
        .unwrap_or_else(|| {
            u32::try_from(defaults.max_wait.as_secs().div_ceil(per)).unwrap_or(u32::MAX)
        })
        .max(1);
    (delay, attempts)
}

/// Polls `check` until it sees [`Seen::Done`]: at once, then `delay` apart, at most
/// `attempts` times. `what` names what is awaited ("AMI ami-1 to become available").
pub async fn until<T, F, Fut>(
    polling: &Polling,
    defaults: Defaults,
    what: &str,
    mut check: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Seen<T>, AwsError>>,
{
    let (delay, attempts) = effective(polling, defaults);
    let mut last = String::from("unknown");
    for attempt in 1..=attempts {
        match check().await? {
            Seen::Done(found) => return Ok(found),
            Seen::Failed(state) => {
                return Err(AwsError::Timeout(format!(
                    "waiting for {what}: it is {state} and will not get there"
                )))
            }
            Seen::Pending(state) => last = state,
        }
        if attempt < attempts {
            tokio::time::sleep(delay).await;
        }
    }
    Err(AwsError::Timeout(format!(
        "timed out waiting for {what}: {attempts} attempts {}s apart, its last state was {last:?}; wait longer with aws_polling {{ delay_seconds = ..., max_attempts = ... }} in the source (or AWS_POLL_DELAY_SECONDS and AWS_MAX_ATTEMPTS)",
        delay.as_secs()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn timeout_says_what_and_the_last_state() {
        let polling = Polling {
            delay: Some(Duration::ZERO),
            max_attempts: Some(3),
        };
        let mut n = 0;
        let e = until(&polling, INSTANCE, "AMI ami-1 to become available", || {
            n += 1;
            async { Ok(Seen::<()>::Pending("pending".into())) }
        })
        .await
        .unwrap_err();
        assert_eq!(n, 3);
        let text = e.to_string();
        assert!(text.contains("AMI ami-1 to become available"), "{text}");
        assert!(text.contains("\"pending\""), "{text}");
        assert!(text.contains("max_attempts"), "{text}");
    }

    #[tokio::test]
    async fn done_at_once_and_failed_states_end_it() {
        let polling = Polling::default();
        until(&polling, INSTANCE, "x", || async { Ok(Seen::Done(())) })
            .await
            .unwrap();
        let e = until(
            &polling,
            INSTANCE,
            "AMI ami-2 to become available",
            || async { Ok(Seen::<()>::Failed("failed".into())) },
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("it is failed"), "{e}");
    }
}
