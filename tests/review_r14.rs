//! Review r14 of issue 14 (fleets): regression tests for the defects this review found.

mod common;

use std::time::Duration;

use common::git::GitRepo;
use std::process::Command;

use common::{docker_cli, eventually, image, service_yaml, Controller, TestEnv};

/// Every line `moor run` writes names its node (issue 14: "logs carry the node name"; README:
/// "on every log line of the agent"), also those of the listener (its start, a webhook's
/// handling) and of the shutdown, so that a fleet's merged logs can be told apart.
#[tokio::test]
async fn every_log_line_of_moor_run_names_its_node() {
    image().await;
    let env = TestEnv::new("r14log");
    let repo = GitRepo::new();
    repo.commit(&[("web.yaml", &service_yaml("web", ""))], "web");
    let secret = env.dir.path().join("hook.secret");
    std::fs::write(&secret, "hook-secret-r14\n").unwrap();
    let state = env.dir.path().join("state");
    let args = [
        "--git",
        &repo.url(),
        "--state-dir",
        state.to_str().unwrap(),
        "--poll",
        "10m",
        "--webhook-secret-file",
        secret.to_str().unwrap(),
        "--node",
        "r14-node",
        "--log-format",
        "json",
        "-v",
    ];
    let mut agent = Controller::start_args(&env, &args).await;
    // A forged webhook: the listener logs its rejection.
    let head = "POST /hooks/git HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nX-Gitlab-Token: wrong\r\n\r\n";
    let answer = common::http_exchange(&format!("127.0.0.1:{}", agent.port), head, b"{}");
    assert_eq!(answer.map(|a| a.0), Some(401));
    eventually(Duration::from_secs(10), "the rejection logged", || async {
        Controller::log(&env).contains("git webhook rejected").then_some(())
    })
    .await;
    // SIGTERM: the agent says it stops.
    // SAFETY: kill(2) on the child's own pid.
    assert_eq!(unsafe { libc::kill(agent.child.id() as i32, libc::SIGTERM) }, 0);
    let waited = eventually(Duration::from_secs(30), "moor run to exit on SIGTERM", || {
        let exited = agent.child.try_wait().unwrap();
        async move { exited }
    })
    .await;
    assert!(waited.success(), "{waited:?}");

    let log = Controller::log(&env);
    let lines: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    for needed in ["serving", "git webhook rejected", "SIGTERM", "stopped"] {
        let found = lines.iter().any(|l| l["fields"]["message"].as_str().is_some_and(|m| m.starts_with(needed)));
        assert!(found, "no {needed:?} line in:\n{log}");
    }
    let unnamed: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["fields"]["node"] != "r14-node" && l["span"]["node"] != "r14-node").collect();
    assert!(unnamed.is_empty(), "lines without the node:\n{unnamed:#?}");
}

/// A plain `tcp://127.0.0.1:PORT` in front of the machine's daemon socket, as a daemon on
/// another host is reached (`--host tcp://...`); it serves until the test process ends.
fn tcp_to_local_daemon() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(daemon) = std::os::unix::net::UnixStream::connect("/var/run/docker.sock") else { continue };
            let (mut c2, mut d2) = (client.try_clone().unwrap(), daemon.try_clone().unwrap());
            let (mut c, mut d) = (client, daemon);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c, &mut d);
                let _ = d.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut d2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    format!("tcp://127.0.0.1:{port}")
}

/// `moor ARGS --instance ...` run on a machine whose host name is `host_name` (a UTS namespace
/// of its own: a laptop, a CI runner), with no `MOOR_NODE`.
fn moor_on(env: &TestEnv, host_name: &str, args: &[&str]) -> std::process::Output {
    let mut all: Vec<&str> = vec!["--uts", "sh", "-c", "hostname \"$0\" && exec \"$@\"", host_name];
    let bin = common::moor_bin();
    all.push(bin);
    all.extend_from_slice(args);
    all.extend_from_slice(&["--instance", &env.instance]);
    Command::new("unshare").args(&all).envs(env.envs()).env_remove("MOOR_NODE").output().expect("unshare")
}

/// Without `--node`, the node of a daemon on another host is that host's: a `moor apply` from
/// a laptop, then a `moor plan` from a CI runner (another host name), both against the same
/// remote daemon, see one node. (Defect: each took its own host name as the node, so the
/// runner found the laptop's containers as another node's: it planned creates over them and
/// its apply failed with name conflicts; a single-host user could no longer manage their
/// containers from two machines.)
#[tokio::test]
async fn the_default_node_of_a_remote_daemon_is_that_daemons_host_not_the_clients() {
    image().await;
    let env = TestEnv::new("r14remote");
    env.write("web.yaml", &service_yaml("web", ""));
    let dir = env.manifests().to_str().unwrap().to_string();
    let host = tcp_to_local_daemon();
    let daemon_name = docker_cli(&["info", "-f", "{{.Name}}"]).trim().to_lowercase();

    let out = moor_on(&env, "laptop-r14", &["apply", &dir, "--host", &host]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let node = docker_cli(&["inspect", "-f", "{{index .Config.Labels \"moor.node\"}}", &env.container("web")]);
    assert_eq!(node.trim(), daemon_name, "the node of a container made over tcp://");

    let plan = moor_on(&env, "ci-runner-r14", &["plan", &dir, "--host", &host]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert_eq!(plan.status.code(), Some(0), "another client sees another node's containers:\n{text}");
    let status = moor_on(&env, "ci-runner-r14", &["status", &dir, "--host", &host]);
    assert_eq!(status.status.code(), Some(0), "{}", String::from_utf8_lossy(&status.stdout));

    // `moor run` against another host's daemon cannot know its node before Docker answers:
    // without --node it is refused at once, saying so, rather than run as the wrong node (the
    // address is never dialled; a loopback one would be this host's daemon).
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut run = Killed(
        Command::new(common::moor_bin())
            .args(["run", &dir, "--host", "tcp://192.0.2.1:2376", "--instance", &env.instance])
            .envs(env.envs())
            .env_remove("MOOR_NODE")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let code = eventually(Duration::from_secs(20), "moor run to refuse", || {
        let exited = run.0.try_wait().unwrap();
        async move { exited }
    })
    .await;
    let mut stderr = String::new();
    std::io::Read::read_to_string(run.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(code.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--node") && stderr.contains("tcp://192.0.2.1:2376"), "{stderr}");
}

/// `moor plan --node b` shows what b's agent would do: where another node's container of the
/// instance holds the name of a service b would create (two agents on one daemon placing one
/// service), the plan says so, as apply will, instead of promising a create.
#[tokio::test]
async fn plan_names_a_conflict_with_another_nodes_container_instead_of_promising_a_create() {
    image().await;
    let env = TestEnv::new("r14clash");
    env.write("web.yaml", &service_yaml("web", ""));
    let dir = env.manifests().to_str().unwrap().to_string();
    let a = env.moor(&["apply", "--node", "a", &dir]);
    assert_eq!(a.status.code(), Some(0), "{}", String::from_utf8_lossy(&a.stderr));
    let plan = env.moor(&["plan", "--node", "b", &dir]);
    let said = String::from_utf8_lossy(&plan.stdout).into_owned() + &String::from_utf8_lossy(&plan.stderr);
    assert!(!said.contains(&format!("+ create {}", env.container("web"))), "a create promised:\n{said}");
    assert!(said.contains("of node \"a\" of this instance"), "{said}");
    assert_ne!(plan.status.code(), Some(0), "{said}");
}

/// A host name that cannot be a node name (`My_Host`: an underscore) is no reason to fail
/// silently on what the user never asked for: the error says the name is the host's and that
/// `--node` (or `MOOR_NODE`) names the node instead; with it, plan works.
#[test]
fn a_host_name_that_is_no_node_name_says_to_give_node() {
    use std::os::unix::process::CommandExt;
    let env = TestEnv::new("r14host");
    env.write("web.yaml", &service_yaml("web", ""));
    let dir = env.manifests().to_str().unwrap().to_string();
    let on_my_host = |extra: &[&str]| {
        let mut command = Command::new(common::moor_bin());
        command.args(["plan", &dir, "--instance", &env.instance]).args(extra).env_remove("MOOR_NODE");
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                let name = b"My_Host";
                if libc::unshare(libc::CLONE_NEWUTS) != 0 || libc::sethostname(name.as_ptr().cast(), name.len()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command.output().expect("moor plan in a UTS namespace")
    };
    let out = on_my_host(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("host name") && stderr.contains("--node"), "{stderr}");
    let out = on_my_host(&["--node", "my-host"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}
