//! Review of issue 14 (fleets): failing regression tests for defects found in review. Each test
//! names the defect number of the review report.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{docker_cli, image, moor_bin, service_yaml, TestEnv};

fn networks(env: &TestEnv) -> Vec<String> {
    let filter = format!("label=moor.instance={}", env.instance);
    docker_cli(&["network", "ls", "-q", "--filter", &filter]).split_whitespace().map(String::from).collect()
}

/// Defect 1: two agents of one instance on one daemon (the documented setup) create the default
/// network at once; Docker < 1.44 makes two networks of one name, and the loser's service then
/// fails forever with "network ... is ambiguous" (and `moor down` cannot remove it either). The
/// serialisation in `create_network` is per process only.
#[tokio::test(flavor = "multi_thread")]
async fn two_agents_on_one_daemon_do_not_make_the_default_network_twice() {
    image().await;
    let env = TestEnv::new("rv14net");
    env.write("a.yaml", &service_yaml("a", "  placement: {nodes: [a]}\n"));
    env.write("b.yaml", &service_yaml("b", "  placement: {nodes: [b]}\n"));
    let dir = env.manifests().to_str().unwrap().to_string();
    let run = |node: &str| {
        Command::new(moor_bin())
            .args(["apply", &dir, "--node", node, "--instance", &env.instance])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (run("a"), run("b"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(networks(&env).len(), 1, "one default network, not two of one name");
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stdout));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stdout));
}

/// Defect 2: `--host https://HOST:PORT` without DOCKER_TLS_VERIFY/--tls-* is normalized to
/// `tcp://` and spoken to in plain HTTP: a scheme that says TLS must either use TLS or be refused.
#[test]
fn an_https_host_is_never_spoken_to_in_plain_http() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::thread::spawn(move || {
        listener.set_nonblocking(false).unwrap();
        let (mut c, _) = listener.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        let n = c.read(&mut buf).unwrap_or(0);
        buf[..n].to_vec()
    });
    let mut child = Command::new(moor_bin())
        .args(["--host", &format!("https://127.0.0.1:{port}"), "version"])
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // moor may refuse the host without connecting: then nothing is seen (also fine).
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !seen.is_finished() && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    if seen.is_finished() {
        let bytes = seen.join().unwrap();
        assert!(
            !bytes.starts_with(b"GET "),
            "plain HTTP sent to an https:// host: {:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

/// Defect 3: a credential helper that hangs is given 10 s, but the blocking task that runs it is
/// never cancelled: `moor apply` prints its result and then does not exit (the runtime waits
/// for the blocking thread, i.e. for the helper).
#[test]
fn a_hanging_credential_helper_does_not_keep_moor_apply_from_exiting() {
    let env = TestEnv::new("rv14helper");
    let bin = env.dir.path().join("bin");
    let cfg = env.dir.path().join("cfg");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&cfg).unwrap();
    let helper = bin.join("docker-credential-rv14hang");
    std::fs::write(&helper, "#!/bin/sh\nexec sleep 90\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(cfg.join("config.json"), r#"{"credHelpers": {"127.0.0.1:5999": "rv14hang"}}"#).unwrap();
    let m = env.dir.path().join("m");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(
        m.join("web.yaml"),
        "apiVersion: moor/v1\nkind: Service\nmetadata: {name: web}\nspec: {image: \"127.0.0.1:5999/app:1\", pull: always}\n",
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let start = Instant::now();
    let mut child = Command::new(moor_bin())
        .args(["apply", m.to_str().unwrap(), "--node", "a", "--instance", &env.instance])
        .env("PATH", path)
        .env("DOCKER_CONFIG", &cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut exited = false;
    while start.elapsed() < Duration::from_secs(45) {
        if child.try_wait().unwrap().is_some() {
            exited = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(exited, "moor apply still running {:?} after start with a hung helper", start.elapsed());
}

/// Defect 4: a container made before nodes (no `moor.node`) is adopted by *every* agent of the
/// instance on the daemon; the agent of node b, where the service is not placed, removes it
/// although it is node a's service (README: "two agents of one instance on one daemon never prune
/// or replace each other's containers").
#[tokio::test(flavor = "multi_thread")]
async fn a_pre_node_container_of_a_service_placed_elsewhere_is_not_pruned() {
    image().await;
    let env = TestEnv::new("rv14adopt");
    env.write("web.yaml", &service_yaml("web", ""));
    let dir = env.manifests().to_str().unwrap().to_string();
    assert!(env.moor(&["apply", &dir, "--node", "a"]).status.success());
    // Make it a container of the release before nodes: the same labels but moor.node.
    let name = env.container("web");
    let inspect: serde_json::Value = serde_json::from_str(&docker_cli(&["inspect", &name])).unwrap();
    let c = &inspect[0];
    docker_cli(&["rm", "-f", &name]);
    let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), name.clone()];
    for (k, v) in c["Config"]["Labels"].as_object().unwrap() {
        if k != "moor.node" {
            args.push("--label".into());
            args.push(format!("{k}={}", v.as_str().unwrap()));
        }
    }
    args.push("--network".into());
    args.push(format!("{}_default", env.instance));
    args.push(c["Config"]["Image"].as_str().unwrap().into());
    for part in c["Config"]["Cmd"].as_array().unwrap() {
        args.push(part.as_str().unwrap().into());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    docker_cli(&refs);
    env.write("web.yaml", &service_yaml("web", "  placement: {nodes: [a]}\n"));
    env.write("other.yaml", &service_yaml("other", ""));
    let plan = env.moor(&["plan", &dir, "--node", "b"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(!text.contains(&format!("remove {name}")), "node b removes node a's pre-node container:\n{text}");
}
