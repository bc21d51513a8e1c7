//! Apply against the in-memory swarm, on tokio's paused clock: observe, plan, apply, as the CLI
//! runs them.

use std::time::Duration;

use insta::assert_snapshot;

use super::*;
use crate::engine::fake::swarm::{FakeSwarm, Rollout, SwarmOp};
use crate::swarm::observe::observe;
use crate::swarm::plan::plan;
use crate::swarm::plan::tests::{data, desired, network, secret_ref, spec, stamped};

const NO_NODE: &str = "no suitable node (scheduling constraints not satisfied on 1 node)";

fn options(wait: bool) -> SwarmApplyOptions {
    SwarmApplyOptions {
        instance: "default".into(),
        wait,
        timeout: Duration::from_secs(10),
        poll: Duration::from_millis(500),
    }
}

/// Observes, plans and applies `desired` once.
async fn pass(swarm: &FakeSwarm, desired: &SwarmDesired, wait: bool) -> SwarmReport {
    let observed = observe(swarm, "default").await.unwrap();
    let plan = plan(desired, &observed);
    apply(swarm, desired, &plan, &options(wait)).await
}

fn outcome<'a>(report: &'a SwarmReport, action: StepAction, name: &str) -> &'a Outcome {
    let step = report.steps.iter().find(|s| s.action == action && s.name == name);
    &step.unwrap_or_else(|| panic!("no {action:?} {name} in {report:#?}")).outcome
}

/// The writes, in order, as `op target`.
fn writes(swarm: &FakeSwarm) -> Vec<String> {
    use SwarmOp::*;
    swarm
        .calls()
        .into_iter()
        .filter(|c| !matches!(c.op, Ping | ListServices | ListTasks | ListNodes | ListData | ListNetworks))
        .map(|c| match c.version {
            Some(v) => format!("{:?} {} @{v}", c.op, c.target),
            None => format!("{:?} {}", c.op, c.target),
        })
        .collect()
}

fn with_secret(mut s: SwarmSpec, name: &str) -> SwarmSpec {
    s.secrets = vec![secret_ref("db_password", name)];
    s
}

fn desired_with_data(services: Vec<SwarmSpec>, secrets: &[&str]) -> SwarmDesired {
    let mut d = desired(services);
    for name in secrets {
        d.data.insert(name.to_string(), data(DataKind::Secret, name));
    }
    d
}

#[tokio::test(start_paused = true)]
async fn steps_run_in_order_and_updates_carry_the_observed_version() {
    let swarm = FakeSwarm::new();
    swarm.push("registry.example/app:1", "sha256:aaaa");
    swarm.add_service(with_secret(spec("api"), "pw-old"));
    swarm.add_service(spec("gone"));
    swarm.add_data(DataKind::Secret, "pw-old", crate::swarm::plan::tests::labels("default"));
    swarm.add_network("shop_legacy", crate::swarm::plan::tests::labels("default"));
    let version = swarm.service("api").unwrap().version;

    let mut d = desired_with_data(vec![with_secret(spec("api"), "pw-new"), spec("web")], &["pw-new"]);
    d.networks.insert("shop_default".into(), network("shop_default"));
    let report = pass(&swarm, &d, true).await;

    assert!(!report.failed(), "{report:#?}");
    assert_eq!(
        writes(&swarm),
        [
            "CreateNetwork shop_default".to_string(),
            "CreateData pw-new".into(),
            "RegistryDigest registry.example/app:1".into(),
            format!("UpdateService api @{version}"),
            "RegistryDigest registry.example/app:1".into(),
            "CreateService web".into(),
            "RemoveService gone".into(),
            "RemoveData pw-old".into(),
            "RemoveNetwork shop_legacy".into(),
        ]
    );
    assert_eq!(swarm.service("web").unwrap().spec.image, "registry.example/app:1@sha256:aaaa", "pinned");
    assert_eq!(swarm.network_names(), ["shop_default"]);
    assert_eq!(swarm.data_names(DataKind::Secret), ["pw-new"]);
    assert_snapshot!(report_text(&report));

    // The next pass finds nothing to do and writes nothing (trap T9).
    let before = writes(&swarm).len();
    let observed = observe(&swarm, "default").await.unwrap();
    assert!(plan(&d, &observed).is_empty(), "{:?}", plan(&d, &observed));
    assert_eq!(writes(&swarm).len(), before);
}

#[tokio::test(start_paused = true)]
async fn a_stale_version_is_reported_and_nothing_is_overwritten() {
    let swarm = FakeSwarm::new();
    swarm.add_service(spec("api"));
    let mut new = spec("api");
    new.env.insert("LOG_LEVEL".into(), "debug".into());
    let d = desired(vec![new]);
    let observed = observe(&swarm, "default").await.unwrap();
    let p = plan(&d, &observed);
    // Someone changes the service by hand between observe and apply.
    swarm.edit_service("api", |s| {
        s.env.insert("HAND".into(), "1".into());
    });

    let report = apply(&swarm, &d, &p, &options(true)).await;

    assert!(report.failed());
    let Outcome::Failed { message } = outcome(&report, StepAction::UpdateService, "api") else { panic!("{report:?}") };
    assert!(
        message.contains("changed since it was observed") && message.contains("nothing was overwritten"),
        "{message}"
    );
    let now = swarm.service("api").unwrap().spec;
    assert_eq!(now.env.get("HAND").map(String::as_str), Some("1"), "the hand change is kept");
    assert_eq!(now.env.get("LOG_LEVEL").map(String::as_str), Some("info"));
    assert_eq!(swarm.count(SwarmOp::ListServices), 1, "a failed update is not watched");
}

#[tokio::test(start_paused = true)]
async fn a_rollback_fails_the_update_with_swarms_message_and_the_task_error() {
    let swarm = FakeSwarm::new();
    swarm.add_service(stamped(spec("api")));
    let mut new = spec("api");
    new.env.insert("BROKEN".into(), "1".into());
    let new = stamped(new);
    swarm.script(
        "api",
        Rollout::RollsBack {
            after: Duration::from_secs(3),
            message: "update rolled back due to failure or early termination of task 56q3".into(),
            task_error: "task: non-zero exit (137): dockerexec: unhealthy container".into(),
        },
    );
    let d = desired(vec![new]);

    let report = pass(&swarm, &d, true).await;

    let Outcome::Failed { message } = outcome(&report, StepAction::UpdateService, "api") else { panic!("{report:?}") };
    assert_eq!(
        message,
        "update rollback_completed: update rolled back due to failure or early termination of task 56q3; \
         last task error: task: non-zero exit (137): dockerexec: unhealthy container"
    );
    assert!(report.failed());
    let text = report_text(&report);
    assert!(text.contains("FAILED  update service api: update rollback_completed"), "{text}");
    assert!(text.ends_with("failed: 1 of 1 step(s)\n"), "{text}");
    assert!(!swarm.service("api").unwrap().spec.env.contains_key("BROKEN"), "Swarm rolled back");

    // The next pass does not try the same spec again: it is held, and nothing is written.
    let updates = swarm.count(SwarmOp::UpdateService);
    let report = pass(&swarm, &d, true).await;
    assert!(matches!(outcome(&report, StepAction::HeldService, "api"), Outcome::Failed { .. }), "{report:?}");
    assert_eq!(swarm.count(SwarmOp::UpdateService), updates);
}

#[tokio::test(start_paused = true)]
async fn a_create_is_waited_for_until_its_tasks_run() {
    let swarm = FakeSwarm::new();
    swarm.script("web", Rollout::Converges { after: Duration::from_secs(3) });
    let start = tokio::time::Instant::now();

    let report = pass(&swarm, &desired(vec![spec("web")]), true).await;

    assert_eq!(outcome(&report, StepAction::CreateService, "web"), &Outcome::Done);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(3) && waited < Duration::from_secs(4), "{waited:?}");
    assert!(swarm.count(SwarmOp::ListServices) >= 6, "polled every 500 ms");
}

#[tokio::test(start_paused = true)]
async fn without_wait_a_create_is_only_sent() {
    let swarm = FakeSwarm::new();
    let report = pass(&swarm, &desired(vec![spec("web")]), false).await;
    assert_eq!(outcome(&report, StepAction::CreateService, "web"), &Outcome::Sent);
    assert!(!report.failed());
    assert_eq!(swarm.count(SwarmOp::ListServices), 1, "only the observe");
}

#[tokio::test(start_paused = true)]
async fn a_task_still_pending_at_the_timeout_fails_with_its_error() {
    let swarm = FakeSwarm::new();
    swarm.script("edge", Rollout::StaysPending { error: NO_NODE.into() });
    let start = tokio::time::Instant::now();

    let report = pass(&swarm, &desired(vec![spec("edge")]), true).await;

    let Outcome::Failed { message } = outcome(&report, StepAction::CreateService, "edge") else { panic!("{report:?}") };
    assert_eq!(message, &format!("not converged within 10s: 0/1 tasks running; task still pending: {NO_NODE}"));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(10) && waited < Duration::from_secs(11), "{waited:?}");
    assert!(swarm.service("edge").is_some(), "apply does not undo a create by itself");
}

#[tokio::test(start_paused = true)]
async fn a_secret_in_use_is_skipped_until_a_later_pass() {
    let swarm = FakeSwarm::new();
    let labels = crate::swarm::plan::tests::labels("default");
    swarm.add_service(with_secret(spec("api"), "pw-old"));
    swarm.add_data(DataKind::Secret, "pw-old", labels);
    // The rotation's update is rolled back: the old spec, which names the old secret, runs on.
    swarm.script(
        "api",
        Rollout::RollsBack { after: Duration::from_secs(2), message: "rolled back".into(), task_error: "boom".into() },
    );
    let d = desired_with_data(vec![with_secret(spec("api"), "pw-new")], &["pw-new"]);

    let report = pass(&swarm, &d, true).await;

    let Outcome::Skipped { reason } = outcome(&report, StepAction::RemoveSecret, "pw-old") else {
        panic!("{report:?}")
    };
    assert!(reason.contains("in use"), "{reason}");
    assert_eq!(swarm.data_names(DataKind::Secret), ["pw-new", "pw-old"]);
    // Only the rollback fails the apply, not the skipped removal.
    let failed: Vec<&str> =
        report.steps.iter().filter(|s| matches!(s.outcome, Outcome::Failed { .. })).map(|s| s.name.as_str()).collect();
    assert_eq!(failed, ["api"]);
}

#[tokio::test(start_paused = true)]
async fn an_image_without_a_registry_digest_is_sent_unpinned_with_a_warning() {
    let swarm = FakeSwarm::new();
    let report = pass(&swarm, &desired(vec![spec("web")]), false).await;
    assert_eq!(swarm.service("web").unwrap().spec.image, "registry.example/app:1");
    assert_eq!(report.warnings.len(), 1, "{report:?}");
    assert!(report.warnings[0].contains("no registry digest"), "{}", report.warnings[0]);
    assert!(!report.failed());
}

#[tokio::test(start_paused = true)]
async fn a_failed_create_does_not_stop_the_other_steps() {
    let swarm = FakeSwarm::new();
    swarm.add_service(spec("gone"));
    swarm.fail_next(SwarmOp::CreateService, EngineError::Api { status: 400, message: "invalid mount".into() });
    let report = pass(&swarm, &desired(vec![spec("web"), spec("api")]), false).await;
    let failed: Vec<&str> =
        report.steps.iter().filter(|s| matches!(s.outcome, Outcome::Failed { .. })).map(|s| s.name.as_str()).collect();
    assert_eq!(failed, ["api"], "the first create, api, failed");
    assert_eq!(outcome(&report, StepAction::CreateService, "web"), &Outcome::Sent);
    assert_eq!(outcome(&report, StepAction::RemoveService, "gone"), &Outcome::Done);
}

#[tokio::test(start_paused = true)]
async fn a_foreign_service_is_never_touched() {
    let swarm = FakeSwarm::new();
    // Same names as moor's, without this instance's labels: one made by hand, one of another
    // instance.
    swarm.add_service(SwarmSpec { name: "web".into(), image: "nginx".into(), ..SwarmSpec::default() });
    let mut staging = spec("jobs");
    staging.labels.insert("moor.instance".into(), "staging".into());
    swarm.add_service(staging.clone());

    // Nothing declared, prune allowed: neither is removed, since observe never sees them.
    let report = pass(&swarm, &desired(vec![]), true).await;
    assert!(report.steps.is_empty(), "{report:?}");

    // Declaring `web` tries a create, which the name refuses; the foreign one is left as it was.
    let report = pass(&swarm, &desired(vec![spec("web")]), true).await;
    let Outcome::Failed { message } = outcome(&report, StepAction::CreateService, "web") else { panic!("{report:?}") };
    assert!(message.contains("without this instance's labels"), "{message}");
    assert_eq!(swarm.service("web").unwrap().spec.image, "nginx");
    assert_eq!(swarm.service("jobs").unwrap().spec, staging);
    assert_eq!(swarm.count(SwarmOp::RemoveService) + swarm.count(SwarmOp::UpdateService), 0);

    // Asked before planning, as the CLI does: the plan says conflict, and apply tries no create.
    let d = desired(vec![spec("web")]);
    let mut observed = observe(&swarm, "default").await.unwrap();
    crate::swarm::observe::foreign(&swarm, &d, &mut observed).await.unwrap();
    let p = plan(&d, &observed);
    assert!(matches!(p.services.as_slice(), [crate::swarm::plan::ServiceAction::Conflict { name }] if name == "web"));
    assert!(crate::swarm::plan::plan_text(&p).contains("exists without this instance's labels"));
    let creates = swarm.count(SwarmOp::CreateService);
    let report = apply(&swarm, &d, &p, &options(true)).await;
    assert!(report.failed());
    assert_eq!(swarm.count(SwarmOp::CreateService), creates);
}

#[tokio::test(start_paused = true)]
async fn a_failed_look_while_waiting_is_retried() {
    let swarm = FakeSwarm::new();
    swarm.script("web", Rollout::Converges { after: Duration::from_secs(2) });
    let d = desired(vec![spec("web")]);
    let observed = observe(&swarm, "default").await.unwrap();
    let p = plan(&d, &observed);
    swarm.fail_next(SwarmOp::ListServices, EngineError::Unavailable("connection reset".into()));
    let report = apply(&swarm, &d, &p, &options(true)).await;
    assert_eq!(outcome(&report, StepAction::CreateService, "web"), &Outcome::Done);
}
