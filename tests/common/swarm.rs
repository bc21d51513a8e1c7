//! A swarm of one for the Swarm tests: a [`Daemon`] of the test's own (its own network
//! namespace), made a manager by `docker swarm init --advertise-addr 127.0.0.1`, with the test
//! image loaded. And a registry inside that namespace ([`NsRegistry`]), since the namespace has
//! no route out and `registry_digest` needs one to ask (design doc 2.3).
//!
//! Dropping a [`SwarmDaemon`] drops its daemon: the daemon's Drop unmounts the `nsfs` mounts a
//! swarm daemon leaves behind (trap T8). Needs root, `dockerd`, `nsenter`, `docker-registry`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use moor::engine::{Deadlines, DockerEngine};

use super::daemon::Daemon;

pub struct SwarmDaemon {
    pub daemon: Daemon,
}

impl std::ops::Deref for SwarmDaemon {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.daemon
    }
}

impl SwarmDaemon {
    /// A daemon named after `test`, a swarm manager, with the test image loaded.
    pub async fn start(test: &str) -> SwarmDaemon {
        let daemon = Daemon::start(test);
        let init = daemon.docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
        assert!(init.status.success(), "docker swarm init: {}", String::from_utf8_lossy(&init.stderr));
        daemon.load_test_image().await;
        SwarmDaemon { daemon }
    }
}

/// moor's engine on `daemon`, with the default deadlines.
pub async fn engine(daemon: &Daemon) -> DockerEngine {
    DockerEngine::connect_with(Some(&daemon.host), Deadlines::DEFAULT).await.expect("the daemon answers")
}

/// Debian's `docker-registry` inside a daemon's network namespace, on `127.0.0.1:5000` there
/// (the namespace is the test's own, so the port is free). Loopback registries are insecure by
/// default, so plain HTTP works. Killed when dropped.
pub struct NsRegistry {
    child: Child,
    /// `127.0.0.1:5000`, as the daemon reaches it.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl NsRegistry {
    pub async fn start(daemon: &Daemon) -> NsRegistry {
        let dir = tempfile::tempdir().unwrap();
        let addr = "127.0.0.1:5000".to_string();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", daemon.netns()))
            .arg("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nsenter docker-registry (apt-get install docker-registry)");
        let registry = NsRegistry { child, addr, _dir: dir };
        // The registry listens in the namespace: ask it from there.
        let probe = format!("http://{}/v2/", registry.addr);
        super::eventually(Duration::from_secs(20), "the registry in the namespace to answer", || {
            let probe = probe.clone();
            let netns = daemon.netns().to_string();
            async move {
                let out = Command::new("nsenter")
                    .arg(format!("--net=/var/run/netns/{netns}"))
                    .args(["busybox", "wget", "-q", "-O", "/dev/null", &probe])
                    .output()
                    .ok()?;
                out.status.success().then_some(())
            }
        })
        .await;
        registry
    }

    /// Tags the test image as `<addr>/<repo>` in `daemon` and pushes it there; the reference.
    pub fn push_test_image(&self, daemon: &Daemon, repo: &str) -> String {
        let reference = format!("{}/{repo}", self.addr);
        for args in [vec!["tag", super::IMAGE, reference.as_str()], vec!["push", "-q", reference.as_str()]] {
            let out = daemon.docker(&args);
            assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        reference
    }
}

impl Drop for NsRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A swarm of one and a test's own instance on it: what the tests that drive the `moor` binary
/// with `--backend swarm` share (`tests/swarm_backend.rs`, `tests/review_swarm15.rs`).
pub struct SwarmEnv {
    pub daemon: SwarmDaemon,
    pub env: super::TestEnv,
}

/// A create or an update, to tasks running: seconds here (design doc 9); generous for CI.
pub const CONVERGE: Duration = Duration::from_secs(60);

impl SwarmEnv {
    pub async fn start(test: &str) -> SwarmEnv {
        SwarmEnv { daemon: SwarmDaemon::start(test).await, env: super::TestEnv::new(test) }
    }

    /// The manifest folder.
    pub fn dir(&self) -> String {
        self.env.manifests().to_str().unwrap().to_string()
    }

    /// `moor ARGS --backend swarm --host <this daemon>` (and the test's `--instance`).
    pub fn moor(&self, args: &[&str]) -> std::process::Output {
        let host = self.daemon.host.clone();
        self.env.moor(&[args, &["--backend", "swarm", "--host", &host]].concat())
    }

    /// `docker ARGS` against this daemon, which must succeed; its trimmed stdout.
    pub fn docker(&self, args: &[&str]) -> String {
        let out = self.daemon.docker(args);
        assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The Swarm name of manifest `name` in this instance.
    pub fn service(&self, name: &str) -> String {
        self.env.container(name)
    }

    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.docker(&["service", "inspect", "-f", format, &self.service(name)])
    }

    /// The IDs of the tasks of `name` that are running and meant to.
    pub fn running_tasks(&self, name: &str) -> Vec<String> {
        let out = self.daemon.docker(&[
            "service",
            "ps",
            "--no-trunc",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.ID}} {{.CurrentState}}",
            &self.service(name),
        ]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(" Running"))
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect()
    }

    /// Waits until `name` runs exactly `n` tasks; their IDs.
    pub async fn running(&self, name: &str, n: usize) -> Vec<String> {
        super::eventually(CONVERGE, &format!("{n} running task(s) of {}", self.service(name)), || {
            let ids = self.running_tasks(name);
            async move { (ids.len() == n).then_some(ids) }
        })
        .await
    }
}

/// A command's stdout and stderr, for messages and `contains` checks.
pub fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
