//! The controller when Docker hangs or an answer is lost: readiness from the liveness ping, the
//! resync after an outage, shutdown while a call waits, and replacements whose stop or start
//! fails after Docker did the work. The fake applies `engine::deadlines` as the daemon's engine
//! does, so a frozen fake times out where a frozen daemon would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::Instant;

use super::harness::{service, Harness, INSTANCE, INTERVAL};
use super::{running_web, SECOND};
use crate::controller::liveness;
use crate::engine::fake::{Behaviour, Op};
use crate::engine::{Deadlines, Engine, EngineError};

const ERRORS: &str = "moor_reconcile_total{result=\"error\"}";

/// Removes `web` and makes its next eight creates fail: its backoff is then two minutes or
/// more (1 s doubling: the eighth delay is at least 128 s).
async fn long_backoff(h: &Harness) {
    for _ in 0..8 {
        h.engine.fail_next(Op::Create, EngineError::Api { status: 500, message: "boom".into() });
    }
    let errors = h.metric(ERRORS);
    h.engine.docker_rm_f("web");
    h.until("eight failures", 10 * 60 * SECOND, |h| h.metric(ERRORS) >= errors + 8.0).await;
    assert!(h.engine.container("web").is_none());
}

#[tokio::test(start_paused = true)]
async fn the_return_of_a_daemon_that_went_away_resets_backoff_and_reconciles_at_once() {
    let mut h = running_web(&[("web.yaml", &service("web", ""))]).await;
    long_backoff(&h).await;
    h.engine.set_down(true);
    h.until("not ready", 10 * SECOND, |h| !h.shared.is_ready()).await;
    h.wait(5 * SECOND).await;
    h.engine.set_down(false);
    let took = h.until("web re-created", 5 * 60 * SECOND, |h| h.running("web").is_some()).await;
    assert!(took < 10 * SECOND, "waited out the backoff built before the outage: {took:?}");
    h.until("ready", 5 * SECOND, |h| h.shared.is_ready()).await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_frozen_daemon_fails_readiness_within_ten_seconds_and_its_thaw_resyncs_with_backoff_reset() {
    let mut h = running_web(&[("web.yaml", &service("web", ""))]).await;
    h.until("ready", INTERVAL, |h| h.shared.is_ready()).await;
    long_backoff(&h).await;
    let pings = h.engine.calls(Op::Ping);

    // A freeze breaks no stream and refuses no connection: only the ping's deadline tells.
    h.engine.freeze(true);
    let took = h.until("not ready", 60 * SECOND, |h| !h.shared.is_ready()).await;
    assert!(took <= liveness::EVERY + Deadlines::DEFAULT.ping, "readiness failed after {took:?}");
    assert!(h.engine.calls(Op::Ping) > pings, "the liveness ping found it");
    assert!(h.metric("moor_docker_errors_total{status=\"timeout\"}") > 0.0, "the ping's timeouts counted");
    h.wait(20 * SECOND).await;
    assert!(!h.shared.is_ready());

    h.engine.freeze(false);
    let took = h.until("web re-created", 5 * 60 * SECOND, |h| h.running("web").is_some()).await;
    assert!(took < 10 * SECOND, "the backoff built before the freeze was waited out: {took:?}");
    h.until("ready again", 5 * SECOND, |h| h.shared.is_ready()).await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_does_not_wait_for_a_resync_that_waits_on_a_frozen_daemon() {
    let mut h = running_web(&[("web.yaml", &service("web", ""))]).await;
    h.wait(2 * INTERVAL).await; // no reconcile in flight: exit confirmations are over
    h.engine.freeze(true);
    let lists = h.engine.calls(Op::ListContainers);
    h.until("a resync waits", 2 * INTERVAL, |h| h.engine.calls(Op::ListContainers) > lists).await;
    let started = Instant::now();
    h.stop().await;
    assert!(started.elapsed() < SECOND, "shutdown took {:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_stop_with_a_long_stop_timeout_is_waited_for_past_every_flat_deadline() {
    // `stopTimeout: 150s` on a container that ignores SIGTERM: the stop takes 150 s.
    let v1 = service("web", "  stopTimeout: 150s\n");
    let h = Harness::new(&[("web.yaml", &v1)]);
    h.engine.set_behaviour("sha256:app1", Behaviour::IgnoresStop);
    let mut h = h.start();
    h.until("web runs", 5 * SECOND, |h| h.running("web").is_some()).await;
    h.manifests.set("web.yaml", &v1.replace("image: app:1", "image: app:2"));
    let took = h
        .until("web runs app2", 5 * 60 * SECOND, |h| h.running("web").is_some_and(|c| c.image_id == "sha256:app2"))
        .await;
    assert!(took >= Duration::from_secs(150), "{took:?}");
    assert_eq!(h.metric("moor_replacements_failed_total{rollback=\"done\"}"), 0.0);
    assert_eq!(h.metric(ERRORS), 0.0, "{:?}", h.status("web").last_error);
    h.stop().await;
}

/// A running `web` on app:1, then a manifest change to app:2 whose next `times` calls of `op`
/// do their work but answer a timeout.
async fn replacement_losing(op: Op, times: usize, update: &str) -> (Harness, String) {
    let v1 = service("web", update);
    let h = running_web(&[("web.yaml", &v1)]).await;
    let old = h.running("web").unwrap().id;
    for _ in 0..times {
        h.engine.fail_after(op, EngineError::Timeout("Docker did not answer in time".into()));
    }
    h.manifests.set("web.yaml", &v1.replace("image: app:1", "image: app:2"));
    (h, old)
}

/// Every event of the test's instance from now on, as `container:action`.
fn record_events(h: &Harness) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut events = h.engine.events(INSTANCE);
    let into = seen.clone();
    tokio::spawn(async move {
        while let Some(Ok(e)) = events.next().await {
            into.lock().unwrap().push(format!("{}:{}", e.container, e.action));
        }
    });
    seen
}

#[tokio::test(start_paused = true)]
async fn a_stop_that_times_out_after_stopping_the_old_container_is_rolled_back() {
    // Three times: the attempts up to the third retry all meet it, so what the test sees
    // between attempts is what a failed one left.
    let (mut h, old) = replacement_losing(Op::Stop, 3, "").await;
    h.until("rolled back", 5 * SECOND, |h| h.metric("moor_replacements_failed_total{rollback=\"done\"}") >= 1.0).await;
    let back = h.running("web").expect("the old container runs again");
    assert_eq!((back.id.as_str(), back.image_id.as_str()), (old.as_str(), "sha256:app1"));
    assert_eq!(h.owned().len(), 1, "the new container is gone");
    let error = h.status("web").last_error.expect("reported");
    assert!(error.contains("stopping the old container web failed") && error.contains("rolled back"), "{error}");
    // Retried with backoff, and this time the stop answers.
    h.until("web runs app2", 30 * SECOND, |h| h.running("web").is_some_and(|c| c.image_id == "sha256:app2")).await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_start_that_times_out_after_starting_the_new_container_is_rolled_back() {
    // Once: the rollback's own start of the old container must answer. The retry that follows
    // may succeed at once, so the rollback is read from Docker's events.
    let v1 = service("web", "");
    let h = running_web(&[("web.yaml", &v1)]).await;
    let old = h.running("web").unwrap().id;
    let events = record_events(&h);
    h.engine.fail_after(Op::Start, EngineError::Timeout("Docker did not answer in time".into()));
    h.manifests.set("web.yaml", &v1.replace("image: app:1", "image: app:2"));
    let mut h = h;
    h.until("rolled back", 5 * SECOND, |h| h.metric("moor_replacements_failed_total{rollback=\"done\"}") >= 1.0).await;
    let seen = events.lock().unwrap().clone();
    let first = |what: &str| seen.iter().position(|e| e == what).unwrap_or_else(|| panic!("no {what}: {seen:?}"));
    // The new container started, then was removed; the old one, stopped for it, started again.
    assert!(first("web:stop") < first("web-moor-next:start"), "{seen:?}");
    assert!(first("web-moor-next:start") < first("web-moor-next:destroy"), "{seen:?}");
    assert!(first("web-moor-next:destroy") < first("web:start"), "{seen:?}");
    assert!(h.engine.calls(Op::Start) >= 3);
    let error = h.status("web").last_error.unwrap_or_default();
    let rolled = h.metric("moor_replacements_failed_total{rollback=\"done\"}");
    assert!(rolled == 1.0 && (error.is_empty() || error.contains("timed out")), "{rolled} {error}");
    // The retry goes through.
    h.until("web runs app2", 30 * SECOND, |h| h.running("web").is_some_and(|c| c.image_id == "sha256:app2")).await;
    assert!(h.engine.container(&old).is_none());
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn with_rollback_false_a_failed_stop_is_retried_forward_and_not_held() {
    let (mut h, old) = replacement_losing(Op::Stop, 1, "  update: { rollback: false }\n").await;
    h.until("failed", 5 * SECOND, |h| h.metric(ERRORS) >= 1.0).await;
    assert_eq!(h.metric("moor_replacements_failed_total{rollback=\"done\"}"), 0.0, "no rollback");
    assert_eq!(h.metric("moor_replacements_failed_total{rollback=\"disabled\"}"), 0.0, "not held");
    // The retry goes forward: the new container is the current one.
    h.until("web runs app2", 30 * SECOND, |h| h.running("web").is_some_and(|c| c.image_id == "sha256:app2")).await;
    assert!(h.engine.container(&old).is_none(), "the old container is removed");
    h.until("in sync", 5 * SECOND, |h| h.status("web").in_sync && h.status("web").last_error.is_none()).await;
    h.stop().await;
}
