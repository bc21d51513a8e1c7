//! Day-2 commands against the real daemon: `moor down` and `moor logs`.

mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{docker, docker_cli, eventually, expect_code, image, moor_bin, owned, running_env, service_yaml, TestEnv};

fn path(env: &TestEnv) -> &str {
    env.manifests().to_str().unwrap()
}

fn exists(kind: &str, name: &str) -> bool {
    Command::new("docker").args([kind, "inspect", name]).output().unwrap().status.success()
}

/// A Service manifest on the test image running `script` (double quotes must not appear in it).
fn script_service(name: &str, script: &str, extra: &str) -> String {
    format!(
        "apiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  image: {}\n  pull: never\n  command: [\"sh\", \"-c\", \"{script}\"]\n  stopTimeout: 5s\n{extra}",
        common::IMAGE
    )
}

#[tokio::test]
async fn down_removes_what_the_instance_labels_and_nothing_else() {
    image().await;
    let env = TestEnv::new("down");
    let other = TestEnv::new("down-other");
    let docker = docker().await;
    let (web, net, vol) = (env.name("web"), env.name("net"), env.name("vol"));
    let extra = format!("  replicas: 2\n  networks: [{net}]\n  volumes: [\"{vol}:/data\"]\n");
    env.write("web.yaml", &service_yaml(&web, &extra));
    env.write("net.yaml", &format!("apiVersion: moor/v1\nkind: Network\nmetadata:\n  name: {net}\nspec: {{}}\n"));
    env.write("vol.yaml", &format!("apiVersion: moor/v1\nkind: Volume\nmetadata:\n  name: {vol}\nspec: {{}}\n"));
    expect_code(env.moor(&["apply", path(&env)]), 0);
    let neighbour = other.name("web");
    other.write("web.yaml", &service_yaml(&neighbour, ""));
    expect_code(other.moor(&["apply", path(&other)]), 0);
    // A container moor did not make (no label at all); TestEnv removes it by the token in its name.
    let foreign = env.name("foreign");
    let sleeper = common::SLEEPER;
    docker_cli(&["run", "-d", "--name", &foreign, common::IMAGE, "sh", "-c", sleeper]);
    assert!(running_env(&docker, &foreign).await.is_some_and(|r| r.0), "the foreign container runs");
    assert_eq!(owned(&docker, &env.instance).await.len(), 2);

    // No terminal on stdin (`output()` gives none) and no --yes: refused, nothing touched.
    let refused = env.moor(&["down"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--yes") && stderr.contains("2 containers, 1 network"), "{stderr}");
    assert_eq!(owned(&docker, &env.instance).await.len(), 2);

    let out = expect_code(env.moor(&["down", "--yes"]), 0);
    for line in [1, 2]
        .map(|r| format!("removed container {}", env.container(&format!("{web}-{r}"))))
        .into_iter()
        .chain([format!("removed network {net}")])
    {
        assert!(out.contains(&line), "{line:?} missing in:\n{out}");
    }
    assert!(owned(&docker, &env.instance).await.is_empty());
    assert!(!exists("network", &net), "the network is removed");
    assert!(exists("volume", &vol), "volumes stay without --volumes");
    assert!(running_env(&docker, &foreign).await.is_some_and(|r| r.0), "the foreign container survives");
    assert!(
        running_env(&docker, &other.container(&neighbour)).await.is_some_and(|r| r.0),
        "another instance's container survives"
    );

    let out = expect_code(env.moor(&["down", "--yes", "--volumes", "-o", "json"]), 0);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["volumes"], serde_json::json!([vol]), "{report}");
    assert_eq!(report["containers"], serde_json::json!([]), "{report}");
    assert!(!exists("volume", &vol));

    let out = expect_code(env.moor(&["down", "--yes"]), 0);
    assert!(out.contains("nothing to remove"), "{out}");
    assert!(running_env(&docker, &other.container(&neighbour)).await.is_some_and(|r| r.0));
}

#[tokio::test]
async fn logs_print_every_replica_prefixed_with_stdout_and_stderr_merged() {
    image().await;
    let env = TestEnv::new("logs");
    let web = env.name("web");
    // Docker reads stdout and stderr through separate pipes, so two writes to different streams
    // close together may be recorded in either order: `three` comes well after both.
    let script = "echo one; echo two >&2; sleep 0.3; echo three; trap 'exit 0' TERM; sleep 1000000 & wait";
    env.write("web.yaml", &script_service(&web, script, "  replicas: 2\n"));
    expect_code(env.moor(&["apply", path(&env)]), 0);

    let all = eventually(Duration::from_secs(10), "three lines of both replicas", || async {
        let out = expect_code(env.moor(&["logs", &web]), 0);
        (out.lines().count() == 6).then_some(out)
    })
    .await;
    let lines: Vec<&str> = all.lines().collect();
    for (replica, part) in [(1, &lines[..3]), (2, &lines[3..])] {
        let prefix = format!("{} | ", env.container(&format!("{web}-{replica}")));
        let mut texts: Vec<&str> =
            part.iter().map(|l| l.strip_prefix(&prefix).unwrap_or_else(|| panic!("{all}"))).collect();
        assert_eq!(texts[2], "three", "{all}");
        texts.sort();
        assert_eq!(texts, ["one", "three", "two"], "stdout and stderr merged:\n{all}");
    }

    let tail = expect_code(env.moor(&["logs", &web, "--tail", "1"]), 0);
    assert_eq!(
        tail.lines().collect::<Vec<_>>(),
        [1, 2].map(|r| format!("{} | three", env.container(&format!("{web}-{r}"))))
    );

    let json = expect_code(env.moor(&["logs", &web, "--tail", "3", "-o", "json"]), 0);
    let objects: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(objects.len(), 6, "{json}");
    let err = serde_json::json!({"container": env.container(&format!("{web}-1")), "stream": "stderr", "line": "two"});
    assert!(objects.contains(&err), "{json}");
    let out = serde_json::json!({"container": env.container(&format!("{web}-2")), "stream": "stdout", "line": "three"});
    assert!(objects.contains(&out), "{json}");

    let missing = env.moor(&["logs", &env.name("nope")]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("has no container"), "{missing:?}");
}

/// Reads a child's stdout lines on a thread, so that a test can wait for one with a deadline.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The number in a `NAME | tick N` line.
fn tick(line: &str) -> u64 {
    line.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("not a tick line: {line:?}"))
}

#[tokio::test]
async fn logs_follow_sees_new_lines_and_ends_when_the_containers_are_gone() {
    image().await;
    let env = TestEnv::new("logsf");
    let ticker = env.name("ticker");
    let script = "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done";
    env.write("ticker.yaml", &script_service(&ticker, script, ""));
    expect_code(env.moor(&["apply", path(&env)]), 0);
    let before = eventually(Duration::from_secs(10), "a first tick", || async {
        expect_code(env.moor(&["logs", &ticker, "--tail", "1"]), 0).lines().next().map(tick)
    })
    .await;

    // --tail 0: every line it prints was written after it started.
    let mut follow = Command::new(moor_bin())
        .args(["logs", &ticker, "-f", "--tail", "0", "--instance", &env.instance])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut follow);
    let line = lines.recv_timeout(Duration::from_secs(10)).expect("a followed line within 10 s");
    assert!(line.starts_with(&format!("{} | tick ", env.container(&ticker))), "{line}");
    assert!(tick(&line) > before, "{line} is newer than tick {before}");
    follow.kill().unwrap();
    follow.wait().unwrap();

    // A follow ends by itself once its containers are gone.
    let mut follow = Command::new(moor_bin())
        .args(["logs", &ticker, "-f", "--tail", "0", "--instance", &env.instance])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut follow);
    lines.recv_timeout(Duration::from_secs(10)).expect("the follow runs");
    expect_code(env.moor(&["down", "--yes"]), 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = follow.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "moor logs -f still runs after its container was removed");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(status.success(), "{status:?}");
}

/// `moor down` on a terminal (util-linux `script` gives it one) asks, and only `y` removes.
#[tokio::test]
async fn down_on_a_terminal_asks_first() {
    image().await;
    let env = TestEnv::new("downtty");
    let docker = docker().await;
    let name = env.name("asked");
    let label = format!("moor.instance={}", env.instance);
    docker_cli(&["run", "-d", "--name", &name, "--label", &label, common::IMAGE, "sh", "-c", common::SLEEPER]);
    let down = format!("{} down --instance {}", moor_bin(), env.instance);
    let on_tty = |answer: &str| {
        let mut child = Command::new("script")
            .args(["-q", "-e", "-c", &down, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("util-linux script");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), answer.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, out) = on_tty("n\n");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&format!("Remove 1 container, 0 networks of instance {}? [y/N]", env.instance)), "{out}");
    assert!(running_env(&docker, &name).await.is_some_and(|r| r.0), "a no keeps the container");
    let (code, out) = on_tty("y\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("removed container {name}")), "{out}");
    assert!(running_env(&docker, &name).await.is_none());
}
