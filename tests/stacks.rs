//! Stacks that don't clash (issue 13 part 2) against the real daemon: two instances each declare
//! `db` and both run, each under `<instance>_db`; within an instance a service resolves another
//! by its service name on the instance's default network; `moor down` of one instance leaves the
//! other; `containerName` gives an exact name.

mod common;

use std::time::Duration;

use common::{docker_cli, eventually, expect_code, image, service_yaml, TestEnv};

/// The IP address `container` has on `network`, as inspect reports it.
fn address(container: &str, network: &str) -> String {
    let format = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
    docker_cli(&["inspect", "-f", &format, container]).trim().to_string()
}

/// What `nslookup NAME` answers inside `container` (Docker's embedded DNS).
fn lookup(container: &str, name: &str) -> String {
    docker_cli(&["exec", container, "nslookup", name])
}

fn is_running(container: &str) -> bool {
    docker_cli(&["inspect", "-f", "{{.State.Running}}", container]).trim() == "true"
}

/// One instance with `db` and `app`, neither listing a network.
fn stack(env: &TestEnv) {
    env.write("db.yaml", &service_yaml("db", ""));
    env.write("app.yaml", &service_yaml("app", "  dependsOn: [db]\n"));
}

#[tokio::test]
async fn two_instances_each_run_their_own_db_and_resolve_it_by_name() {
    image().await;
    let (one, two) = (TestEnv::new("stacks-one"), TestEnv::new("stacks-two"));
    for env in [&one, &two] {
        stack(env);
        expect_code(env.moor(&["apply", env.manifests().to_str().unwrap()]), 0);
    }
    for env in [&one, &two] {
        let (db, app, network) = (env.container("db"), env.container("app"), format!("{}_default", env.instance));
        assert!(is_running(&db) && is_running(&app), "{db} and {app} run");
        let ip = address(&db, &network);
        assert!(!ip.is_empty(), "{db} is on {network}");
        // Each `app` finds its own instance's `db`, by the service name alone.
        let answer = eventually(Duration::from_secs(10), "db to resolve", || async {
            let answer = lookup(&app, "db");
            answer.contains(&ip).then_some(answer)
        })
        .await;
        let other = if env.instance == one.instance { &two } else { &one };
        let other_ip = address(&other.container("db"), &format!("{}_default", other.instance));
        assert!(!answer.contains(&other_ip), "{app} resolved the other stack's db: {answer}");
        let labels = docker_cli(&["network", "inspect", "-f", "{{index .Labels \"moor.instance\"}}", &network]);
        assert_eq!(labels.trim(), env.instance, "the default network is owned by its instance");
    }
    // A second apply is a no-op.
    let dir = one.manifests().to_str().unwrap();
    assert_eq!(expect_code(one.moor(&["plan", dir]), 0), "in sync: nothing to do\n");

    // `down` of one leaves the other.
    expect_code(one.moor(&["down", "--yes"]), 0);
    assert!(docker_cli(&["ps", "-aq", "--filter", &format!("label=moor.instance={}", one.instance)]).trim().is_empty());
    let networks = docker_cli(&["network", "ls", "-q", "--filter", &format!("name={}_default", one.instance)]);
    assert!(networks.trim().is_empty(), "down removed the default network: {networks}");
    assert!(is_running(&two.container("db")) && is_running(&two.container("app")), "the other stack still runs");
}

#[tokio::test]
async fn container_name_is_taken_exactly_and_a_change_renames() {
    image().await;
    let env = TestEnv::new("stacks-exact");
    let dir = env.manifests().to_str().unwrap().to_string();
    let exact = env.name("legacy-web");
    env.write("web.yaml", &service_yaml("web", &format!("  containerName: {exact}\n")));
    expect_code(env.moor(&["apply", &dir]), 0);
    assert!(is_running(&exact), "{exact} runs under its exact name");
    let id = docker_cli(&["inspect", "-f", "{{.Id}}", &exact]);
    // Dropping containerName renames the same container to the instance's name.
    env.write("web.yaml", &service_yaml("web", ""));
    expect_code(env.moor(&["apply", &dir]), 0);
    assert_eq!(docker_cli(&["inspect", "-f", "{{.Id}}", &env.container("web")]), id, "renamed, not recreated");
}
