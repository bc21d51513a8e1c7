//! What the controller knows and shows: per-service status, problems, readiness, metrics.
//! Shared between the controller loop and the HTTP endpoints.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::activity::{Activity, Reason};
use super::metrics::Metrics;
use crate::dashboard::model::MarkKind;
use crate::manifest::Refused;
use crate::observe::ObservedContainer;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceStatus {
    pub desired: String,
    pub observed: String,
    pub in_sync: bool,
    /// The worst health among its containers (`healthy`, `starting`, `unhealthy`); absent
    /// without a healthcheck.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// The image reference of its manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Its manifest's `metadata.labels`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The image ID its (first) container runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// RFC 3339 time before which the service is not retried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_until: Option<String>,
    /// Set while the service is in a crash loop: from its first slowed-down repair until it goes
    /// a window without one (see `crash_loop`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crash_loop: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_reconcile: Option<String>,
    /// For `update.watch: digest`: digests, last check, last update result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<super::updates::UpdateStatus>,
    /// The host policy refuses the manifest: `lastError` says why, and nothing is done to the
    /// service's containers.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub refused: bool,
}

impl ServiceStatus {
    /// Shows how its containers look.
    pub fn see(&mut self, seen: crate::observe::Seen) {
        self.observed = seen.observed;
        self.health = seen.health.map(str::to_string);
        self.image_id = seen.image_id;
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StatusDoc {
    /// The instance this agent runs (`--instance`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The node this agent runs as (`moor run --node`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<crate::node::Node>,
    pub ready: bool,
    pub docker: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_resync: Option<String>,
    /// Manifest problems as last loaded; while any exists, prune is suspended.
    pub problems: Vec<String>,
    /// Why prune is suspended, while it is: manifest problems, or no Service manifest without
    /// `--allow-empty` (the prune guard, which is not a problem of any file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune_suspended: Option<String>,
    /// Where the manifests come from, for a git source (`moor run --git`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceStatus>,
    pub services: BTreeMap<String, ServiceStatus>,
}

/// A git source's state, Flux's source-controller style. No field holds a credential.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SourceStatus {
    /// The repository URL without userinfo.
    pub url: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub path: String,
    /// The revision `current` points at, which the controller runs: `main@sha1:<40 hex>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// That revision's commit subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The last revision every service converged on (all in sync, no failure, no problem).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// The last revision fetched, applied or refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// RFC 3339 time the remote last answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_fetch: Option<String>,
    /// With `--verify-commits`: the signer of the current revision (`principal SHA256:…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_by: Option<String>,
    /// The last fetch error or refusal; cleared by the next good look at the remote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The revision the controller loaded last, and whether a full resync has looked at the
    /// services since: only then can "everything in sync" speak for that revision.
    #[serde(skip)]
    pub loaded: Option<String>,
    #[serde(skip)]
    pub awaiting_resync: bool,
}

#[derive(Default)]
pub struct Shared {
    pub metrics: Metrics,
    status: Mutex<StatusDoc>,
    first_resync_done: AtomicBool,
    docker_ok: AtomicBool,
    activity: Mutex<Activity>,
    changes: Changes,
}

/// Bumped on every change of what `/status` or the dashboard shows, so that a live page
/// (`/events`) learns of it without polling. Level-based like the rest: a receiver sees that
/// something changed, never what; it reads the whole state again.
struct Changes(tokio::sync::watch::Sender<u64>);

impl Default for Changes {
    fn default() -> Self {
        Changes(tokio::sync::watch::Sender::new(0))
    }
}

/// RFC 3339 text of now + `after`.
pub fn timestamp(after: Duration) -> String {
    humantime::format_rfc3339_seconds(SystemTime::now() + after).to_string()
}

impl Shared {
    pub fn status(&self) -> StatusDoc {
        let mut doc = self.lock_quiet().clone();
        doc.ready = self.is_ready();
        doc.docker = self.docker_ok.load(Ordering::Relaxed);
        doc
    }

    /// The status to edit; dropping the guard tells every live page that it changed.
    fn lock(&self) -> Edit<'_> {
        Edit { doc: self.status.lock().unwrap_or_else(|e| e.into_inner()), changes: &self.changes }
    }

    /// A receiver that wakes on every change (see [`Changes`]).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.0.subscribe()
    }

    fn changed(&self) {
        self.changes.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn activity(&self) -> std::sync::MutexGuard<'_, Activity> {
        self.activity.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an event moor acted on, now, and its mark on the service's timeline.
    pub fn record(&self, service: &str, action: &str, reason: Reason, detail: Option<String>) {
        let now = SystemTime::now();
        self.activity().event(now, service, action, reason, detail);
        self.changed();
    }

    /// Records a mark on `service`'s timeline, now.
    pub fn mark(&self, service: &str, kind: MarkKind) {
        self.activity().mark(SystemTime::now(), service, kind);
        self.changed();
    }

    /// The last events, newest first, and each service's timeline up to `now`.
    pub fn activity_at(
        &self,
        now: SystemTime,
    ) -> (Vec<crate::dashboard::model::EventRow>, BTreeMap<String, Vec<crate::dashboard::model::Mark>>) {
        let services: Vec<String> = self.lock_quiet().services.keys().cloned().collect();
        let activity = self.activity();
        let timelines = services.into_iter().map(|s| {
            let marks = activity.timeline(&s, now);
            (s, marks)
        });
        (activity.events(), timelines.collect())
    }

    /// The status to read: no change is announced.
    fn lock_quiet(&self) -> std::sync::MutexGuard<'_, StatusDoc> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ready: the first full reconcile is done and Docker answers.
    pub fn is_ready(&self) -> bool {
        self.first_resync_done.load(Ordering::Relaxed) && self.docker_ok.load(Ordering::Relaxed)
    }

    pub fn set_docker_ok(&self, ok: bool) {
        if self.docker_ok.swap(ok, Ordering::Relaxed) != ok {
            self.changed();
        }
    }

    pub fn resynced(&self) {
        if !self.first_resync_done.swap(true, Ordering::Relaxed) {
            self.changed();
        }
        let mut doc = self.lock();
        doc.last_resync = Some(timestamp(Duration::ZERO));
        if let Some(source) = doc.source.as_mut() {
            source.awaiting_resync = false;
        }
        Self::mark_applied(&mut doc);
    }

    /// Edits the source's status (a git source sets it up first with [`Shared::set_source`]).
    pub fn source(&self, edit: impl FnOnce(&mut SourceStatus)) {
        if let Some(source) = self.lock().source.as_mut() {
            edit(source);
        }
    }

    /// The instance this agent runs, in `/status`.
    pub fn set_instance(&self, instance: &str) {
        self.lock().instance = Some(instance.to_string());
    }

    /// The node this agent runs as, in `/status` and `/metrics`.
    pub fn set_node(&self, node: &crate::node::Node) {
        self.lock().node = Some(node.clone());
        self.metrics.node(node);
    }

    pub fn set_source(&self, source: SourceStatus) {
        self.lock().source = Some(source);
    }

    /// The controller loaded the manifests of `revision`: it counts as applied once a resync
    /// after this finds every service in sync.
    pub fn loaded_revision(&self, revision: Option<String>) {
        self.source(|s| {
            s.loaded = revision;
            s.awaiting_resync = true;
        });
    }

    /// Records the loaded revision as the last applied one when every service is in sync, none
    /// failing, and the manifests have no problem.
    fn mark_applied(doc: &mut StatusDoc) {
        let converged = doc.problems.is_empty()
            && doc.prune_suspended.is_none()
            && doc.services.values().all(|s| s.in_sync && s.last_error.is_none());
        if let Some(source) = doc.source.as_mut().filter(|s| converged && !s.awaiting_resync) {
            if source.loaded.is_some() && source.last_applied_revision != source.loaded {
                source.last_applied_revision = source.loaded.clone();
            }
        }
    }

    /// Records the problems of a load and why prune is suspended (`None` when it is not).
    pub fn set_problems(&self, problems: Vec<String>, prune_suspended: Option<String>) {
        self.metrics.manifest_errors(problems.len());
        self.metrics.prune_suspended(prune_suspended.is_some());
        let mut doc = self.lock();
        doc.problems = problems;
        doc.prune_suspended = prune_suspended;
        Self::mark_applied(&mut doc);
    }

    /// Shows the prune guard as the plan lets it hold against what runs (nothing placed on a
    /// node that runs nothing holds nothing back).
    pub fn show_prune_guard(&self, guard: Option<String>) {
        self.metrics.prune_suspended(guard.is_some());
        self.lock().prune_suspended = guard;
    }

    /// Edits one service's status.
    pub fn service(&self, name: &str, edit: impl FnOnce(&mut ServiceStatus)) {
        let mut doc = self.lock();
        edit(doc.services.entry(name.to_string()).or_default());
        self.publish_counts(&doc);
        Self::mark_applied(&mut doc);
    }

    /// Keeps only the named services (others are gone and pruned).
    pub fn retain_services(&self, keep: impl Fn(&str) -> bool) {
        let mut doc = self.lock();
        let gone: Vec<String> = doc.services.keys().filter(|k| !keep(k)).cloned().collect();
        if !gone.is_empty() {
            let mut activity = self.activity();
            gone.iter().for_each(|k| activity.forget(k));
        }
        doc.services.retain(|k, _| keep(k));
        self.publish_counts(&doc);
        Self::mark_applied(&mut doc);
    }

    /// Shows each refused service as refused (`lastError` says why), with its containers when
    /// `observed` is given; a service no longer refused loses the mark and its reason (its next
    /// reconcile says how it is).
    pub fn show_refused(
        &self,
        refused: &BTreeMap<String, Refused>,
        observed: Option<&BTreeMap<&str, Vec<&ObservedContainer>>>,
    ) {
        let mut doc = self.lock();
        for (name, status) in doc.services.iter_mut().filter(|(name, s)| s.refused && !refused.contains_key(*name)) {
            tracing::trace!(service = %name, "no longer refused by the host policy");
            status.refused = false;
            status.last_error = None;
        }
        for (name, r) in refused {
            let s = doc.services.entry(name.clone()).or_default();
            if !s.refused {
                let why = crate::policy::refused_text(r);
                self.activity().event(SystemTime::now(), name, "refused", Reason::PolicyRefusal, Some(why));
            }
            s.desired = r.service.desired_summary();
            if let Some(observed) = observed {
                s.observed = crate::observe::summary(observed.get(name.as_str()).map(Vec::as_slice).unwrap_or(&[]));
            }
            s.in_sync = false;
            s.refused = true;
            s.last_error = Some(crate::policy::refused_text(r));
            s.backoff_until = None;
            s.crash_loop = None;
        }
        self.publish_counts(&doc);
        Self::mark_applied(&mut doc);
    }

    fn publish_counts(&self, doc: &StatusDoc) {
        let refused = doc.services.values().filter(|s| s.refused).count();
        let failing = doc.services.values().filter(|s| s.last_error.is_some() && !s.refused).count();
        let in_sync = doc.services.values().filter(|s| s.in_sync && s.last_error.is_none()).count();
        self.metrics.services(in_sync, doc.services.len() - in_sync - failing - refused, failing, refused);
    }
}

/// The status under edit: [`Shared`]'s lock, which announces a change when dropped.
struct Edit<'a> {
    doc: std::sync::MutexGuard<'a, StatusDoc>,
    changes: &'a Changes,
}

impl std::ops::Deref for Edit<'_> {
    type Target = StatusDoc;
    fn deref(&self) -> &StatusDoc {
        &self.doc
    }
}

impl std::ops::DerefMut for Edit<'_> {
    fn deref_mut(&mut self) -> &mut StatusDoc {
        &mut self.doc
    }
}

impl Drop for Edit<'_> {
    fn drop(&mut self) {
        self.changes.0.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_source() -> Shared {
        let shared = Shared::default();
        shared.set_source(SourceStatus { url: "file:///repo".into(), ..SourceStatus::default() });
        shared
    }

    fn applied(shared: &Shared) -> Option<String> {
        shared.status().source.and_then(|s| s.last_applied_revision)
    }

    #[test]
    fn a_revision_counts_as_applied_only_after_a_resync_finds_everything_in_sync() {
        let shared = with_source();
        shared.service("web", |s| s.in_sync = true);
        shared.loaded_revision(Some("main@sha1:aaa".into()));
        // In sync, but under the previous revision's manifests: not yet.
        shared.service("web", |s| s.in_sync = true);
        assert_eq!(applied(&shared), None);
        shared.service("web", |s| s.in_sync = false);
        shared.resynced();
        assert_eq!(applied(&shared), None, "a pending service");
        shared.service("web", |s| s.in_sync = true);
        assert_eq!(applied(&shared).as_deref(), Some("main@sha1:aaa"));
    }

    #[test]
    fn a_failing_service_or_a_manifest_problem_keeps_the_previous_applied_revision() {
        let shared = with_source();
        shared.loaded_revision(Some("main@sha1:aaa".into()));
        shared.service("web", |s| s.in_sync = true);
        shared.resynced();
        assert_eq!(applied(&shared).as_deref(), Some("main@sha1:aaa"));

        shared.loaded_revision(Some("main@sha1:bbb".into()));
        shared.service("web", |s| s.last_error = Some("boom".into()));
        shared.resynced();
        assert_eq!(applied(&shared).as_deref(), Some("main@sha1:aaa"));
        shared.set_problems(vec!["x.yaml: bad".into()], Some("prune suspended".into()));
        shared.service("web", |s| s.last_error = None);
        shared.resynced();
        assert_eq!(applied(&shared).as_deref(), Some("main@sha1:aaa"));
        shared.set_problems(Vec::new(), None);
        assert_eq!(applied(&shared).as_deref(), Some("main@sha1:bbb"));
    }

    #[test]
    fn without_a_git_source_the_status_has_no_source() {
        let shared = Shared::default();
        shared.loaded_revision(Some("main@sha1:aaa".into()));
        shared.resynced();
        let json = serde_json::to_value(shared.status()).unwrap();
        assert!(json.get("source").is_none(), "{json}");
    }
}
