//! The agent's page model, made from what the controller shares ([`Shared`]): `/status` plus
//! the activity log and the reconcile-duration histogram. Pure apart from reading `Shared`.

use std::time::SystemTime;

use super::model::{Page, ServiceRow, SourceView};
use crate::controller::status::{ServiceStatus, Shared, SourceStatus, StatusDoc};

/// The page of the agent behind `shared`, as of `now`.
pub fn page_of(shared: &Shared, instance: &str, now: SystemTime) -> Page {
    let doc = shared.status();
    let (events, mut timelines) = shared.activity_at(now);
    let histogram = shared.metrics.reconcile_durations();
    let node = doc.node.as_ref().map(|n| n.name.clone());
    let services = doc
        .services
        .iter()
        .map(|(name, s)| {
            let mut row = service_row(name, s, node.clone());
            row.timeline = timelines.remove(name).unwrap_or_default();
            row
        })
        .collect();
    let StatusDoc { ready, docker, last_resync, problems, prune_suspended, source, .. } = doc;
    Page {
        node,
        instance: instance.to_string(),
        ready,
        docker,
        now,
        last_resync,
        problems,
        prune_suspended,
        source: source.map(source_view),
        services,
        events,
        histogram,
    }
}

/// One service's row from its `/status` entry (also what the fleet page reads from an agent).
pub fn service_row(name: &str, s: &ServiceStatus, node: Option<String>) -> ServiceRow {
    let watched = s.update.as_ref();
    ServiceRow {
        name: name.to_string(),
        labels: s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        node,
        desired: s.desired.clone(),
        observed: s.observed.clone(),
        in_sync: s.in_sync && s.last_error.is_none(),
        health: s.health.clone(),
        image: s.image.clone(),
        // A watched image's registry digest says what runs better than a local image ID.
        running_digest: watched.and_then(|u| u.running_digest.clone()).or_else(|| s.image_id.clone()),
        update: watched.map(|u| u.last_result.clone().unwrap_or_else(|| "watching".to_string())),
        crash_loop: s.crash_loop.clone(),
        last_error: s.last_error.clone(),
        refused: s.refused,
        last_reconcile: s.last_reconcile.clone(),
        timeline: Vec::new(),
    }
}

fn source_view(s: SourceStatus) -> SourceView {
    SourceView {
        url: s.url,
        reference: s.reference,
        path: s.path,
        revision: s.revision,
        subject: s.subject,
        last_applied_revision: s.last_applied_revision,
        last_fetch: s.last_fetch,
        verified_by: s.verified_by,
        last_error: s.last_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::activity::Reason;
    use crate::dashboard::model::MarkKind;

    #[test]
    fn the_page_carries_status_activity_and_durations() {
        let shared = Shared::default();
        shared.service("web", |s| {
            s.desired = "running".into();
            s.observed = "running".into();
            s.in_sync = true;
            s.image = Some("app:1".into());
            s.image_id = Some("sha256:abc".into());
            s.health = Some("healthy".into());
        });
        shared.service("db", |s| {
            s.in_sync = true;
            s.last_error = Some("boom".into());
        });
        shared.record("web", "create, start", Reason::Drift, None);
        shared.mark("web", MarkKind::Repair);
        shared.metrics.reconciled(true, 0.012);
        let page = page_of(&shared, "prod", SystemTime::now());
        assert_eq!(page.instance, "prod");
        let web = page.services.iter().find(|s| s.name == "web").unwrap();
        assert_eq!((web.in_sync, web.health.as_deref()), (true, Some("healthy")));
        assert_eq!(web.running_digest.as_deref(), Some("sha256:abc"));
        assert_eq!(web.timeline.len(), 1);
        let db = page.services.iter().find(|s| s.name == "db").unwrap();
        assert!(!db.in_sync, "a failing service is not shown in sync");
        assert_eq!(page.events[0].why, "drift");
        assert_eq!(page.histogram.count, 1);
        // 12 ms lies in the bucket up to 20 ms.
        assert_eq!(page.histogram.buckets.iter().find(|b| b.1 == 1).map(|b| b.0), Some(0.02));
    }

    #[test]
    fn every_change_is_announced_to_a_live_page() {
        let shared = Shared::default();
        let mut rx = shared.subscribe();
        rx.borrow_and_update();
        shared.service("web", |s| s.in_sync = true);
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        shared.record("web", "remove", Reason::Prune, None);
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        let _ = shared.status();
        assert!(!rx.has_changed().unwrap(), "reading is not a change");
    }
}
