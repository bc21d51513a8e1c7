//! An extra Docker daemon of a test's own: one that the test may freeze, and, later, a fleet.
//!
//! Each [`Daemon`] is a `dockerd` (with its own containerd) in its own network namespace, with
//! its own data root, exec root, pid file and unix socket under a temporary folder. The
//! namespace is not optional: a second `dockerd` started with `--bridge none` in the machine's
//! namespace deletes the host's `docker0`, and the machine's daemon then fails every create.
//! `ip netns exec` cannot start it either (it remounts /sys without cgroups), so it is entered
//! with `nsenter --net=`. `--config-file` points at a file holding `{}`: the machine's
//! `/etc/docker/daemon.json` sets a `data-root`, which conflicts with `--data-root`.
//!
//! Dropping a `Daemon` (also after a failed assertion) thaws it, terminates it (its containerd
//! with it) unless [`Daemon::stop`] did already, deletes the namespace and removes its folder.
//! Needs root, `dockerd`, `ip` and `nsenter` (and `unshare` for a hostname), as the machine's
//! daemon does.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// How long a daemon may take to answer after its start: measured at about half a second here.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a terminated daemon may take to exit (it stops its containers first, each within
/// `--shutdown-timeout`); measured at about 2.5 s with a running container.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Daemon {
    /// `unix:///…/docker.sock`, for `--host` and `DOCKER_HOST`.
    pub host: String,
    /// dockerd's pid.
    pub pid: u32,
    netns: String,
    dir: Option<tempfile::TempDir>,
}

pub fn run(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program} {args:?}: {e}"))
}

#[track_caller]
pub fn must(program: &str, args: &[&str]) {
    let out = run(program, args);
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Daemon {
    /// Starts a daemon named after `test` and waits until it answers.
    pub fn start(test: &str) -> Daemon {
        Daemon::start_with(test, |_, _| Vec::new())
    }

    /// [`Daemon::start`], with more `dockerd` arguments: `extra` gets the namespace's name and
    /// the daemon's folder, after the namespace exists (to add interfaces to it) and before
    /// dockerd starts.
    pub fn start_with(test: &str, extra: impl FnOnce(&str, &Path) -> Vec<String>) -> Daemon {
        Daemon::start_as(test, None, extra)
    }

    /// [`Daemon::start_with`], with dockerd in a UTS namespace of its own whose hostname is
    /// `hostname`, when given: every daemon otherwise shares the machine's hostname, and a
    /// swarm names its nodes by it (trap T5 of docs/swarm-design.md).
    pub fn start_as(test: &str, hostname: Option<&str>, extra: impl FnOnce(&str, &Path) -> Vec<String>) -> Daemon {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let netns = format!("moor-{test}-{}-{n}", std::process::id());
        let dir = tempfile::Builder::new().prefix("moor-dockerd-").tempdir().expect("a temporary folder");
        let root = dir.path().to_path_buf();
        let path = |name: &str| root.join(name).to_str().unwrap().to_string();
        std::fs::write(dir.path().join("daemon.json"), "{}").unwrap();
        must("ip", &["netns", "add", &netns]);
        // From here on, Drop cleans up whatever was made.
        let mut daemon = Daemon { host: format!("unix://{}", path("docker.sock")), pid: 0, netns, dir: Some(dir) };
        must("ip", &["netns", "exec", &daemon.netns, "ip", "link", "set", "lo", "up"]);
        let extra = extra(&daemon.netns, &root);
        let log = std::fs::File::create(path("dockerd.log")).unwrap();
        let mut command = Command::new("nsenter");
        command.arg(format!("--net=/var/run/netns/{}", daemon.netns));
        match hostname {
            // unshare and sh both exec: the child's pid is still dockerd's.
            Some(name) => {
                command.args(["unshare", "--uts", "--", "sh", "-c", "hostname \"$0\" && exec dockerd \"$@\"", name])
            }
            None => command.arg("dockerd"),
        };
        let child = command
            .args(["--data-root", &path("data"), "--exec-root", &path("exec"), "--pidfile", &path("dockerd.pid")])
            .args(["-H", &daemon.host, "--bridge", "none", "--iptables=false", "--shutdown-timeout", "1"])
            .args(["--config-file", &path("daemon.json")])
            .args(&extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nsenter dockerd");
        // nsenter execs dockerd (through unshare and sh): the child's pid is dockerd's. Reaped by a thread, so that a
        // terminated daemon leaves no zombie for `kill -0` to see.
        daemon.pid = child.id();
        std::thread::spawn(move || {
            let mut child = child;
            let _ = child.wait();
        });
        let started = Instant::now();
        while !daemon.answers() {
            assert!(daemon.alive(), "dockerd exited at start:\n{}", daemon.log());
            assert!(
                started.elapsed() < START_TIMEOUT,
                "dockerd did not answer within {START_TIMEOUT:?}:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        daemon
    }

    /// The daemon's network namespace (`/var/run/netns/<name>`), for helpers run inside it.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().expect("the daemon's folder").path()
    }

    /// The socket's path.
    pub fn socket(&self) -> PathBuf {
        self.dir().join("docker.sock")
    }

    /// dockerd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("dockerd.log")).unwrap_or_default()
    }

    /// `docker -H <this daemon> ARGS…`.
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker").args(["-H", &self.host]).args(args).output().expect("docker CLI")
    }

    /// True when `docker version` answers within 5 s.
    pub fn answers(&self) -> bool {
        self.socket().exists()
            && run("timeout", &["5", "docker", "-H", &self.host, "version", "--format", "{{.Server.Version}}"])
                .status
                .success()
    }

    fn alive(&self) -> bool {
        run("kill", &["-0", &self.pid.to_string()]).status.success()
    }

    /// Copies the test image (`common::image()` builds it in the machine's daemon) into this
    /// one: `docker save | docker -H … load`.
    pub async fn load_test_image(&self) {
        super::image().await;
        let mut save =
            Command::new("docker").args(["save", super::IMAGE]).stdout(Stdio::piped()).spawn().expect("docker save");
        let load = Command::new("docker")
            .args(["-H", &self.host, "load", "-q"])
            .stdin(save.stdout.take().expect("docker save's stdout"))
            .output()
            .expect("docker load");
        let saved = save.wait().expect("docker save");
        assert!(saved.success() && load.status.success(), "docker load: {}", String::from_utf8_lossy(&load.stderr));
    }

    /// Freezes dockerd (`kill -STOP`): its socket still accepts connections, and nothing answers.
    pub fn freeze(&self) {
        must("kill", &["-STOP", &self.pid.to_string()]);
    }

    /// Thaws it (`kill -CONT`).
    pub fn thaw(&self) {
        must("kill", &["-CONT", &self.pid.to_string()]);
    }

    /// Terminates dockerd now, as a node's daemon stops (SIGTERM: it stops its containers
    /// first), and waits until it has exited; `pid` is 0 afterwards. The namespace and the
    /// folder stay until the drop, so that the test goes on and the cleanup is the usual one.
    pub fn stop(&mut self) {
        self.terminate();
    }

    /// SIGTERM (after a thaw), then SIGKILL to dockerd and its containerd if it has not exited
    /// within [`EXIT_TIMEOUT`]. Does nothing once done.
    fn terminate(&mut self) {
        if self.pid != 0 {
            let pid = self.pid.to_string();
            // A frozen process does not act on SIGTERM until it runs again.
            let _ = run("kill", &["-CONT", &pid]);
            let _ = run("kill", &["-TERM", &pid]);
            let deadline = Instant::now() + EXIT_TIMEOUT;
            while self.alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if self.alive() {
                eprintln!("dockerd {pid} did not exit within {EXIT_TIMEOUT:?}; killing it and its containerd");
                let _ = run("kill", &["-KILL", &pid]);
                if let Ok(containerd) = std::fs::read_to_string(self.dir().join("exec/containerd/containerd.pid")) {
                    let _ = run("kill", &["-KILL", containerd.trim()]);
                }
            }
            self.pid = 0;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.terminate();
        let _ = run("ip", &["netns", "del", &self.netns]);
        if let Some(dir) = self.dir.take() {
            // The data root may hold mounts of containers that did not end cleanly, and a swarm
            // daemon leaves `nsfs` mounts at `exec/netns/*` that `umount -R exec` misses, since
            // `exec` itself is no mount point (trap T8 of docs/swarm-design.md): unmount every
            // mount under the folder, deepest first, then remove.
            for mount in mounts_under(dir.path()) {
                let _ = run("umount", &["-l", &mount]);
            }
            let _ = std::fs::remove_dir_all(dir.path());
        }
    }
}

/// The mount points under `root` in `/proc/mounts`, deepest first. The kernel escapes spaces and
/// the like as octal (`\040`); temporary folders hold none, and an escaped path is only skipped.
fn mounts_under(root: &Path) -> Vec<String> {
    let root = root.to_string_lossy().to_string();
    let table = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut mounts: Vec<String> = table
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter(|point| point.starts_with(&format!("{root}/")))
        .map(str::to_string)
        .collect();
    mounts.sort_by(|a, b| b.matches('/').count().cmp(&a.matches('/').count()).then_with(|| a.cmp(b)));
    mounts.dedup();
    mounts
}
