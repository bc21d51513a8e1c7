//! Docker calls are bounded: against a daemon of the test's own, frozen with `kill -STOP` (its
//! socket still accepts connections, and nothing answers), moor gives up, stays stoppable and
//! reports itself not ready within its deadlines (`engine::deadlines`).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::{docker_cli, eventually, moor_bin, service_yaml, Controller, TestEnv, IMAGE};
use moor::engine::{Deadlines, DockerEngine, Engine, EngineError};

/// Waits up to `timeout` for `child` to exit; kills it and panics when it does not.
fn wait_exit(child: &mut Child, timeout: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut err, &mut text);
    }
    text
}

#[test]
fn plan_against_a_frozen_daemon_fails_with_a_clear_error_within_the_ping_deadline() {
    let daemon = Daemon::start("plan");
    let env = TestEnv::new("frozenplan");
    env.write("web.yaml", &service_yaml("web", ""));
    daemon.freeze();
    let started = Instant::now();
    let mut child = Command::new(moor_bin())
        .args(["plan", env.manifests().to_str().unwrap(), "--host", &daemon.host, "--instance", &env.instance])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(30), "moor plan against a frozen daemon");
    let took = started.elapsed();
    let stderr = stderr_of(&mut child);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(took < Duration::from_secs(10), "gave up after {took:?}: {stderr}");
    assert!(took >= Deadlines::DEFAULT.ping, "gave up before the ping deadline: {took:?}: {stderr}");
    assert!(
        stderr.contains("connecting to Docker")
            && stderr.contains(&format!("did not answer GET /_ping on {} within 5s", daemon.host)),
        "{stderr}"
    );
}

#[test]
fn run_exits_on_sigterm_within_the_shutdown_timeout_while_the_first_contact_hangs() {
    let daemon = Daemon::start("run");
    let env = TestEnv::new("frozenrun");
    env.write("web.yaml", &service_yaml("web", ""));
    daemon.freeze();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(moor_bin())
        .args(["run", env.manifests().to_str().unwrap(), "--host", &daemon.host, "--instance", &env.instance])
        .args(["--shutdown-timeout", "2s", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Up (its endpoints answer) and not ready: the first contact is under way.
    let started = Instant::now();
    while common::http_get(port, "/healthz").0 != 200 {
        assert!(started.elapsed() < Duration::from_secs(10), "moor run did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(common::http_get(port, "/readyz").0, 503);
    // Within the first contact's 5 s ping deadline.
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let signalled = Instant::now();
    let status = wait_exit(&mut child, Duration::from_secs(30), "moor run after SIGTERM");
    let took = signalled.elapsed();
    let stderr = stderr_of(&mut child);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(took < Duration::from_secs(2) + Duration::from_millis(1500), "exited {took:?} after SIGTERM: {stderr}");
}

#[tokio::test]
async fn readyz_fails_within_ten_seconds_of_a_freeze_and_recovers_after_the_thaw() {
    let daemon = Daemon::start("ready");
    daemon.load_test_image().await;
    let env = TestEnv::new("frozenready");
    env.write("web.yaml", &service_yaml("web", ""));
    let dir = env.manifests().to_str().unwrap().to_string();
    let moor = Controller::start_args(&env, &[dir.as_str(), "--host", &daemon.host]).await;
    eventually(Duration::from_secs(30), "web in sync", || async {
        (moor.status()["services"]["web"]["inSync"] == true).then_some(())
    })
    .await;
    let running = daemon.docker(&["ps", "-q", "--filter", &format!("label=moor.instance={}", env.instance)]);
    assert_eq!(String::from_utf8_lossy(&running.stdout).lines().count(), 1, "web runs on the test's daemon");

    daemon.freeze();
    let frozen = Instant::now();
    eventually(Duration::from_secs(30), "/readyz 503", || async { (moor.get("/readyz").0 == 503).then_some(()) }).await;
    let took = frozen.elapsed();
    assert!(took < Duration::from_secs(10), "/readyz failed {took:?} after the freeze");
    assert_eq!(moor.status()["docker"], false);

    daemon.thaw();
    let thawed = Instant::now();
    eventually(Duration::from_secs(30), "/readyz 200", || async { (moor.get("/readyz").0 == 200).then_some(()) }).await;
    assert!(thawed.elapsed() < Duration::from_secs(10), "ready again {:?} after the thaw", thawed.elapsed());
    assert!(Controller::log(&env).contains("Docker answers its ping again; resyncing"));
    eventually(Duration::from_secs(30), "web in sync", || async {
        (moor.status()["services"]["web"]["inSync"] == true).then_some(())
    })
    .await;
}

/// Deadlines short enough for a test: a flat one of 1 s, a stop margin of 2 s.
const SHORT: Deadlines = Deadlines {
    ping: Duration::from_secs(1),
    read: Duration::from_secs(1),
    write: Duration::from_secs(1),
    margin: Duration::from_secs(2),
    registry: Duration::from_secs(1),
    pull_idle: Duration::from_secs(1),
};

#[tokio::test]
async fn a_stop_is_given_its_stop_timeout_plus_the_margin_never_a_flat_deadline() {
    common::image().await;
    let env = TestEnv::new("stopdeadline");
    let name = env.name("ignores-term");
    // busybox `sleep` as PID 1 ignores SIGTERM: Docker kills it when the stop timeout ends.
    let label = format!("moor.instance={}", env.instance);
    let id = docker_cli(&["run", "-d", "--name", &name, "--label", &label, IMAGE, "sleep", "1000000"]);
    let id = id.trim();
    assert!(!id.is_empty(), "docker run");
    let engine = DockerEngine::connect_with(None, SHORT).await.unwrap();
    let started = Instant::now();
    engine.stop(id, Duration::from_secs(3)).await.expect("a 3 s stop within 3 s + the 2 s margin");
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(3), "{took:?}: the container was not killed after its stop timeout");
    let info = engine.inspect_container(id).await.unwrap().expect("the container");
    assert_eq!(info.exit_code, Some(137), "killed");

    // The same deadlines against a frozen daemon: each call ends at its own deadline, the stop at
    // its timeout plus the margin.
    let daemon = Daemon::start("stop");
    let frozen = DockerEngine::connect_with(Some(&daemon.host), SHORT).await.unwrap();
    daemon.freeze();
    let timed = |result: Result<(), EngineError>, started: Instant, low: u64, high: u64, what: &str| {
        let took = started.elapsed();
        assert!(matches!(result, Err(EngineError::Timeout(_))), "{what}: {result:?}");
        let within = Duration::from_millis(low)..Duration::from_millis(high);
        assert!(within.contains(&took), "{what}: {took:?}, not within {within:?}");
    };
    let started = Instant::now();
    timed(frozen.stop("web", Duration::from_secs(3)).await, started, 5000, 6500, "stop with a 3 s timeout");
    let started = Instant::now();
    timed(frozen.list_containers("x").await.map(drop), started, 1000, 2500, "list");
    let started = Instant::now();
    timed(frozen.ping().await, started, 1000, 2500, "ping");
    let started = Instant::now();
    timed(frozen.remove("web").await, started, 2000, 3500, "force remove");
}
