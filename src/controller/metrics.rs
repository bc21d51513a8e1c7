//! Prometheus metrics of the controller, in the text format `/metrics` serves.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

fn label(key: &str, value: &str) -> Labels {
    vec![(key.to_string(), value.to_string())]
}

/// The reconcile duration buckets: 5 ms to about 41 s, doubling.
fn duration_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.005, 2.0, DURATION_BUCKET_COUNT as u16)
}
const DURATION_BUCKET_COUNT: usize = 14;

/// Reconciles per duration bucket; the last counts those above every bound.
#[derive(Debug, Default)]
struct DurationCounts {
    counts: [u64; DURATION_BUCKET_COUNT + 1],
    sum: f64,
}

pub struct Metrics {
    registry: Registry,
    reconciles: Family<Labels, Counter>,
    duration: Histogram,
    /// The same observations per bucket, for the dashboard: prometheus-client's histogram can
    /// be encoded but not read back.
    duration_seen: Mutex<DurationCounts>,
    actions: Family<Labels, Counter>,
    drift_repairs: Counter,
    queue_depth: Gauge,
    docker_errors: Family<Labels, Counter>,
    services: Family<Labels, Gauge>,
    manifest_errors: Gauge,
    prune_suspended: Gauge,
    source_fetches: Family<Labels, Counter>,
    source_revision: Family<Labels, Gauge>,
    source_fetch_age: Family<Labels, Gauge<f64, AtomicU64>>,
    /// When the git source's remote last answered, and its URL: the age gauge is computed from it
    /// at each scrape.
    last_fetch: Mutex<Option<(String, Instant)>>,
    updates: Family<Labels, Counter>,
    replacements_failed: Family<Labels, Counter>,
    skipped: Family<Labels, Counter>,
    notifications: Family<Labels, Counter>,
    git_webhooks: Family<Labels, Counter>,
    node_info: Family<Labels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            reconciles: Family::default(),
            duration: Histogram::new(duration_buckets()),
            duration_seen: Mutex::new(DurationCounts::default()),
            actions: Family::default(),
            drift_repairs: Counter::default(),
            queue_depth: Gauge::default(),
            docker_errors: Family::default(),
            services: Family::default(),
            manifest_errors: Gauge::default(),
            prune_suspended: Gauge::default(),
            source_fetches: Family::default(),
            source_revision: Family::default(),
            source_fetch_age: Family::default(),
            last_fetch: Mutex::new(None),
            updates: Family::default(),
            replacements_failed: Family::default(),
            skipped: Family::default(),
            notifications: Family::default(),
            git_webhooks: Family::default(),
            node_info: Family::default(),
            registry: Registry::default(),
        };
        // prometheus-client appends `_total` to counters.
        registry.register("moor_reconcile", "Service reconciles by result", m.reconciles.clone());
        registry.register("moor_reconcile_duration_seconds", "Duration of a service reconcile", m.duration.clone());
        registry.register("moor_actions", "Actions applied, by kind", m.actions.clone());
        registry.register(
            "moor_drift_repairs",
            "Reconciles that repaired drift of a converged service",
            m.drift_repairs.clone(),
        );
        registry.register("moor_queue_depth", "Services waiting in the work queue", m.queue_depth.clone());
        registry.register("moor_docker_errors", "Docker API errors, by status", m.docker_errors.clone());
        registry.register(
            "moor_services",
            "Services by state (in_sync, pending, failing, refused: by the host policy)",
            m.services.clone(),
        );
        registry.register(
            "moor_manifest_errors",
            "Problems in the manifests as last loaded",
            m.manifest_errors.clone(),
        );
        registry.register(
            "moor_prune_suspended",
            "1 while prune is suspended: manifest problems, or no Service manifest without --allow-empty",
            m.prune_suspended.clone(),
        );
        registry.register(
            "moor_source_fetches",
            "Looks at the git source's remote, by result (unchanged, applied, refused, failed)",
            m.source_fetches.clone(),
        );
        registry.register(
            "moor_source_revision_info",
            "The git revision the controller runs (value 1)",
            m.source_revision.clone(),
        );
        registry.register(
            "moor_source_last_fetch_age_seconds",
            "Seconds since the git source's remote last answered",
            m.source_fetch_age.clone(),
        );
        registry.register("moor_updates", "Image updates, by result", m.updates.clone());
        registry.register(
            "moor_node_info",
            "The node this agent runs as, with its labels as `label_<key>` (value 1)",
            m.node_info.clone(),
        );
        registry.register(
            "moor_replacements_failed",
            "Health-gated replacements whose new container did not become ready, by what became of the old one (rollback: done, failed, disabled)",
            m.replacements_failed.clone(),
        );
        registry.register(
            "moor_reconcile_skipped",
            "Reconciles not run, by reason (held: a replacement kept by update.rollback: false; refused: by the host policy)",
            m.skipped.clone(),
        );
        registry.register(
            "moor_notifications",
            "Webhook deliveries after their retries, by result (delivered, failed)",
            m.notifications.clone(),
        );
        registry.register(
            "moor_git_webhooks",
            "Git push webhooks received on /hooks/git, by result (accepted, rejected)",
            m.git_webhooks.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn reconciled(&self, success: bool, seconds: f64) {
        let result = if success { "success" } else { "error" };
        self.reconciles.get_or_create(&label("result", result)).inc();
        self.duration.observe(seconds);
        let mut seen = self.duration_seen.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = duration_buckets().position(|le| seconds <= le).unwrap_or(DURATION_BUCKET_COUNT);
        seen.counts[bucket] += 1;
        seen.sum += seconds;
    }

    /// `moor_reconcile_duration_seconds` per bucket (not cumulative), for the dashboard.
    pub fn reconcile_durations(&self) -> crate::dashboard::model::HistogramView {
        let seen = self.duration_seen.lock().unwrap_or_else(|e| e.into_inner());
        let bounds = duration_buckets().chain([f64::INFINITY]);
        crate::dashboard::model::HistogramView {
            buckets: bounds.zip(seen.counts.iter().copied()).collect(),
            count: seen.counts.iter().sum(),
            sum: seen.sum,
        }
    }

    pub fn action(&self, kind: &str) {
        self.actions.get_or_create(&label("kind", kind)).inc();
    }

    pub fn drift_repaired(&self) {
        self.drift_repairs.inc();
    }

    pub fn queue_depth(&self, depth: usize) {
        self.queue_depth.set(depth as i64);
    }

    pub fn docker_error(&self, status: &str) {
        self.docker_errors.get_or_create(&label("status", status)).inc();
    }

    pub fn services(&self, in_sync: usize, pending: usize, failing: usize, refused: usize) {
        for (state, n) in [("in_sync", in_sync), ("pending", pending), ("failing", failing), ("refused", refused)] {
            self.services.get_or_create(&label("state", state)).set(n as i64);
        }
    }

    pub fn manifest_errors(&self, n: usize) {
        self.manifest_errors.set(n as i64);
    }

    pub fn prune_suspended(&self, suspended: bool) {
        self.prune_suspended.set(i64::from(suspended));
    }

    pub fn update(&self, result: &str) {
        self.updates.get_or_create(&label("result", result)).inc();
    }

    pub fn reconcile_skipped(&self, reason: &str) {
        self.skipped.get_or_create(&label("reason", reason)).inc();
    }

    pub fn replacement_failed(&self, rollback: &str) {
        self.replacements_failed.get_or_create(&label("rollback", rollback)).inc();
    }

    /// One webhook delivery's outcome: `delivered` or `failed` ([`crate::notify::Delivery::result`]).
    pub fn notification(&self, result: &str) {
        self.notifications.get_or_create(&label("result", result)).inc();
    }

    /// One look at the git source's remote: `result` is [`crate::git::sync::SyncOutcome::result`];
    /// any result but `failed` means the remote answered.
    pub fn source_fetch(&self, url: &str, result: &str) {
        self.source_fetches.get_or_create(&label("result", result)).inc();
        if result != "failed" {
            *self.last_fetch.lock().unwrap_or_else(|e| e.into_inner()) = Some((url.to_string(), Instant::now()));
        }
    }

    /// The revision now running; the previous one's series goes.
    pub fn source_revision(&self, previous: Option<&str>, revision: &str) {
        if let Some(previous) = previous.filter(|p| *p != revision) {
            self.source_revision.remove(&label("revision", previous));
        }
        self.source_revision.get_or_create(&label("revision", revision)).set(1);
    }

    /// The node this agent runs as: its name, and each label as `label_<key>` (a key's `.`,
    /// `/` and `-` as `_`, as Prometheus label names allow). Keys that become one name (`zone.x`
    /// and `zone_x`) give it once, the first in key order: a series with a label name twice
    /// fails the whole scrape.
    pub fn node(&self, node: &crate::node::Node) {
        let mut labels: Labels = vec![("node".to_string(), node.name.clone())];
        for (k, v) in &node.labels {
            let key: String = k.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            let name = format!("label_{key}");
            if labels.iter().all(|(taken, _)| *taken != name) {
                labels.push((name, v.clone()));
            }
        }
        self.node_info.get_or_create(&labels).set(1);
    }

    /// One `POST /hooks/git`: `accepted` (it triggered a fetch) or `rejected` (401).
    pub fn git_webhook(&self, result: &str) {
        self.git_webhooks.get_or_create(&label("result", result)).inc();
    }

    pub fn text(&self) -> String {
        if let Some((url, at)) = self.last_fetch.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            self.source_fetch_age.get_or_create(&label("url", url)).set(at.elapsed().as_secs_f64());
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Label keys that differ only in `.`, `/` or `-` against `_` (Kubernetes allows both) must
    /// not give one series two labels of one name: Prometheus refuses such a scrape whole.
    #[test]
    fn node_labels_that_sanitize_alike_give_one_label_name_each() {
        let metrics = Metrics::new();
        let labels = ["zone.x=eu".to_string(), "zone_x=us".to_string(), "role=edge".to_string()];
        metrics.node(&crate::node::Node::new(Some("edge-1"), &labels).unwrap());
        let text = metrics.text();
        let line = text.lines().find(|l| l.starts_with("moor_node_info{")).unwrap();
        let names: Vec<&str> = line
            .trim_start_matches("moor_node_info{")
            .split("\",")
            .map(|pair| pair.split_once('=').unwrap().0)
            .collect();
        let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "duplicate label names in {line}");
        assert!(line.contains("node=\"edge-1\"") && line.contains("label_role=\"edge\""), "{line}");
    }
}
