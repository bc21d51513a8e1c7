//! Adversarial review of issue 13 (compose fields, instance naming, jobs, import): regression
//! tests for defects found by the review. Each fails on the commit it was written against.

mod common;

use common::{docker_cli, expect_code, image, service_yaml, TestEnv, IMAGE};

/// Removes a container moor does not own (no instance label) when the test ends, failed or not.
struct Outside(String);

impl Drop for Outside {
    fn drop(&mut self) {
        docker_cli(&["rm", "-f", &self.0]);
    }
}

fn is_running(container: &str) -> bool {
    docker_cli(&["inspect", "-f", "{{.State.Running}}", container]).trim() == "true"
}

/// Two instances that each declare a Network and a Volume of one name must not share them, just
/// as they do not share `db`. Network and volume names are the daemon's: the second instance's
/// apply says whose they are and its service is not created on them (nothing is shared).
#[tokio::test]
async fn two_instances_do_not_share_a_network_or_volume_of_the_same_manifest_name() {
    image().await;
    let (one, two) = (TestEnv::new("rv-share-one"), TestEnv::new("rv-share-two"));
    // Names unique on the daemon, but the same in both stacks (as `backend` and `db-data` would be).
    let (net, vol) = (one.name("backend"), one.name("dbdata"));
    for env in [&one, &two] {
        env.write(
            "a.yaml",
            &format!(
                "apiVersion: moor/v1\nkind: Network\nmetadata:\n  name: {net}\n---\napiVersion: moor/v1\nkind: Volume\nmetadata:\n  name: {vol}\n---\n{}",
                service_yaml("db", &format!("  volumes: [\"{vol}:/data\"]\n  networks: [{net}]\n"))
            ),
        );
    }
    expect_code(one.moor(&["apply", one.manifests().to_str().unwrap()]), 0);
    let out = two.moor(&["apply", two.manifests().to_str().unwrap()]);
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    for what in [format!("network {net:?} belongs to instance"), format!("volume {vol:?} belongs to instance")] {
        assert!(all.contains(&what), "{what} missing in:\n{all}");
    }
    assert!(!is_running(&two.container("db")), "the second stack's db shares the first stack's volume:\n{all}");
    assert!(is_running(&one.container("db")));
}

/// `pid: container:X` / `networkMode: container:X` of a container that runs in the host's pid and
/// network namespaces gives the service what the default policy refuses when asked directly.
#[tokio::test]
async fn a_container_join_does_not_bypass_the_host_namespace_policy() {
    image().await;
    let env = TestEnv::new("rv-join");
    let host = env.name("hostns");
    let _outside = Outside(host.clone());
    docker_cli(&["run", "-d", "--name", &host, "--pid=host", "--network=host", IMAGE, "sleep", "100000"]);
    env.write("a.yaml", &service_yaml("p", &format!("  pid: \"container:{host}\"\n")));
    env.write("b.yaml", &service_yaml("n", &format!("  networkMode: \"container:{host}\"\n")));
    let dir = env.manifests().to_str().unwrap().to_string();
    let out = env.moor(&["apply", &dir]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("containerJoins does not name it"), "{stdout}");
    for (svc, field) in [("p", "{{.HostConfig.PidMode}}"), ("n", "{{.HostConfig.NetworkMode}}")] {
        let c = env.container(svc);
        assert!(
            !is_running(&c),
            "{c} runs joined to a host-namespace container ({}); apply: {}",
            docker_cli(&["inspect", "-f", field, &c]).trim(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `networkMode: service:db` is resolved to db's container ID at create: when db is replaced,
/// app must be replaced too, or it keeps a dead network namespace (only `lo`) and reads as in sync.
#[tokio::test]
async fn a_network_join_follows_its_target_across_a_replacement() {
    image().await;
    let env = TestEnv::new("rv-follow");
    env.write("app.yaml", &service_yaml("app", "  networkMode: \"service:db\"\n  dependsOn: [db]\n"));
    env.write("db.yaml", &service_yaml("db", ""));
    let dir = env.manifests().to_str().unwrap().to_string();
    expect_code(env.moor(&["apply", &dir]), 0);
    env.write("db.yaml", &service_yaml("db", "  env: { CHANGED: \"1\" }\n"));
    expect_code(env.moor(&["apply", &dir]), 0);
    let db_id = docker_cli(&["inspect", "-f", "{{.Id}}", &env.container("db")]).trim().to_string();
    let mode = docker_cli(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", &env.container("app")]);
    assert_eq!(mode.trim(), format!("container:{db_id}"), "app still joins the replaced db's namespace");
    // The joiner's label names the new db: the next plan is in sync.
    expect_code(env.moor(&["plan", &dir]), 0);
    // db replaced by hand (not through moor): the label no longer names it, and the plan says so.
    docker_cli(&["rm", "-f", &env.container("db")]);
    expect_code(env.moor(&["apply", &dir]), 0);
    let db_id = docker_cli(&["inspect", "-f", "{{.Id}}", &env.container("db")]).trim().to_string();
    let mode = docker_cli(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", &env.container("app")]);
    assert_eq!(mode.trim(), format!("container:{db_id}"), "app follows a db made anew");
}

/// A logging option holds credentials as often as an env value does (`splunk-token`, a
/// `loki-url` with user:password): the plan must not print it.
#[tokio::test]
async fn the_plan_does_not_print_a_logging_credential() {
    image().await;
    let env = TestEnv::new("rv-logsecret");
    let dir = env.manifests().to_str().unwrap().to_string();
    env.write("s.yaml", &service_yaml("s", "  logging: {driver: json-file, options: {max-size: 10m}}\n"));
    expect_code(env.moor(&["apply", &dir]), 0);
    env.write(
        "s.yaml",
        &service_yaml(
            "s",
            "  logging: {driver: json-file, options: {max-size: 10m, loki-url: \"https://u:lokipass9@x\"}}\n",
        ),
    );
    let out = env.moor(&["plan", &dir]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("lokipass9"), "the plan prints a credential:\n{text}");
}
