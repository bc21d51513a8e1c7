//! Placement and node-scoped ownership (issue 14 part 2) against the real daemon: two agents of
//! one instance on this one daemon (`moor apply --node a` and `--node b --node-label role=edge`)
//! over one folder. Each applies only what is placed on it, labels its containers `moor.node`,
//! and never removes or replaces the other's; a service moved from a to b is removed by a and
//! created by b, its volume kept; a node left with nothing placed holds prune back unless
//! `--allow-empty`; two nodes placing one service on one daemon meet as a name conflict.

mod common;

use common::{docker_cli, expect_code, image, service_yaml, TestEnv};

/// The container's ID and its `moor.node` label (empty when it has none), or `None` when it
/// does not exist.
fn inspect(container: &str) -> Option<(String, String)> {
    let out = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{.Id}} {{index .Config.Labels \"moor.node\"}}", container])
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (id, node) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
    // Go's template prints a missing key as `<no value>`: no label.
    Some((id.to_string(), node.replace("<no value>", "")))
}

fn volumes(env: &TestEnv) -> Vec<String> {
    let filter = format!("label=moor.instance={}", env.instance);
    docker_cli(&["volume", "ls", "-q", "--filter", &filter]).split_whitespace().map(String::from).collect()
}

const VOLUME: &str = "apiVersion: moor/v1\nkind: Volume\nmetadata: {name: data}\n";

fn web_on(node: &str) -> String {
    service_yaml(
        "web",
        &format!("  placement: {{nodes: [{node}]}}\n  volumes: [{{type: volume, source: data, target: /d}}]\n"),
    )
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn two_nodes_on_one_daemon_apply_their_own_services_and_leave_each_other_alone() {
    image().await;
    let env = TestEnv::new("place-two");
    let dir = env.manifests().to_str().unwrap().to_string();
    env.write("web.yaml", &web_on("a"));
    env.write("api.yaml", &service_yaml("api", "  placement: {nodeSelector: {role: edge}}\n"));
    env.write("data.yaml", VOLUME);
    // Keeps node a from being left with nothing placed when web moves away.
    env.write("cron.yaml", &service_yaml("cron", "  placement: {nodes: [a]}\n"));
    let a: &[&str] = &["--node", "a"];
    let b: &[&str] = &["--node", "b", "--node-label", "role=edge"];
    let run = |command: &str, node: &[&str], extra: &[&str]| env.moor(&[&[command][..], node, extra, &[&dir]].concat());
    let (web, api) = (env.container("web"), env.container("api"));

    // `plan --node` shows what each node would do.
    let plan_a = expect_code(run("plan", a, &[]), 2);
    assert!(plan_a.contains("web") && !plan_a.contains("api"), "node a plans web, not api:\n{plan_a}");
    let plan_b = expect_code(run("plan", b, &[]), 2);
    assert!(plan_b.contains("api") && !plan_b.contains("web"), "node b plans api only:\n{plan_b}");

    expect_code(run("apply", a, &[]), 0);
    let (web_id, web_node) = inspect(&web).expect("node a made web");
    assert_eq!(web_node, "a");
    assert!(inspect(&api).is_none(), "api is not placed on a");
    assert_eq!(volumes(&env).len(), 1, "the volume web uses is made on a");

    // Node b: web is not placed there, yet a's web is not b's to prune.
    expect_code(run("apply", b, &[]), 0);
    let (api_id, api_node) = inspect(&api).expect("node b made api");
    assert_eq!(api_node, "b");
    assert_eq!(inspect(&web).map(|w| w.0), Some(web_id.clone()), "b left a's web alone");
    // And a leaves b's api alone: each node is in sync.
    assert_eq!(expect_code(run("plan", a, &[]), 0), "in sync: nothing to do\n");
    assert_eq!(expect_code(run("plan", b, &[]), 0), "in sync: nothing to do\n");
    expect_code(run("apply", a, &[]), 0);
    assert_eq!(inspect(&api).map(|c| c.0), Some(api_id.clone()), "a left b's api alone");

    // web moves to b: a removes its web (the volume stays), b creates its own.
    env.write("web.yaml", &web_on("b"));
    expect_code(run("apply", a, &[]), 0);
    assert!(inspect(&web).is_none(), "a removed web, placed elsewhere now");
    assert_eq!(volumes(&env).len(), 1, "a volume is never removed because its service moved away");
    expect_code(run("apply", b, &[]), 0);
    let (moved_id, moved_node) = inspect(&web).expect("b made web");
    assert_eq!(moved_node, "b");
    assert_ne!(moved_id, web_id);
    assert_eq!(volumes(&env).len(), 1);

    // Nothing placed on b any more (a selector typo): prune is held back, with the node named.
    env.write("web.yaml", &web_on("a"));
    env.write("api.yaml", &service_yaml("api", "  placement: {nodeSelector: {role: edg}}\n"));
    let out = run("apply", b, &[]);
    let said = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("no Service of the 3 declared is placed on node b (labels role=edge): prune suspended"),
        "{said}"
    );
    assert_eq!(inspect(&api).map(|c| c.0), Some(api_id), "api kept while the guard holds");
    assert_eq!(inspect(&web).map(|c| c.0), Some(moved_id), "web kept while the guard holds");
    expect_code(run("apply", b, &["--allow-empty"]), 0);
    assert!(inspect(&api).is_none() && inspect(&web).is_none(), "--allow-empty lets b prune its own");
}

#[tokio::test]
async fn two_nodes_placing_one_service_on_one_daemon_meet_as_a_name_conflict() {
    image().await;
    let env = TestEnv::new("place-clash");
    let dir = env.manifests().to_str().unwrap().to_string();
    env.write("web.yaml", &service_yaml("web", ""));
    expect_code(env.moor(&["apply", "--node", "a", &dir]), 0);
    let (id, node) = inspect(&env.container("web")).expect("a made web");
    assert_eq!(node, "a");
    // b does not own a's web: it cannot take its name, and says so; a's web is untouched.
    let out = env.moor(&["apply", "--node", "b", &dir]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert!(said.contains("of node \"a\" of this instance"), "{said}");
    assert_eq!(inspect(&env.container("web")), Some((id, "a".to_string())));
}

#[tokio::test]
async fn moor_down_of_one_node_leaves_the_other_nodes_containers_and_the_shared_network() {
    image().await;
    let env = TestEnv::new("place-down");
    let dir = env.manifests().to_str().unwrap().to_string();
    env.write("web.yaml", &service_yaml("web", "  placement: {nodes: [a]}\n"));
    env.write("api.yaml", &service_yaml("api", "  placement: {nodes: [b]}\n"));
    expect_code(env.moor(&["apply", "--node", "a", &dir]), 0);
    expect_code(env.moor(&["apply", "--node", "b", &dir]), 0);
    let out = env.moor(&["down", "--yes", "--node", "a"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(inspect(&env.container("web")).is_none(), "down --node a removed a's web");
    assert!(inspect(&env.container("api")).is_some(), "b's api is left");
    let network = format!("{}_default", env.instance);
    let listed = docker_cli(&["network", "ls", "-q", "--filter", &format!("name={network}")]);
    assert!(!listed.trim().is_empty(), "the network b's api is on is left");
}

/// The node of `container` once it exists and is made by `node`'s agent.
async fn made_by(container: &str, node: &str) -> String {
    let what = format!("{container} made by node {node}");
    common::eventually(std::time::Duration::from_secs(40), &what, || async {
        inspect(container).filter(|(_, n)| n == node).map(|(id, _)| id)
    })
    .await
}

#[tokio::test]
async fn two_agents_over_one_folder_place_by_name_and_selector_and_move_a_service() {
    image().await;
    let env = TestEnv::new("place-run");
    env.write("web.yaml", &service_yaml("web", "  placement: {nodes: [a]}\n"));
    env.write("api.yaml", &service_yaml("api", "  placement: {nodeSelector: {role: edge}}\n"));
    env.write("cron.yaml", &service_yaml("cron", "  placement: {nodes: [a]}\n"));
    let dir = env.manifests().to_str().unwrap().to_string();
    let _a = common::Controller::start_every(&env, "2s", &[&dir, "--node", "a"]).await;
    let b = common::Controller::start_every(&env, "2s", &[&dir, "--node", "b", "--node-label", "role=edge"]).await;
    let (web, api) = (env.container("web"), env.container("api"));
    let web_a = made_by(&web, "a").await;
    let api_b = made_by(&api, "b").await;
    assert_eq!(b.status()["node"]["name"], "b", "{}", b.status());
    // A node with nothing placed and nothing running holds nothing back: no guard shown.
    let c = common::Controller::start_every(&env, "2s", &[&dir, "--node", "c"]).await;
    common::eventually(std::time::Duration::from_secs(20), "node c without a guard", || async {
        let status = c.status();
        (status["node"]["name"] == "c"
            && status["pruneSuspended"].is_null()
            && status["problems"] == serde_json::json!([]))
        .then_some(())
    })
    .await;

    // web moves to b: a's agent removes its web, b's makes its own; api stays as it was.
    env.write("web.yaml", &service_yaml("web", "  placement: {nodes: [b]}\n"));
    let web_b = made_by(&web, "b").await;
    assert_ne!(web_b, web_a);
    assert_eq!(inspect(&api).map(|c| c.0), Some(api_b), "api was left alone");
    assert!(inspect(&env.container("cron")).is_some_and(|c| c.1 == "a"), "cron stays on a");
}

#[test]
fn compose_placement_constraints_import_into_a_placement_that_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let compose = "services:\n  web:\n    image: nginx:1.27\n    deploy:\n      placement:\n        constraints:\n          - node.hostname == Edge-1\n          - node.labels.role == edge\n          - node.role != manager\n        preferences:\n          - spread: node.labels.zone\n";
    std::fs::write(tmp.path().join("compose.yaml"), compose).unwrap();
    let out = std::process::Command::new(common::moor_bin())
        .current_dir(tmp.path())
        .args(["import", "compose.yaml"])
        .output()
        .unwrap();
    let said = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "something is left out: {said}");
    for left in ["services.web.deploy.placement.constraints[2]", "services.web.deploy.placement.preferences"] {
        assert!(said.contains(left), "{left} not reported in:\n{said}");
    }
    let manifests = tmp.path().join("manifests");
    let web = std::fs::read_to_string(manifests.join("web.yaml")).unwrap();
    let loaded = moor::manifest::load_paths(&[manifests]);
    assert!(loaded.problems.is_empty(), "{:?}\n{web}", loaded.problems);
    let placement = loaded.desired.services["web"].placement.clone().expect("a placement");
    assert_eq!(placement.nodes, Some(["edge-1".to_string()].into()));
    assert_eq!(placement.node_selector, [("role".to_string(), "edge".to_string())].into());
}

/// A container the release before nodes made (its labels without `moor.node`) is adopted as it
/// is: `plan --node a` is in sync and `apply --node a` keeps the same container.
#[tokio::test]
async fn a_container_from_before_nodes_is_adopted_without_a_recreate() {
    image().await;
    let env = TestEnv::new("place-upgrade");
    let dir = env.manifests().to_str().unwrap().to_string();
    env.write("web.yaml", &service_yaml("web", ""));
    expect_code(env.moor(&["apply", "--node", "a", &dir]), 0);
    let web = env.container("web");
    // Made again as the previous release left it: the same labels, but no `moor.node`.
    let labels: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&docker_cli(&["inspect", "-f", "{{json .Config.Labels}}", &web])).unwrap();
    docker_cli(&["rm", "-f", &web]);
    let mut args: Vec<String> = ["run", "-d", "--name", &web, "--network", &format!("{}_default", env.instance)]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (k, v) in labels.iter().filter(|(k, _)| k.as_str() != "moor.node") {
        args.extend(["--label".to_string(), format!("{k}={v}")]);
    }
    args.extend([common::IMAGE.to_string(), "sh".into(), "-c".into(), common::SLEEPER.into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    docker_cli(&args);
    let (id, node) = inspect(&web).expect("the old container runs");
    assert_eq!(node, "", "made without moor.node");

    assert_eq!(expect_code(env.moor(&["plan", "--node", "a", &dir]), 0), "in sync: nothing to do\n");
    expect_code(env.moor(&["apply", "--node", "a", &dir]), 0);
    assert_eq!(inspect(&web), Some((id, String::new())), "adopted as it is, not recreated for the label");
}
