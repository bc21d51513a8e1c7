//! `--backend swarm` end to end, through the `moor` binary, against a swarm of one of the
//! test's own (a namespaced daemon after `docker swarm init`: `common::swarm`): create, no-op,
//! a rolling env change, drift repaired, prune, status; a failing healthcheck rolled back by
//! Swarm, reported and held; placement; secrets by content digest rotated; images pinned by a
//! registry's digest; the example folder, and the single-host examples refused where located.

mod common;

use std::time::Duration;

use common::swarm::{text, NsRegistry, SwarmEnv as Swarm, CONVERGE};
use common::{eventually, expect_code, service_yaml};

#[tokio::test(flavor = "multi_thread")]
async fn a_service_is_created_rolled_repaired_and_pruned_and_a_no_op_writes_nothing() {
    let s = Swarm::start("swlife").await;
    let dir = s.dir();
    s.env.write("web.yaml", &service_yaml("web", "  env: { A: '1' }\n  update: { healthTimeout: 1s }\n"));
    s.env.write("api.yaml", &service_yaml("api", "  update: { healthTimeout: 1s }\n"));

    expect_code(s.moor(&["apply", &dir]), 0);
    s.running("web", 1).await;
    // Ownership on the service, none on its tasks' containers (trap T1).
    let labels = s.inspect("web", "{{json .Spec.Labels}}");
    assert!(labels.contains(&format!("\"moor.instance\":\"{}\"", s.env.instance)), "{labels}");
    assert!(labels.contains("\"moor.backend\":\"swarm\""), "{labels}");
    let owned = s.docker(&["ps", "-q", "--filter", &format!("label=moor.instance={}", s.env.instance)]);
    assert!(owned.is_empty(), "task containers carry moor.instance: {owned}");
    // The default network is an overlay of this instance.
    let driver = s.docker(&["network", "inspect", "-f", "{{.Driver}}", &format!("{}_default", s.env.instance)]);
    assert_eq!(driver, "overlay");

    // In sync: plan exits 0 and apply writes nothing (an identical update would bump the
    // version: trap T9).
    let version = s.inspect("web", "{{.Version.Index}}");
    expect_code(s.moor(&["plan", &dir]), 0);
    let out = s.moor(&["apply", &dir]);
    expect_code(out, 0);
    assert_eq!(s.inspect("web", "{{.Version.Index}}"), version);
    let status = expect_code(s.moor(&["status"]), 0);
    assert!(status.lines().any(|l| l.contains(&s.service("web")) && l.contains("1/1")), "{status}");

    // A change of env: shown field by field, applied as one rolling update.
    s.env.write("web.yaml", &service_yaml("web", "  env: { A: '2' }\n  update: { healthTimeout: 1s }\n"));
    let plan = expect_code(s.moor(&["plan", &dir]), 2);
    assert!(plan.contains("env.A"), "{plan}");
    expect_code(s.moor(&["apply", &dir]), 0);
    assert!(s.inspect("web", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}").contains("A=2"));
    assert_eq!(s.inspect("web", "{{.UpdateStatus.State}}"), "completed");

    // Drift: a hand update is shown and repaired.
    s.docker(&["service", "update", "-d", "--env-add", "DRIFT=1", &s.service("web")]);
    let plan = expect_code(s.moor(&["plan", &dir]), 2);
    assert!(plan.contains("env.DRIFT"), "{plan}");
    expect_code(s.moor(&["apply", &dir]), 0);
    assert!(!s.inspect("web", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}").contains("DRIFT"));

    // A service made by hand under a name of this instance, without its labels: never touched,
    // also when a manifest asks for that name.
    let foreign = s.env.container("foreign");
    s.docker(&["service", "create", "-d", "--name", &foreign, common::IMAGE, "sleep", "1000000"]);
    s.env.write("foreign.yaml", &service_yaml("foreign", ""));
    let out = s.moor(&["apply", &dir]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("exists without this instance's labels"), "{}", text(&out));
    assert!(s.inspect("foreign", "{{json .Spec.TaskTemplate.ContainerSpec.Args}}").contains("sleep"));
    std::fs::remove_file(s.env.manifests().join("foreign.yaml")).unwrap();

    // Prune: the manifest removed, the service goes; the foreign one stays.
    std::fs::remove_file(s.env.manifests().join("api.yaml")).unwrap();
    let plan = expect_code(s.moor(&["plan", &dir]), 2);
    assert!(plan.contains(&s.service("api")), "{plan}");
    expect_code(s.moor(&["apply", &dir]), 0);
    let services = s.docker(&["service", "ls", "--format", "{{.Name}}"]);
    assert!(!services.contains(&s.service("api")), "{services}");
    assert!(services.contains(&foreign) && services.contains(&s.service("web")), "{services}");

    // down: everything of the instance, and nothing else.
    expect_code(s.moor(&["down", "--yes"]), 0);
    let services = s.docker(&["service", "ls", "--format", "{{.Name}}"]);
    assert_eq!(services, foreign);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_healthcheck_is_rolled_back_by_swarm_reported_and_held() {
    let s = Swarm::start("swroll").await;
    let dir = s.dir();
    // No TERM trap: Swarm's kill of the unhealthy task then fails it, and the task error says
    // why (trap T3).
    let base = "apiVersion: moor/v1\nkind: Service\nmetadata: { name: hc }\nspec:\n  image: moor-test/busybox:1\n  command: [sleep, '1000000']\n  stopTimeout: 1s\n  update: { strategy: start-first, healthTimeout: 2s, rollback: true }\n";
    s.env.write("hc.yaml", base);
    expect_code(s.moor(&["apply", &dir]), 0);
    s.running("hc", 1).await;

    let failing = format!("{base}  healthcheck: {{ test: [CMD, 'false'], interval: 1s, timeout: 1s, retries: 1 }}\n");
    s.env.write("hc.yaml", &failing);
    let out = s.moor(&["apply", &dir]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("rollback_completed"), "{said}");
    // Swarm put the previous spec back.
    assert!(s.inspect("hc", "{{json .Spec.TaskTemplate.ContainerSpec}}").contains("sleep"));
    let status = s.moor(&["status"]);
    let table = text(&status);
    assert_eq!(status.status.code(), Some(2), "{table}");
    assert!(table.contains("rollback_completed"), "{table}");
    assert!(table.contains("unhealthy"), "{table}");

    // The same spec is not tried again: held, nothing written, exit 1.
    let version = s.inspect("hc", "{{.Version.Index}}");
    let out = s.moor(&["apply", &dir]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("change the spec to try again"), "{}", text(&out));
    assert_eq!(s.inspect("hc", "{{.Version.Index}}"), version);
    expect_code(s.moor(&["plan", &dir]), 1);

    // Reverting the manifest is in sync again.
    s.env.write("hc.yaml", base);
    expect_code(s.moor(&["plan", &dir]), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_rotate_by_digest_placement_waits_for_a_label_and_images_are_pinned() {
    let s = Swarm::start("swdata").await;
    let dir = s.dir();
    let registry = NsRegistry::start(&s.daemon).await;
    let image = registry.push_test_image(&s.daemon, "moor-test/pinned:1");
    s.env.write("db.env", "password=first-value\n");
    s.env.write("secret.yaml", "apiVersion: moor/v1\nkind: Secret\nmetadata: { name: db }\nspec: { file: ./db.env }\n");
    let app = |extra: &str| {
        format!(
            "apiVersion: moor/v1\nkind: Service\nmetadata: {{ name: app }}\nspec:\n  image: {image}\n  command: [sh, -c, \"{}\"]\n  update: {{ healthTimeout: 1s }}\n  secrets:\n    - {{ secret: db, key: password, target: /run/secrets/db_password, mode: '0400' }}\n{extra}",
            common::SLEEPER
        )
    };
    s.env.write("app.yaml", &app(""));
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap();
    expect_code(s.moor(&["apply", &dir, "--state-dir", state_dir]), 0);
    s.running("app", 1).await;

    // Pinned by the registry's digest, as the Docker CLI pins.
    let pinned = s.inspect("app", "{{.Spec.TaskTemplate.ContainerSpec.Image}}");
    assert!(pinned.starts_with(&format!("{image}@sha256:")), "{pinned}");
    expect_code(s.moor(&["plan", &dir, "--state-dir", state_dir]), 0);

    // The secret is named by a keyed digest, never the value's plain hash.
    let secrets = s.docker(&["secret", "ls", "--format", "{{.Name}}"]);
    let first = secrets.lines().find(|n| n.contains("db")).expect("the secret").to_string();
    let value_hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"first-value"))
    };
    assert!(!first.contains(&value_hash[..16]), "{first}");
    let read = |s: &Swarm| {
        let id =
            s.docker(&["ps", "-q", "--filter", &format!("label=com.docker.swarm.service.name={}", s.service("app"))]);
        let id = id.lines().next().unwrap_or_default().to_string();
        let out = s.daemon.docker(&["exec", &id, "cat", "/run/secrets/db_password"]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(read(&s), "first-value");

    // A new value: a new secret, the service rolled to it, the old one removed.
    s.env.write("db.env", "password=second-value\n");
    let plan = expect_code(s.moor(&["plan", &dir, "--state-dir", state_dir]), 2);
    assert!(!plan.contains("second-value") && !plan.contains("first-value"), "{plan}");
    expect_code(s.moor(&["apply", &dir, "--state-dir", state_dir]), 0);
    let secrets = s.docker(&["secret", "ls", "--format", "{{.Name}}"]);
    assert!(!secrets.contains(&first), "the old secret is removed: {secrets}");
    eventually(CONVERGE, "the task to read the new value", || {
        let value = read(&s);
        async move { (value == "second-value").then_some(()) }
    })
    .await;

    // Placement on a node label: pending until a node has it, and status says why.
    s.env.write("app.yaml", &app("  placement: { nodeSelector: { role: edge } }\n"));
    let out = s.moor(&["apply", &dir, "--state-dir", state_dir, "--wait-timeout", "5s"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let status = s.moor(&["status"]);
    assert_eq!(status.status.code(), Some(2), "{}", text(&status));
    assert!(text(&status).contains("no suitable node"), "{}", text(&status));
    let node = s.docker(&["node", "ls", "-q"]);
    s.docker(&["node", "update", "--label-add", "role=edge", &node]);
    s.running("app", 1).await;
    expect_code(s.moor(&["status"]), 0);
    assert!(s.inspect("app", "{{json .Spec.TaskTemplate.Placement}}").contains("node.labels.role==edge"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_swarm_example_runs_and_the_single_host_examples_are_refused_where_located() {
    let s = Swarm::start("swexample").await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples = root.join("manifests-swarm");
    let examples = examples.to_str().unwrap();
    s.docker(&["tag", common::IMAGE, "moor-example/busybox:1"]);
    let node = s.docker(&["node", "ls", "-q"]);
    s.docker(&["node", "update", "--label-add", "role=app", &node]);
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap();

    expect_code(s.moor(&["validate", examples]), 0);
    let out = s.moor(&["apply", examples, "--state-dir", state_dir, "--wait-timeout", "60s"]);
    if out.status.code() != Some(0) {
        let ps = s.daemon.docker(&["service", "ps", "--no-trunc", &s.service("web")]);
        panic!("{}\n{}", text(&out), text(&ps));
    }
    s.running("web", 1).await;
    s.running("api", 2).await;
    expect_code(s.moor(&["plan", examples, "--state-dir", state_dir]), 0);
    // The web server answers on its host-mode port, in the daemon's namespace.
    let netns = format!("--net=/var/run/netns/{}", s.daemon.netns());
    eventually(CONVERGE, "web to answer on 18090", || {
        let out = std::process::Command::new("nsenter")
            .args([netns.as_str(), "busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:18090/"])
            .output();
        async move { out.ok().filter(|o| String::from_utf8_lossy(&o.stdout).trim() == "ok").map(|_| ()) }
    })
    .await;
    let status = expect_code(s.moor(&["status"]), 0);
    assert!(status.lines().any(|l| l.contains(&s.service("api")) && l.contains("2/2")), "{status}");

    // The single-host examples: what Swarm cannot express is refused, located at its field.
    let single = root.join("manifests");
    let out = s.moor(&["validate", single.to_str().unwrap()]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    for (file, field) in [("worker.yaml", "spec.autoRemove"), ("worker.yaml", "spec.dependsOn")] {
        let line = said.lines().find(|l| l.contains(file) && l.contains(field));
        let line = line.unwrap_or_else(|| panic!("no {field} problem in {file}:\n{said}"));
        // file:line:col: field: message
        let located = line.split(':').nth(1).is_some_and(|n| n.parse::<usize>().is_ok());
        assert!(located, "{line}");
    }
    assert!(said.contains("Swarm starts services in no order"), "{said}");

    expect_code(s.moor(&["down", "--yes"]), 0);
    assert!(s.docker(&["service", "ls", "-q"]).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn moor_run_repairs_drift_follows_the_manifests_and_stops_on_sigterm() {
    let s = Swarm::start("swrun").await;
    let dir = s.dir();
    s.env.write("web.yaml", &service_yaml("web", "  env: { A: '1' }\n  update: { healthTimeout: 1s }\n"));
    let log = s.env.manifests().parent().unwrap().join(format!("{}.log", s.env.instance));
    let mut child = std::process::Command::new(common::moor_bin())
        .args(["run", &dir, "--backend", "swarm", "--host", &s.daemon.host, "--interval", "1s"])
        .args(["--instance", &s.env.instance])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("moor run");
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let guard = Kill(&mut child);
    let env_of = |s: &Swarm| {
        let out = s.daemon.docker(&[
            "service",
            "inspect",
            "-f",
            "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
            &s.service("web"),
        ]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    eventually(CONVERGE, "moor run to create web", || {
        let env = env_of(&s);
        async move { env.contains("A=1").then_some(()) }
    })
    .await;

    // Drift, by hand: repaired at the next pass.
    s.docker(&["service", "update", "-d", "--env-add", "DRIFT=1", &s.service("web")]);
    eventually(CONVERGE, "the drift to be repaired", || {
        let env = env_of(&s);
        async move { (env.contains("A=1") && !env.contains("DRIFT")).then_some(()) }
    })
    .await;

    // A manifest change: applied without a command.
    s.env.write("web.yaml", &service_yaml("web", "  env: { A: '2' }\n  update: { healthTimeout: 1s }\n"));
    eventually(CONVERGE, "the change to be applied", || {
        let env = env_of(&s);
        async move { env.contains("A=2").then_some(()) }
    })
    .await;

    // SIGTERM: a clean exit, the service left running.
    let pid = guard.0.id().to_string();
    common::daemon::must("kill", &["-TERM", &pid]);
    let status = eventually(Duration::from_secs(15), "moor run to exit", || {
        let status = guard.0.try_wait().ok().flatten();
        async move { status }
    })
    .await;
    assert!(status.success(), "{status:?}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    assert!(env_of(&s).contains("A=2"));
    drop(guard);
    let _ = std::fs::remove_file(&log);
}
