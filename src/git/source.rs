//! The git source of `moor run --git`: a [`Source`] whose manifests are the `current` revision,
//! and the task that polls the remote (and answers webhooks) to move `current` forward.
//!
//! Invariants:
//! - The controller only ever loads `current`, a fully valid revision (see [`super::sync`]); it
//!   loads it by SHA, so a swap during a load cannot mix two revisions.
//! - Before the first revision exists there is nothing to run, and the load says so as a
//!   problem: prune stays suspended and nothing is removed.
//! - After a restart the controller starts from the last good snapshot on disk, before the
//!   remote answers: a host whose git server is down still converges.
//! - Level-based: the poll timer and the webhook only wake the task; each sync asks the remote
//!   afresh, and a webhook's payload is never read.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::sync::{load_current, GitSettings, SyncOutcome, Syncer};
use super::{Revision, StateDir};
use crate::controller::backoff::{Backoff, Policy};
use crate::controller::source::Source;
use crate::controller::status::{timestamp, Shared, SourceStatus};
use crate::controller::triggers::Trigger;
use crate::manifest::{Loaded, Problem};
use crate::notify::{Notifier, RevisionEvent};

/// How often the remote is asked, and the webhook that cuts the wait short.
pub struct Polling {
    pub interval: Duration,
    /// Notified by `POST /hooks/git` when a webhook's signature is valid.
    pub hook: Option<Arc<Notify>>,
    pub notifier: Option<Notifier>,
}

/// A failed or refused sync is retried sooner than the poll: from 2 s, doubling, never later than
/// the poll interval itself.
fn retry_policy(interval: Duration) -> Policy {
    Policy { min: Duration::from_secs(2).min(interval), max: interval, factor: 2.0, seed: None }
}

/// Up to 10% less than `interval`, so that many hosts on one schedule do not ask at once.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(1.0 - fastrand::f64() * 0.1)
}

pub struct GitSource {
    settings: GitSettings,
    /// Moved into the poll task by `watch`.
    syncer: Option<Syncer>,
    polling: Option<Polling>,
    shared: Arc<Shared>,
}

impl GitSource {
    pub fn new(settings: GitSettings, polling: Polling, shared: Arc<Shared>) -> GitSource {
        let syncer = Syncer::new(settings.clone());
        let revision = syncer.current();
        shared.set_source(SourceStatus {
            url: settings.remote.display_url(),
            reference: settings.remote.display_ref(),
            path: settings.path.display().to_string(),
            revision: revision.as_ref().map(|r| r.id()),
            subject: revision.as_ref().map(|r| r.subject.clone()),
            verified_by: revision.as_ref().and_then(|r| r.signer.clone()),
            ..SourceStatus::default()
        });
        if let Some(revision) = &revision {
            shared.metrics.source_revision(None, &revision.id());
            info!(revision = %revision.id(), subject = %revision.subject, "starting from the last good revision on disk");
        }
        GitSource { settings, syncer: Some(syncer), polling: Some(polling), shared }
    }
}

impl Source for GitSource {
    fn load(&mut self) -> Loaded {
        let state = StateDir::new(self.settings.state_dir.clone());
        match load_current(&state, &self.settings) {
            Some((revision, loaded)) => {
                self.shared.loaded_revision(Some(revision.id()));
                loaded
            }
            None => {
                self.shared.loaded_revision(None);
                let message = format!(
                    "no revision of {} yet: waiting for the first fetch; nothing is pruned",
                    self.settings.describe()
                );
                let problem =
                    Problem { file: state.current_path(), line: None, column: None, field: String::new(), message };
                Loaded { problems: vec![problem], ..Loaded::default() }
            }
        }
    }

    fn watch(&mut self, tx: UnboundedSender<Trigger>) -> Option<Box<dyn Any + Send>> {
        let (syncer, polling) = (self.syncer.take()?, self.polling.take()?);
        // In the caller's span (the agent's, naming its node).
        let task = tokio::spawn(tracing::Instrument::in_current_span(poll(syncer, polling, self.shared.clone(), tx)));
        Some(Box::new(AbortOnDrop(task)))
    }

    fn describe(&self) -> String {
        self.settings.describe()
    }
}

/// Stops the poll task when the controller drops its watch guard.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Syncs at once, then on every poll (jittered), webhook, or retry after a failure or refusal.
async fn poll(mut syncer: Syncer, polling: Polling, shared: Arc<Shared>, tx: UnboundedSender<Trigger>) {
    let mut retry = Backoff::new(retry_policy(polling.interval));
    let mut next = Instant::now();
    let url = syncer.settings().remote.display_url();
    loop {
        let hooked = async {
            match &polling.hook {
                Some(hook) => hook.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = hooked => debug!("git webhook: looking at the remote now"),
        }
        let joined = tokio::task::spawn_blocking(move || {
            let outcome = syncer.sync();
            (syncer, outcome)
        })
        .await;
        let outcome;
        (syncer, outcome) = match joined {
            Ok(done) => done,
            Err(e) => {
                warn!(error = %e, "the git sync panicked; the source stops");
                return;
            }
        };
        shared.metrics.source_fetch(&url, outcome.result());
        let delay = match &outcome {
            SyncOutcome::Unchanged(_) | SyncOutcome::Applied { .. } => {
                retry.reset();
                jittered(polling.interval)
            }
            SyncOutcome::Refused { .. } | SyncOutcome::Failed(_) => retry.next_delay(),
        };
        record(outcome, &url, &polling, &shared, &tx, delay);
        next = Instant::now() + delay;
    }
}

/// Logs, shows, counts and notifies one outcome; an applied revision triggers a reload.
fn record(
    outcome: SyncOutcome,
    url: &str,
    polling: &Polling,
    shared: &Shared,
    tx: &UnboundedSender<Trigger>,
    next_in: Duration,
) {
    let now = timestamp(Duration::ZERO);
    let notify = |revision: &Revision, result: &str, reason: Option<&str>, message: String| {
        if let Some(notifier) = &polling.notifier {
            notifier.send(&RevisionEvent {
                event: "revision".into(),
                source: url.to_string(),
                revision: revision.id(),
                subject: revision.subject.clone(),
                result: result.into(),
                reason: reason.map(str::to_string),
                message,
                time: now.clone(),
            });
        }
    };
    match outcome {
        SyncOutcome::Unchanged(revision) => {
            debug!(revision = %revision.id(), "the remote is at the current revision");
            // `current` may have been swapped by another process on this state dir (`moor apply
            // --git`): the controller then still runs the manifests it loaded before, and would
            // put them back at every repair until a new commit came. Load it now.
            let mut moved = None;
            shared.source(|s| {
                if s.revision.as_deref() != Some(revision.id().as_str()) {
                    moved = Some(s.revision.replace(revision.id()));
                    s.subject = Some(revision.subject.clone());
                    s.verified_by = revision.signer.clone();
                }
                s.last_fetch = Some(now.clone());
                s.last_error = None;
            });
            if let Some(previous) = moved {
                info!(revision = %revision.id(), subject = %revision.subject, "the current revision was changed on disk; loading it");
                shared.metrics.source_revision(previous.as_deref(), &revision.id());
                let _ = tx.send(Trigger::Manifests);
            }
        }
        SyncOutcome::Applied { revision, services } => {
            info!(revision = %revision.id(), subject = %revision.subject, services, signer = revision.signer.as_deref().unwrap_or("-"), "revision applied");
            let mut previous = None;
            shared.source(|s| {
                previous = s.revision.replace(revision.id());
                s.subject = Some(revision.subject.clone());
                s.last_attempted_revision = Some(revision.id());
                s.last_fetch = Some(now.clone());
                s.verified_by = revision.signer.clone();
                s.last_error = None;
            });
            shared.metrics.source_revision(previous.as_deref(), &revision.id());
            notify(&revision, "applied", None, format!("{} services", services));
            let _ = tx.send(Trigger::Manifests);
        }
        SyncOutcome::Refused { revision, refusal, again } => {
            let message = format!("{} refused: {refusal}", revision.id());
            if again {
                debug!(revision = %revision.id(), "the remote is still at the refused revision");
            } else {
                warn!(revision = %revision.id(), subject = %revision.subject, reason = refusal.kind(), error = %refusal, retry_in = ?next_in, "revision refused; the last good revision keeps running");
                notify(&revision, "refused", Some(refusal.kind()), refusal.to_string());
            }
            shared.source(|s| {
                s.last_attempted_revision = Some(revision.id());
                s.last_fetch = Some(now.clone());
                s.last_error = Some(message);
            });
        }
        SyncOutcome::Failed(error) => {
            warn!(error = %error, retry_in = ?next_in, "git fetch failed; the last good revision keeps running");
            shared.source(|s| s.last_error = Some(error.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jitter_takes_at_most_a_tenth_off() {
        let interval = Duration::from_secs(180);
        for _ in 0..1000 {
            let d = jittered(interval);
            assert!(d <= interval && d >= Duration::from_secs(162), "{d:?}");
        }
    }

    #[test]
    fn retries_never_wait_longer_than_the_poll() {
        let mut b = Backoff::new(retry_policy(Duration::from_secs(10)));
        let delays: Vec<_> = (0..8).map(|_| b.next_delay()).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(10)), "{delays:?}");
        assert!(delays[0] < Duration::from_secs(5), "{delays:?}");
        let short = retry_policy(Duration::from_secs(1));
        assert_eq!(short.min, Duration::from_secs(1));
    }
}
