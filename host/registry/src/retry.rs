//! Retrying registry requests that failed for a passing reason, with exponential backoff.
//!
//! A registry that is restarting, overloaded or rate limiting answers 5xx or 429, refuses
//! or drops connections, or times out; trying again a moment later usually works. Refused
//! credentials, missing manifests and digest mismatches never get better by waiting, so
//! those fail at once.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::time::Duration;

use oci_client::errors::{OciDistributionError as OciError, OciErrorCode as Code};

use crate::Error;

/// How often to try and how long to wait between tries; the wait doubles each time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    /// Tries in all, the first included.
    pub(crate) attempts: u32,
    /// The wait after the first failure.
    pub(crate) first_delay: Duration,
}

/// Four tries, waiting 200 ms, 400 ms and 800 ms between them.
pub(crate) const REGISTRY_BACKOFF: Backoff = Backoff {
    attempts: 4,
    first_delay: Duration::from_millis(200),
};

/// Runs `op` until it succeeds, fails with an error `transient` rejects, or has been tried
/// `backoff.attempts` times; returns its last result. `what` names the operation in logs.
pub(crate) async fn retry<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    backoff: Backoff,
    what: &str,
    transient: impl Fn(&E) -> bool,
    mut op: impl FnMut() -> F,
) -> Result<T, E> {
    let mut delay = backoff.first_delay;
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if attempt < backoff.attempts && transient(&e) => {
                tracing::warn!(attempt, ?delay, error = %e, "{what} failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// [`retry`] with [`REGISTRY_BACKOFF`] and [`Error::is_transient`]; a passing failure
/// that outlasts the tries becomes [`Error::Unreachable`], naming `registry`, what was
/// being done and the cause.
pub(crate) async fn retry_registry<T, F: Future<Output = Result<T, Error>>>(
    registry: &str,
    doing: &str,
    op: impl FnMut() -> F,
) -> Result<T, Error> {
    retry(REGISTRY_BACKOFF, doing, Error::is_transient, op)
        .await
        .map_err(|e| e.unreachable(registry, doing, REGISTRY_BACKOFF.attempts))
}

impl Error {
    /// A passing failure, after the last try: the registry did not answer (or answered
    /// with a server error) while `doing`. Other errors pass unchanged.
    pub(crate) fn unreachable(self, registry: &str, doing: &str, attempts: u32) -> Error {
        if !self.is_transient() {
            return self;
        }
        let cause = match &self {
            Error::Registry { source, .. } => cause(source.as_ref()),
            Error::Io { source, .. } => cause(source),
            other => other.to_string(),
        };
        Error::Unreachable {
            registry: registry.to_owned(),
            doing: doing.to_owned(),
            attempts,
            cause,
        }
    }

    /// Whether trying again later might succeed: a registry answering 5xx or 429, a
    /// connection refused, reset or aborted, a timeout. Never for an answer about the
    /// request itself (401, 403, 404, other 4xx) nor for a digest mismatch.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Error::Registry { source, .. } => match source.downcast_ref::<OciError>() {
                Some(e) => oci_transient(e),
                None => io_in_chain(source.as_ref()),
            },
            Error::Io { source, .. } => io_in_chain(source),
            _ => false,
        }
    }
}

/// The HTTP status of a registry answer, when the error is one.
pub(crate) fn http_status(e: &OciError) -> Option<u16> {
    match e {
        OciError::ServerError { code, .. } => Some(*code),
        OciError::UnauthorizedError { .. } => Some(401),
        OciError::RequestError(e) => e.status().map(|s| s.as_u16()),
        _ => None,
    }
}

fn oci_transient(e: &OciError) -> bool {
    if let Some(status) = http_status(e) {
        return status == 429 || (500..600).contains(&status);
    }
    match e {
        OciError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| e.code == Code::Toomanyrequests),
        OciError::RequestError(e) if reqwest_passing(e) => true,
        OciError::IoError(e) => io_in_chain(e),
        _ => io_in_chain(e),
    }
}

/// Whether `e` or an error it wraps is an I/O error of a passing kind, or an HTTP
/// request that timed out or lost its connection (a body cut short, a connection closed
/// before the answer). `io::Error` hides the error it wraps from `source()`, so this also
/// looks through `get_ref()`.
fn io_in_chain(e: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest_passing)
        {
            return true;
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if passing(io.kind()) {
                return true;
            }
            if let Some(inner) = io.get_ref() {
                next = Some(inner);
                continue;
            }
        }
        next = e.source();
    }
    false
}

/// Whether an HTTP request failed for a passing reason: it timed out, could not connect,
/// or lost its connection while sending the request or reading the answer.
fn reqwest_passing(e: &reqwest::Error) -> bool {
    e.is_timeout() || e.is_connect() || e.is_body() || e.is_decode() || e.is_request()
}

/// What `e` says went wrong, through its chain of causes, without the request URLs that
/// HTTP errors carry (a blob URL is 150 characters of noise).
pub(crate) fn cause(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(e) = next {
        let text = e.to_string();
        let text = match text.find(" for url (") {
            Some(at) => text[..at].to_owned(),
            None => text,
        };
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = match e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as _),
            None => e.source(),
        };
    }
    parts.join(": ")
}

fn passing(kind: io::ErrorKind) -> bool {
    use io::ErrorKind::*;
    matches!(
        kind,
        ConnectionRefused | ConnectionReset | ConnectionAborted | TimedOut | BrokenPipe
    )
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::registry::{client, registry_error};
    use crate::{Digest, Reference};

    const FAST: Backoff = Backoff {
        attempts: 4,
        first_delay: Duration::from_millis(1),
    };

    fn io_error(kind: io::ErrorKind) -> Error {
        crate::error::io_err("downloading a blob")(io::Error::from(kind))
    }

    #[tokio::test]
    async fn retries_a_passing_failure_until_it_succeeds() {
        let calls = &Cell::new(0);
        let result = retry(FAST, "test", Error::is_transient, move || async move {
            calls.set(calls.get() + 1);
            match calls.get() {
                1 | 2 => Err(io_error(io::ErrorKind::ConnectionReset)),
                _ => Ok("done"),
            }
        })
        .await;
        assert_eq!(result.unwrap(), "done");
        assert_eq!(calls.get(), 3);
    }

    #[tokio::test]
    async fn gives_up_after_the_last_attempt() {
        let calls = &Cell::new(0);
        let result: Result<(), Error> =
            retry(FAST, "test", Error::is_transient, move || async move {
                calls.set(calls.get() + 1);
                Err(io_error(io::ErrorKind::TimedOut))
            })
            .await;
        assert!(matches!(result, Err(Error::Io { .. })));
        assert_eq!(calls.get(), 4);
    }

    #[tokio::test]
    async fn stops_at_once_on_a_lasting_failure() {
        for lasting in [
            Error::Unauthorized {
                reference: "r".into(),
                registry: "g".into(),
            },
            Error::DigestMismatch {
                what: "blob".into(),
                expected: Digest::of(b"a"),
                actual: Digest::of(b"b"),
            },
            io_error(io::ErrorKind::PermissionDenied),
        ] {
            let calls = &Cell::new(0);
            let lasting = &Cell::new(Some(lasting));
            let result: Result<(), Error> =
                retry(FAST, "test", Error::is_transient, move || async move {
                    calls.set(calls.get() + 1);
                    Err(lasting.take().expect("called once"))
                })
                .await;
            assert!(result.is_err());
            assert_eq!(calls.get(), 1);
        }
    }

    /// A real refused connection, as oci-client reports it, counts as passing.
    #[tokio::test]
    async fn a_refused_connection_is_transient() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let reference: Reference = format!("127.0.0.1:{port}/x:y").parse().unwrap();
        let anonymous = oci_client::secrets::RegistryAuth::Anonymous;
        let e = client(&reference, false)
            .pull_manifest_raw(&reference.to_oci(), &anonymous, &["application/json"])
            .await
            .unwrap_err();
        assert!(registry_error(&reference, e).is_transient());
    }
}
