//! A fleet as the README rolls it out: three Docker daemons of the test's own (each in its own
//! network namespace, `tests/common/daemon.rs`), one `moor run` agent per daemon with its node
//! name and labels, all over one manifest folder. Placement by name and by selector, a service
//! moved between nodes, a node-local prune that leaves the other nodes alone, an agent stopped
//! while the others keep converging, and `moor status --fleet` over the three with its exit
//! codes (0 in sync, 2 behind, 1 an agent gone).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::daemon::Daemon;
use common::{eventually, Controller, TestEnv, SLEEPER};

const WAIT: Duration = Duration::from_secs(60);

fn service(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  image: {}\n  pull: never\n  command: sh -c \"{SLEEPER}\"\n  stopTimeout: 5s\n{extra}",
        common::IMAGE
    )
}

/// The services whose containers run on `daemon` for `instance`.
fn running(daemon: &Daemon, instance: &str) -> BTreeSet<String> {
    let out = daemon.docker(&[
        "ps",
        "--filter",
        &format!("label=moor.instance={instance}"),
        "--format",
        "{{.Label \"moor.service\"}}",
    ]);
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The env value `V` of the `every` container on `daemon`.
fn every_version(daemon: &Daemon, env: &TestEnv) -> String {
    let out = daemon.docker(&["inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", &env.container("every")]);
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| l.strip_prefix("V=")).unwrap_or("").to_string()
}

#[tokio::test]
async fn three_agents_place_move_prune_and_report_as_one_fleet() {
    let daemons: Vec<Daemon> = (0..3).map(|i| Daemon::start(&format!("fleet{i}"))).collect();
    for d in &daemons {
        d.load_test_image().await;
    }
    let env = TestEnv::new("fleet3");
    env.write("every.yaml", &service("every", "  env: { V: \"1\" }\n"));
    env.write("web.yaml", &service("web", "  placement: { nodes: [n1] }\n"));
    env.write("edge.yaml", &service("edge", "  placement: { nodeSelector: { role: edge } }\n"));
    let dir = env.manifests().to_str().unwrap().to_string();
    let nodes = [("n1", "role=core"), ("n2", "role=edge"), ("n3", "role=edge")];
    let mut agents: Vec<Option<Controller>> = Vec::new();
    for (daemon, (node, label)) in daemons.iter().zip(nodes) {
        let args = [dir.as_str(), "--host", &daemon.host, "--node", node, "--node-label", label];
        agents.push(Some(Controller::start_args(&env, &args).await));
    }
    let urls: Vec<String> = agents.iter().flatten().map(|a| format!("http://127.0.0.1:{}", a.port)).collect();
    let fleet = || env.moor(&["status", "--fleet", &urls.join(",")]);

    // Placement by name (web on n1) and by selector (edge on the edge nodes); every everywhere.
    let want = [set(&["every", "web"]), set(&["every", "edge"]), set(&["every", "edge"])];
    for (d, want) in daemons.iter().zip(&want) {
        eventually(WAIT, "the services placed on each node", || async {
            (running(d, &env.instance) == *want).then_some(())
        })
        .await;
    }
    eventually(WAIT, "the fleet in sync", || async { (fleet().status.code() == Some(0)).then_some(()) }).await;
    let table = String::from_utf8_lossy(&fleet().stdout).to_string();
    for node in ["n1", "n2", "n3"] {
        assert!(table.lines().any(|l| l.starts_with(node)), "{node} missing in:\n{table}");
    }

    // web moves from n1 to n2: n1's agent removes it, n2's creates it, n3 is left alone.
    env.write("web.yaml", &service("web", "  placement: { nodes: [n2] }\n"));
    eventually(WAIT, "web moved to n2", || async {
        (running(&daemons[0], &env.instance) == set(&["every"])
            && running(&daemons[1], &env.instance) == set(&["every", "edge", "web"]))
        .then_some(())
    })
    .await;
    assert_eq!(running(&daemons[2], &env.instance), set(&["every", "edge"]));

    // A service only n1 can run, with an image it lacks: n1 is behind, the fleet says 2.
    env.write(
        "broken.yaml",
        &service("broken", "  placement: { nodes: [n1] }\n").replace(common::IMAGE, "moor-test-missing:1"),
    );
    eventually(WAIT, "n1 behind", || async { (fleet().status.code() == Some(2)).then_some(()) }).await;
    let table = String::from_utf8_lossy(&fleet().stdout).to_string();
    assert!(table.lines().any(|l| l.starts_with("n1") && l.contains("broken")), "{table}");
    std::fs::remove_file(env.manifests().join("broken.yaml")).unwrap();
    eventually(WAIT, "the fleet in sync again", || async { (fleet().status.code() == Some(0)).then_some(()) }).await;

    // n3's agent stops: the others keep converging a change; n3 keeps what it ran.
    agents[2] = None;
    env.write("every.yaml", &service("every", "  env: { V: \"2\" }\n"));
    for d in &daemons[..2] {
        eventually(WAIT, "every updated on the running agents' nodes", || async {
            (every_version(d, &env) == "2").then_some(())
        })
        .await;
    }
    assert_eq!(every_version(&daemons[2], &env), "1", "a stopped agent's node changed");
    let out = fleet();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("! {}: cannot be reached", urls[2])), "{stderr}");
    drop(agents);
}
