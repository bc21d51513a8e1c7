//! Shared harness for the tests that talk to the real Docker Engine.
//!
//! - [`image`] builds the test images once per test process, `FROM scratch` with the static
//!   busybox of Debian's `busybox-static`: no registry is needed.
//! - [`TestEnv`] gives each test its own `--instance`, unique names and a manifest folder, and
//!   removes everything labelled with its instance when dropped, even after a failed assertion.
#![allow(dead_code)]

pub mod cdp;
pub mod daemon;
pub mod dashboard;
pub mod git;
pub mod git_http;
pub mod hub;
pub mod registry;
pub mod sops;
pub mod sshd;
pub mod swarm;
pub mod tls;
pub mod tls_daemon;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use tokio::sync::OnceCell;

/// The moor binary: Cargo's for integration tests; the release build for the bench example,
/// which shares this harness.
pub fn moor_bin() -> &'static str {
    option_env!("CARGO_BIN_EXE_moor").unwrap_or("target/release/moor")
}

/// The command test containers run: busybox `sleep` as PID 1 ignores SIGTERM, so a trap makes
/// every stop prompt.
pub const SLEEPER: &str = "trap 'exit 0' TERM; sleep 1000000 & wait";

pub const IMAGE: &str = "moor-test/busybox:1";

pub async fn docker() -> Docker {
    Docker::connect_with_defaults()
        .expect("docker client")
        .negotiate_version()
        .await
        .expect("a Docker Engine must answer; .ci/run starts one")
}

/// A build context: the Dockerfile, plus the static busybox when `busybox` is set.
fn tar_context(dockerfile: &str, busybox: bool) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut files = vec![("Dockerfile", dockerfile.as_bytes().to_vec(), 0o644)];
    if busybox {
        let bin = std::fs::read("/bin/busybox").expect("/bin/busybox (apt-get install busybox-static)");
        files.push(("busybox", bin, 0o755));
    }
    for (name, data, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, &data[..]).unwrap();
    }
    tar.into_inner().unwrap()
}

async fn build(docker: &Docker, tag: &str, context: Vec<u8>, cache: bool) -> String {
    let options = BuildImageOptionsBuilder::default().t(tag).rm(true).forcerm(true).nocache(!cache).build();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        let info = item.unwrap_or_else(|e| panic!("building {tag}: {e}"));
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            panic!("building {tag}: {err}");
        }
    }
    docker.inspect_image(tag).await.expect("built image").id.expect("image id")
}

/// Builds `tag` on the shared base image; `variant` changes the image ID without changing what
/// it runs.
pub async fn build_image(docker: &Docker, tag: &str, variant: &str) -> String {
    build_image_with(docker, tag, variant, true).await
}

/// [`build_image`], with or without the `/ok` file the update tests' healthcheck looks for.
///
/// Only a label (and, for an unhealthy image, the removal of `/ok`) on top of the base image,
/// built without the cache: with it, the legacy builder could step onto an intermediate image
/// that another test's cleanup is deleting ("unable to find image").
pub async fn build_image_with(docker: &Docker, tag: &str, variant: &str, healthy: bool) -> String {
    image().await;
    let broken = if healthy { "" } else { "RUN [\"/bin/rm\", \"/ok\"]\n" };
    let dockerfile = format!("FROM {IMAGE}\n{broken}LABEL moor.test.variant=\"{variant}\"\n");
    build(docker, tag, tar_context(&dockerfile, false), false).await
}

static BASE: OnceCell<String> = OnceCell::const_new();

/// The shared base image, `FROM scratch` with the static busybox and an `/ok` file; built once
/// per test process (from the cache after the first) and never removed. Returns its ID.
pub async fn image() -> &'static str {
    const DOCKERFILE: &str = "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nRUN [\"/bin/touch\", \"/ok\"]\nLABEL moor.test.variant=\"base\"\n";
    BASE.get_or_init(|| async { build(&docker().await, IMAGE, tar_context(DOCKERFILE, true), true).await }).await
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One test's slice of the daemon.
pub struct TestEnv {
    pub instance: String,
    token: String,
    pub dir: tempfile::TempDir,
    /// Image references this test made, removed on drop.
    images: std::sync::Mutex<Vec<String>>,
    /// Environment variables every moor this test runs gets (such as `SOPS_AGE_KEY_FILE`).
    envs: std::sync::Mutex<Vec<(String, String)>>,
}

impl TestEnv {
    pub fn new(test: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // Fixed width: no token is a part of another, since `docker ps --filter name=TOKEN` (the
        // cleanup below) matches any part of a name; "12341" would match test 10's "123410".
        let token = format!("{:05}t{n:04}", std::process::id() % 100_000);
        let instance = format!("t-{test}-{token}");
        TestEnv {
            instance,
            token,
            dir: tempfile::tempdir().unwrap(),
            images: Default::default(),
            envs: Default::default(),
        }
    }

    /// A daemon-wide unique name derived from `base`.
    pub fn name(&self, base: &str) -> String {
        format!("{base}-{}", self.token)
    }

    /// The container name moor gives `name` in this test's instance: `<instance>_<name>` (only
    /// the default instance keeps bare names; see `moor::names`).
    pub fn container(&self, name: &str) -> String {
        moor::names::container_name(&self.instance, name)
    }

    /// Marks an image reference for removal when the test ends.
    pub fn own_image(&self, reference: &str) {
        self.images.lock().unwrap().push(reference.to_string());
    }

    pub fn manifests(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a manifest file into the test's folder.
    pub fn write(&self, file: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(file);
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
        path
    }

    pub fn remove(&self, file: &str) {
        std::fs::remove_file(self.dir.path().join(file)).unwrap();
    }

    /// Gives every moor this test runs from now on the environment variable `key`.
    pub fn set_env(&self, key: &str, value: &str) {
        let mut envs = self.envs.lock().unwrap();
        envs.retain(|(k, _)| k != key);
        envs.push((key.to_string(), value.to_string()));
    }

    /// The environment variables of [`TestEnv::set_env`].
    pub fn envs(&self) -> Vec<(String, String)> {
        self.envs.lock().unwrap().clone()
    }

    /// `moor ARGS... --instance <this test's instance>`.
    pub fn moor(&self, args: &[&str]) -> std::process::Output {
        Command::new(moor_bin())
            .args(args)
            .args(["--instance", &self.instance])
            .envs(self.envs())
            .output()
            .expect("run moor")
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The controller's log explains a failed wait better than the timeout does.
            if let Ok(log) = std::fs::read_to_string(self.dir.path().join(".moor-run.log")) {
                let lines: Vec<&str> = log.lines().collect();
                eprintln!(
                    "--- moor run log (last 200 lines) ---\n{}",
                    lines[lines.len().saturating_sub(200)..].join("\n")
                );
            }
        }
        let filter = format!("label=moor.instance={}", self.instance);
        let ids = docker_cli(&["ps", "-aq", "--filter", &filter]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids);
            docker_cli(&args);
        }
        for kind in ["network", "volume"] {
            let names = docker_cli(&[kind, "ls", "-q", "--filter", &filter]);
            for name in names.split_whitespace() {
                docker_cli(&[kind, "rm", name]);
            }
        }
        // By ID: removing a pushed or pulled image's tag leaves it behind under its repo digest.
        let refs = self.images.lock().unwrap().clone();
        let mut ids: Vec<String> = refs
            .iter()
            .map(|r| docker_cli(&["image", "inspect", "-f", "{{.Id}}", r]).trim().to_string())
            .filter(|id| !id.is_empty())
            .collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            docker_cli(&["rmi", "-f", &id]);
        }
        // Containers made by hand in a test carry this token in their name.
        let names = docker_cli(&["ps", "-aq", "--filter", &format!("name={}", self.token)]);
        for id in names.split_whitespace() {
            docker_cli(&["rm", "-f", id]);
        }
    }
}

/// Runs the docker CLI and returns stdout; used in cleanup, where async is not available.
pub fn docker_cli(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker CLI");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `GET path` on 127.0.0.1:`port`, HTTP/1.0: `(status, body)`; `(0, "")` when nothing answers.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let head = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    match http_exchange(&format!("127.0.0.1:{port}"), &head, &[]) {
        Some((status, _, body)) => (status, String::from_utf8_lossy(&body).into_owned()),
        None => (0, String::new()),
    }
}

/// One HTTP/1.0 exchange with `addr`: sends `head` (request line and headers, ending in a blank
/// line), then `body`, and reads until the server closes. `(status, head, body)`; `None` when
/// nothing answers.
pub fn http_exchange(addr: &str, head: &str, body: &[u8]) -> Option<(u16, String, Vec<u8>)> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(answer.len());
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Some((status, head, answer.get(split + 4..).unwrap_or_default().to_vec()))
}

/// A Service manifest on the test image, running [`SLEEPER`], with `extra` spec lines (each
/// indented by two spaces).
pub fn service_yaml(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  image: {IMAGE}\n  pull: never\n  command: [\"sh\", \"-c\", \"{SLEEPER}\"]\n  stopTimeout: 5s\n{extra}"
    )
}

/// Owned containers of `instance` as `name -> id`.
pub async fn owned(docker: &Docker, instance: &str) -> std::collections::BTreeMap<String, String> {
    let filters = HashMap::from([("label".to_string(), vec![format!("moor.instance={instance}")])]);
    let options =
        bollard::query_parameters::ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
    docker
        .list_containers(Some(options))
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.names.unwrap()[0].trim_start_matches('/').to_string(), c.id.unwrap()))
        .collect()
}

/// `(running, env)` of a container, or `None` when it does not exist.
pub async fn running_env(docker: &Docker, name: &str) -> Option<(bool, Vec<String>)> {
    let info = docker.inspect_container(name, None).await.ok()?;
    Some((info.state?.running?, info.config?.env.unwrap_or_default()))
}

/// A host policy file whose `spec:` holds `spec_lines` (indented by two spaces), in a folder that
/// lives as long as the returned guard; and its path.
pub fn policy_file(spec_lines: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, format!("apiVersion: moor/v1\nkind: HostPolicy\nspec:\n{spec_lines}")).unwrap();
    (dir, path.to_str().unwrap().to_string())
}

/// Asserts the exit code of a moor run and returns its stdout.
#[track_caller]
pub fn expect_code(out: std::process::Output, code: i32) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stdout:\n{stdout}\nstderr:\n{stderr}");
    stdout
}

/// A `moor run` child process of a test; killed when dropped.
pub struct Controller {
    pub child: std::process::Child,
    pub port: u16,
}

impl Controller {
    /// Starts `moor run` on the test's folder with `--interval 60s` (so that only events and the
    /// file watch can explain a quick reaction) and waits until `/readyz` answers 200.
    pub async fn start(env: &TestEnv, extra: &[&str]) -> Controller {
        Controller::start_at(env, &[&["-v"], extra].concat()).await
    }

    /// [`Controller::start`] at moor run's default log level (no `-v`).
    pub async fn start_at(env: &TestEnv, extra: &[&str]) -> Controller {
        let dir = env.manifests().to_str().unwrap().to_string();
        Controller::start_args(env, &[&[dir.as_str()], extra].concat()).await
    }

    /// `moor run ARGS...` (no manifest folder added: give one, or `--git`), with the test's
    /// instance, `--interval 60s` and a `--listen` port; waits until `/readyz` answers 200. The
    /// log goes to the test folder's `.moor-run.log` (appended: a restart keeps the first log).
    pub async fn start_args(env: &TestEnv, args: &[&str]) -> Controller {
        Controller::start_every(env, "60s", args).await
    }

    /// [`Controller::start_args`] with `--interval interval`.
    pub async fn start_every(env: &TestEnv, interval: &str, args: &[&str]) -> Controller {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(env.dir.path().join(".moor-run.log")).unwrap();
        let child = Command::new(moor_bin())
            .arg("run")
            .args(["--instance", &env.instance, "--interval", interval, "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .envs(env.envs())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn moor run");
        let c = Controller { child, port };
        eventually(Duration::from_secs(30), "/readyz", || async { (c.get("/readyz").0 == 200).then_some(()) }).await;
        c
    }

    /// `GET path` on the controller's endpoint: `(status, body)`; `(0, "")` when it does not answer.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.port, path)
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/status").1).unwrap_or(serde_json::Value::Null)
    }

    /// The value of one `/metrics` series, such as `moor_reconcile_total{result="error"}`.
    pub fn metric(&self, series: &str) -> Option<f64> {
        metric_in(&self.get("/metrics").1, series)
    }

    /// Everything `moor run` wrote on stderr so far.
    pub fn log(env: &TestEnv) -> String {
        std::fs::read_to_string(env.dir.path().join(".moor-run.log")).unwrap_or_default()
    }
}

/// The value of `series` in a `/metrics` text.
pub fn metric_in(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies folder `from` into `to` (made if missing), subfolders included.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
