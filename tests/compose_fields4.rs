//! Compose's other forms of a Service's fields (issue 13) against the real daemon: the list
//! forms of `env` and `labels`, `expose` ranges, several addresses per extra host, a grace
//! period rounded up, `tmpfs` paths, anonymous volumes, bind options, `~/` paths, and the
//! `ipc`/`pid`/`volumesFrom` joins of another service; each read back with inspect.

mod common;

use common::{docker, expect_code, image, TestEnv, SLEEPER};

fn path(env: &TestEnv) -> &str {
    env.manifests().to_str().unwrap()
}

/// A Service on the test image with `metadata` lines (after the name) and `fields` (both
/// two-space indented); without metadata lines, `fields` start on line 9.
fn service(name: &str, metadata: &str, fields: &str) -> String {
    format!(
        "apiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {name}\n{metadata}spec:\n  image: {}\n  pull: never\n  command: sh -c \"{SLEEPER}\"\n{fields}",
        common::IMAGE
    )
}

#[tokio::test]
async fn the_list_forms_ranges_and_tmpfs_paths_reach_the_container() {
    image().await;
    let env = TestEnv::new("compose-forms");
    let docker = docker().await;
    let name = env.name("app");
    let fields = "  stopTimeout: 1m30.5s
  env:
    - GREETING=hello=world
    - EMPTY=
  expose: [\"8000-8002\", \"53/udp\"]
  extraHosts:
    db.local: [10.1.2.3, \"[fd00::3]\"]
    cache.local: 10.1.2.4
  tmpfs:
    - /run/app
    - /scratch:size=8m,mode=1770
";
    env.write("app.yaml", &service(&name, "  labels: [\"tier=web\", \"team=shop\"]\n", fields));
    expect_code(env.moor(&["apply", path(&env)]), 0);

    let info = docker.inspect_container(&env.container(&name), None).await.unwrap();
    assert_eq!(info.state.as_ref().unwrap().running, Some(true), "{:?}", info.state);
    let config = info.config.clone().unwrap();
    let env_vars = config.env.clone().unwrap();
    for var in ["GREETING=hello=world", "EMPTY="] {
        assert!(env_vars.iter().any(|e| e == var), "{var} not in {env_vars:?}");
    }
    let labels = config.labels.clone().unwrap();
    assert_eq!((labels["tier"].as_str(), labels["team"].as_str()), ("web", "shop"));
    let mut exposed = config.exposed_ports.clone().unwrap();
    exposed.sort();
    assert_eq!(exposed, ["53/udp", "8000/tcp", "8001/tcp", "8002/tcp"]);
    // 90.5 s rounds up: Docker counts whole seconds.
    assert_eq!(config.stop_timeout, Some(91));

    let host = info.host_config.clone().unwrap();
    let mut hosts = host.extra_hosts.clone().unwrap();
    hosts.sort();
    assert_eq!(hosts, ["cache.local:10.1.2.4", "db.local:10.1.2.3", "db.local:fd00::3"]);
    let etc_hosts = common::docker_cli(&["exec", &env.container(&name), "cat", "/etc/hosts"]);
    for line in ["10.1.2.3\tdb.local", "fd00::3\tdb.local"] {
        assert!(etc_hosts.contains(line), "{line:?} not in\n{etc_hosts}");
    }

    let mounts = host.mounts.clone().unwrap();
    let scratch = mounts.iter().find(|m| m.target.as_deref() == Some("/scratch")).expect("the /scratch tmpfs");
    let options = scratch.tmpfs_options.clone().unwrap();
    assert_eq!((options.size_bytes, options.mode), (Some(8 << 20), Some(0o1770)));
    assert!(mounts.iter().any(|m| m.target.as_deref() == Some("/run/app")), "{mounts:?}");
    // The kernel has them as tmpfs, the mode too.
    let proc_mounts = common::docker_cli(&["exec", &env.container(&name), "cat", "/proc/mounts"]);
    assert!(proc_mounts.lines().any(|l| l.starts_with("tmpfs /run/app tmpfs")), "{proc_mounts}");
    let scratch_line = proc_mounts.lines().find(|l| l.starts_with("tmpfs /scratch tmpfs")).unwrap_or_default();
    assert!(scratch_line.contains("size=8192k") && scratch_line.contains("mode=1770"), "{proc_mounts}");

    // Nothing changed: nothing replaced.
    let id = info.id.unwrap();
    expect_code(env.moor(&["apply", path(&env)]), 0);
    assert_eq!(docker.inspect_container(&env.container(&name), None).await.unwrap().id.unwrap(), id);
}

#[tokio::test]
async fn anonymous_volumes_bind_options_and_home_paths_reach_the_container() {
    image().await;
    let env = TestEnv::new("compose-volumes");
    let docker = docker().await;
    let name = env.name("app");
    let home = env.manifests().join("home");
    std::fs::create_dir_all(home.join("conf")).unwrap();
    std::fs::write(home.join("conf/app.ini"), "x=1\n").unwrap();
    env.set_env("HOME", home.to_str().unwrap());
    let made = env.manifests().join("made-by-docker");
    let fields = "  volumes:
    - /data
    - \"~/conf:/etc/app:ro,z\"
    - { type: bind, source: ./made-by-docker, target: /made, bind: { createHostPath: true, propagation: rprivate } }
    - { type: volume, target: /cache, volume: { nocopy: true } }
";
    env.write("app.yaml", &service(&name, "", fields));
    assert!(!made.exists());
    expect_code(env.moor(&["apply", path(&env)]), 0);

    let info = docker.inspect_container(&env.container(&name), None).await.unwrap();
    assert_eq!(info.state.as_ref().unwrap().running, Some(true), "{:?}", info.state);
    let host = info.host_config.clone().unwrap();
    // The relabelled bind and the one whose host path Docker creates are Binds; `~/` is HOME.
    let mut binds = host.binds.clone().unwrap();
    binds.sort();
    let conf = format!("{}/conf:/etc/app:ro,z", home.display());
    let made_bind = format!("{}:/made:rw,rprivate", made.display());
    assert_eq!(binds, [conf, made_bind]);
    assert!(made.is_dir(), "Docker created the missing host path");
    assert_eq!(common::docker_cli(&["exec", &env.container(&name), "cat", "/etc/app/app.ini"]), "x=1\n");

    let mounts = info.mounts.clone().unwrap();
    let at = |target: &str| mounts.iter().find(|m| m.destination.as_deref() == Some(target)).cloned();
    let data = at("/data").expect("the anonymous volume at /data");
    assert_eq!(data.typ.map(|t| t.to_string()).as_deref(), Some("volume"));
    let data_volume = data.name.clone().unwrap();
    assert_eq!(data_volume.len(), 64, "Docker names an anonymous volume with 64 hex digits: {data_volume}");
    assert_eq!(at("/etc/app").unwrap().mode.as_deref(), Some("ro,z"));
    assert_eq!(at("/made").unwrap().propagation.as_deref(), Some("rprivate"));
    let cache = host.mounts.clone().unwrap().into_iter().find(|m| m.target.as_deref() == Some("/cache")).unwrap();
    assert_eq!((cache.source.as_deref(), cache.volume_options.and_then(|v| v.no_copy)), (None, Some(true)));

    // A second apply replaces nothing, so the anonymous volume is the same.
    expect_code(env.moor(&["apply", path(&env)]), 0);
    let again = docker.inspect_container(&env.container(&name), None).await.unwrap();
    assert_eq!(again.id, info.id);
    let names: Vec<_> = again.mounts.unwrap().into_iter().filter_map(|m| m.name).collect();
    assert!(names.contains(&data_volume), "{names:?}");
}

#[tokio::test]
async fn a_home_path_and_an_anonymous_volume_go_through_the_host_policy() {
    let env = TestEnv::new("compose-home-policy");
    env.set_env("HOME", "/root");
    let file = env.write("app.yaml", &service("app", "", "  volumes: [\"~/.ssh:/keys\", /data]\n"));
    let stdout = expect_code(env.moor(&["validate", path(&env)]), 1);
    // `~/` is expanded before the policy looks, so root's home is refused at the entry.
    let line = format!("{}:9:13: spec.volumes[0]:", file.display());
    assert!(stdout.contains(&line) && stdout.contains("/root/.ssh"), "{line}\nin\n{stdout}");
    assert!(!stdout.contains("spec.volumes[1]"), "an anonymous volume has no host path to refuse:\n{stdout}");
}

#[tokio::test]
async fn ipc_pid_and_volumes_from_join_another_service() {
    image().await;
    let env = TestEnv::new("compose-joins");
    let docker = docker().await;
    let (db, app) = (env.name("db"), env.name("app"));
    env.write("db.yaml", &service(&db, "", "  ipc: shareable\n  volumes: [/data]\n"));
    let fields = format!("  ipc: service:{db}\n  pid: service:{db}\n  volumesFrom: [\"{db}:ro\"]\n");
    env.write("app.yaml", &service(&app, "", &fields));
    // One apply: the db is started first, as the implied dependency says.
    expect_code(env.moor(&["apply", path(&env)]), 0);

    let db_info = docker.inspect_container(&env.container(&db), None).await.unwrap();
    let db_id = db_info.id.clone().unwrap();
    let info = docker.inspect_container(&env.container(&app), None).await.unwrap();
    assert_eq!(info.state.as_ref().unwrap().running, Some(true), "{:?}", info.state);
    let host = info.host_config.clone().unwrap();
    // The join names the db's container in this instance (`<instance>_db...`).
    let db_name = env.container(&db);
    let joined = |mode: Option<String>| {
        let mode = mode.unwrap_or_default();
        mode == format!("container:{db_name}") || mode == format!("container:{db_id}")
    };
    assert!(joined(host.ipc_mode.clone()), "{:?}", host.ipc_mode);
    assert!(joined(host.pid_mode.clone()), "{:?}", host.pid_mode);
    assert_eq!(host.volumes_from.clone().unwrap(), [format!("{db_name}:ro")]);
    // The db's anonymous volume is the app's too, read-only.
    let db_data = db_info.mounts.unwrap().into_iter().find(|m| m.destination.as_deref() == Some("/data")).unwrap();
    let app_data = info.mounts.clone().unwrap().into_iter().find(|m| m.destination.as_deref() == Some("/data"));
    let app_data = app_data.expect("the db's /data in the app");
    assert_eq!((app_data.name.clone(), app_data.rw), (db_data.name.clone(), Some(false)));
    // One PID namespace: the app sees the db's sleeper as PID 1.
    let comm = common::docker_cli(&["exec", &env.container(&app), "cat", "/proc/1/cmdline"]);
    assert!(comm.starts_with("sh\0-c\0trap"), "{comm:?}");

    // Nothing changed: nothing replaced.
    let app_id = info.id.unwrap();
    expect_code(env.moor(&["apply", path(&env)]), 0);
    assert_eq!(docker.inspect_container(&env.container(&app), None).await.unwrap().id.unwrap(), app_id);
}

#[tokio::test]
async fn a_bare_or_repeated_env_name_is_refused_where_it_is_written() {
    let env = TestEnv::new("compose-env-list");
    let file = env.write("app.yaml", &service("app", "", "  env:\n    - A=1\n    - A=2\n    - TOKEN\n"));
    let stdout = expect_code(env.moor(&["validate", path(&env)]), 1);
    for line in [
        format!("{}:11:7: spec.env[1]: A is already set by env[0]", file.display()),
        format!(
            "{}:12:7: spec.env[2]: \"TOKEN\" has no value: moor does not pass on its own environment",
            file.display()
        ),
    ] {
        assert!(stdout.contains(&line), "{line}\nin\n{stdout}");
    }
}

#[tokio::test]
async fn an_env_file_that_is_not_required_is_skipped_while_missing() {
    image().await;
    let env = TestEnv::new("compose-envfile");
    let docker = docker().await;
    let name = env.name("app");
    let state = tempfile::tempdir().unwrap();
    let state = state.path().to_str().unwrap();
    std::fs::create_dir_all(env.manifests().join("data")).unwrap();
    env.write("data/base.env", "FROM_BASE=1\n");
    let fields = "  envFrom:\n    - file: ./data/base.env\n    - { file: ./data/local.env, required: false }\n";
    env.write("app.yaml", &service(&name, "", fields));
    expect_code(env.moor(&["apply", path(&env), "--state-dir", state]), 0);
    let vars = docker.inspect_container(&env.container(&name), None).await.unwrap().config.unwrap().env.unwrap();
    assert!(vars.iter().any(|v| v == "FROM_BASE=1"), "{vars:?}");
    assert!(!vars.iter().any(|v| v.starts_with("FROM_LOCAL=")), "{vars:?}");

    // Once there, it is read: its values are the container's.
    env.write("data/local.env", "FROM_LOCAL=2\n");
    expect_code(env.moor(&["apply", path(&env), "--state-dir", state]), 0);
    let vars = docker.inspect_container(&env.container(&name), None).await.unwrap().config.unwrap().env.unwrap();
    assert!(vars.iter().any(|v| v == "FROM_LOCAL=2") && vars.iter().any(|v| v == "FROM_BASE=1"), "{vars:?}");

    // A required one (the default) that is missing is refused at its entry.
    let file = env.write("app.yaml", &service(&name, "", "  envFrom:\n    - file: ./data/gone.env\n"));
    let out = env.moor(&["validate", path(&env)]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&format!("{}:10:13: spec.envFrom[0].file", file.display())), "{text}");
}

#[tokio::test]
async fn label_files_give_labels_that_the_manifest_overrides() {
    image().await;
    let env = TestEnv::new("compose-labelfile");
    let docker = docker().await;
    let name = env.name("app");
    let state = tempfile::tempdir().unwrap();
    let state = state.path().to_str().unwrap();
    std::fs::create_dir_all(env.manifests().join("data")).unwrap();
    env.write("data/base.labels", "tier=base\nteam=shop\nowner=ops\n");
    env.write("data/more.labels", "team=checkout\n");
    let fields = "  labelFile: [./data/base.labels, ./data/more.labels]\n";
    env.write("app.yaml", &service(&name, "  labels: { owner: web-team }\n", fields));
    expect_code(env.moor(&["apply", path(&env), "--state-dir", state]), 0);
    let info = docker.inspect_container(&env.container(&name), None).await.unwrap();
    let labels = info.config.unwrap().labels.unwrap();
    // A later file overrides an earlier one; the manifest's labels override both.
    assert_eq!(labels["tier"], "base");
    assert_eq!(labels["team"], "checkout");
    assert_eq!(labels["owner"], "web-team");

    // Unchanged files: nothing replaced. A changed file: the container is replaced.
    expect_code(env.moor(&["apply", path(&env), "--state-dir", state]), 0);
    assert_eq!(docker.inspect_container(&env.container(&name), None).await.unwrap().id, info.id);
    env.write("data/more.labels", "team=payments\n");
    expect_code(env.moor(&["apply", path(&env), "--state-dir", state]), 0);
    let again = docker.inspect_container(&env.container(&name), None).await.unwrap();
    assert_ne!(again.id, info.id);
    assert_eq!(again.config.unwrap().labels.unwrap()["team"], "payments");

    // A missing one is refused at its entry.
    let file = env.write("app.yaml", &service(&name, "", "  labelFile: ./data/gone.labels\n"));
    let out = env.moor(&["validate", path(&env)]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&format!("{}:9:14: spec.labelFile", file.display())), "{text}");
}
