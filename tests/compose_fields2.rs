//! The resource tuning, namespace and network mode fields of issue 13 against the real daemon:
//! applied, read back with inspect; the host's user, cgroup and network namespaces refused by the
//! default policy.

mod common;

use common::{docker, expect_code, image, TestEnv, SLEEPER};

fn path(env: &TestEnv) -> &str {
    env.manifests().to_str().unwrap()
}

/// A Service on the test image with `fields` (two-space indented), from line 10 of its file.
fn service(name: &str, fields: &str) -> String {
    format!(
        "apiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  image: {}\n  pull: never\n  command: sh -c \"{SLEEPER}\"\n  stopTimeout: 5s\n{fields}",
        common::IMAGE
    )
}

const TUNING: &str = "  resources: { memory: 128Mi }
  memReservation: 64Mi
  cpuShares: 512
  cpusetCpus: \"0\"
  cpusetMems: \"0\"
  oomScoreAdj: 500
  oomKillDisable: true
  cgroup: private
";

#[tokio::test]
async fn the_tuning_fields_reach_the_container_and_a_second_apply_keeps_it() {
    image().await;
    let env = TestEnv::new("compose-tuning");
    let docker = docker().await;
    let name = env.name("app");
    // A cgroup parent of this test's own, so that parallel runs do not share one.
    let parent = format!("/{}", env.name("moor-test"));
    env.write("app.yaml", &service(&name, &format!("{TUNING}  cgroupParent: {parent}\n")));
    expect_code(env.moor(&["apply", path(&env)]), 0);

    let info = docker.inspect_container(&env.container(&name), None).await.unwrap();
    assert_eq!(info.state.as_ref().unwrap().running, Some(true), "{:?}", info.state);
    let host = info.host_config.clone().unwrap();
    assert_eq!((host.memory, host.memory_reservation), (Some(128 << 20), Some(64 << 20)));
    assert_eq!(host.cpu_shares, Some(512));
    assert_eq!((host.cpuset_cpus.as_deref(), host.cpuset_mems.as_deref()), (Some("0"), Some("0")));
    assert_eq!((host.oom_score_adj, host.oom_kill_disable), (Some(500), Some(true)));
    assert_eq!(host.cgroupns_mode.map(|m| m.to_string()).as_deref(), Some("private"));
    assert_eq!(host.cgroup_parent.as_deref(), Some(parent.as_str()));
    // The kernel has them too.
    let adj = common::docker_cli(&["exec", &env.container(&name), "cat", "/proc/self/oom_score_adj"]);
    assert_eq!(adj.trim(), "500");

    let id = info.id.unwrap();
    expect_code(env.moor(&["apply", path(&env)]), 0);
    assert_eq!(docker.inspect_container(&env.container(&name), None).await.unwrap().id.unwrap(), id);
}

#[tokio::test]
async fn the_host_user_and_cgroup_namespaces_need_the_policy() {
    image().await;
    let env = TestEnv::new("compose-userns");
    let docker = docker().await;
    let name = env.name("app");
    let file = env.write("app.yaml", &service(&name, "  userns: host\n  cgroup: host\n"));

    let stdout = expect_code(env.moor(&["apply", path(&env)]), 1);
    for line in [
        format!("{}:10:11: spec.userns: the host's user namespace", file.display()),
        format!("{}:11:11: spec.cgroup: the host's cgroup namespace", file.display()),
    ] {
        assert!(stdout.contains(&line), "{line}\nin\n{stdout}");
    }
    assert!(docker.inspect_container(&env.container(&name), None).await.is_err(), "a refused service was created");

    let (_dir, policy) = common::policy_file("  hostNamespaces: {user: true, cgroup: true}\n");
    expect_code(env.moor(&["apply", path(&env), "--policy", &policy]), 0);
    let info = docker.inspect_container(&env.container(&name), None).await.unwrap();
    assert_eq!(info.state.unwrap().running, Some(true));
    let host = info.host_config.unwrap();
    assert_eq!(host.userns_mode.as_deref(), Some("host"));
    assert_eq!(host.cgroupns_mode.map(|m| m.to_string()).as_deref(), Some("host"));
}

#[tokio::test]
async fn a_service_joins_another_services_network_namespace_or_none() {
    image().await;
    let env = TestEnv::new("compose-netmode");
    let docker = docker().await;
    let (db, app, alone) = (env.name("db"), env.name("app"), env.name("alone"));
    env.write("db.yaml", &service(&db, "  hostname: dbhost\n"));
    env.write("app.yaml", &service(&app, &format!("  networkMode: service:{db}\n")));
    env.write("alone.yaml", &service(&alone, "  networkMode: none\n"));
    // One apply: the db is started first, as the implied dependency says.
    expect_code(env.moor(&["apply", path(&env)]), 0);

    let db_id = docker.inspect_container(&env.container(&db), None).await.unwrap().id.unwrap();
    let info = docker.inspect_container(&env.container(&app), None).await.unwrap();
    assert_eq!(info.state.as_ref().unwrap().running, Some(true), "{:?}", info.state);
    // Docker keeps the container it joined by name or by ID.
    let mode = info.host_config.unwrap().network_mode.unwrap();
    assert!(mode == format!("container:{}", env.container(&db)) || mode == format!("container:{db_id}"), "{mode}");
    // The app sees the db's hostname: one network namespace (and UTS) for both.
    assert_eq!(common::docker_cli(&["exec", &env.container(&app), "hostname"]).trim(), "dbhost");
    let none = docker.inspect_container(&env.container(&alone), None).await.unwrap().host_config.unwrap();
    assert_eq!(none.network_mode.as_deref(), Some("none"));

    // Nothing changed: nothing replaced.
    let app_id = info.id.unwrap();
    expect_code(env.moor(&["apply", path(&env)]), 0);
    assert_eq!(docker.inspect_container(&env.container(&app), None).await.unwrap().id.unwrap(), app_id);

    // The host network is the policy's, at its field.
    let file = env.write("alone.yaml", &service(&alone, "  networkMode: host\n"));
    let stdout = expect_code(env.moor(&["apply", path(&env)]), 1);
    let line = format!("{}:10:16: spec.networkMode: the host network", file.display());
    assert!(stdout.contains(&line), "{line}\nin\n{stdout}");
}

#[tokio::test]
async fn the_long_form_of_networks_gives_aliases_and_a_static_address() {
    image().await;
    let env = TestEnv::new("compose-aliases");
    let docker = docker().await;
    let (app, own, subnetted) = (env.name("app"), env.name("a-own"), env.name("b-subnet"));
    // A network with a configured subnet, as Docker needs for a static address; labelled with
    // the test's instance so that the test's cleanup removes it.
    let octet = std::process::id() % 200 + 20;
    let label = format!("moor.instance={}", env.instance);
    let subnet = format!("10.213.{octet}.0/24");
    common::docker_cli(&["network", "create", "--subnet", &subnet, "--label", &label, &subnetted]);
    env.write("net.yaml", &format!("apiVersion: moor/v1\nkind: Network\nmetadata:\n  name: {own}\n"));
    // `own` sorts first: the container is created on it and connected to the other.
    let fields = format!(
        "  networks:\n    {own}: {{ aliases: [api, web] }}\n    {subnetted}: {{ aliases: [db-proxy], ipv4Address: 10.213.{octet}.50 }}\n"
    );
    env.write("app.yaml", &service(&app, &fields));
    expect_code(env.moor(&["apply", path(&env)]), 0);

    let info = docker.inspect_container(&env.container(&app), None).await.unwrap();
    let networks = info.network_settings.unwrap().networks.unwrap();
    let mut aliases = networks[&own].aliases.clone().unwrap();
    aliases.sort();
    assert!(
        aliases.contains(&"api".into()) && aliases.contains(&"web".into()) && aliases.contains(&app),
        "{aliases:?}"
    );
    let other = &networks[&subnetted];
    assert!(other.aliases.as_ref().unwrap().contains(&"db-proxy".into()), "{other:?}");
    assert_eq!(other.ip_address.as_deref(), Some(format!("10.213.{octet}.50").as_str()));

    // Nothing changed: nothing replaced.
    let id = info.id.unwrap();
    expect_code(env.moor(&["apply", path(&env)]), 0);
    assert_eq!(docker.inspect_container(&env.container(&app), None).await.unwrap().id.unwrap(), id);
}

#[tokio::test]
async fn healthcheck_disable_turns_the_images_healthcheck_off() {
    image().await;
    let env = TestEnv::new("compose-health-off");
    let docker = docker().await;
    let name = env.name("app");
    env.write("app.yaml", &service(&name, "  healthcheck: { disable: true }\n"));
    expect_code(env.moor(&["apply", path(&env)]), 0);
    let config = docker.inspect_container(&env.container(&name), None).await.unwrap().config.unwrap();
    assert_eq!(config.healthcheck.unwrap().test.unwrap(), ["NONE"]);
}
