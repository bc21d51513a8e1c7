//! Review r14 of issue 14 (fleets): regression tests for the defects this review found.

mod common;

use std::time::Duration;

use common::git::GitRepo;
use common::{eventually, image, service_yaml, Controller, TestEnv};

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
