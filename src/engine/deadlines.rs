//! How long each Docker call may take. A daemon that stops answering (frozen, swapping, a stuck
//! storage driver) keeps its socket open and accepts requests into the kernel's backlog: nothing
//! fails, every call just waits. So every call of [`super::DockerEngine`] runs under a deadline
//! suited to it, and a passed deadline is [`EngineError::Timeout`], which callers already treat
//! as Docker not answering (backoff, readiness, rollback).
//!
//! | call | deadline ([`Deadlines::DEFAULT`]) | why |
//! |---|---|---|
//! | ping, `connect`'s `GET /_ping` | 5 s | Docker answers `_ping` without taking a lock: the liveness probe and the first contact |
//! | list, inspect, image, version | 10 s | reads of the daemon's own state (a few ms when it is well) |
//! | create, start, rename, network connect, network and volume create and remove | 30 s | writes that may set up mounts and networks |
//! | stop | the container's stop timeout + 30 s | Docker answers a stop only once the container is down: after the stop timeout it kills it, and the margin covers the kill |
//! | remove (force) | 30 s | a force removal kills first, like a stop with no timeout; a removal already in progress is then polled for up to 30 s with inspects of 10 s |
//! | registry digest | 30 s | the daemon asks the registry |
//! | pull | none in total; 60 s without a progress message | a large image takes as long as it takes, a stalled pull does not |
//! | logs without follow | 10 s without a frame | a read |
//! | events, logs with follow | none | streams that are quiet while nothing happens; a frozen daemon is found by the controller's liveness ping |
//!
//! Invariants:
//! - Each deadline bounds the whole call: sending the request, Docker's work, reading the
//!   answer. A passed deadline is an [`EngineError::Timeout`] naming the call and the deadline;
//!   it is never retried here.
//! - bollard's own request timeout (one per client, and it bounds only the wait for the response
//!   head) is set to [`BOLLARD_BACKSTOP`], beyond any deadline here, so that it never cuts a call
//!   short: a stop with a long `stopTimeout` least of all.
//! - [`super::fake::FakeEngine`] applies the same deadlines, so that a slow or frozen fake times
//!   out where the daemon would.

use std::future::Future;
use std::time::Duration;

use super::{EngineError, EngineResult};
use crate::manifest::units::format_duration;

/// bollard's single request timeout, in seconds: about 136 years, longer than the longest stop
/// Docker accepts (its `t` is an i32 of seconds). The deadlines of [`Deadlines`] decide.
pub const BOLLARD_BACKSTOP: u64 = u32::MAX as u64;

/// The deadline of each kind of call (see the module's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// `GET /_ping`, also at the first contact.
    pub ping: Duration,
    /// Lists, inspects, image inspects, the version.
    pub read: Duration,
    /// Create, start, rename, network connect, network and volume create and remove.
    pub write: Duration,
    /// Added to a stop's timeout; a force removal's whole deadline.
    pub margin: Duration,
    /// The registry digest, asked through the daemon.
    pub registry: Duration,
    /// A pull ends with [`EngineError::Timeout`] when no progress message came for this long.
    pub pull_idle: Duration,
}

impl Deadlines {
    pub const DEFAULT: Deadlines = Deadlines {
        ping: Duration::from_secs(5),
        read: Duration::from_secs(10),
        write: Duration::from_secs(30),
        margin: Duration::from_secs(30),
        registry: Duration::from_secs(30),
        pull_idle: Duration::from_secs(60),
    };

    /// A stop that asks Docker to wait `timeout` before it kills: `timeout` plus the margin, so
    /// that a legitimately long stop is never cut short.
    pub fn stop(&self, timeout: Duration) -> Duration {
        timeout.saturating_add(self.margin)
    }

    /// A force removal.
    pub fn remove(&self) -> Duration {
        self.margin
    }
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines::DEFAULT
    }
}

/// The error of a call that did not end within `deadline`.
pub fn timed_out(call: &str, deadline: Duration) -> EngineError {
    EngineError::Timeout(format!("Docker did not answer {call} within {}", format_duration(deadline)))
}

/// The error of a stream (a pull, a log) that sent nothing for `idle`.
pub fn stalled(call: &str, idle: Duration) -> EngineError {
    EngineError::Timeout(format!("{call}: Docker sent nothing for {}", format_duration(idle)))
}

/// Runs `future` for at most `deadline`; [`EngineError::Timeout`] naming `call` when it passes.
/// A deadline too large for the clock means none.
pub async fn within<F: Future>(call: &str, deadline: Duration, future: F) -> EngineResult<F::Output> {
    tokio::time::timeout(deadline, future).await.map_err(|_| timed_out(call, deadline))
}

/// `stream`, ended by an [`EngineError::Timeout`] naming `call` when no item comes for `idle`.
pub fn idle_bounded<T: Send + 'static>(
    stream: std::pin::Pin<Box<dyn futures_util::Stream<Item = EngineResult<T>> + Send>>,
    call: String,
    idle: Duration,
) -> std::pin::Pin<Box<dyn futures_util::Stream<Item = EngineResult<T>> + Send>> {
    use futures_util::StreamExt;
    let state = Some((stream, call));
    Box::pin(futures_util::stream::unfold(state, move |state| async move {
        let (mut stream, call) = state?;
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(item)) => Some((item, Some((stream, call)))),
            Ok(None) => None,
            // The stream ends with the timeout: nothing more is read from a daemon that stalled.
            Err(_) => Some((Err(stalled(&call, idle)), None)),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn a_stop_gets_its_own_timeout_plus_the_margin_never_a_flat_deadline() {
        let d = Deadlines::DEFAULT;
        assert_eq!(d.stop(Duration::from_secs(150)), Duration::from_secs(180));
        assert_eq!(d.stop(Duration::from_secs(1)), Duration::from_secs(31));
        assert!(d.stop(Duration::from_secs(150)) > d.write, "longer than any flat deadline");
        assert_eq!(d.stop(Duration::MAX), Duration::MAX, "saturates, never overflows");
        assert!(BOLLARD_BACKSTOP > i32::MAX as u64, "bollard never cuts a stop Docker accepts");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_passes_its_deadline_is_a_timeout_naming_it() {
        let started = tokio::time::Instant::now();
        let slow = within("GET /_ping", Duration::from_secs(5), std::future::pending::<()>()).await;
        assert_eq!(slow, Err(EngineError::Timeout("Docker did not answer GET /_ping within 5s".into())));
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert_eq!(within("x", Duration::from_secs(5), async { 7 }).await, Ok(7));
        // An endless deadline is none.
        assert_eq!(within("x", Duration::MAX, async { 7 }).await, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_stream_ends_with_a_timeout_and_a_busy_one_does_not() {
        // One item a second for ten seconds: never idle for 2 s, so no timeout in total.
        let busy = futures_util::stream::iter(0..10).then(|n| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, EngineError>(n)
        });
        let items: Vec<_> = idle_bounded(Box::pin(busy), "pull".into(), Duration::from_secs(2)).collect().await;
        assert_eq!(items.len(), 10);
        assert!(items.iter().all(Result::is_ok));

        let stalls = futures_util::stream::iter([Ok(1)]).chain(futures_util::stream::pending());
        let items: Vec<EngineResult<i32>> =
            idle_bounded(Box::pin(stalls), "pull app:1".into(), Duration::from_secs(2)).collect().await;
        let stalled = EngineError::Timeout("pull app:1: Docker sent nothing for 2s".into());
        assert_eq!(items, [Ok(1), Err(stalled)]);
    }
}
