//! `moor run` speaks systemd's notify protocol to a fake `NOTIFY_SOCKET`: a datagram socket this
//! test binds, standing in for the service manager. Needs a Docker Engine (the controller runs).

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{image, moor_bin, running_env, service_yaml, TestEnv};

/// The fake service manager's end.
struct Manager {
    socket: UnixDatagram,
    _dir: tempfile::TempDir,
}

impl Manager {
    fn bind() -> (Manager, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        (Manager { socket, _dir: dir }, path)
    }

    /// Receives datagrams until one holds `line`; returns every line received up to and including
    /// it. Panics with what arrived after `timeout`.
    fn until(&self, line: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            let Ok(n) = self.socket.recv(&mut buf) else { continue };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            seen.extend(text.lines().map(str::to_string));
            if text.lines().any(|l| l == line) {
                return seen;
            }
        }
        panic!("no {line} within {timeout:?}; received {seen:?}");
    }
}

/// `moor run` on the test's folder with `NOTIFY_SOCKET` and `extra_env`; killed when dropped.
struct Run(Child);

impl Run {
    fn start(env: &TestEnv, socket: &Path, extra_env: &[(&str, &str)]) -> Run {
        let child = Command::new(moor_bin())
            .arg("run")
            .arg(env.manifests())
            .args(["--instance", &env.instance, "--interval", "60s", "-v"])
            .env("NOTIFY_SOCKET", socket)
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(extra_env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(env.dir.path().join(".moor-run.log")).unwrap())
            .spawn()
            .expect("spawn moor run");
        Run(child)
    }

    fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM");
    }

    fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "moor run still running {timeout:?} after SIGTERM");
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn ready_after_the_first_reconcile_then_stopping_on_sigterm() {
    image().await;
    let env = TestEnv::new("sdready");
    let name = env.name("sdready");
    env.write("svc.yaml", &service_yaml(&name, ""));
    let (manager, path) = Manager::bind();
    let mut run = Run::start(&env, &path, &[]);

    let before_ready = manager.until("READY=1", Duration::from_secs(30));
    // READY=1 comes after the first full reconcile: by then the service runs.
    let docker = common::docker().await;
    let running = running_env(&docker, &env.container(&name)).await.map(|(running, _)| running);
    assert_eq!(running, Some(true), "READY=1 before the service was converged; received {before_ready:?}");
    assert!(before_ready.iter().any(|l| l.starts_with("STATUS=")), "a STATUS= line: {before_ready:?}");
    assert!(!before_ready.iter().any(|l| l == "WATCHDOG=1"), "no watchdog without WATCHDOG_USEC");

    run.terminate();
    let after = manager.until("STOPPING=1", Duration::from_secs(10));
    assert!(!after.iter().any(|l| l == "READY=1"), "READY=1 is sent once: {after:?}");
    let status = run.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
}

#[tokio::test]
async fn watchdog_pings_at_half_the_interval() {
    image().await;
    let env = TestEnv::new("sdwatch");
    env.write("svc.yaml", &service_yaml(&env.name("sdwatch"), ""));
    let (manager, path) = Manager::bind();
    let mut run = Run::start(&env, &path, &[("WATCHDOG_USEC", "200000")]);

    manager.until("READY=1", Duration::from_secs(30));
    // Every 100 ms: ten pings take about a second; the deadline only bounds a failure.
    let started = Instant::now();
    for _ in 0..10 {
        manager.until("WATCHDOG=1", Duration::from_secs(2));
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(800), "ten pings in {took:?}: faster than every 100 ms");
    assert!(took < Duration::from_secs(5), "ten pings took {took:?}");

    run.terminate();
    manager.until("STOPPING=1", Duration::from_secs(10));
    assert_eq!(run.wait_exit(Duration::from_secs(30)).code(), Some(0));
}
