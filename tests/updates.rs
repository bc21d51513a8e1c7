//! Image updates against a real local registry.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use common::registry::{image_of, publish, record_events, tag, Registry};
use common::{docker, eventually, expect_code, image, owned, service_yaml, Controller, TestEnv};

/// `extra` adds fields to `update`; a `healthTimeout` there replaces the default 10s (a YAML
/// mapping takes each key once).
fn watched(name: &str, reference: &str, extra: &str) -> String {
    let health_timeout = if extra.contains("healthTimeout") { "" } else { ", healthTimeout: 10s" };
    let text = service_yaml(name, &format!("  update: {{ watch: digest, interval: 1s{health_timeout}{extra} }}\n"));
    text.replace(common::IMAGE, reference).replace("pull: never", "pull: missing")
}

const HEALTH: &str = "  healthcheck: { test: [\"CMD\", \"test\", \"-f\", \"/ok\"], interval: 1s, retries: 1 }\n";

/// A registry with `v1` of a watched service's image, and `moor run` running it.
/// Fields drop in order: `moor` must stop before `env` cleans up, or it re-creates what the
/// cleanup removed.
struct Watched {
    moor: Controller,
    env: TestEnv,
    docker: Docker,
    _registry: Registry,
    name: String,
    reference: String,
    v1: String,
}

/// Starts the registry, publishes v1, writes the service (`update_extra` goes into its update
/// block, `spec_extra` into its spec) and waits until v1 runs.
async fn watched_service(test: &str, update_extra: &str, spec_extra: &str, moor_args: &[&str]) -> Watched {
    image().await;
    let env = TestEnv::new(test);
    let docker = docker().await;
    let registry = Registry::start().await;
    let name = env.name("svc");
    let reference = format!("{}/{name}:1", registry.addr);
    let v1 = publish(&docker, &env, &reference, "v1", true).await;
    // v1 is here already, as after an earlier pull: its first start pulls nothing.
    tag(&docker, &v1, &reference).await;
    env.write("svc.yaml", &format!("{}{spec_extra}", watched(&name, &reference, update_extra)));
    let moor = Controller::start(&env, moor_args).await;
    eventually(Duration::from_secs(20), "v1 running", || async {
        (image_of(&docker, &env.container(&name)).await? == v1).then_some(())
    })
    .await;
    Watched { moor, env, docker, _registry: registry, name, reference, v1 }
}

/// Waits until `/status` has shown `n` different times of the service's last check.
async fn wait_for_checks(moor: &Controller, name: &str, n: usize) {
    let check_time = || moor.status()["services"][name]["update"]["lastCheck"].as_str().map(str::to_string);
    let mut seen: Vec<String> = Vec::new();
    eventually(Duration::from_secs(30), &format!("{n} update checks"), || {
        if let Some(now) = check_time().filter(|t| seen.last() != Some(t)) {
            seen.push(now);
        }
        let enough = seen.len() >= n;
        async move { enough.then_some(()) }
    })
    .await;
}

/// A webhook receiver: collects the bodies it is sent.
async fn webhook() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let sink = bodies.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut text = String::new();
            let mut buf = vec![0u8; 8192];
            loop {
                let n = s.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
                if let Some((_, body)) = text.split_once("\r\n\r\n") {
                    if let Ok(v) = serde_json::from_str(body) {
                        sink.lock().unwrap().push(v);
                        break;
                    }
                }
            }
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n").await;
        }
    });
    (url, bodies)
}

/// The seed's scenario: an `--rm` service watched by digest. The registry gets a new image
/// under the same tag while the local tag stays on the old image, so that only the registry
/// check can find the new one.
#[tokio::test]
async fn an_auto_remove_service_is_updated_from_the_registry_without_a_409_or_404() {
    let (url, hooks) = webhook().await;
    let w = watched_service("seedupd", "", "  autoRemove: true\n", &["--notify-url", &url]).await;
    let (env, docker, moor) = (&w.env, &w.docker, &w.moor);
    let (job, reference) = (w.name.clone(), w.reference.clone());
    // The local tag stays on v1 throughout: only the registry check can find v2.
    let v2 = publish(docker, env, &reference, "v2", true).await;
    eventually(Duration::from_secs(30), "v2 running", || async {
        (image_of(docker, &env.container(&job)).await? == v2).then_some(())
    })
    .await;
    eventually(Duration::from_secs(10), "the update booked", || async {
        moor.metric("moor_updates_total{result=\"success\"}").filter(|n| *n == 1.0)
    })
    .await;
    let status = moor.status();
    let svc = &status["services"][&job];
    assert!(svc.get("lastError").is_none(), "{svc}");
    assert!(svc["update"]["lastResult"].as_str().unwrap().starts_with("updated to sha256:"), "{svc}");
    assert_eq!(moor.metric("moor_reconcile_total{result=\"error\"}"), None, "a reconcile failed");
    // A replacement for a new image is an update: it is neither drift nor a step of a crash loop.
    assert_eq!(moor.metric("moor_drift_repairs_total"), Some(0.0));
    assert!(svc.get("crashLoop").is_none(), "{svc}");
    assert_eq!(owned(docker, &env.instance).await.len(), 1);
    let hook =
        eventually(Duration::from_secs(10), "the webhook", || async { hooks.lock().unwrap().first().cloned() }).await;
    assert_eq!(hook["service"], job.as_str());
    assert_eq!(hook["result"], "success");
    assert_eq!(hook["to"], svc["update"]["registryDigest"]);

    // `moor status` shows the watched service's digests, check time and last update result:
    // from the controller, or checked live without one.
    let dir = env.manifests().to_string_lossy().into_owned();
    let url = format!("http://127.0.0.1:{}", moor.port);
    let text = expect_code(env.moor(&["status", &dir, "--controller", &url]), 0);
    let digest = svc["update"]["registryDigest"].as_str().unwrap();
    let short = &digest[..19];
    let line =
        text.lines().find(|l| l.starts_with(&job) && l.contains("updated to")).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(line.matches(short).count(), 3, "running, registry and result digests: {line}");
    let json = expect_code(env.moor(&["status", &dir, "-o", "json"]), 0);
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(rows[0]["update"]["registryDigest"], digest, "{json}");
    assert_eq!(rows[0]["update"]["runningDigest"], digest, "{json}");
}

#[tokio::test]
async fn an_unhealthy_update_is_rolled_back_and_not_retried_in_a_loop() {
    let w = watched_service("rollback", ", healthTimeout: 8s", HEALTH, &[]).await;
    let (env, docker, moor) = (&w.env, &w.docker, &w.moor);
    let (web, reference, v1) = (w.name.clone(), w.reference.clone(), w.v1.clone());

    publish(docker, env, &reference, "v2-broken", false).await;
    let result = eventually(Duration::from_secs(40), "the rollback", || async {
        let status = moor.status();
        let text = status["services"][&web]["update"]["lastResult"].as_str()?.to_string();
        text.contains("rolled back").then_some(text)
    })
    .await;
    assert!(result.starts_with("update to sha256:") && result.contains("failed"), "{result}");
    eventually(Duration::from_secs(10), "v1 running again", || async {
        (image_of(docker, &env.container(&web)).await? == v1).then_some(())
    })
    .await;

    // Several more checks pass (interval 1 s); the failed digest is not tried again.
    wait_for_checks(moor, &web, 4).await;
    assert_eq!(moor.metric("moor_updates_total{result=\"rolled_back\"}"), Some(1.0));
    assert_eq!(moor.metric("moor_updates_total{result=\"success\"}"), None);
    assert_eq!(image_of(docker, &env.container(&web)).await, Some(v1));
}

#[tokio::test]
async fn start_first_keeps_the_old_container_until_the_new_one_is_healthy() {
    let w = watched_service("startfirst", ", strategy: start-first", HEALTH, &[]).await;
    let (env, docker) = (&w.env, &w.docker);
    let (web, reference) = (w.name.clone(), w.reference.clone());
    let old = owned(docker, &env.instance).await[&env.container(&web)].clone();

    let (events, recorder) =
        record_events(docker, &[("type", "container"), ("label", &format!("moor.instance={}", env.instance))]);
    let v2 = publish(docker, env, &reference, "v2", true).await;
    eventually(Duration::from_secs(40), "v2 running", || async {
        (image_of(docker, &env.container(&web)).await? == v2).then_some(())
    })
    .await;
    recorder.abort();
    let events = events.lock().unwrap().clone();
    let healthy_new = events
        .iter()
        .find(|(_, action, name, _)| action == "health_status: healthy" && name != &web)
        .or_else(|| {
            events
                .iter()
                .find(|(_, action, name, _)| action == "health_status: healthy" && name.ends_with("-moor-next"))
        })
        .unwrap_or_else(|| panic!("no healthy event of the new container: {events:?}"));
    let old_stopped = events
        .iter()
        .find(|(_, action, name, _)| (action == "kill" || action == "die") && *name == env.container(&web))
        .unwrap_or_else(|| panic!("the old container never stopped: {events:?}"));
    assert!(healthy_new.3 <= old_stopped.3, "the old container stopped before the new one was healthy: {events:?}");
    assert!(!owned(docker, &env.instance).await.values().any(|id| *id == old));
}

#[tokio::test]
async fn checks_that_find_nothing_new_pull_nothing() {
    let docker = docker().await;
    let (pulls, recorder) = record_events(&docker, &[("type", "image"), ("event", "pull")]);
    let w = watched_service("nopull", "", "", &[]).await;
    let (env, moor) = (&w.env, w.moor);
    let (web, reference) = (w.name, w.reference);
    wait_for_checks(&moor, &web, 3).await;
    let status = moor.status();
    let update = &status["services"][&web]["update"];
    assert_eq!(update["registryDigest"], update["runningDigest"], "{update}");
    recorder.abort();
    let pulls: Vec<_> = pulls.lock().unwrap().iter().filter(|(_, _, image, _)| image.contains(&web)).cloned().collect();
    assert!(pulls.is_empty(), "checks pulled: {pulls:?}");

    // `moor apply` with `pull: always` goes through the same check: no pull for an unchanged digest.
    drop(moor);
    let (pulls, recorder) = record_events(&docker, &[("type", "image"), ("event", "pull")]);
    env.write(
        "svc.yaml",
        &service_yaml(&web, "  pull: always\n").replace(common::IMAGE, &reference).replace("  pull: never\n", ""),
    );
    expect_code(env.moor(&["apply", &env.manifests().to_string_lossy()]), 0);
    // The local tag stays on v1: only the digest check can find v2.
    let v2 = publish(&docker, env, &reference, "v2", true).await;
    expect_code(env.moor(&["apply", &env.manifests().to_string_lossy()]), 0);
    assert_eq!(image_of(&docker, &env.container(&web)).await, Some(v2), "pull: always did not find the new digest");
    eventually(Duration::from_secs(5), "the pull event", || async {
        (pulls.lock().unwrap().iter().filter(|(_, _, image, _)| image.contains(&web)).count() == 1).then_some(())
    })
    .await;
    recorder.abort();
}
