//! Carrying out [`Effects`]: the one place where the decision's typed events become metrics, log
//! lines, `/status` and webhook notes, and its requeue a queue entry.

use std::time::Duration;

use tracing::{info, warn};

use super::decide::{Effects, Event, Requeue};
use super::queue::WorkQueue;
use super::status::{timestamp, Shared};
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
                if let Some(observed) = status.observed {
                    s.observed = observed;
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

    fn event(&self, key: &str, event: &Event, update_ended: bool) {
        let metrics = &self.shared.metrics;
        match event {
            Event::Reconciled { success, seconds } => metrics.reconciled(*success, *seconds),
            Event::Action(kind) => metrics.action(kind.as_str()),
            Event::Resource => metrics.action("resource"),
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
