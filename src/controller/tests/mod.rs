//! The controller's logic on the in-memory engine, on tokio's paused clock: each scenario runs
//! minutes of virtual time in milliseconds. The real-daemon tests in `tests/` prove Docker's
//! semantics; these prove moor's decisions.

mod deadlines;
mod harness;
mod jobs;
mod policy;

use std::collections::BTreeMap;
use std::time::Duration;

use harness::{service, Harness, INTERVAL};

use crate::engine::fake::{Behaviour, Op};
use crate::engine::EngineError;

const SECOND: Duration = Duration::from_secs(1);

/// Starts a controller on `files` and waits until `web` runs.
async fn running_web(files: &[(&str, &str)]) -> Harness {
    let h = Harness::new(files).start();
    h.until("web runs", 5 * SECOND, |h| h.running("web").is_some()).await;
    h
}

#[tokio::test(start_paused = true)]
async fn a_container_removed_by_hand_is_repaired_at_once_and_counted_as_drift() {
    let web = service("web", "");
    let mut h = running_web(&[("web.yaml", &web)]).await;
    let first = h.running("web").unwrap().id;
    assert_eq!(h.metric("moor_drift_repairs_total"), 0.0, "the first create is not a repair");

    h.engine.docker_rm_f("web");
    let took = h.until("web runs again", 5 * SECOND, |h| h.running("web").is_some_and(|c| c.id != first)).await;
    assert!(took < SECOND, "the destroy event, not the 30 s resync, started the repair: {took:?}");
    h.until("the repair counted", SECOND, |h| h.metric("moor_drift_repairs_total") == 1.0).await;
    assert!(h.status("web").in_sync);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_idle_in_sync_controller_makes_one_list_call_per_resync() {
    let web = service("web", "");
    let mut h = running_web(&[("web.yaml", &web)]).await;
    h.wait(2 * INTERVAL).await; // settle: exit confirmations and the first resyncs
    let before = h.engine.calls(Op::ListContainers);
    h.wait(10 * INTERVAL).await;
    assert_eq!(h.engine.calls(Op::ListContainers) - before, 10);
    assert_eq!(h.engine.calls(Op::Create), 1);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_crash_loop_is_slowed_down_shown_and_forgotten_after_a_quiet_window() {
    let web = service("web", "");
    let mut h = running_web(&[("web.yaml", &web)]).await;
    let mut waits = Vec::new();
    for _ in 0..5 {
        let id = h.running("web").unwrap().id;
        h.engine.crash("web", 1);
        // The same container is started again (restart: no, so moor does it).
        let took = h
            .until("started again", 10 * 60 * SECOND, |h| {
                h.running("web").is_some_and(|c| c.id == id) && h.engine.container("web").is_some()
            })
            .await;
        waits.push(took);
    }
    assert!(waits[0] < SECOND && waits[1] < SECOND, "the first repairs run at once: {waits:?}");
    assert!(waits[4] > waits[2] && waits[2] >= SECOND, "each further repair waits longer: {waits:?}");
    let note = h.status("web").crash_loop.expect("the crash loop is shown");
    assert!(note.contains("back-off") && note.contains("restarts"), "{note}");
    assert_eq!(h.metric("moor_drift_repairs_total"), 5.0);

    // Ten quiet minutes: the first resync after them clears the note (not before), and the next
    // crash is repaired at once.
    let quiet = h
        .until("the note cleared", Duration::from_secs(600) + 2 * INTERVAL, |h| h.status("web").crash_loop.is_none())
        .await;
    assert!(quiet >= Duration::from_secs(600) - waits[4], "cleared after only {quiet:?}");
    let id = h.running("web").unwrap().id;
    h.engine.crash("web", 1);
    let took = h.until("started again", 10 * SECOND, |h| h.running("web").is_some_and(|c| c.id == id)).await;
    assert!(took < SECOND, "{took:?}");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_image_update_replaces_the_container_and_is_not_counted_as_drift() {
    let web = service("web", "  update: { watch: digest, interval: 1m }\n");
    let h = Harness::new(&[("web.yaml", &web)]);
    h.engine.push("app:1", "sha256:d1", "sha256:app1");
    let mut h = h.start();
    h.until("web runs app1", 5 * SECOND, |h| h.running("web").is_some_and(|c| c.image_id == "sha256:app1")).await;
    h.until("checked", 5 * SECOND, |h| h.status("web").update.is_some_and(|u| u.last_check.is_some())).await;

    h.engine.add_image("app:1-next", "sha256:app2");
    h.engine.push("app:1", "sha256:d2", "sha256:app2");
    h.until("web runs app2", 2 * 60 * SECOND, |h| h.running("web").is_some_and(|c| c.image_id == "sha256:app2")).await;
    h.until("the update booked", 5 * SECOND, |h| h.metric("moor_updates_total{result=\"success\"}") == 1.0).await;
    assert_eq!(h.metric("moor_drift_repairs_total"), 0.0, "an update is not drift");
    assert_eq!(h.status("web").crash_loop, None);
    let update = h.status("web").update.unwrap();
    assert_eq!(update.last_result.as_deref(), Some("updated to sha256:d2"));
    assert_eq!(h.owned().len(), 1);
    h.stop().await;
}

/// A manifest change to an image whose containers exit at once: the replacement fails its gate.
async fn failing_replacement(update: &str) -> Harness {
    let v1 = service("web", update);
    let h = running_web(&[("web.yaml", &v1)]).await;
    h.engine.set_behaviour("sha256:app2", Behaviour::ExitsAfter { after: Duration::ZERO, code: 3 });
    h.manifests.set("web.yaml", &v1.replace("image: app:1", "image: app:2"));
    h
}

#[tokio::test(start_paused = true)]
async fn a_failed_replacement_is_rolled_back_and_retried_with_backoff() {
    let mut h = failing_replacement("").await;
    h.until("rolled back", 5 * SECOND, |h| h.metric("moor_replacements_failed_total{rollback=\"done\"}") >= 1.0).await;
    let error = h.status("web").last_error.expect("reported");
    assert!(error.contains("exited with code 3") && error.contains("rolled back"), "{error}");
    let old = h.running("web").expect("the old container runs again");
    assert_eq!(old.image_id, "sha256:app1");
    assert_eq!(h.owned().len(), 1, "the failed new container is gone");
    // Retried with backoff: a second attempt comes, later.
    h.until("retried", 10 * SECOND, |h| h.metric("moor_replacements_failed_total{rollback=\"done\"}") >= 2.0).await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn rollback_false_keeps_the_new_container_reports_failure_and_does_not_retry() {
    let mut h = failing_replacement("  update: { rollback: false }\n").await;
    h.until("failed", 5 * SECOND, |h| h.metric("moor_replacements_failed_total{rollback=\"disabled\"}") == 1.0).await;
    let status = h.status("web");
    let error = status.last_error.expect("reported failed");
    assert!(error.contains("left in place") && error.contains("not retried"), "{error}");
    assert!(!status.in_sync);
    let kept = h.engine.container("web").expect("the new container holds the name");
    assert_eq!(kept.image_id, "sha256:app2");
    assert_eq!(h.owned().len(), 1, "the old container was removed");

    // No retry loop: ten resyncs (one list call each) and a manifest reload that asks for the
    // service again come and go; nothing is created or started again.
    let (creates, starts) = (h.engine.calls(Op::Create), h.engine.calls(Op::Start));
    let lists = h.engine.calls(Op::ListContainers);
    h.until("ten resyncs", 11 * INTERVAL, |h| h.engine.calls(Op::ListContainers) >= lists + 10).await;
    let same = service("web", "  update: { rollback: false }\n").replace("image: app:1", "image: app:2");
    h.manifests.set("web.yaml", &same);
    h.until("asked again, skipped", 5 * SECOND, |h| h.metric("moor_reconcile_skipped_total{reason=\"held\"}") >= 1.0)
        .await;
    assert_eq!((h.engine.calls(Op::Create), h.engine.calls(Op::Start)), (creates, starts));
    assert!(h.status("web").last_error.is_some(), "a resync must not clear the failure");
    assert_eq!(h.metric("moor_services{state=\"failing\"}"), 1.0);

    // A manifest change releases it.
    h.manifests.set("web.yaml", &service("web", "  update: { rollback: false }\n").replace("app:1", "app:3"));
    h.until("app3 runs", 5 * SECOND, |h| h.running("web").is_some_and(|c| c.image_id == "sha256:app3")).await;
    h.until("in sync", 5 * SECOND, |h| h.status("web").in_sync && h.status("web").last_error.is_none()).await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_name_conflict_is_learned_reported_without_new_creates_and_forgotten_at_resync() {
    let h = Harness::new(&[("web.yaml", &service("web", ""))]);
    let foreign = h.engine.create_foreign("web", BTreeMap::new()).unwrap();
    let started = tokio::time::Instant::now();
    let mut h = h.start();
    // The create's 409 is the evidence waited for; the status text is asserted after it.
    h.until("the create refused", 5 * SECOND, |h| h.metric("moor_reconcile_total{result=\"error\"}") >= 1.0).await;
    assert_eq!(h.engine.calls(Op::Create), 1);
    let error = h.status("web").last_error.expect("the conflict reported");
    assert!(error.contains("which moor does not own"), "{error}");
    // Backoff retries report the learned conflict from the plan: no create until the resync.
    h.until("retried", 10 * SECOND, |h| h.metric("moor_reconcile_total{result=\"error\"}") >= 3.0).await;
    assert_eq!(h.engine.calls(Op::Create), 1, "a learned conflict is not tried again before the resync");
    // The resync forgets it; the next backoff retry then tries a create once more.
    h.until("tried once more after a resync", INTERVAL + 6 * 60 * SECOND, |h| h.engine.calls(Op::Create) == 2).await;
    assert!(started.elapsed() >= INTERVAL, "tried again before any resync: {:?}", started.elapsed());
    assert_eq!(h.engine.container("web").unwrap().id, foreign, "the holder is never touched");

    h.engine.docker_rm_f(&foreign);
    // Within the next resync plus the longest backoff (5 min).
    h.until("web created once the name is free", INTERVAL + 6 * 60 * SECOND, |h| h.running("web").is_some()).await;
    h.until("in sync", 5 * SECOND, |h| h.status("web").last_error.is_none()).await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_resets_on_success_and_a_manifest_change_cuts_it_short() {
    let web = service("web", "");
    let h = Harness::new(&[("web.yaml", &web)]);
    for _ in 0..6 {
        h.engine.fail_next(Op::Create, EngineError::Api { status: 500, message: "boom".into() });
    }
    let mut h = h.start();
    // Six failures: about 1+2+4+8+16 s of backoff before the seventh attempt succeeds.
    let took = h.until("web runs despite six failures", 5 * 60 * SECOND, |h| h.running("web").is_some()).await;
    assert!(took >= Duration::from_secs(31), "the delays grew: {took:?}");
    h.until("in sync", SECOND, |h| h.status("web").in_sync).await;
    assert_eq!(h.metric("moor_docker_errors_total{status=\"500\"}"), 6.0);

    // The backoff starts over after the success: one failure waits about a second, not minutes.
    h.engine.fail_next(Op::Create, EngineError::Api { status: 500, message: "boom".into() });
    h.engine.docker_rm_f("web");
    let took = h.until("repaired after one failure", 60 * SECOND, |h| h.running("web").is_some()).await;
    assert!(took < 3 * SECOND, "{took:?}");

    // A long backoff pending, then a manifest change: the service is looked at at once.
    for _ in 0..8 {
        h.engine.fail_next(Op::Create, EngineError::Api { status: 500, message: "boom".into() });
    }
    h.engine.docker_rm_f("web");
    h.until("backing off for a while", 5 * 60 * SECOND, |h| h.engine.calls(Op::Create) >= 17).await;
    h.manifests.set("web.yaml", &service("web", "  env: { V: \"2\" }\n"));
    let creates = h.engine.calls(Op::Create);
    let took = h.until("tried at once", 10 * SECOND, |h| h.engine.calls(Op::Create) > creates).await;
    assert!(took < SECOND, "{took:?}");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn losing_the_daemon_fails_readiness_and_its_return_resyncs_fully() {
    let web = service("web", "");
    let mut h = running_web(&[("web.yaml", &web)]).await;
    h.until("ready", INTERVAL, |h| h.shared.is_ready()).await;
    h.engine.set_down(true);
    h.until("not ready", 5 * SECOND, |h| !h.shared.is_ready()).await;
    // Removed while the daemon was away: its event is lost with the stream.
    h.engine.docker_rm_f("web");
    let pings = h.engine.calls(Op::Ping);
    h.until("two reconnect attempts", 60 * SECOND, |h| h.engine.calls(Op::Ping) >= pings + 2).await;
    assert!(h.engine.container("web").is_none(), "re-created while Docker was away");
    h.engine.set_down(false);
    let took = h.until("re-created after the daemon came back", 60 * SECOND, |h| h.running("web").is_some()).await;
    assert!(took < INTERVAL, "the reconnect's resync, not the interval, found it: {took:?}");
    h.until("ready again", 5 * SECOND, |h| h.shared.is_ready()).await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_broken_manifest_suspends_prune_until_it_is_fixed() {
    let (a, b) = (service("a", ""), service("b", ""));
    let h = Harness::new(&[("a.yaml", &a), ("b.yaml", &b)]).start();
    h.until("a and b run", 5 * SECOND, |h| h.running("a").is_some() && h.running("b").is_some()).await;
    let a_id = h.running("a").unwrap().id;

    h.manifests.set("a.yaml", "apiVersion: moor/v1\nkind: Service\nmetadata: { name: a }\nspec: { imag: app:1 }\n");
    h.manifests.remove("b.yaml");
    h.until("the problem shown", 5 * SECOND, |h| !h.shared.status().problems.is_empty()).await;
    let lists = h.engine.calls(Op::ListContainers);
    h.until("three resyncs", 4 * INTERVAL, |h| h.engine.calls(Op::ListContainers) >= lists + 3).await;
    assert!(h.running("b").is_some(), "b was pruned while a manifest was broken");
    assert_eq!(h.running("a").map(|c| c.id), Some(a_id), "the broken service was touched");

    let mut h = h;
    h.manifests.set("a.yaml", &a);
    h.until("b pruned once the manifests load", 5 * SECOND, |h| h.engine.container("b").is_none()).await;
    assert!(h.running("a").is_some());
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_revision_that_prunes_a_service_counts_as_applied_only_once_it_is_gone() {
    let (web, old) = (service("web", ""), service("old", ""));
    let h = Harness::new(&[("web.yaml", &web), ("old.yaml", &old)]);
    h.shared.set_source(crate::controller::status::SourceStatus::default());
    let mut h = h.start();
    h.until("both run", 5 * SECOND, |h| h.running("web").is_some() && h.running("old").is_some()).await;

    // The next revision drops `old`, whose removal keeps failing.
    for _ in 0..50 {
        h.engine.fail_next(Op::Stop, EngineError::Api { status: 500, message: "boom".into() });
        h.engine.fail_next(Op::Remove, EngineError::Api { status: 500, message: "boom".into() });
    }
    h.shared.loaded_revision(Some("main@sha1:r2".into()));
    h.manifests.remove("old.yaml");
    h.wait(2 * INTERVAL).await;
    assert!(h.engine.container("old").is_some(), "old was removed after all");
    let source = h.shared.status().source.unwrap();
    assert_eq!(source.last_applied_revision, None, "applied while old still runs: {source:#?}");

    // Once it is gone (here by hand), the revision is applied.
    h.engine.docker_rm_f("old");
    h.until("r2 applied", 2 * INTERVAL, |h| {
        h.shared.status().source.and_then(|s| s.last_applied_revision).as_deref() == Some("main@sha1:r2")
    })
    .await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn removing_every_manifest_prunes_nothing_without_allow_empty() {
    let (a, b) = (service("a", ""), service("b", ""));
    let mut h = Harness::new(&[("a.yaml", &a), ("b.yaml", &b)]).start();
    h.until("a and b run", 5 * SECOND, |h| h.running("a").is_some() && h.running("b").is_some()).await;

    h.manifests.remove("a.yaml");
    h.manifests.remove("b.yaml");
    let guard = "no Service manifest in memory: prune suspended (pass --allow-empty)";
    h.until("the guard shown", 5 * SECOND, |h| h.shared.status().prune_suspended.as_deref() == Some(guard)).await;
    let lists = h.engine.calls(Op::ListContainers);
    h.until("three resyncs", 4 * INTERVAL, |h| h.engine.calls(Op::ListContainers) >= lists + 3).await;
    assert!(h.running("a").is_some() && h.running("b").is_some(), "pruned by an empty source");
    assert!(h.shared.status().problems.is_empty(), "the guard is no manifest problem");
    assert_eq!(h.metric("moor_prune_suspended"), 1.0);

    h.manifests.set("a.yaml", &a);
    h.until("b pruned once a Service manifest is back", 5 * SECOND, |h| h.engine.container("b").is_none()).await;
    assert!(h.running("a").is_some());
    assert_eq!(h.shared.status().prune_suspended, None);
    assert_eq!(h.metric("moor_prune_suspended"), 0.0);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_reconcile_of_the_previous_revision_finishing_late_does_not_apply_the_new_one() {
    let h = Harness::new(&[("web.yaml", &service("web", ""))]);
    h.shared.set_source(crate::controller::status::SourceStatus::default());
    let mut h = h.start();
    h.until("web runs", 5 * SECOND, |h| h.running("web").is_some()).await;

    // A repair of web (the previous revision's spec) is in flight, slowly...
    h.engine.slow(Op::Create, 10 * SECOND);
    h.engine.docker_rm_f("web");
    h.wait(SECOND).await;
    // ...when the next revision (app:2) is loaded; every replacement to it fails.
    for _ in 0..50 {
        h.engine.fail_next(Op::Stop, EngineError::Api { status: 500, message: "boom".into() });
        h.engine.fail_next(Op::Remove, EngineError::Api { status: 500, message: "boom".into() });
    }
    h.shared.loaded_revision(Some("main@sha1:r2".into()));
    h.manifests.set("web.yaml", &service("web", "").replace("app:1", "app:2"));
    h.until("the repair done", 30 * SECOND, |h| h.running("web").is_some()).await;
    h.wait(2 * INTERVAL).await;
    assert_eq!(h.running("web").map(|c| c.image), Some("app:1".to_string()), "web was replaced after all");
    let source = h.shared.status().source.unwrap();
    assert_eq!(source.last_applied_revision, None, "applied while web runs app:1: {source:#?}");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn with_allow_empty_an_empty_source_prunes_everything() {
    let a = service("a", "");
    let mut h = Harness::new(&[("a.yaml", &a)]);
    h.allow_empty = true;
    let mut h = h.start();
    h.until("a runs", 5 * SECOND, |h| h.running("a").is_some()).await;
    h.manifests.remove("a.yaml");
    h.until("a pruned", 5 * SECOND, |h| h.engine.container("a").is_none()).await;
    assert_eq!(h.shared.status().prune_suspended, None);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_change_the_watch_missed_is_applied_by_the_next_resync() {
    let web = service("web", "  env: { V: \"1\" }\n");
    let mut h = running_web(&[("web.yaml", &web)]).await;
    let first = h.running("web").unwrap().id;
    h.wait(2 * INTERVAL).await; // settle: exit confirmations and the first resyncs
    let (lists, creates) = (h.engine.calls(Op::ListContainers), h.engine.calls(Op::Create));

    h.manifests.set_unseen("web.yaml", &service("web", "  env: { V: \"2\" }\n"));
    let took = h.until("web replaced", 2 * INTERVAL, |h| h.running("web").is_some_and(|c| c.id != first)).await;
    assert!(took <= INTERVAL + SECOND, "one interval at most: {took:?}");
    assert!(h.engine.calls(Op::Create) > creates);
    // An unchanged reload costs no Docker call: idle again, one list call per interval.
    h.wait(2 * INTERVAL).await;
    let before = h.engine.calls(Op::ListContainers);
    assert!(before > lists);
    h.wait(5 * INTERVAL).await;
    assert_eq!(h.engine.calls(Op::ListContainers) - before, 5);
    h.stop().await;
}

/// Twenty services asking for a registry check every second share one pace: the registry sees
/// `CHECKS_PER_SECOND` checks a second, not twenty (nor, with `interval: 0s`, a hot loop).
#[tokio::test(start_paused = true)]
async fn registry_checks_are_paced_across_services() {
    use crate::manifest::limits::CHECKS_PER_SECOND;
    let files: Vec<(String, String)> = (0..20)
        .map(|i| (format!("s{i}.yaml"), service(&format!("s{i}"), "  update: { watch: digest, interval: 1s }\n")))
        .collect();
    let refs: Vec<(&str, &str)> = files.iter().map(|(f, t)| (f.as_str(), t.as_str())).collect();
    let h = Harness::new(&refs);
    h.engine.push("app:1", "sha256:d1", "sha256:app1");
    let mut h = h.start();
    h.until("every service runs", 10 * SECOND, |h| (0..20).all(|i| h.running(&format!("s{i}")).is_some())).await;
    let before = h.engine.calls(Op::RegistryDigest);
    tokio::time::sleep(10 * SECOND).await;
    let checks = h.engine.calls(Op::RegistryDigest) - before;
    let pace = 10 * CHECKS_PER_SECOND as usize;
    assert!(checks <= pace + 1, "{checks} checks in 10 s");
    assert!(checks + CHECKS_PER_SECOND as usize >= pace, "the pace is not kept up: {checks} checks in 10 s");
    // Every service had its turn.
    for i in 0..20 {
        let update = h.status(&format!("s{i}")).update.unwrap_or_default();
        assert!(update.last_check.is_some(), "s{i} was never checked");
    }
    h.stop().await;
}

/// A type error's value may be a secret: neither `/status` nor the problem text shows it.
#[tokio::test(start_paused = true)]
async fn a_manifest_problem_never_shows_the_offending_value() {
    let bad = service("web", "  env: { DB_PASSWORD: [s3cret-value], OTHER: 1 }\n");
    let mut h = Harness::new(&[("web.yaml", &bad)]).start();
    h.until("the problem shown", 5 * SECOND, |h| !h.shared.status().problems.is_empty()).await;
    let problems = h.shared.status().problems;
    assert!(problems.iter().any(|p| p.contains("spec.env.DB_PASSWORD: must be a string")), "{problems:?}");
    let status = serde_json::to_string(&h.shared.status()).unwrap();
    assert!(!status.contains("s3cret"), "{status}");
    h.stop().await;
}
