//! The host policy end to end: its committed schema, `moor validate` with the default policy and
//! with `--policy`, and against the real daemon `moor apply` refusing a service and `moor run`
//! leaving a running container alone when its manifest turns to one the policy refuses.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{docker, eventually, expect_code, image, moor_bin, owned, running_env, service_yaml, Controller, TestEnv};

const SOCKET: &str = "  volumes: [\"/var/run/docker.sock:/var/run/docker.sock\"]\n";

fn moor(args: &[&str]) -> std::process::Output {
    Command::new(moor_bin()).args(args).output().expect("run moor")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_committed_policy_schema_is_fresh_and_printed() {
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/moor-policy.schema.json")).unwrap();
    assert!(
        committed == moor::policy::schema::policy_schema_text(),
        "schema/moor-policy.schema.json is stale: run `cargo run -- schema --policy > schema/moor-policy.schema.json`"
    );
    assert_eq!(expect_code(moor(&["schema", "--policy"]), 0), committed);
    // The example policy of the README and `contrib/` is valid.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/policy.yaml");
    moor::policy::load(&example).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn validate_applies_the_default_policy_and_locates_each_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.yaml");
    let web = "apiVersion: moor/v1\nkind: Service\nmetadata: {name: web}\nspec:\n  image: web:1\n  volumes:\n    - ./conf:/conf:ro\n    - /:/host\n";
    let agent = "---\napiVersion: moor/v1\nkind: Service\nmetadata: {name: agent}\nspec:\n  image: agent:1\n  volumes: [\"/var/run/docker.sock:/var/run/docker.sock\"]\n";
    std::fs::write(&file, format!("{web}{agent}")).unwrap();
    let f = file.display();
    let out = expect_code(moor(&["validate", dir.path().to_str().unwrap()]), 1);
    assert_eq!(
        out,
        format!(
            "{f}:8:7: spec.volumes[1]: host path / holds the Docker socket /run/docker.sock: access to it is root on the host (bindMounts.dockerSocket: false)\n\
             {f}:15:13: spec.volumes[0]: host path /var/run/docker.sock is the Docker socket: access to it is root on the host (bindMounts.dockerSocket: false)\n"
        )
    );
    let json: serde_json::Value =
        serde_json::from_str(&expect_code(moor(&["validate", "-o", "json", dir.path().to_str().unwrap()]), 1)).unwrap();
    assert_eq!(json[0]["field"], "spec.volumes[1]");
    assert_eq!((json[0]["line"].as_u64(), json[0]["column"].as_u64()), (Some(8), Some(7)));
}

#[test]
fn validate_with_a_policy_file_applies_that_policy_instead() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  bindMounts:\n    allow: [/srv/data]\n")
        .unwrap();
    let service = |name: &str, bind: &str| {
        format!("apiVersion: moor/v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  image: app:1\n  volumes: [\"{bind}\"]\n")
    };
    std::fs::write(manifests.join("data.yaml"), service("data", "/srv/data/app:/data")).unwrap();
    let (m, p) = (manifests.to_str().unwrap(), policy.to_str().unwrap());
    expect_code(moor(&["validate", m, "--policy", p]), 0);

    std::fs::write(manifests.join("opt.yaml"), service("opt", "/opt/app:/app")).unwrap();
    expect_code(moor(&["validate", m]), 0);
    let out = expect_code(moor(&["validate", m, "--policy", p]), 1);
    let opt = manifests.join("opt.yaml");
    assert_eq!(
        out,
        format!(
            "{}:6:13: spec.volumes[0]: host path /opt/app is outside bindMounts.allow (/srv/data)\n",
            opt.display()
        )
    );
    // Through the environment, as a systemd unit would give it.
    let via_env = Command::new(moor_bin()).args(["validate", m]).env("MOOR_POLICY", p).output().unwrap();
    expect_code(via_env, 1);

    // A broken policy stops the command: no fallback to the default.
    std::fs::write(&policy, "apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  bindMount: {allow: [/srv]}\n").unwrap();
    let out = moor(&["validate", m, "--policy", p]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing was validated");
    assert_eq!(
        stderr(&out),
        format!("moor: the host policy {p} cannot be used:\n  {p}:4:3: spec.bindMount: unknown field \"bindMount\"\n")
    );
}

#[tokio::test]
async fn apply_refuses_a_service_that_binds_the_docker_socket() {
    image().await;
    let env = TestEnv::new("policy-apply");
    let docker = docker().await;
    let (agent, web) = (env.name("agent"), env.name("web"));
    env.write("agent.yaml", &service_yaml(&agent, SOCKET));
    env.write("web.yaml", &service_yaml(&web, ""));
    let dir = env.manifests().to_str().unwrap().to_string();

    let plan = expect_code(env.moor(&["plan", &dir]), 1);
    assert!(plan.contains(&format!("! {agent}: refused by policy, left as it is\n")), "{plan}");
    let out = env.moor(&["apply", &dir]);
    let stdout = expect_code(out, 1);
    let file = env.manifests().join("agent.yaml");
    assert!(
        stdout.contains(&format!(
            "! {agent}: refused by policy, left as it is\n    {}:10:13: spec.volumes[0]: host path /var/run/docker.sock is the Docker socket",
            file.display()
        )),
        "{stdout}"
    );
    assert!(stdout.ends_with("0 service(s) failed, 1 refused by policy\n"), "{stdout}");
    let containers = owned(&docker, &env.instance).await;
    assert!(!containers.contains_key(&env.container(&agent)), "the refused service was not created: {containers:?}");
    assert!(containers.contains_key(&env.container(&web)), "the admitted one was: {containers:?}");

    let json: serde_json::Value =
        serde_json::from_str(&expect_code(env.moor(&["apply", &dir, "-o", "json"]), 1)).unwrap();
    assert_eq!(json["refused"][&agent][0]["field"], "spec.volumes[0]", "{json}");
}

#[tokio::test]
async fn run_leaves_a_running_container_alone_when_its_manifest_is_refused() {
    image().await;
    let env = TestEnv::new("policy-run");
    let docker = docker().await;
    let web = env.name("web");
    env.write("web.yaml", &service_yaml(&web, "  env: {STAGE: one}\n"));
    let policy_dir = tempfile::tempdir().unwrap();
    let policy = policy_dir.path().join("policy.yaml");
    let allowed = env.manifests().display().to_string();
    std::fs::write(
        &policy,
        format!("apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  bindMounts: {{allow: [\"{allowed}\"]}}\n"),
    )
    .unwrap();
    let moor = Controller::start(&env, &["--policy", policy.to_str().unwrap()]).await;
    let first = eventually(Duration::from_secs(20), "web runs", || async {
        let id = owned(&docker, &env.instance).await.get(&env.container(&web)).cloned()?;
        running_env(&docker, &id).await.filter(|r| r.0).map(|_| id)
    })
    .await;

    // A changed spec that also binds the Docker socket: refused, so not replaced.
    env.write("web.yaml", &service_yaml(&web, &format!("  env: {{STAGE: two}}\n{SOCKET}")));
    let status = eventually(Duration::from_secs(20), "the refusal in /status", || async {
        let status = moor.status();
        (status["services"][&web]["refused"] == true).then_some(status)
    })
    .await;
    let service = &status["services"][&web];
    assert_eq!(service["inSync"], false);
    let error = service["lastError"].as_str().unwrap();
    let file = env.manifests().join("web.yaml");
    assert_eq!(
        error,
        format!(
            "refused by policy: {}:11:13: spec.volumes[0]: host path /var/run/docker.sock is the Docker socket: access to it is root on the host (bindMounts.dockerSocket: false)",
            file.display()
        )
    );
    assert_eq!(moor.metric("moor_services{state=\"refused\"}"), Some(1.0));

    // A resync and the container's own stop event come and go: it stays as it is, old spec and
    // all, and is not started again.
    common::docker_cli(&["stop", "-t", "1", &env.container(&web)]);
    eventually(Duration::from_secs(10), "the stop event skipped", || async {
        (moor.metric("moor_reconcile_skipped_total{reason=\"refused\"}")? >= 1.0).then_some(())
    })
    .await;
    let containers = owned(&docker, &env.instance).await;
    assert_eq!(containers.get(&env.container(&web)), Some(&first), "the same container, never replaced or pruned");
    assert_eq!(containers.len(), 1);
    let (running, env_vars) = running_env(&docker, &first).await.expect("still there");
    assert!(!running, "not started again: nothing is done to a refused service");
    assert!(env_vars.contains(&"STAGE=one".to_string()), "{env_vars:?}");
}
