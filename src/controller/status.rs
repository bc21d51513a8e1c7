//! What the controller knows and shows: per-service status, problems, readiness, metrics.
//! Shared between the controller loop and the HTTP endpoints.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::metrics::Metrics;

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
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDoc {
    pub ready: bool,
    pub docker: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_resync: Option<String>,
    /// Manifest problems as last loaded; while any exists, prune is suspended.
    pub problems: Vec<String>,
    pub services: BTreeMap<String, ServiceStatus>,
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
        self.lock().last_resync = Some(timestamp(Duration::ZERO));
    }

    pub fn set_problems(&self, problems: Vec<String>) {
        self.metrics.manifest_errors(problems.len());
        self.lock().problems = problems;
    }

    /// Edits one service's status.
    pub fn service(&self, name: &str, edit: impl FnOnce(&mut ServiceStatus)) {
        let mut doc = self.lock();
        edit(doc.services.entry(name.to_string()).or_default());
        self.publish_counts(&doc);
    }

    /// Keeps only the named services (others are gone and pruned).
    pub fn retain_services(&self, keep: impl Fn(&str) -> bool) {
        let mut doc = self.lock();
        doc.services.retain(|k, _| keep(k));
        self.publish_counts(&doc);
    }

    fn publish_counts(&self, doc: &StatusDoc) {
        let failing = doc.services.values().filter(|s| s.last_error.is_some()).count();
        let in_sync = doc.services.values().filter(|s| s.in_sync && s.last_error.is_none()).count();
        self.metrics.services(in_sync, doc.services.len() - in_sync - failing, failing);
    }
}
