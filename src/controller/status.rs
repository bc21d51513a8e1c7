//! What the controller knows and shows: per-service status, problems, readiness, metrics.
//! Shared between the controller loop and the HTTP endpoints.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::metrics::Metrics;
use crate::manifest::Refused;
use crate::observe::ObservedContainer;

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    pub desired: String,
    pub observed: String,
    pub in_sync: bool,
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

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDoc {
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
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
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
}

/// RFC 3339 text of now + `after`.
pub fn timestamp(after: Duration) -> String {
    humantime::format_rfc3339_seconds(SystemTime::now() + after).to_string()
}

impl Shared {
    pub fn status(&self) -> StatusDoc {
        let mut doc = self.lock().clone();
        doc.ready = self.is_ready();
        doc.docker = self.docker_ok.load(Ordering::Relaxed);
        doc
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StatusDoc> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ready: the first full reconcile is done and Docker answers.
    pub fn is_ready(&self) -> bool {
        self.first_resync_done.load(Ordering::Relaxed) && self.docker_ok.load(Ordering::Relaxed)
    }

    pub fn set_docker_ok(&self, ok: bool) {
        self.docker_ok.store(ok, Ordering::Relaxed);
    }

    pub fn resynced(&self) {
        self.first_resync_done.store(true, Ordering::Relaxed);
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
