//! Carrying out [`Effects`]: the one place where the decision's typed events become metrics, log
//! lines, `/status` and webhook notes, and its requeue a queue entry.

use std::time::Duration;

use tracing::{info, warn};

use super::activity::Reason;
use super::decide::{Effects, Event, Requeue, Why};
use super::queue::WorkQueue;
use super::status::{timestamp, Shared};
use crate::dashboard::model::MarkKind;
use crate::notify::{Notifier, ServiceEvent, UpdateEvent};

pub struct Carrier<'a> {
    pub shared: &'a Shared,
    pub queue: &'a WorkQueue,
    pub notifier: Option<&'a Notifier>,
}

impl Carrier<'_> {
    /// Carries out `fx` for `key`. Call after [`WorkQueue::done`]: a requeue of a key still in
    /// flight would only mark it dirty and run it again at once.
    pub fn carry_out(&self, key: &str, fx: Effects) {
        // An update that ended tells the webhook itself; a kept replacement only when it was not
        // an update.
        let update_ended = fx.events.iter().any(|e| matches!(e, Event::UpdateEnded(_)));
        for event in &fx.events {
            self.event(key, event, update_ended);
            self.record(key, event);
        }
        if let Some(kind) = mark_of(&fx.events) {
            self.shared.mark(key, kind);
        }
        if let Some(answers) = fx.status.docker_answers {
            self.shared.set_docker_ok(answers);
        }
        if fx.forget {
            self.shared.retain_services(|name| name != key);
        } else {
            let status = fx.status;
            self.shared.service(key, |s| {
                s.in_sync = status.in_sync;
                s.last_error = status.last_error;
                s.backoff_until = status.backoff.map(timestamp);
                s.crash_loop = status.crash_loop;
                s.last_reconcile = Some(timestamp(Duration::ZERO));
                if let Some(seen) = status.seen {
                    s.see(seen);
                }
                if status.update.is_some() {
                    s.update = status.update;
                }
            });
        }
        match fx.requeue {
            Some(Requeue::Backoff(delay)) => self.queue.add_after(key, delay),
            Some(Requeue::Settle(delay)) => self.queue.add_settled(key, delay),
            None => {}
        }
    }

    /// The dashboard's record of what moor acted on (`crate::controller::activity`).
    fn record(&self, key: &str, event: &Event) {
        let shared = self.shared;
        match event {
            Event::Acted { actions, why } => {
                let actions: Vec<&str> = actions.iter().map(|k| k.as_str()).collect();
                shared.record(key, &actions.join(", "), Reason::from(*why), None);
            }
            Event::Pruned(names) => shared.record(key, &format!("remove {}", names.join(", ")), Reason::Prune, None),
            Event::CrashLoop { restarts, delay } => {
                let detail = format!(
                    "{restarts} repairs in a row; the next waits {}",
                    humantime::format_duration(whole_ms(*delay))
                );
                shared.record(key, "slowed down", Reason::CrashLoop, Some(detail));
            }
            Event::Failed { error, retry_in } => {
                let detail = format!("{error}; retried in {}", humantime::format_duration(whole_ms(*retry_in)));
                shared.record(key, "failed", Reason::Failure, Some(detail));
            }
            Event::Held { error, .. } => {
                shared.record(key, "kept the failed replacement", Reason::Failure, Some(error.clone()))
            }
            Event::UpdateEnded(ended) => {
                let action = format!("update {}", ended.result.as_str());
                let from = ended.from.as_deref().map(crate::digest::short).unwrap_or("-".into());
                let detail =
                    format!("{} {from} → {}: {}", ended.reference, crate::digest::short(&ended.to), ended.message);
                shared.record(key, &action, Reason::ImageUpdate, Some(detail));
            }
            _ => {}
        }
    }

    fn event(&self, key: &str, event: &Event, update_ended: bool) {
        let metrics = &self.shared.metrics;
        match event {
            Event::Reconciled { success, seconds } => metrics.reconciled(*success, *seconds),
            Event::Action(kind) => metrics.action(kind.as_str()),
            Event::Resource => metrics.action("resource"),
            Event::Pruned(names) => info!(why = "prune", "removed {}", names.join(", ")),
            Event::DockerError(status) => metrics.docker_error(status),
            Event::Acted { actions, why } => {
                // The one line per reconcile that acted, at the default level of `moor run`.
                let actions: Vec<&str> = actions.iter().map(|k| k.as_str()).collect();
                info!(service = %key, why = why.as_str(), "{}", actions.join(", "));
            }
            Event::DriftRepaired { .. } => metrics.drift_repaired(),
            Event::CrashLoop { restarts, delay } => {
                warn!(service = %key, restarts, back_off = ?delay, "crash loop: slowing down repairs");
            }
            Event::Failed { error, retry_in } => warn!(service = %key, %error, ?retry_in, "reconcile failed"),
            Event::ReplacementFailed { rollback } => metrics.replacement_failed(rollback),
            Event::Held { error, image } => {
                warn!(service = %key, %error, "replacement failed and kept (update.rollback: false); not retried until the manifest or the image changes");
                if let Some(notifier) = self.notifier.filter(|_| !update_ended) {
                    notifier.send(&ServiceEvent {
                        service: key.to_string(),
                        image: image.clone(),
                        result: "failed".into(),
                        message: error.clone(),
                        time: timestamp(Duration::ZERO),
                    });
                }
            }
            Event::UpdateRetrying => metrics.update("failed"),
            Event::UpdateEnded(ended) => {
                let result = ended.result.as_str();
                metrics.update(result);
                info!(service = %key, image = %ended.reference, from = ?ended.from, to = %ended.to, result, message = %ended.message, "image update");
                if let Some(notifier) = self.notifier {
                    notifier.send(&UpdateEvent {
                        service: key.to_string(),
                        image: ended.reference.clone(),
                        from: ended.from.clone(),
                        to: ended.to.clone(),
                        result: result.to_string(),
                        message: ended.message.clone(),
                        time: timestamp(Duration::ZERO),
                    });
                }
            }
        }
    }
}

/// A delay as people read it: `1s 422ms`, not to the nanosecond.
fn whole_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}

/// The mark a reconcile leaves on its service's timeline: a failure, an update, a repair of
/// drift, or a plain reconcile. `None` for one that did not run (no `Reconciled` event).
fn mark_of(events: &[Event]) -> Option<MarkKind> {
    let mut kind = None;
    for event in events {
        let this = match event {
            Event::Reconciled { success: false, .. } | Event::Held { .. } => MarkKind::Failure,
            Event::Reconciled { success: true, .. } => MarkKind::Reconcile,
            Event::UpdateEnded(_) | Event::Acted { why: Why::ImageUpdate, .. } => MarkKind::Update,
            Event::DriftRepaired { .. } | Event::Acted { why: Why::Drift | Why::CrashLoop, .. } => MarkKind::Repair,
            _ => continue,
        };
        // The most telling wins: failure, then update, then repair, then reconcile.
        kind = kind.max(Some(this));
    }
    kind
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ActionKind;

    #[test]
    fn a_reconcile_leaves_its_most_telling_mark() {
        let ok = Event::Reconciled { success: true, seconds: 0.1 };
        assert_eq!(mark_of(std::slice::from_ref(&ok)), Some(MarkKind::Reconcile));
        let drift = Event::Acted { actions: vec![ActionKind::Create], why: Why::Drift };
        assert_eq!(mark_of(&[ok.clone(), drift]), Some(MarkKind::Repair));
        let update = Event::Acted { actions: vec![ActionKind::Replace], why: Why::ImageUpdate };
        assert_eq!(mark_of(&[ok, update]), Some(MarkKind::Update));
        let failed = Event::Reconciled { success: false, seconds: 0.1 };
        let why = Event::Acted { actions: vec![ActionKind::Create], why: Why::ManifestChange };
        assert_eq!(mark_of(&[failed, why]), Some(MarkKind::Failure));
        assert_eq!(mark_of(&[Event::Resource]), None);
    }
}
