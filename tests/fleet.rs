//! `moor status --fleet` over real agents: two `moor run --node ...` with listeners, each on its
//! own folder; the fleet view names each node, exits 0 while both are in sync, 2 once one has a
//! failing service, 1 (naming it) once one cannot be reached. And the node is in `/status` and
//! `/metrics`.

mod common;

use std::time::Duration;

use common::{eventually, expect_code, image, Controller, TestEnv, SLEEPER};

fn service(name: &str, image: &str) -> String {
    format!(
        "apiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  image: {image}\n  pull: never\n  command: sh -c \"{SLEEPER}\"\n  stopTimeout: 5s\n"
    )
}

#[tokio::test]
async fn the_fleet_view_reads_every_agent_and_says_which_is_behind_or_gone() {
    image().await;
    let (a, b) = (TestEnv::new("fleet-a"), TestEnv::new("fleet-b"));
    a.write("web.yaml", &service("web", common::IMAGE));
    b.write("web.yaml", &service("web", common::IMAGE));
    let agent_a = Controller::start(&a, &["--node", "edge-1", "--node-label", "role=edge"]).await;
    let agent_b = Controller::start(&b, &["--node", "edge-2"]).await;
    let urls = format!("http://127.0.0.1:{},http://127.0.0.1:{}", agent_a.port, agent_b.port);

    // The node is in /status and /metrics.
    let (_, status) = agent_a.get("/status");
    let doc: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(doc["node"]["name"], "edge-1");
    assert_eq!(doc["node"]["labels"]["role"], "edge");
    let (_, metrics) = agent_a.get("/metrics");
    assert!(metrics.contains("moor_node_info{node=\"edge-1\",label_role=\"edge\"} 1"), "{metrics}");

    // Every log line of the agent's work names its node.
    let log = std::fs::read_to_string(a.manifests().join(".moor-run.log")).unwrap();
    let reconciles: Vec<&str> = log.lines().filter(|l| l.contains("reconcile")).collect();
    assert!(!reconciles.is_empty() && reconciles.iter().all(|l| l.contains("node=edge-1")), "{log}");

    let fleet = |args: &[&str]| a.moor(&[&["status", "--fleet", &urls], args].concat());
    eventually(Duration::from_secs(30), "both agents in sync", || async {
        (fleet(&[]).status.code() == Some(0)).then_some(())
    })
    .await;
    let table = expect_code(fleet(&[]), 0);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NODE") && lines[0].contains("IN SYNC"), "{table}");
    assert!(lines.iter().any(|l| l.starts_with("edge-1") && l.contains("1/1")), "{table}");
    assert!(lines.iter().any(|l| l.starts_with("edge-2") && l.contains("1/1")), "{table}");
    let json: serde_json::Value = serde_json::from_str(&expect_code(fleet(&["-o", "json"]), 0)).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2, "{json}");

    // edge-2 gets a service whose image is missing: it is behind.
    b.write("broken.yaml", &service("broken", "moor-test-missing-image:1"));
    eventually(Duration::from_secs(30), "edge-2 to be behind", || async {
        (fleet(&[]).status.code() == Some(2)).then_some(())
    })
    .await;
    let table = expect_code(fleet(&[]), 2);
    let edge2 = table.lines().find(|l| l.starts_with("edge-2")).unwrap();
    assert!(edge2.contains("1/2") && edge2.contains("broken"), "{table}");

    // edge-1's agent stops: the fleet cannot be read whole, and the output says which.
    drop(agent_a);
    let out = fleet(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let gone = urls.split(',').next().unwrap();
    assert!(stderr.contains(&format!("! {gone}: cannot be reached")), "{stderr}");
    drop(agent_b);
}
