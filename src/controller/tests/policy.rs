//! The host policy in the controller: a refused service is neither created, replaced nor
//! pruned, and `/status` and `/metrics` say so.

use std::time::Duration;

use super::harness::{service, Harness, INTERVAL};
use crate::engine::fake::Op;
use crate::observe::RunState;

const SECOND: Duration = Duration::from_secs(1);
const SOCKET: &str = "  volumes: [\"/var/run/docker.sock:/var/run/docker.sock\"]\n";

#[tokio::test(start_paused = true)]
async fn a_tightened_manifest_leaves_the_running_container_untouched_and_reports_it() {
    let mut h = Harness::new(&[("web.yaml", &service("web", "")), ("api.yaml", &service("api", ""))]).start();
    h.until("both run", 5 * SECOND, |h| h.running("web").is_some() && h.running("api").is_some()).await;
    let before = h.running("web").unwrap();

    h.manifests.set("web.yaml", &service("web", SOCKET).replace("app:1", "app:2"));
    h.until("refused", 5 * SECOND, |h| h.status("web").refused).await;
    let status = h.status("web");
    assert!(!status.in_sync);
    let error = status.last_error.expect("the reason is shown");
    assert_eq!(
        error,
        "refused by policy: /memory/web.yaml:6:13: spec.volumes[0]: host path /var/run/docker.sock is the Docker socket: access to it is root on the host (bindMounts.dockerSocket: false)"
    );
    assert_eq!(h.metric("moor_services{state=\"refused\"}"), 1.0);
    assert_eq!(h.metric("moor_services{state=\"failing\"}"), 0.0);

    // Resyncs and the container's own events come and go: it is neither replaced nor pruned.
    let (creates, removes, stops) = (h.engine.calls(Op::Create), h.engine.calls(Op::Remove), h.engine.calls(Op::Stop));
    let lists = h.engine.calls(Op::ListContainers);
    h.until("three resyncs", 4 * INTERVAL, |h| h.engine.calls(Op::ListContainers) >= lists + 3).await;
    h.engine.docker_stop("web");
    h.until("the stop event skipped", 5 * SECOND, |h| {
        h.metric("moor_reconcile_skipped_total{reason=\"refused\"}") >= 1.0
    })
    .await;
    let starts = h.engine.calls(Op::Start);
    h.wait(2 * INTERVAL).await;
    let calls = [Op::Create, Op::Remove, Op::Stop].map(|op| h.engine.calls(op));
    assert_eq!(calls, [creates, removes, stops], "neither replaced nor pruned");
    assert_eq!(h.engine.calls(Op::Start), starts, "left as it is, stopped by hand or not");
    let after = h.engine.container("web").expect("never pruned");
    assert_eq!((after.id, after.image_id, after.state), (before.id, before.image_id, RunState::Exited));
    assert!(h.status("web").refused && h.status("api").in_sync, "{:#?}", h.shared.status());

    // An admitted manifest again: the service is reconciled, and the mark goes.
    h.manifests.set("web.yaml", &service("web", "").replace("app:1", "app:2"));
    h.until("app2 runs", 5 * SECOND, |h| h.running("web").is_some_and(|c| c.image_id == "sha256:app2")).await;
    h.until("in sync", 5 * SECOND, |h| h.status("web").in_sync && !h.status("web").refused).await;
    assert_eq!(h.metric("moor_services{state=\"refused\"}"), 0.0);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_new_service_is_never_created() {
    let mut h = Harness::new(&[("web.yaml", &service("web", "  volumes: [\"/:/host\"]\n"))]).start();
    h.until("refused", 5 * SECOND, |h| h.status("web").refused).await;
    h.wait(3 * INTERVAL).await;
    assert_eq!(h.engine.calls(Op::Create), 0);
    assert!(h.owned().is_empty());
    assert_eq!(h.status("web").desired, "running");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_service_that_depends_on_a_refused_one_says_so() {
    let db = service("db", "  volumes: [\"/proc:/host-proc:ro\"]\n");
    let web = service("web", "  dependsOn: [db]\n");
    let mut h = Harness::new(&[("db.yaml", &db), ("web.yaml", &web)]).start();
    h.until("web fails", 5 * SECOND, |h| h.status("web").last_error.is_some()).await;
    assert_eq!(h.status("web").last_error.as_deref(), Some("dependency \"db\" is refused by the host policy"));
    assert!(h.status("db").refused);
    assert_eq!(h.engine.calls(Op::Create), 0);
    h.stop().await;
}

/// A field of a newer Docker API than the fake daemon's refuses the service as the policy does,
/// and saying so; once the daemon speaks that API, the service converges.
#[tokio::test(start_paused = true)]
async fn a_field_of_a_newer_docker_api_refuses_the_service_until_the_daemon_speaks_it() {
    let h = Harness::new(&[("web.yaml", &service("web", ""))]).start();
    h.until("web runs", 5 * SECOND, |h| h.running("web").is_some()).await;
    let before = h.running("web").unwrap().id;

    h.manifests.set("web.yaml", &service("web", "  annotations: { a: b }\n"));
    h.until("refused", 5 * SECOND, |h| h.status("web").refused).await;
    let error = h.status("web").last_error.expect("the reason is shown");
    assert_eq!(
        error,
        "refused for the daemon's Docker API: /memory/web.yaml:6:16: spec.annotations: needs Docker API 1.43 or later, and this daemon speaks 1.41: moor does not send it, so the service is left as it runs"
    );
    assert_eq!(h.running("web").unwrap().id, before, "the running container is left as it is");

    h.engine.set_api_version(crate::engine::api_version::ApiVersion::new(1, 43));
    h.until("replaced with the annotations", 4 * INTERVAL, |h| {
        h.running("web").is_some_and(|c| c.id != before && c.spec.is_some_and(|s| s.resource.annotations["a"] == "b"))
    })
    .await;
    assert!(!h.status("web").refused);
}
