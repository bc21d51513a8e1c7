//! Jobs under `moor run`: a completed job is neither restarted nor a crash loop, a changed spec
//! runs it again, a failed one is retried with the service backoff and holds its dependants.

use std::time::Duration;

use super::harness::{service, Harness, INTERVAL};
use crate::engine::fake::{Behaviour, Op};
use crate::observe::RunState;

const SECOND: Duration = Duration::from_secs(1);

fn job(extra: &str) -> String {
    service("migrate", &format!("  image: job:1\n  mode: job\n{extra}")).replacen("  image: app:1\n", "", 1)
}

/// A controller whose job image exits with `code` two seconds after each start.
fn with_job(code: i64, files: &[(&str, &str)]) -> Harness {
    let h = Harness::new(files);
    h.engine.add_image("job:1", "sha256:job1");
    h.engine.set_behaviour("sha256:job1", Behaviour::ExitsAfter { after: 2 * SECOND, code });
    h.start()
}

#[tokio::test(start_paused = true)]
async fn a_completed_job_is_not_run_again_nor_a_crash_loop_until_its_spec_changes() {
    let web = service("web", "  dependsOn: { migrate: completed }\n");
    let mut h = with_job(0, &[("migrate.yaml", &job("")), ("web.yaml", &web)]);
    let took = h.until("web runs", 10 * SECOND, |h| h.running("web").is_some()).await;
    assert!(took >= 2 * SECOND, "web started before the job completed: {took:?}");
    let done = h.engine.container("migrate").expect("the job's container is kept");
    assert_eq!((done.state, done.exit_code), (RunState::Exited, 0));

    // A wait call per run, and one for web's reconcile that found the job still running.
    let runs = h.engine.calls(Op::Wait);
    h.wait(5 * INTERVAL).await;
    let still = h.engine.container("migrate").unwrap();
    assert_eq!((still.id.as_str(), still.state), (done.id.as_str(), RunState::Exited));
    assert_eq!(h.engine.calls(Op::Wait), runs, "the completed job ran again");
    assert_eq!(h.metric("moor_drift_repairs_total"), 0.0, "a job's exit is not drift");
    let status = h.status("migrate");
    assert_eq!((status.observed.as_str(), status.in_sync, status.crash_loop), ("completed (exit 0)", true, None));

    h.manifests.set("migrate.yaml", &job("  env: { TO: \"2\" }\n"));
    h.until("the new spec ran", 10 * SECOND, |h| {
        h.engine.container("migrate").is_some_and(|c| c.id != done.id && c.state == RunState::Exited)
    })
    .await;
    assert_eq!(h.engine.calls(Op::Wait), runs + 1);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_job_is_retried_with_backoff_and_holds_its_dependant() {
    let web = service("web", "  dependsOn: { migrate: completed }\n");
    let mut h = with_job(3, &[("migrate.yaml", &job("")), ("web.yaml", &web)]);
    h.until("the job failed", 10 * SECOND, |h| {
        h.status("migrate").last_error.is_some_and(|e| e.contains("exited with code 3"))
    })
    .await;
    h.until("web is held", 10 * SECOND, |h| {
        h.status("web").last_error.is_some_and(|e| e.contains("is a job that failed: it exited with code 3"))
    })
    .await;
    assert!(h.running("web").is_none() && h.engine.container("web").is_none());
    h.until("failed shown", 10 * SECOND, |h| h.status("migrate").observed == "failed (exit 3)").await;

    // Retried, each time later: runs of 2 s with backoffs of 1 s, 2 s, 4 s, ... in between.
    let runs = h.engine.calls(Op::Wait);
    h.wait(60 * SECOND).await;
    let more = h.engine.calls(Op::Wait) - runs;
    assert!((2..=8).contains(&more), "{more} runs in a minute");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_job_listed_as_started_is_waited_for_to_its_completion() {
    let web = service("web", "  dependsOn: [migrate]\n");
    let mut h = with_job(0, &[("migrate.yaml", &job("")), ("web.yaml", &web)]);
    let took = h.until("web runs", 10 * SECOND, |h| h.running("web").is_some()).await;
    assert!(took >= 2 * SECOND, "web started before the job completed: {took:?}");
    h.wait(2 * INTERVAL).await;
    assert!(h.status("web").in_sync && h.status("web").last_error.is_none(), "{:?}", h.status("web"));
    h.stop().await;
}
