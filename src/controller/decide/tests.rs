//! The decision after a reconcile, case by case: no Docker, no clock but the one passed in.

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::apply::{ActionError, NotReady};
use crate::controller::backoff::{self, Policy};
use crate::controller::crash_loop::CRASH_WINDOW;
use crate::controller::state::{target_signature, Pin};
use crate::controller::updates::{Pending, UpdateResult, Watch};
use crate::engine::EngineError;
use crate::manifest::{load_str, Service};
use crate::plan::NameConflict;

fn service(extra: &str) -> Service {
    let yaml = format!("apiVersion: moor/v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  image: app:1\n{extra}");
    let loaded = load_str(Path::new("/m/web.yaml"), &yaml);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    loaded.desired.services["web"].clone()
}

fn state() -> ServiceState {
    ServiceState::with_policy(Policy { seed: Some(5), ..backoff::SERVICE })
}

fn converged(done: &[ActionKind]) -> Reconciled {
    Reconciled { done: done.to_vec(), ..Reconciled::bare("web", ReconcileOutcome::Converged) }
}

fn failed(outcome: ReconcileOutcome) -> Reconciled {
    Reconciled::bare("web", outcome)
}

fn drift_repairs(fx: &Effects) -> usize {
    fx.events.iter().filter(|e| matches!(e, Event::DriftRepaired { .. })).count()
}

fn crash_loop(fx: &Effects) -> Option<Duration> {
    fx.events.iter().find_map(|e| match e {
        Event::CrashLoop { delay, .. } => Some(*delay),
        _ => None,
    })
}

#[test]
fn the_first_converge_is_not_drift_and_a_later_repair_is() {
    let svc = service("");
    let mut s = state();
    let t0 = Instant::now();
    let fx = on_outcome(&mut s, &converged(&[ActionKind::Create]), Some(&svc), t0);
    assert_eq!(drift_repairs(&fx), 0, "creating a new service is not a repair: {fx:?}");
    assert!(fx.status.in_sync && fx.requeue.is_none());
    assert_eq!(s.converged, Some(target_signature(&svc, None)));

    let fx = on_outcome(&mut s, &converged(&[ActionKind::Create]), Some(&svc), t0 + Duration::from_secs(60));
    assert_eq!(drift_repairs(&fx), 1, "{fx:?}");
    assert_eq!(crash_loop(&fx), None, "the first repair after a quiet spell runs at once");
    assert!(fx.events.contains(&Event::Action(ActionKind::Create)));
}

#[test]
fn repairs_that_follow_each_other_are_slowed_down_and_a_quiet_window_resets_them() {
    let svc = service("");
    let mut s = state();
    let t0 = Instant::now();
    on_outcome(&mut s, &converged(&[ActionKind::Create]), Some(&svc), t0);
    on_outcome(&mut s, &converged(&[ActionKind::Start]), Some(&svc), t0 + Duration::from_secs(1));
    let fx = on_outcome(&mut s, &converged(&[ActionKind::Start]), Some(&svc), t0 + Duration::from_secs(2));
    let d1 = crash_loop(&fx).expect("a second repair within the window is slowed");
    assert!(fx.status.crash_loop.as_deref().is_some_and(|n| n.contains("back-off")), "{:?}", fx.status);
    let fx = on_outcome(&mut s, &converged(&[ActionKind::Start]), Some(&svc), t0 + Duration::from_secs(3));
    let d2 = crash_loop(&fx).expect("and a third, longer");
    assert!(d2 > d1, "{d1:?} then {d2:?}");
    // The note stays while the loop lasts, also on a reconcile that finds the container running.
    let fx = on_outcome(&mut s, &converged(&[]), Some(&svc), t0 + Duration::from_secs(4));
    assert!(fx.status.crash_loop.is_some(), "the note flickered off");
    assert!(s.crash.not_before(t0 + Duration::from_secs(3)).is_some(), "the next repair waits");

    let quiet = t0 + Duration::from_secs(3) + CRASH_WINDOW;
    let fx = on_outcome(&mut s, &converged(&[ActionKind::Start]), Some(&svc), quiet);
    assert_eq!(crash_loop(&fx), None, "a repair after a quiet window runs at once");
    assert_eq!(fx.status.crash_loop, None);
}

#[test]
fn an_image_update_is_neither_drift_nor_a_crash_loop_step() {
    let svc = service("  update: { watch: digest }\n");
    let mut s = state();
    let t0 = Instant::now();
    on_outcome(&mut s, &converged(&[ActionKind::Create]), Some(&svc), t0);
    on_outcome(&mut s, &converged(&[ActionKind::Start]), Some(&svc), t0 + Duration::from_secs(1));
    // The update: the same spec, a new pin.
    let update = Reconciled {
        done: vec![ActionKind::Replace],
        pin: Some("sha256:new".into()),
        image_before: Some("sha256:old".into()),
        ..Reconciled::bare("web", ReconcileOutcome::UpdateApplied)
    };
    let fx = on_outcome(&mut s, &update, Some(&svc), t0 + Duration::from_secs(2));
    assert_eq!(drift_repairs(&fx), 0, "{fx:?}");
    assert_eq!(crash_loop(&fx), None);
    assert_eq!(s.crash.restarts(), 0, "an update starts the crash count afresh");
    assert_eq!(s.converged, Some(target_signature(&svc, Some("sha256:new"))));
}

#[test]
fn a_manifest_change_starts_the_crash_count_afresh() {
    let (v1, v2) = (service("  env: { V: \"1\" }\n"), service("  env: { V: \"2\" }\n"));
    let mut s = state();
    let t0 = Instant::now();
    on_outcome(&mut s, &converged(&[ActionKind::Create]), Some(&v1), t0);
    on_outcome(&mut s, &converged(&[ActionKind::Start]), Some(&v1), t0 + Duration::from_secs(1));
    on_outcome(&mut s, &converged(&[ActionKind::Start]), Some(&v1), t0 + Duration::from_secs(2));
    assert!(s.crash.restarts() > 0);
    let fx = on_outcome(&mut s, &converged(&[ActionKind::Replace]), Some(&v2), t0 + Duration::from_secs(3));
    assert_eq!(drift_repairs(&fx), 0);
    assert_eq!(s.crash.restarts(), 0);
    assert_eq!(fx.status.crash_loop, None);
}

#[test]
fn failures_back_off_longer_each_time_and_a_success_resets_the_backoff() {
    let svc = service("");
    let mut s = state();
    let t0 = Instant::now();
    let error = ReconcileOutcome::ActionFailed {
        action: ActionKind::Create,
        error: ActionError::Engine(EngineError::Api { status: 500, message: "boom".into() }),
    };
    let delays: Vec<Duration> = (0..4)
        .map(|i| {
            let fx = on_outcome(&mut s, &failed(error.clone()), Some(&svc), t0 + Duration::from_secs(i));
            assert_eq!(fx.status.last_error.as_deref(), Some("Docker answered 500: boom"));
            assert!(!fx.status.in_sync);
            assert!(fx.events.contains(&Event::DockerError("500".into())), "{fx:?}");
            match fx.requeue {
                Some(Requeue::Backoff(d)) => d,
                other => panic!("no backoff: {other:?}"),
            }
        })
        .collect();
    assert!(delays.windows(2).all(|w| w[1] > w[0]), "{delays:?}");
    let fx = on_outcome(&mut s, &converged(&[ActionKind::Create]), Some(&svc), t0 + Duration::from_secs(10));
    assert!(fx.requeue.is_none() && fx.status.last_error.is_none());
    let fx = on_outcome(&mut s, &failed(error), Some(&svc), t0 + Duration::from_secs(11));
    assert_eq!(fx.requeue, Some(Requeue::Backoff(delays[0])), "the backoff starts again from its first delay");
}

#[test]
fn a_replacement_kept_by_rollback_false_is_reported_and_held_until_the_manifest_or_image_changes() {
    let svc = service("  update: { rollback: false }\n");
    let mut s = state();
    let kept = ReconcileOutcome::ReplacementKept { reason: NotReady::Unhealthy("web-moor-next".into()) };
    let fx = on_outcome(&mut s, &failed(kept), Some(&svc), Instant::now());
    assert_eq!(fx.requeue, None, "no retry loop");
    assert!(fx.events.contains(&Event::ReplacementFailed { rollback: "disabled" }), "{fx:?}");
    assert!(fx.events.iter().any(|e| matches!(e, Event::Held { .. })));
    let error = fx.status.last_error.expect("reported failed");
    assert!(error.contains("left in place") && error.contains("not retried"), "{error}");
    assert!(s.is_held(Some(&svc)));
    assert!(!s.is_held(Some(&service("  update: { rollback: false }\n  env: { V: \"2\" }\n"))), "a manifest change");
    s.pin = Some(Pin { reference: "app:1".into(), image_id: "sha256:newer".into() });
    assert!(!s.is_held(Some(&svc)), "an image change");
}

#[test]
fn a_rolled_back_replacement_is_retried_with_backoff() {
    let svc = service("");
    let mut s = state();
    let rolled = ReconcileOutcome::RolledBack { reason: NotReady::Exited { container: "c".into(), code: Some(1) } };
    let fx = on_outcome(&mut s, &failed(rolled), Some(&svc), Instant::now());
    assert!(matches!(fx.requeue, Some(Requeue::Backoff(_))));
    assert!(fx.events.contains(&Event::ReplacementFailed { rollback: "done" }));
    assert!(!s.is_held(Some(&svc)));
}

#[test]
fn a_conflict_is_remembered_for_the_next_plans() {
    let svc = service("");
    let mut s = state();
    let conflict = NameConflict { name: "web".into(), holder: "container abc, which moor does not own".into() };
    let fx = on_outcome(&mut s, &failed(ReconcileOutcome::NameConflict(vec![conflict])), Some(&svc), Instant::now());
    assert_eq!(s.conflicts.get("web").map(String::as_str), Some("container abc, which moor does not own"));
    assert!(fx.status.last_error.unwrap().contains("which moor does not own"));
    assert!(matches!(fx.requeue, Some(Requeue::Backoff(_))));
}

#[test]
fn after_an_exit_event_an_idle_reconcile_looks_again_with_growing_settle_delays() {
    let svc = service("");
    let mut s = state();
    let t0 = Instant::now();
    on_outcome(&mut s, &converged(&[ActionKind::Create]), Some(&svc), t0);
    s.exits = Some(0);
    let mut seen = Vec::new();
    for _ in 0..EXIT_CONFIRM.len() + 1 {
        let fx = on_outcome(&mut s, &converged(&[]), Some(&svc), t0);
        seen.push(fx.requeue);
    }
    let expected: Vec<Option<Requeue>> = EXIT_CONFIRM.iter().map(|d| Some(Requeue::Settle(*d))).chain([None]).collect();
    assert_eq!(seen, expected);
    assert_eq!(s.exits, None);
    // A reconcile that acted answers the event: no more looks.
    s.exits = Some(0);
    let fx = on_outcome(&mut s, &converged(&[ActionKind::Start]), Some(&svc), t0);
    assert_eq!(fx.requeue, None);
    assert_eq!(s.exits, None);
}

#[test]
fn a_pruned_orphan_is_forgotten_but_a_failed_prune_is_not() {
    let mut s = state();
    let fx = on_outcome(&mut s, &converged(&[ActionKind::Remove]), None, Instant::now());
    assert!(fx.forget);
    let error = ReconcileOutcome::ObserveFailed(EngineError::Unavailable("gone".into()));
    let fx = on_outcome(&mut s, &failed(error), None, Instant::now());
    assert!(!fx.forget);
    assert!(fx.events.contains(&Event::DockerError("unavailable".into())));
}

fn watched_with_pending(svc: &Service) -> ServiceState {
    let mut s = state();
    let mut watch = Watch::new("app:1", Duration::from_secs(60), String::new(), Instant::now());
    watch.pending =
        Some(Pending { digest: "sha256:feed".into(), image_id: "sha256:new".into(), from: Some("sha256:old".into()) });
    s.watch = Some(watch);
    s.pin = Some(Pin { reference: svc.container.image.clone(), image_id: "sha256:new".into() });
    s
}

fn update_ended(fx: &Effects) -> Option<&crate::controller::updates::UpdateEnded> {
    fx.events.iter().find_map(|e| match e {
        Event::UpdateEnded(u) => Some(u),
        _ => None,
    })
}

#[test]
fn an_update_that_rolled_back_marks_its_digest_failed_and_pins_the_old_image() {
    let svc = service("  update: { watch: digest }\n");
    let mut s = watched_with_pending(&svc);
    let rolled = Reconciled {
        image_before: Some("sha256:old".into()),
        pin: Some("sha256:new".into()),
        ..failed(ReconcileOutcome::RolledBack { reason: NotReady::Unhealthy("web-moor-next".into()) })
    };
    let fx = on_outcome(&mut s, &rolled, Some(&svc), Instant::now());
    let ended = update_ended(&fx).expect("the update ended");
    assert_eq!(ended.result, UpdateResult::RolledBack);
    assert_eq!(ended.message, "update to sha256:feed failed: container web-moor-next is unhealthy; rolled back");
    let watch = s.watch.as_ref().unwrap();
    assert_eq!(watch.failed.as_ref().map(|f| f.digest.as_str()), Some("sha256:feed"));
    assert!(watch.pending.is_none());
    assert_eq!(s.pin_for(&svc), Some("sha256:old"), "pinned to what it rolled back to");
    assert_eq!(fx.status.update.as_ref().and_then(|u| u.last_result.clone()), Some(ended.message.clone()));
}

#[test]
fn an_applied_update_moves_the_running_digest_and_a_failed_create_keeps_it_pending() {
    let svc = service("  update: { watch: digest }\n");
    let mut s = watched_with_pending(&svc);
    let error = ReconcileOutcome::ActionFailed {
        action: ActionKind::Replace,
        error: ActionError::Engine(EngineError::Unavailable("gone".into())),
    };
    let fx = on_outcome(&mut s, &failed(error), Some(&svc), Instant::now());
    assert!(fx.events.contains(&Event::UpdateRetrying), "{fx:?}");
    assert!(s.watch.as_ref().unwrap().pending.is_some(), "still pending: the backoff retries it");

    let applied = Reconciled {
        done: vec![ActionKind::Replace],
        image_before: Some("sha256:old".into()),
        pin: Some("sha256:new".into()),
        ..Reconciled::bare("web", ReconcileOutcome::UpdateApplied)
    };
    let fx = on_outcome(&mut s, &applied, Some(&svc), Instant::now());
    let ended = update_ended(&fx).expect("the update ended");
    assert_eq!((ended.result, ended.message.as_str()), (UpdateResult::Success, "updated to sha256:feed"));
    assert_eq!(s.watch.as_ref().unwrap().status.running_digest.as_deref(), Some("sha256:feed"));
    assert_eq!(s.pin_for(&svc), Some("sha256:new"));
}

#[test]
fn an_update_kept_by_rollback_false_fails_and_is_not_tried_again() {
    let svc = service("  update: { watch: digest, rollback: false }\n");
    let mut s = watched_with_pending(&svc);
    let kept = Reconciled {
        pin: Some("sha256:new".into()),
        ..failed(ReconcileOutcome::ReplacementKept { reason: NotReady::Unhealthy("c".into()) })
    };
    let fx = on_outcome(&mut s, &kept, Some(&svc), Instant::now());
    let ended = update_ended(&fx).expect("the update ended");
    assert_eq!(ended.result, UpdateResult::Failed);
    assert!(ended.message.contains("kept (update.rollback: false)"), "{}", ended.message);
    assert_eq!(s.watch.as_ref().unwrap().failed.as_ref().map(|f| f.image_id.as_str()), Some("sha256:new"));
    assert_eq!(s.pin_for(&svc), Some("sha256:new"), "the new image stays");
    assert!(s.is_held(Some(&svc)));
    assert_eq!(fx.requeue, None);
}

#[test]
fn readiness_moves_only_on_fresh_evidence_of_docker() {
    let svc = service("");
    let mut s = state();
    let now = Instant::now();
    let answers = |s: &mut ServiceState, r: &Reconciled| on_outcome(s, r, Some(&svc), now).status.docker_answers;
    assert_eq!(answers(&mut s, &converged(&[ActionKind::Create])), Some(true));
    let unreachable = failed(ReconcileOutcome::ObserveFailed(EngineError::Timeout("list".into())));
    assert_eq!(answers(&mut s, &unreachable), Some(false));
    // Observed, then a call timed out: the daemon may have frozen since the observe.
    let timed_out = failed(ReconcileOutcome::ActionFailed {
        action: ActionKind::Start,
        error: ActionError::Engine(EngineError::Timeout("start".into())),
    });
    assert_eq!(answers(&mut s, &timed_out), None);
    let rolled_back = failed(ReconcileOutcome::RollbackFailed {
        reason: NotReady::OldNotStopped { container: "web".into(), error: EngineError::Timeout("stop".into()) },
        error: ActionError::Engine(EngineError::Timeout("remove".into())),
    });
    assert_eq!(answers(&mut s, &rolled_back), None);
}
