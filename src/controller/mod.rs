//! The controller behind `moor run`: triggers feed a per-service work queue, workers reconcile
//! services with bounded concurrency and per-service backoff, until shutdown.
//!
//! Invariants:
//! - Level-based: a trigger says which service to look at, never what to do; each reconcile
//!   observes afresh. A resync observes once (one list call) and queues only the services whose
//!   plan is not empty, so an idle, in-sync controller makes one API call per interval.
//! - Never two reconciles of one service at once (the [`queue::WorkQueue`] guarantees it).
//! - A failed observe does nothing and is retried with backoff; a failed load suspends prune
//!   and leaves the broken service's containers as they are.
//! - Shutdown stops taking work, lets in-flight reconciles finish (bounded), never stops a
//!   managed container.
//!
//! Layout: [`queue`] (dedup, in flight, delays), [`backoff`] (kube-style, per service),
//! [`crash_loop`] (slowed-down repairs), [`triggers`] (file watch, Docker events), [`state`] and
//! [`metrics`] (what `/status` and `/metrics` serve), [`worker`] (one service reconcile).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::engine::{Engine, EngineError};
use crate::manifest::{load_paths, Desired};
use crate::plan::plan;
use crate::reconcile::observe;

pub mod backoff;
mod crash_loop;
pub mod metrics;
pub mod queue;
pub mod state;
pub mod triggers;
pub mod updates;
mod worker;

use backoff::Backoff;
use crash_loop::CrashLoop;
use queue::WorkQueue;
use state::{timestamp, Shared};
use triggers::Trigger;
use updates::{CheckOutcome, Pending, Pins, Watch};
use worker::{Outcome, RESOURCES};

#[derive(Debug, Clone)]
pub struct Config {
    pub dir: PathBuf,
    pub instance: String,
    /// Full resync period.
    pub interval: Duration,
    /// Services reconciled at once.
    pub concurrency: usize,
    /// How long in-flight reconciles may finish after SIGTERM.
    pub shutdown_timeout: Duration,
    /// Where to POST a JSON note of each image update (`http://` only).
    pub notify_url: Option<String>,
}

/// How long a Docker event settles before its service is reconciled (see
/// [`WorkQueue::add_settled`]).
const EVENT_SETTLE: Duration = Duration::from_millis(50);

/// After a die/kill/stop/oom event, Docker's container list went on showing the container
/// running for about 100 ms (measured on Docker 20.10 with fuse-overlayfs). A reconcile that
/// finds nothing to do so soon after such an event looks again after these delays. They are
/// settle delays, not backoffs: the `destroy` that follows an `rm -f` cuts them short.
const EXIT_CONFIRM: [Duration; 5] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1600),
];

struct Controller<E: Engine> {
    engine: Arc<E>,
    config: Config,
    shared: Arc<Shared>,
    desired: Arc<RwLock<Arc<Desired>>>,
    queue: Arc<WorkQueue>,
    failures: HashMap<String, Backoff>,
    crash: HashMap<String, CrashLoop>,
    /// The spec signature (and image pin) of each service at its last converged reconcile:
    /// actions needed under the same signature are drift repairs.
    converged: HashMap<String, String>,
    reconcile_ids: u64,
    /// Services with a recent exit-like event, and how often a reconcile since found nothing:
    /// Docker's list may still show the container running (see [`EXIT_CONFIRM`]).
    exits: HashMap<String, usize>,
    /// Container names found held by another owner (a 409 on create), so that plans report the
    /// conflict instead of trying to create again; forgotten at each resync, which tries once
    /// more.
    conflicts: BTreeMap<String, String>,
    /// Services with `update.watch: digest`.
    watches: BTreeMap<String, Watch>,
    pins: Pins,
}

/// Runs until `token` is cancelled.
pub async fn run<E: Engine>(engine: Arc<E>, config: Config, shared: Arc<Shared>, token: CancellationToken) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _watcher = match triggers::watch_manifests(&config.dir, tx.clone()) {
        Ok(w) => Some(w),
        Err(e) => {
            warn!(dir = %config.dir.display(), error = %e, "cannot watch the manifest folder; relying on the interval");
            None
        }
    };
    let events = tokio::spawn(triggers::follow_events(
        engine.clone(),
        config.instance.clone(),
        tx.clone(),
        shared.clone(),
        token.clone(),
    ));
    let mut c = Controller {
        engine,
        config,
        shared,
        desired: Arc::new(RwLock::new(Arc::new(Desired::default()))),
        queue: Arc::new(WorkQueue::new()),
        failures: HashMap::new(),
        crash: HashMap::new(),
        converged: HashMap::new(),
        reconcile_ids: 0,
        exits: HashMap::new(),
        conflicts: BTreeMap::new(),
        watches: BTreeMap::new(),
        pins: Pins::default(),
    };
    c.reload();

    let mut workers: JoinSet<Outcome> = JoinSet::new();
    let mut checks: JoinSet<CheckOutcome> = JoinSet::new();
    let mut next_resync = Instant::now();
    let mut resync_retry = Backoff::new(backoff::DAEMON);
    loop {
        c.shared.metrics.queue_depth(c.queue.depth());
        tokio::select! {
            _ = token.cancelled() => break,
            _ = tokio::time::sleep_until(next_resync) => {
                next_resync = match c.resync().await {
                    Ok(()) => {
                        resync_retry.reset();
                        Instant::now() + c.config.interval
                    }
                    Err(e) => {
                        let delay = resync_retry.next_delay();
                        warn!(error = %e, retry_in = ?delay, "observe failed; nothing done");
                        Instant::now() + delay
                    }
                };
            }
            Some(trigger) = rx.recv() => match trigger {
                Trigger::Service(service) => c.enqueue(&service, EVENT_SETTLE),
                Trigger::Destroyed(service) => c.enqueue(&service, Duration::ZERO),
                Trigger::Exited(service) => {
                    c.exits.insert(service.clone(), 0);
                    c.enqueue(&service, EVENT_SETTLE);
                }
                Trigger::Resync => next_resync = Instant::now(),
                Trigger::Manifests => {
                    c.reload();
                    // A manifest change cuts every backoff short: the user may have fixed it.
                    c.failures.clear();
                    for name in c.desired().services.keys() {
                        c.queue.add_now(name);
                    }
                    next_resync = Instant::now();
                }
            },
            key = c.queue.next(), if workers.len() < c.config.concurrency.max(1) => {
                c.reconcile_ids += 1;
                let desired = c.desired();
                let pin = c.pin_for(&desired, &key);
                let conflicts = c.conflicts.clone();
                workers.spawn(worker::reconcile(c.engine.clone(), desired, c.config.instance.clone(), key, c.reconcile_ids, pin, conflicts));
            }
            _ = tokio::time::sleep_until(c.next_check_at()), if c.has_idle_watch() => c.start_checks(&mut checks),
            Some(joined) = checks.join_next() => match joined {
                Ok(outcome) => c.checked(outcome),
                Err(e) => warn!(error = %e, "an update check panicked"),
            },
            Some(joined) = workers.join_next() => match joined {
                Ok(outcome) => c.finished(outcome),
                Err(e) => warn!(error = %e, "a reconcile task panicked"),
            },
        }
    }

    info!(in_flight = workers.len(), "shutting down; finishing in-flight reconciles");
    events.abort();
    let shutdown_timeout = c.config.shutdown_timeout;
    let drain = async {
        while let Some(joined) = workers.join_next().await {
            if let Ok(outcome) = joined {
                c.finished(outcome);
            }
        }
    };
    if tokio::time::timeout(shutdown_timeout, drain).await.is_err() {
        warn!("shutdown timeout reached; abandoning in-flight reconciles");
        workers.abort_all();
    }
}

fn signature(service: &crate::manifest::Service) -> String {
    format!("{:?}/{}/{}", service.state, service.replicas, service.canonical)
}

/// What a reconcile converged to: the spec plus the image pin it ran with. The pin is part of
/// it, so replacing a container for a new image is an update, not a drift repair, and does not
/// count towards a crash loop.
fn target_signature(service: &crate::manifest::Service, pin: Option<&str>) -> String {
    format!("{}@{}", signature(service), pin.unwrap_or(""))
}

impl<E: Engine> Controller<E> {
    fn desired(&self) -> Arc<Desired> {
        self.desired.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Loads the manifests again. Problems are logged and shown; the services they hide are
    /// left as they are, since an incomplete load suspends prune.
    fn reload(&mut self) {
        let loaded = load_paths(std::slice::from_ref(&self.config.dir));
        for p in &loaded.problems {
            warn!(problem = %p, "manifest problem; prune suspended, the service is left as it is");
        }
        self.shared.set_problems(loaded.problems.iter().map(ToString::to_string).collect());
        info!(services = loaded.desired.services.len(), complete = loaded.desired.complete, "manifests loaded");
        let desired = Arc::new(loaded.desired);
        updates::sync(&mut self.watches, &self.pins, &desired, |name| signature(&desired.services[name]));
        *self.desired.write().unwrap_or_else(|e| e.into_inner()) = desired;
    }

    /// The image ID `key` is pinned to, while its pin names the manifest's current reference.
    fn pin_for(&self, desired: &Desired, key: &str) -> Option<String> {
        let pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
        let (reference, id) = pins.get(key)?;
        (desired.services.get(key)?.container.image == *reference).then(|| id.clone())
    }

    fn has_idle_watch(&self) -> bool {
        self.watches.values().any(|w| !w.checking)
    }

    fn next_check_at(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        self.watches.values().filter(|w| !w.checking).map(|w| w.next_check).min().unwrap_or(far)
    }

    /// Starts the registry checks that are due.
    fn start_checks(&mut self, checks: &mut JoinSet<CheckOutcome>) {
        let now = Instant::now();
        for (name, watch) in self.watches.iter_mut().filter(|(_, w)| !w.checking && w.next_check <= now) {
            watch.checking = true;
            watch.next_check = now + watch.interval;
            let failed = watch.failed.as_ref().map(|f| f.digest.clone());
            let instance = self.config.instance.clone();
            checks.spawn(updates::check(self.engine.clone(), instance, name.clone(), watch.reference.clone(), failed));
        }
    }

    /// Books a registry check: status, and a pin plus a reconcile when the image is new.
    fn checked(&mut self, outcome: CheckOutcome) {
        let Some(watch) = self.watches.get_mut(&outcome.service) else { return };
        watch.checking = false;
        watch.status.last_check = Some(timestamp(Duration::ZERO));
        watch.status.registry_digest = outcome.registry_digest.clone().or(watch.status.registry_digest.take());
        if outcome.running_digest.is_some() {
            watch.status.running_digest = outcome.running_digest.clone();
        }
        if let Some(error) = &outcome.error {
            warn!(service = %outcome.service, %error, "update check failed");
            watch.status.last_result = Some(error.clone());
        }
        if let Some(check) = watch.unless_failed(outcome.check) {
            // Only a container that runs another image makes an update; with none running, the
            // pin just decides what the next create uses.
            let running = outcome.running_image.as_ref().filter(|id| **id != check.image_id);
            if let (Some(running), None) = (running, &watch.pending) {
                info!(service = %outcome.service, image = %check.reference, digest = %check.registry_digest, pulled = check.pulled, "new image; updating");
                watch.pending = Some(Pending {
                    digest: check.registry_digest.clone(),
                    image_id: check.image_id.clone(),
                    from: watch.status.running_digest.clone().or_else(|| Some(running.clone())),
                });
                self.queue.add_now(&outcome.service);
            }
            self.pins
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(outcome.service.clone(), (check.reference, check.image_id));
        }
        let status = watch.status.clone();
        self.shared.service(&outcome.service, |s| s.update = Some(status));
    }

    /// Books the end of a reconcile that carried an update: success, or rollback (the digest is
    /// not tried again and the service stays pinned to the image it rolled back to).
    fn book_update(&mut self, outcome: &Outcome) {
        let Some(watch) = self.watches.get_mut(&outcome.key) else { return };
        let Some(pending) = watch.pending.clone() else { return };
        let result = match &outcome.error {
            None if outcome.done.is_empty() => None, // it already ran that image
            None => {
                watch.status.running_digest = Some(pending.digest.clone());
                Some(("success", format!("updated to {}", crate::images::short(&pending.digest))))
            }
            Some(error) if error.contains("rolled back") => {
                watch.failed =
                    Some(updates::Failed { digest: pending.digest.clone(), image_id: pending.image_id.clone() });
                if let Some(before) = &outcome.image_before {
                    let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
                    pins.insert(outcome.key.clone(), (watch.reference.clone(), before.clone()));
                }
                Some(("rolled_back", updates::failure_text(&pending.digest, error)))
            }
            Some(error) => {
                // Not rolled back (say the create failed): the pin stays, the backoff retries.
                self.shared.metrics.update("failed");
                watch.status.last_result = Some(updates::failure_text(&pending.digest, error));
                let status = watch.status.clone();
                self.shared.service(&outcome.key, |s| s.update = Some(status));
                return;
            }
        };
        watch.pending = None;
        let Some((result, message)) = result else { return };
        self.shared.metrics.update(result);
        watch.status.last_result = Some(message.clone());
        info!(service = %outcome.key, image = %watch.reference, from = ?pending.from, to = %pending.digest, result, %message, "image update");
        let status = watch.status.clone();
        self.shared.service(&outcome.key, |s| s.update = Some(status));
        crate::notify::send(
            self.config.notify_url.clone(),
            crate::notify::UpdateEvent {
                service: outcome.key.clone(),
                image: watch.reference.clone(),
                from: pending.from,
                to: pending.digest,
                result: result.to_string(),
                message,
                time: timestamp(Duration::ZERO),
            },
        );
    }

    /// Queues `key` after `settle`, or later when its repairs are slowed down by a crash loop.
    fn enqueue(&self, key: &str, settle: Duration) {
        let now = Instant::now();
        match self.crash.get(key).and_then(|c| c.not_before(now)) {
            Some(t) => self.queue.add_after(key, t - now),
            None => self.queue.add_settled(key, settle),
        }
    }

    /// Observes once and queues every service whose plan is not empty.
    async fn resync(&mut self) -> Result<(), EngineError> {
        self.conflicts.clear();
        let desired = self.desired();
        let observed = match observe(self.engine.as_ref(), &self.config.instance, &desired).await {
            Ok(o) => o,
            Err(e) => {
                self.shared.set_docker_ok(false);
                self.shared.metrics.docker_error(&e.status_label());
                return Err(e);
            }
        };
        self.shared.set_docker_ok(true);
        let plan = plan(&desired, &observed);
        let by_service = observed.by_service();
        let now = Instant::now();
        for (name, service) in &desired.services {
            let pending = plan.services.contains_key(name);
            let containers = by_service.get(name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            self.shared.service(name, |s| {
                s.desired = service.desired_summary();
                s.crash_loop = self.crash.get(name).and_then(|c| c.note(now));
                s.observed = crate::observe::summary(containers);
                s.in_sync = !pending;
                if !pending {
                    s.last_error = None;
                }
            });
            if pending {
                self.enqueue(name, Duration::ZERO);
            }
        }
        for (name, sp) in &plan.services {
            if sp.orphan {
                self.enqueue(name, Duration::ZERO);
            }
        }
        if !plan.networks.is_empty() || !plan.volumes.is_empty() {
            self.enqueue(RESOURCES, Duration::ZERO);
        }
        self.shared.retain_services(|name| desired.services.contains_key(name) || plan.services.contains_key(name));
        self.shared.resynced();
        Ok(())
    }

    /// Books a finished reconcile: metrics, status, backoff, crash loop, and the queue.
    fn finished(&mut self, outcome: Outcome) {
        let key = outcome.key.clone();
        let now = Instant::now();
        let metrics = &self.shared.metrics;
        metrics.reconciled(outcome.error.is_none(), outcome.duration.as_secs_f64());
        for kind in &outcome.done {
            metrics.action(kind);
        }
        for status in &outcome.docker_errors {
            metrics.docker_error(status);
        }
        let desired = self.desired();
        let signature_now = desired.services.get(&key).map(|s| target_signature(s, outcome.pin.as_deref()));
        if outcome.error.is_none() && !outcome.done.is_empty() {
            let was_converged = signature_now.is_some() && self.converged.get(&key) == signature_now.as_ref();
            if was_converged {
                metrics.drift_repaired();
                info!(service = %key, actions = ?outcome.done, "drift repaired");
                let crash = self.crash.entry(key.clone()).or_default();
                if let Some(delay) = crash.repaired(now) {
                    let restarts = crash.restarts();
                    warn!(service = %key, restarts, back_off = ?delay, "crash loop: slowing down repairs");
                }
            } else {
                // A new spec is a new start, as a new pod is in Kubernetes: its crashes count afresh.
                self.crash.remove(&key);
            }
        }
        let crash_note = self.crash.get(&key).and_then(|c| c.note(now));
        match &outcome.error {
            None => {
                self.failures.remove(&key);
                if let Some(sig) = signature_now {
                    self.converged.insert(key.clone(), sig);
                }
                self.shared.service(&key, |s| {
                    s.in_sync = true;
                    s.last_error = None;
                    s.backoff_until = None;
                    s.crash_loop = crash_note.clone();
                    s.last_reconcile = Some(timestamp(Duration::ZERO));
                    if let Some(observed) = &outcome.observed {
                        s.observed = observed.clone();
                    }
                });
            }
            Some(error) => {
                let delay =
                    self.failures.entry(key.clone()).or_insert_with(|| Backoff::new(backoff::SERVICE)).next_delay();
                warn!(service = %key, %error, retry_in = ?delay, "reconcile failed");
                self.queue.add_after(&key, delay);
                self.shared.service(&key, |s| {
                    s.in_sync = false;
                    s.last_error = Some(error.clone());
                    s.backoff_until = Some(timestamp(delay));
                    s.last_reconcile = Some(timestamp(Duration::ZERO));
                });
            }
        }
        if let Some((name, holder)) = &outcome.conflict {
            self.conflicts.insert(name.clone(), holder.clone());
        }
        self.book_update(&outcome);
        // Nothing to do right after an exit event: Docker may not show the exit yet.
        let confirm = match self.exits.get_mut(&key) {
            Some(n) if outcome.done.is_empty() && outcome.error.is_none() && *n < EXIT_CONFIRM.len() => {
                *n += 1;
                Some(EXIT_CONFIRM[*n - 1])
            }
            Some(_) => {
                self.exits.remove(&key);
                None
            }
            None => None,
        };
        if !desired.services.contains_key(&key) && outcome.error.is_none() {
            // A pruned orphan: forget it.
            self.shared.retain_services(|name| name != key);
            self.converged.remove(&key);
            self.crash.remove(&key);
        }
        self.queue.done(&key);
        // After `done`: a key still in flight would only be marked dirty and run again at once.
        if let Some(delay) = confirm {
            self.queue.add_settled(&key, delay);
        }
    }
}
