//! `moor plan`, `apply` and `status` against the real Docker Engine.

mod common;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::CreateContainerOptionsBuilder;
use common::{docker, expect_code, image, owned, running_env, service_yaml, TestEnv, IMAGE, SLEEPER};

fn dir(env: &TestEnv) -> String {
    env.manifests().to_string_lossy().into_owned()
}

#[tokio::test]
async fn first_apply_creates_everything_and_the_second_is_a_no_op() {
    image().await;
    let env = TestEnv::new("noop");
    let docker = docker().await;
    let (web, worker) = (env.name("web"), env.name("worker"));
    env.write("web.yaml", &service_yaml(&web, "  ports: [\"8080\"]\n  replicas: 2\n"));
    env.write("worker.yaml", &service_yaml(&worker, "  autoRemove: true\n"));

    let plan = expect_code(env.moor(&["plan", "-o", "json", &dir(&env)]), 2);
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(plan["services"][&web]["actions"].as_array().map(Vec::len), Some(2), "{plan}");
    assert_eq!(plan["services"][&worker]["actions"][0]["action"], "create", "{plan}");
    // --dry-run is plan: the same exit code, and nothing is created.
    expect_code(env.moor(&["apply", "--dry-run", &dir(&env)]), 2);
    assert!(owned(&docker, &env.instance).await.is_empty());
    expect_code(env.moor(&["apply", &dir(&env)]), 0);
    let first = owned(&docker, &env.instance).await;
    let names: Vec<&String> = first.keys().collect();
    let expected = [env.container(&format!("{web}-1")), env.container(&format!("{web}-2")), env.container(&worker)];
    assert_eq!(names, expected.iter().collect::<Vec<_>>());

    let out = expect_code(env.moor(&["apply", &dir(&env)]), 0);
    assert!(out.contains("in sync"), "{out}");
    assert_eq!(owned(&docker, &env.instance).await, first, "a no-op apply must keep every container");
    expect_code(env.moor(&["plan", &dir(&env)]), 0);
    let status = expect_code(env.moor(&["status", "-o", "json", &dir(&env)]), 0);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&status).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["inSync"] == true), "{rows:?}");
}

#[tokio::test]
async fn running_stopped_and_absent_converge() {
    image().await;
    let env = TestEnv::new("states");
    let docker = docker().await;
    let (a, b, c) = (env.name("a"), env.name("b"), env.name("c"));
    env.write("a.yaml", &service_yaml(&a, ""));
    env.write("b.yaml", &service_yaml(&b, "  state: stopped\n"));
    env.write("c.yaml", &service_yaml(&c, ""));
    expect_code(env.moor(&["apply", &dir(&env)]), 0);
    assert_eq!(running_env(&docker, &env.container(&a)).await.map(|r| r.0), Some(true));
    assert_eq!(
        running_env(&docker, &env.container(&b)).await.map(|r| r.0),
        Some(false),
        "stopped: created, not running"
    );
    assert_eq!(running_env(&docker, &env.container(&c)).await.map(|r| r.0), Some(true));

    // Flip every state.
    env.write("a.yaml", &service_yaml(&a, "  state: stopped\n"));
    env.write("b.yaml", &service_yaml(&b, "  state: running\n"));
    env.write("c.yaml", &service_yaml(&c, "  state: absent\n"));
    expect_code(env.moor(&["apply", &dir(&env)]), 0);
    assert_eq!(running_env(&docker, &env.container(&a)).await.map(|r| r.0), Some(false));
    assert_eq!(running_env(&docker, &env.container(&b)).await.map(|r| r.0), Some(true));
    assert_eq!(running_env(&docker, &env.container(&c)).await, None, "absent: no container");
    expect_code(env.moor(&["plan", &dir(&env)]), 0);
}

#[tokio::test]
async fn drift_is_repaired_after_rm_and_after_stop() {
    image().await;
    let env = TestEnv::new("drift");
    let docker = docker().await;
    let web = env.name("web");
    env.write("web.yaml", &service_yaml(&web, ""));
    expect_code(env.moor(&["apply", &dir(&env)]), 0);

    common::docker_cli(&["rm", "-f", &env.container(&web)]);
    expect_code(env.moor(&["plan", &dir(&env)]), 2);
    let status = expect_code(env.moor(&["status", &dir(&env)]), 2);
    assert!(status.lines().any(|l| l.starts_with(&web) && l.contains(" absent ") && l.contains(" no ")), "{status}");
    expect_code(env.moor(&["apply", &dir(&env)]), 0);
    assert_eq!(running_env(&docker, &env.container(&web)).await.map(|r| r.0), Some(true));

    let id = owned(&docker, &env.instance).await[&env.container(&web)].clone();
    common::docker_cli(&["stop", "-t", "1", &env.container(&web)]);
    let out = expect_code(env.moor(&["apply", &dir(&env)]), 0);
    assert!(out.contains(&format!("start {}", env.container(&web))), "{out}");
    assert_eq!(running_env(&docker, &env.container(&web)).await.map(|r| r.0), Some(true));
    assert_eq!(
        owned(&docker, &env.instance).await[&env.container(&web)],
        id,
        "a stopped container is started, not replaced"
    );
}

#[tokio::test]
async fn a_changed_env_or_image_recreates_the_container() {
    let base_id = image().await;
    let env = TestEnv::new("change");
    let docker = docker().await;
    let v2 = format!("moor-test/busybox:{}", env.name("v2"));
    let v2_id = common::build_image(&docker, &v2, &env.name("v2")).await;
    env.own_image(&v2);
    assert_ne!(v2_id, base_id);

    let web = env.name("web");
    env.write("web.yaml", &service_yaml(&web, "  env: { LOG_LEVEL: info }\n"));
    expect_code(env.moor(&["apply", &dir(&env)]), 0);
    let first = owned(&docker, &env.instance).await[&env.container(&web)].clone();

    env.write("web.yaml", &service_yaml(&web, "  env: { LOG_LEVEL: debug }\n"));
    let plan = expect_code(env.moor(&["plan", &dir(&env)]), 2);
    assert!(plan.contains("~ env.LOG_LEVEL: \"info\" → \"debug\""), "{plan}");
    expect_code(env.moor(&["apply", &dir(&env)]), 0);
    let second = owned(&docker, &env.instance).await;
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second[&env.container(&web)], first);
    let (running, vars) = running_env(&docker, &env.container(&web)).await.unwrap();
    assert!(running && vars.contains(&"LOG_LEVEL=debug".to_string()), "{vars:?}");

    let text = service_yaml(&web, "  env: { LOG_LEVEL: debug }\n").replace(IMAGE, &v2);
    env.write("web.yaml", &text);
    let plan = expect_code(env.moor(&["plan", &dir(&env)]), 2);
    assert!(plan.contains(&format!("~ image: \"{IMAGE}\" → \"{v2}\"")), "{plan}");
    expect_code(env.moor(&["apply", &dir(&env)]), 0);
    let info = docker.inspect_container(&env.container(&web), None).await.unwrap();
    assert_eq!(info.image.as_deref(), Some(v2_id.as_str()));
    assert_ne!(owned(&docker, &env.instance).await[&env.container(&web)], second[&env.container(&web)]);
}

/// The seed's bug: an `--rm` container replaced again and again. Stopping it makes Docker
/// delete it, so moor's own remove meets 409 "removal already in progress" or 404; neither
/// may fail the update.
#[tokio::test]
async fn an_auto_remove_service_is_replaced_twenty_times_without_a_failure() {
    image().await;
    let env = TestEnv::new("seed");
    let docker = docker().await;
    let job = env.name("job");
    for round in 0..20 {
        env.write("job.yaml", &service_yaml(&job, &format!("  autoRemove: true\n  env: {{ ROUND: \"{round}\" }}\n")));
        expect_code(env.moor(&["apply", &dir(&env)]), 0);
        let (running, vars) = running_env(&docker, &env.container(&job)).await.expect("the job container exists");
        assert!(running, "round {round}: not running");
        assert!(vars.contains(&format!("ROUND={round}")), "round {round}: {vars:?}");
        assert_eq!(owned(&docker, &env.instance).await.len(), 1, "round {round}: leftovers");
    }
}

#[tokio::test]
async fn an_auto_remove_container_being_removed_converges_to_absent() {
    image().await;
    let env = TestEnv::new("removing");
    let docker = docker().await;
    for round in 0..5 {
        let job = env.name(&format!("job{round}"));
        env.write("job.yaml", &service_yaml(&job, "  autoRemove: true\n"));
        expect_code(env.moor(&["apply", &dir(&env)]), 0);
        // Start Docker's removal, and ask for absent while it is under way.
        let stopper = {
            let docker = docker.clone();
            let job = env.container(&job);
            tokio::spawn(async move { docker.stop_container(&job, None).await })
        };
        env.write("job.yaml", &service_yaml(&job, "  autoRemove: true\n  state: absent\n"));
        expect_code(env.moor(&["apply", &dir(&env)]), 0);
        let _ = stopper.await;
        assert_eq!(running_env(&docker, &env.container(&job)).await, None, "round {round}");
    }
}

#[tokio::test]
async fn an_unowned_container_holding_a_desired_name_is_reported_and_left_alone() {
    image().await;
    let env = TestEnv::new("conflict");
    let docker = docker().await;
    let (web, other) = (env.name("web"), env.name("bystander"));
    // The name moor wants for `web` in this instance, held by a container it does not own.
    let held = env.container(&web);
    let mut foreign_ids = Vec::new();
    for name in [&held, &other] {
        let body = ContainerCreateBody {
            image: Some(IMAGE.into()),
            cmd: Some(vec!["sh".into(), "-c".into(), SLEEPER.into()]),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        let id = docker.create_container(Some(options), body).await.unwrap().id;
        docker.start_container(&id, None).await.unwrap();
        foreign_ids.push(id);
    }
    env.write("web.yaml", &service_yaml(&web, ""));
    let out = env.moor(&["apply", &dir(&env)]);
    let stdout = expect_code(out, 1);
    assert!(stdout.contains("which moor does not own"), "{stdout}");
    for (name, id) in [&held, &other].into_iter().zip(&foreign_ids) {
        let info = docker.inspect_container(name, None).await.unwrap();
        assert_eq!(info.id.as_ref(), Some(id), "{name} was replaced");
        assert_eq!(info.state.unwrap().running, Some(true), "{name} was stopped");
    }
    assert!(owned(&docker, &env.instance).await.is_empty());
}

#[tokio::test]
async fn a_deleted_manifest_is_pruned_but_never_while_a_manifest_is_broken() {
    image().await;
    let env = TestEnv::new("prune");
    let docker = docker().await;
    let (a, b, c) = (env.name("a"), env.name("b"), env.name("c"));
    env.write("a.yaml", &service_yaml(&a, ""));
    env.write("b.yaml", &service_yaml(&b, ""));
    expect_code(env.moor(&["apply", &dir(&env)]), 0);

    // b's manifest is gone, a's is broken, c is new: c converges, nothing is pruned.
    env.remove("b.yaml");
    env.write("a.yaml", "apiVersion: moor/v1\nkind: Service\nmetadata: {name: broken\n");
    env.write("c.yaml", &service_yaml(&c, ""));
    let out = env.moor(&["apply", &dir(&env)]);
    let stdout = expect_code(out, 1);
    assert!(stdout.contains("prune suspended"), "{stdout}");
    let now = owned(&docker, &env.instance).await;
    assert!(
        now.contains_key(&env.container(&a))
            && now.contains_key(&env.container(&b))
            && now.contains_key(&env.container(&c)),
        "{now:?}"
    );
    assert_eq!(running_env(&docker, &env.container(&a)).await.map(|r| r.0), Some(true), "a keeps running as it was");

    env.write("a.yaml", &service_yaml(&a, ""));
    expect_code(env.moor(&["apply", &dir(&env)]), 0);
    let now = owned(&docker, &env.instance).await;
    assert!(
        now.contains_key(&env.container(&a))
            && !now.contains_key(&env.container(&b))
            && now.contains_key(&env.container(&c)),
        "{now:?}"
    );
}

#[tokio::test]
async fn crash_leftovers_are_cleaned_up_to_one_container() {
    image().await;
    let env = TestEnv::new("leftover");
    let docker = docker().await;
    let web = env.name("web");
    env.write("web.yaml", &service_yaml(&web, ""));
    expect_code(env.moor(&["apply", &dir(&env)]), 0);
    // What a crash mid-replace leaves: a second owned container of the same replica.
    let labels = [
        ("moor.instance", env.instance.as_str()),
        ("moor.service", web.as_str()),
        ("moor.replica", "1"),
        ("moor.spec-hash", "sha256:stale"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .into();
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: Some(vec!["sh".into(), "-c".into(), SLEEPER.into()]),
        labels: Some(labels),
        ..Default::default()
    };
    let temp = format!("{web}-moor-next");
    let options = CreateContainerOptionsBuilder::default().name(&temp).build();
    docker.create_container(Some(options), body).await.unwrap();
    assert_eq!(owned(&docker, &env.instance).await.len(), 2);

    expect_code(env.moor(&["apply", &dir(&env)]), 0);
    let now = owned(&docker, &env.instance).await;
    assert_eq!(now.keys().collect::<Vec<_>>(), [&env.container(&web)], "{now:?}");
    expect_code(env.moor(&["plan", &dir(&env)]), 0);
}

#[tokio::test]
async fn networks_volumes_ports_and_depends_on_healthy_work_end_to_end() {
    image().await;
    let env = TestEnv::new("e2e");
    let docker = docker().await;
    let (net, vol, db, app) = (env.name("net"), env.name("vol"), env.name("db"), env.name("app"));
    let back = env.name("back");
    env.write("net.yaml", &format!("apiVersion: moor/v1\nkind: Network\nmetadata: {{name: {net}}}\n"));
    env.write("back.yaml", &format!("apiVersion: moor/v1\nkind: Network\nmetadata: {{name: {back}}}\n"));
    env.write("vol.yaml", &format!("apiVersion: moor/v1\nkind: Volume\nmetadata: {{name: {vol}}}\n"));
    env.write(
        "db.yaml",
        &service_yaml(
            &db,
            &format!("  networks: [{net}]\n  volumes: [\"{vol}:/data\"]\n  healthcheck: {{ test: [\"CMD\", \"test\", \"-d\", \"/data\"], interval: 1s, retries: 3 }}\n"),
        ),
    );
    // Two networks: API 1.41 takes one at create, the other is connected before start.
    let app_extra =
        format!("  networks: [{net}, {back}]\n  ports: [\"127.0.0.1::8080\"]\n  dependsOn: {{ {db}: healthy }}\n");
    env.write("app.yaml", &service_yaml(&app, &app_extra));
    expect_code(env.moor(&["apply", &dir(&env)]), 0);

    let db_info = docker.inspect_container(&env.container(&db), None).await.unwrap();
    let app_info = docker.inspect_container(&env.container(&app), None).await.unwrap();
    let health = db_info.state.as_ref().unwrap().health.as_ref().unwrap();
    let first_ok = health.log.as_ref().unwrap().iter().find(|l| l.exit_code == Some(0)).expect("a passing check");
    let started = app_info.state.as_ref().unwrap().started_at.clone().unwrap();
    assert!(first_ok.end.clone().unwrap() <= started, "app started before db was healthy");

    for info in [&db_info, &app_info] {
        let networks = info.network_settings.as_ref().unwrap().networks.as_ref().unwrap();
        assert!(networks.contains_key(&net), "{networks:?}");
    }
    let app_networks = app_info.network_settings.as_ref().unwrap().networks.as_ref().unwrap();
    assert!(app_networks.contains_key(&back), "{app_networks:?}");
    assert_eq!(app_networks[&back].aliases.as_ref().map(|a| a.contains(&app)), Some(true), "service name as DNS alias");
    let mounts = db_info.mounts.clone().unwrap();
    assert!(mounts.iter().any(|m| m.name.as_deref() == Some(vol.as_str())), "{mounts:?}");
    let ports = app_info.network_settings.unwrap().ports.unwrap();
    let binding = ports["8080/tcp"].as_ref().unwrap()[0].clone();
    assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
    assert!(binding.host_port.unwrap().parse::<u16>().unwrap() > 0);

    // A service change never deletes a named volume's data.
    common::docker_cli(&["exec", &env.container(&db), "sh", "-c", "echo kept > /data/file"]);
    let db_yaml = std::fs::read_to_string(env.manifests().join("db.yaml")).unwrap();
    env.write("db.yaml", &format!("{db_yaml}  env: {{ CHANGED: \"yes\" }}\n"));
    expect_code(env.moor(&["apply", &dir(&env)]), 0);
    let content = common::docker_cli(&["exec", &env.container(&db), "cat", "/data/file"]);
    assert_eq!(content.trim(), "kept");

    // A deleted Network manifest is pruned only when nothing uses it.
    let (net2, net3) = (env.name("net2"), env.name("net3"));
    let network = |name: &str| format!("apiVersion: moor/v1\nkind: Network\nmetadata: {{name: {name}}}\n");
    let exists = |name: &str| {
        !common::docker_cli(&["network", "ls", "-q", "--filter", &format!("name=^{name}$")]).trim().is_empty()
    };
    env.write("net2.yaml", &network(&net2));
    env.write("net3.yaml", &network(&net3));
    expect_code(env.moor(&["apply", &dir(&env)]), 0);
    assert!(exists(&net2) && exists(&net3));
    env.remove("net.yaml"); // still used by db and app
    env.remove("net2.yaml"); // used by nothing
    expect_code(env.moor(&["apply", &dir(&env)]), 0);
    assert!(exists(&net), "a network in use was pruned");
    assert!(!exists(&net2), "an unused network without manifest was kept");
    assert!(exists(&net3));
}
