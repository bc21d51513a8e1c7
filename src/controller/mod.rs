//! The controller behind `moor run`: triggers feed a per-service work queue, workers reconcile
//! services with bounded concurrency, and a pure decision books each outcome.
//!
//! Invariants:
//! - Level-based: a trigger says which service to look at, never what to do; each reconcile
//!   observes afresh. A resync observes once (one list call) and queues only the services whose
//!   plan is not empty, so an idle, in-sync controller makes one list call per interval (and the liveness ping).
//! - Never two reconciles of one service at once (the [`queue::WorkQueue`] guarantees it).
//! - All per-service knowledge is one [`state::ServiceState`] per key, owned by this task; what
//!   follows a reconcile is decided by [`decide::on_outcome`] (pure) and carried out by
//!   `effects`. This file only orchestrates.
//! - A failed observe does nothing and is retried with backoff; a failed load suspends prune
//!   and leaves the broken service's containers as they are, and so does a source that declares
//!   no Service without `--allow-empty` (the prune guard).
//! - Every resync loads the manifests again: the source's watch only accelerates, so a watch that
//!   went blind costs at most one interval.
//! - Each load is admitted through the host policy (`Config::policy`); a refused service is
//!   never dispatched, so its containers are left as they are, and its status says why.
//! - Shutdown stops taking work at once (a resync waiting on Docker is dropped), lets in-flight
//!   reconciles finish within `shutdown_timeout`, never stops a managed container.
//! - Docker's readiness is proven by a ping every few seconds ([`liveness`]), since a frozen
//!   daemon breaks no stream; its first answer after an outage resyncs with every backoff reset.
//!
//! Layout: [`queue`] (dedup, in flight, delays), [`backoff`] (kube-style), `crash_loop`
//! (slowed-down repairs), [`triggers`] (Docker events), `folder_watch` (the manifest folder, by
//! path), [`liveness`] (the ping behind readiness), [`state`] (one
//! `ServiceState` per service), [`outcome`] (typed reconcile results), [`decide`] (the pure
//! decision), `effects` (carrying it out), [`updates`] (registry checks and pins), [`status`]
//! and [`metrics`] (what `/status` and `/metrics` serve), `worker` (one service reconcile),
//! `resync` (the periodic full look), `checks` (scheduling registry checks), [`source`] (where
//! manifests come from).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn, Instrument as _};

use crate::engine::Engine;
use crate::http_client::HttpClient;
use crate::manifest::{guard_empty, Desired};
use crate::notify::Notifier;

pub mod activity;
pub mod backoff;
mod checks;
mod crash_loop;
pub mod decide;
mod effects;
pub mod folder_watch;
pub mod liveness;
pub mod metrics;
pub mod outcome;
pub mod queue;
mod resync;
pub mod source;
pub mod state;
pub mod status;
pub mod triggers;
pub mod updates;
mod worker;

use backoff::Backoff;
use outcome::Reconciled;
use queue::WorkQueue;
use source::Source;
use state::{signature, ServiceState};
use status::Shared;
use triggers::Trigger;
use updates::CheckOutcome;

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
    /// Where to POST a JSON note of each image update and each kept failed replacement.
    pub notify_url: Option<String>,
    /// Let a source that declares no Service prune every service (`--allow-empty`).
    pub allow_empty: bool,
    /// The host policy: each load is admitted through it, and a refused service is left as it is.
    pub policy: crate::policy::Policy,
    /// Resolves each admitted load's secrets, env files and configs; `None` leaves references
    /// unresolved (a service that has any then fails to be created, never runs without them).
    pub resolver: Option<Arc<crate::secrets::resolve::Resolver>>,
    /// Where secret and config files for containers are written.
    pub store: Option<Arc<crate::secrets::store::FileStore>>,
    /// The node this agent runs as: each load is narrowed to what is placed on it, and only
    /// its containers are touched (`crate::manifest::placement`). `None`: every service, and
    /// every container of the instance.
    pub node: Option<crate::node::Node>,
}

/// How long a Docker event settles before its service is reconciled (see
/// [`WorkQueue::add_settled`]).
const EVENT_SETTLE: Duration = Duration::from_millis(50);

struct Controller<E: Engine, S: Source> {
    engine: Arc<E>,
    source: S,
    notifier: Option<Notifier>,
    config: Config,
    shared: Arc<Shared>,
    desired: Arc<Desired>,
    /// The problems of the last load; `None` before the first.
    problems: Option<Vec<String>>,
    queue: WorkQueue,
    services: BTreeMap<String, ServiceState>,
    reconcile_ids: u64,
    /// Docker came back after an outage: the next resync queues at once what it finds pending,
    /// cutting short the backoffs that the outage built up.
    after_outage: bool,
    /// When the next registry check may start (all services share the pace).
    check_pace: checks::Pace,
}

/// Runs on the manifest folder `config.dir` until `token` is cancelled.
pub async fn run<E: Engine>(engine: Arc<E>, config: Config, shared: Arc<Shared>, token: CancellationToken) {
    let source = source::Folder::new(config.dir.clone());
    run_with_source(engine, source, config, shared, token).await
}

/// Runs on the manifests of `source` until `token` is cancelled.
pub async fn run_with_source<E: Engine, S: Source>(
    engine: Arc<E>,
    mut source: S,
    config: Config,
    shared: Arc<Shared>,
    token: CancellationToken,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _watch = source.watch(tx.clone());
    let events = tokio::spawn(
        triggers::follow_events(engine.clone(), config.instance.clone(), tx.clone(), shared.clone(), token.clone())
            .in_current_span(),
    );
    let liveness =
        tokio::spawn(liveness::watch(engine.clone(), tx.clone(), shared.clone(), token.clone()).in_current_span());
    let notifier = notifier(config.notify_url.as_deref(), &shared);
    let mut c = Controller {
        engine,
        source,
        notifier,
        config,
        shared,
        desired: Arc::default(),
        problems: None,
        queue: WorkQueue::new(),
        services: BTreeMap::new(),
        reconcile_ids: 0,
        after_outage: false,
        check_pace: checks::Pace::new(Instant::now()),
    };
    c.reload();

    let mut workers: JoinSet<Reconciled> = JoinSet::new();
    let mut checks: JoinSet<CheckOutcome> = JoinSet::new();
    let mut next_resync = Instant::now();
    let mut resync_retry = Backoff::new(backoff::DAEMON);
    loop {
        c.shared.metrics.queue_depth(c.queue.depth());
        tokio::select! {
            _ = token.cancelled() => break,
            _ = tokio::time::sleep_until(next_resync) => {
                // Raced with shutdown: a resync waits on Docker for up to its read deadline.
                tokio::select! {
                    _ = token.cancelled() => break,
                    next = c.resync_and_schedule(&mut resync_retry) => next_resync = next,
                }
            }
            Some(trigger) = rx.recv() => {
                if c.on_trigger(trigger) {
                    next_resync = Instant::now();
                }
            }
            key = c.queue.next(), if workers.len() < c.config.concurrency.max(1) => c.dispatch(key, &mut workers),
            _ = tokio::time::sleep_until(c.next_check_at()), if c.has_idle_watch() => c.start_checks(&mut checks),
            Some(joined) = checks.join_next() => match joined {
                Ok(outcome) => c.checked(outcome),
                Err(e) => warn!(error = %e, "an update check panicked"),
            },
            Some(joined) = workers.join_next() => match joined {
                Ok(reconciled) => c.finished(reconciled),
                Err(e) => warn!(error = %e, "a reconcile task panicked"),
            },
        }
    }

    info!(in_flight = workers.len(), "shutting down; finishing in-flight reconciles");
    events.abort();
    liveness.abort();
    let shutdown_timeout = c.config.shutdown_timeout;
    let drain = async {
        while let Some(joined) = workers.join_next().await {
            if let Ok(reconciled) = joined {
                c.finished(reconciled);
            }
        }
    };
    if tokio::time::timeout(shutdown_timeout, drain).await.is_err() {
        warn!("shutdown timeout reached; abandoning in-flight reconciles");
        workers.abort_all();
    }
}

/// The webhook's notifier, counting each delivery in `moor_notifications_total`. `None` without
/// a URL, or when no HTTP client can be built (said once in the log).
pub fn notifier(url: Option<&str>, shared: &Arc<Shared>) -> Option<Notifier> {
    let url = url?;
    let client = match HttpClient::new() {
        Ok(client) => client,
        Err(e) => {
            warn!(error = %e, "cannot build an HTTP client; the webhook is disabled");
            return None;
        }
    };
    let shared = shared.clone();
    Some(Notifier::new(client, url, Arc::new(move |d| shared.metrics.notification(d.result()))))
}

impl<E: Engine, S: Source> Controller<E, S> {
    fn state(&mut self, key: &str) -> &mut ServiceState {
        self.services.entry(key.to_string()).or_default()
    }

    /// Loads the manifests again and brings every service's watch and pin in step. Problems are
    /// logged and shown; the services they hide are left as they are, since an incomplete load
    /// suspends prune, as does the prune guard of a source without a Service. Returns whether
    /// anything changed since the last load; an unchanged load (every resync makes one) logs
    /// nothing.
    fn reload(&mut self) -> bool {
        let mut loaded = self.source.load();
        guard_empty(&mut loaded, &self.source.describe(), self.config.allow_empty);
        if let Some(node) = &self.config.node {
            crate::manifest::placement::place(&mut loaded, node, self.config.allow_empty);
        }
        loaded.desired = crate::policy::admit(&self.config.policy, std::mem::take(&mut loaded.desired));
        // Fields the daemon's API cannot take refuse their services, as the policy does.
        let api = self.engine.api_version();
        loaded.desired = crate::engine::api_version::admit(api, std::mem::take(&mut loaded.desired));
        if let Some(resolver) = &self.config.resolver {
            crate::secrets::resolve::resolve(&mut loaded, resolver);
        }
        let problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
        let loaded_warnings = loaded.warnings;
        let desired = loaded.desired;
        if self.problems.as_ref() == Some(&problems) && *self.desired == desired {
            return false;
        }
        for p in &problems {
            warn!(problem = %p, "manifest problem; prune suspended, the service is left as it is");
        }
        for w in &loaded_warnings {
            warn!(warning = %w, "manifest warning");
        }
        if let Some(guard) = &desired.prune_guard {
            warn!(%guard, "nothing is removed while the guard holds, or with --allow-empty");
        }
        for (name, refused) in &desired.refused {
            let reason = crate::policy::refused_text(refused);
            warn!(service = %name, %reason, "refused (by the host policy or for the daemon's Docker API); its containers are left as they are");
        }
        let suspended = match &desired.prune_guard {
            Some(guard) => Some(guard.to_string()),
            None if !problems.is_empty() => {
                Some(format!("prune suspended: {} manifest problem(s) (see problems)", problems.len()))
            }
            None => None,
        };
        self.shared.set_problems(problems.clone(), suspended);
        self.shared.show_refused(&desired.refused, None);
        self.problems = Some(problems);
        info!(
            services = desired.services.len(),
            refused = desired.refused.len(),
            complete = desired.complete,
            "manifests loaded"
        );
        self.desired = Arc::new(desired);
        let now = Instant::now();
        for service in self.desired.clone().services.values() {
            updates::sync(self.state(&service.name), service, signature(service), now);
        }
        let desired = self.desired.clone();
        for (name, state) in self.services.iter_mut().filter(|(name, _)| !desired.services.contains_key(*name)) {
            state.watch = None;
            state.pin = None;
            tracing::trace!(service = %name, "no manifest; its watch and pin are dropped");
        }
        true
    }

    /// After a change of the manifests: every backoff starts afresh (the user may have fixed
    /// what failed) and every service is looked at now.
    fn manifests_changed(&mut self) {
        for state in self.services.values_mut() {
            state.failures.reset();
        }
        for name in self.desired.services.keys() {
            self.queue.add_now(name);
        }
    }

    /// Handles a trigger; true when a full resync is due now.
    fn on_trigger(&mut self, trigger: Trigger) -> bool {
        match trigger {
            Trigger::Service(service) | Trigger::Exited(service) if self.failed_job(&service) => {
                // The failed job's own container starting and exiting: its reconcile already
                // knows how the run ended, and the retry waits for its backoff, not for these.
                tracing::trace!(service = %service, "event of a failed job's run; its backoff stands");
            }
            Trigger::Service(service) => self.enqueue(&service, EVENT_SETTLE),
            Trigger::Destroyed(service) => self.enqueue(&service, Duration::ZERO),
            Trigger::Exited(service) => {
                self.state(&service).exits = Some(0);
                self.enqueue(&service, EVENT_SETTLE);
            }
            Trigger::Resync => {
                // Every failure during the outage was the outage's: start the backoffs afresh.
                for state in self.services.values_mut() {
                    state.failures.reset();
                }
                self.after_outage = true;
                return true;
            }
            Trigger::Manifests => {
                // Even when the files read the same: saving a file again is how a user asks for
                // a retry now.
                self.reload();
                self.manifests_changed();
                return true;
            }
        }
        false
    }

    /// A job (`mode: job`) whose last reconcile failed: it is retried on its backoff.
    fn failed_job(&self, service: &str) -> bool {
        self.desired.services.get(service).is_some_and(|s| s.is_job())
            && self
                .services
                .get(service)
                .is_some_and(|s| matches!(s.last_outcome, Some(outcome::ReconcileOutcome::ActionFailed { .. })))
    }

    /// Queues `key` after `settle`, or later when its repairs are slowed down by a crash loop.
    fn enqueue(&self, key: &str, settle: Duration) {
        let now = Instant::now();
        match self.services.get(key).and_then(|s| s.crash.not_before(now)) {
            Some(t) => self.queue.add_after(key, t - now),
            None => self.queue.add_settled(key, settle),
        }
    }

    /// Starts a reconcile of `key`, unless the host policy refuses the service or a kept failed
    /// replacement holds it back.
    fn dispatch(&mut self, key: String, workers: &mut JoinSet<Reconciled>) {
        let desired = self.desired.clone();
        if desired.refused.contains_key(&key) {
            tracing::debug!(service = %key, "refused; not reconciled");
            self.shared.metrics.reconcile_skipped("refused");
            self.queue.done(&key);
            return;
        }
        let service = desired.services.get(&key);
        let state = self.state(&key);
        if state.is_held(service) {
            tracing::debug!(service = %key, "held after a failed replacement with rollback: false; not reconciled");
            self.shared.metrics.reconcile_skipped("held");
            self.queue.done(&key);
            return;
        }
        state.dispatched = service.map(signature);
        let pin = service.and_then(|s| state.pin_for(s)).map(str::to_string);
        let conflicts = self.services.values().flat_map(|s| s.conflicts.clone()).collect();
        self.reconcile_ids += 1;
        let job = worker::Job {
            key,
            id: self.reconcile_ids,
            instance: self.config.instance.clone(),
            pin,
            conflicts,
            store: self.config.store.clone(),
            status: self.shared.clone(),
        };
        // In the caller's span (the agent's, naming its node): a spawned task has none of its own.
        workers.spawn(worker::reconcile(self.engine.clone(), desired, job).in_current_span());
    }

    /// Books a finished reconcile: the decision, then its effects.
    fn finished(&mut self, r: Reconciled) {
        let desired = self.desired.clone();
        if desired.refused.contains_key(&r.key) {
            // Refused since this reconcile began: its outcome speaks for a manifest that is no
            // longer admitted (without a manifest it would read as a pruned orphan), and the
            // refusal is what the status shows.
            self.queue.done(&r.key);
            return;
        }
        let service = desired.services.get(&r.key);
        let mut fx = decide::on_outcome(self.state(&r.key), &r, service, Instant::now());
        // A reconcile started before a reload changed this manifest converged to the previous
        // one: not in sync (the reload queued the key again, so it runs once more at once). Else
        // a revision would count as applied (`lastAppliedRevision`) while the previous one runs.
        if self.state(&r.key).dispatched != service.map(signature) {
            fx.status.in_sync = false;
        }
        if fx.forget {
            self.services.remove(&r.key);
        }
        self.queue.done(&r.key);
        let carrier = effects::Carrier { shared: &self.shared, queue: &self.queue, notifier: self.notifier.as_ref() };
        carrier.carry_out(&r.key, fx);
    }
}

#[cfg(test)]
mod tests;
