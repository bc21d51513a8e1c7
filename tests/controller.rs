//! `moor run` against the real daemon. Every wait polls with a deadline.

mod common;

use std::time::{Duration, Instant};

use common::{docker, eventually, image, owned, running_env, service_yaml, Controller, TestEnv};

/// Waits until `moor run` has created and started `name`, and returns its ID. (Created is not
/// enough: a test that removes it between create and start makes the first converge fail,
/// not drift.)
async fn first_container(docker: &bollard::Docker, env: &TestEnv, name: &str) -> String {
    eventually(Duration::from_secs(20), "first converge", || async {
        let id = owned(docker, &env.instance).await.get(&env.container(name)).cloned()?;
        running_env(docker, &id).await.filter(|r| r.0).map(|_| id)
    })
    .await
}

#[tokio::test]
async fn a_removed_container_runs_again_within_a_second() {
    image().await;
    let env = TestEnv::new("rmf");
    let docker = docker().await;
    let web = env.name("web");
    env.write("web.yaml", &service_yaml(&web, ""));
    let _moor = Controller::start(&env, &[]).await;
    let first = first_container(&docker, &env, &web).await;
    eventually(Duration::from_secs(10), "running", || async {
        running_env(&docker, &env.container(&web)).await.filter(|r| r.0)
    })
    .await;

    common::docker_cli(&["rm", "-f", &env.container(&web)]);
    let gone = Instant::now();
    // --interval is 60 s: only the event stream can explain a repair this fast.
    eventually(Duration::from_secs(1), "running again within 1 s", || async {
        let now = owned(&docker, &env.instance).await;
        let id = now.get(&env.container(&web)).filter(|id| **id != first)?;
        running_env(&docker, id).await.filter(|r| r.0)
    })
    .await;
    eprintln!("repaired {:?} after the container was gone", gone.elapsed());

    // A `docker stop`: Docker's list shows the exit a moment after the event; it is still seen.
    let id = owned(&docker, &env.instance).await[&env.container(&web)].clone();
    common::docker_cli(&["stop", "-t", "1", &env.container(&web)]);
    eventually(Duration::from_secs(5), "started again after docker stop", || async {
        running_env(&docker, &id).await.filter(|r| r.0)
    })
    .await;
}

#[tokio::test]
async fn an_auto_remove_container_stopped_from_outside_is_created_again() {
    image().await;
    let env = TestEnv::new("rmstop");
    let docker = docker().await;
    let job = env.name("job");
    env.write("job.yaml", &service_yaml(&job, "  autoRemove: true\n"));
    let moor = Controller::start(&env, &[]).await;
    let first = first_container(&docker, &env, &job).await;
    common::docker_cli(&["stop", &env.container(&job)]);
    // Generous: under a loaded CI machine the event, the settle and the create take seconds.
    eventually(Duration::from_secs(30), "a new running job container", || async {
        let id = owned(&docker, &env.instance).await.get(&env.container(&job)).cloned().filter(|id| *id != first)?;
        running_env(&docker, &id).await.filter(|r| r.0)
    })
    .await;
    // The repair is booked when its reconcile ends, a moment after the container runs.
    eventually(Duration::from_secs(10), "the repair counted as drift", || async {
        moor.metric("moor_drift_repairs_total").filter(|n| *n >= 1.0)
    })
    .await;
}

#[tokio::test]
async fn manifest_edits_deletions_and_breakage_are_followed() {
    image().await;
    let env = TestEnv::new("files");
    let docker = docker().await;
    let (a, b, c) = (env.name("a"), env.name("b"), env.name("c"));
    env.write("a.yaml", &service_yaml(&a, "  env: { V: \"1\" }\n"));
    env.write("b.yaml", &service_yaml(&b, ""));
    let moor = Controller::start(&env, &[]).await;
    eventually(Duration::from_secs(20), "a and b", || async {
        let now = owned(&docker, &env.instance).await;
        (now.contains_key(&env.container(&a)) && now.contains_key(&env.container(&b))).then_some(())
    })
    .await;

    // An editor's atomic save: write a temporary dotfile, rename it over the manifest.
    let temp = env.write(".a.yaml.tmp", &service_yaml(&a, "  env: { V: \"2\" }\n"));
    std::fs::rename(&temp, env.manifests().join("a.yaml")).unwrap();
    eventually(Duration::from_secs(20), "the edit applied", || async {
        running_env(&docker, &env.container(&a)).await.filter(|(up, vars)| *up && vars.contains(&"V=2".to_string()))
    })
    .await;

    env.remove("b.yaml");
    eventually(Duration::from_secs(20), "b pruned", || async {
        (!owned(&docker, &env.instance).await.contains_key(&env.container(&b))).then_some(())
    })
    .await;

    // Break a's manifest and add c: a is left as it is, c converges, the problem shows.
    let before = owned(&docker, &env.instance).await[&env.container(&a)].clone();
    env.write("a.yaml", "apiVersion: moor/v1\nkind: Service\nmetadata: {name: [\n");
    env.write("c.yaml", &service_yaml(&c, ""));
    eventually(Duration::from_secs(20), "c created and the problem shown", || async {
        let problems = moor.status()["problems"].as_array().map(|p| p.len()).unwrap_or(0);
        let has_c = owned(&docker, &env.instance).await.contains_key(&env.container(&c));
        (problems == 1 && has_c).then_some(())
    })
    .await;
    let now = owned(&docker, &env.instance).await;
    assert_eq!(now.get(&env.container(&a)), Some(&before), "a broken manifest must not touch its service");
    assert_eq!(running_env(&docker, &env.container(&a)).await.map(|r| r.0), Some(true));
    assert_eq!(moor.metric("moor_manifest_errors"), Some(1.0));
}

#[tokio::test]
async fn sigterm_exits_zero_and_leaves_the_containers_running() {
    image().await;
    let env = TestEnv::new("sigterm");
    let docker = docker().await;
    let web = env.name("web");
    env.write("web.yaml", &service_yaml(&web, ""));
    let mut moor = Controller::start(&env, &["--log-format", "json"]).await;
    eventually(Duration::from_secs(20), "running", || async {
        running_env(&docker, &env.container(&web)).await.filter(|r| r.0)
    })
    .await;

    let (status, body) = moor.get("/healthz");
    assert_eq!((status, body.trim()), (200, "ok"));
    // The container runs a moment before its reconcile ends and is booked in /status.
    eventually(Duration::from_secs(10), "ready and in sync in /status", || async {
        let status = moor.status();
        (status["ready"] == true && status["services"][&web]["inSync"] == true).then_some(())
    })
    .await;
    let metrics = moor.get("/metrics").1;
    for name in [
        "moor_reconcile_total{result=\"success\"}",
        "moor_reconcile_duration_seconds_bucket",
        "moor_actions_total{kind=\"create\"}",
        "moor_drift_repairs_total",
        "moor_queue_depth",
        "moor_services{state=\"in_sync\"} 1",
    ] {
        assert!(metrics.contains(name), "{name} missing from\n{metrics}");
    }

    // JSON logs: one span per reconcile, with the service and a reconcile id.
    let log = std::fs::read_to_string(env.dir.path().join(".moor-run.log")).unwrap();
    let converged = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == "converged")
        .unwrap_or_else(|| panic!("no JSON 'converged' line in\n{log}"));
    // The agent's span (naming its node) is the root; the reconcile's is next.
    assert_eq!(converged["spans"][0]["name"], "agent", "{converged}");
    assert!(converged["spans"][0]["node"].as_str().is_some_and(|n| !n.is_empty()), "{converged}");
    let span = &converged["spans"][1];
    assert_eq!(
        (span["name"].as_str(), span["service"].as_str()),
        (Some("reconcile"), Some(web.as_str())),
        "{converged}"
    );
    assert!(span["reconcile"].as_u64().is_some(), "{converged}");

    let pid = moor.child.id().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let code = eventually(Duration::from_secs(20), "moor to exit after SIGTERM", || {
        let exited = moor.child.try_wait().unwrap();
        async move { exited }
    })
    .await;
    assert_eq!(code.code(), Some(0));
    assert_eq!(
        running_env(&docker, &env.container(&web)).await.map(|r| r.0),
        Some(true),
        "shutdown stopped a managed container"
    );
}

#[tokio::test]
async fn a_crash_looping_service_is_slowed_down_and_shown() {
    image().await;
    let env = TestEnv::new("crash");
    let name = env.name("crash");
    let text = service_yaml(&name, "").replace(common::SLEEPER, "sleep 0.2; exit 3");
    env.write("crash.yaml", &text);
    let moor = Controller::start(&env, &[]).await;
    let note = eventually(Duration::from_secs(30), "a crash-loop note in /status", || async {
        moor.status()["services"][&name]["crashLoop"].as_str().map(str::to_string)
    })
    .await;
    assert!(note.contains("back-off"), "{note}");
    // The note lasts as long as the loop: the reconciles that find the restarted container
    // running between two crashes must not clear it.
    let reconciles = || moor.metric("moor_reconcile_total{result=\"success\"}");
    let seen = reconciles().expect("reconcile counter");
    eventually(Duration::from_secs(30), "two more reconciles", || async { reconciles().filter(|n| *n >= seen + 2.0) })
        .await;
    let still = moor.status()["services"][&name]["crashLoop"].as_str().map(str::to_string);
    assert!(still.as_deref().is_some_and(|n| n.contains("back-off")), "crash-loop note gone: {still:?}");
    let log = std::fs::read_to_string(env.dir.path().join(".moor-run.log")).unwrap();
    assert!(log.contains("crash loop"), "{log}");
}

#[tokio::test]
async fn a_foreign_container_holding_the_name_is_a_conflict_and_left_alone() {
    image().await;
    let env = TestEnv::new("ctlconflict");
    let docker = docker().await;
    let web = env.name("web");
    let foreign =
        common::docker_cli(&["run", "-d", "--name", &env.container(&web), common::IMAGE, "sh", "-c", common::SLEEPER]);
    let foreign = foreign.trim().to_string();
    env.write("web.yaml", &service_yaml(&web, ""));
    let moor = Controller::start(&env, &[]).await;
    let error = eventually(Duration::from_secs(20), "the conflict in /status", || async {
        moor.status()["services"][&web]["lastError"].as_str().map(str::to_string)
    })
    .await;
    assert!(error.contains("which moor does not own"), "{error}");
    // Retries (backoff) keep reporting it from the plan, without touching the holder.
    eventually(Duration::from_secs(20), "a second reconcile", || async {
        moor.metric("moor_reconcile_total{result=\"error\"}").filter(|n| *n >= 2.0)
    })
    .await;
    let info = docker.inspect_container(&env.container(&web), None).await.unwrap();
    assert_eq!(info.id.as_deref(), Some(foreign.as_str()));
    assert_eq!(info.state.unwrap().running, Some(true));
    assert!(owned(&docker, &env.instance).await.is_empty());
}

/// `update.rollback: false`: a replacement whose new container never turns healthy keeps that
/// container under the service's name, removes the old one, reports the service failed, and
/// starts no retry loop.
#[tokio::test]
async fn rollback_false_keeps_the_unhealthy_new_container_and_reports_the_failure() {
    image().await;
    let env = TestEnv::new("norollback");
    let docker = docker().await;
    let web = env.name("web");
    let spec = |file: &str, v: &str| {
        let health =
            format!("  healthcheck: {{ test: [\"CMD\", \"test\", \"-f\", \"{file}\"], interval: 1s, retries: 1 }}\n");
        service_yaml(
            &web,
            &format!("  env: {{ V: \"{v}\" }}\n  update: {{ rollback: false, healthTimeout: 20s }}\n{health}"),
        )
    };
    env.write("web.yaml", &spec("/ok", "1"));
    let moor = Controller::start(&env, &[]).await;
    let first = first_container(&docker, &env, &web).await;

    env.write("web.yaml", &spec("/missing", "2"));
    let error = eventually(Duration::from_secs(40), "the failure in /status", || async {
        moor.status()["services"][&web]["lastError"]
            .as_str()
            .filter(|e| e.contains("left in place"))
            .map(str::to_string)
    })
    .await;
    assert!(error.contains("is unhealthy") && error.contains("not retried"), "{error}");
    assert_eq!(moor.status()["services"][&web]["inSync"], serde_json::Value::Bool(false));
    assert_eq!(moor.metric("moor_replacements_failed_total{rollback=\"disabled\"}"), Some(1.0));
    let now = owned(&docker, &env.instance).await;
    assert_eq!(now.keys().collect::<Vec<_>>(), [&env.container(&web)], "the old container must be gone: {now:?}");
    let kept = now[&env.container(&web)].clone();
    assert_ne!(kept, first);
    let (running, vars) = running_env(&docker, &env.container(&web)).await.unwrap();
    assert!(running && vars.contains(&"V=2".to_string()), "{vars:?}");

    // `moor status` reads the failure from the controller: not in sync, exit 2.
    let url = format!("http://127.0.0.1:{}", moor.port);
    let out = env.moor(&["status", env.manifests().to_str().unwrap(), "--controller", &url]);
    let table = common::expect_code(out, 2);
    assert!(table.contains("left in place"), "{table}");

    // No retry loop: the same manifest written again makes moor look at the service again; it is
    // skipped as held, and nothing is replaced.
    env.write("web.yaml", &spec("/missing", "2"));
    eventually(Duration::from_secs(10), "the service asked for again and skipped", || async {
        moor.metric("moor_reconcile_skipped_total{reason=\"held\"}").filter(|n| *n >= 1.0)
    })
    .await;
    assert_eq!(owned(&docker, &env.instance).await.get(&env.container(&web)), Some(&kept));
    assert_eq!(moor.metric("moor_replacements_failed_total{rollback=\"disabled\"}"), Some(1.0));
}

/// A daemon that changes things says what it changed: at `moor run`'s default level (no `-v`),
/// one line per reconcile that acted, with why, and nothing of the debug chatter.
#[tokio::test]
async fn at_the_default_level_moor_run_logs_each_action_and_why() {
    image().await;
    let env = TestEnv::new("deflog");
    let docker = docker().await;
    let web = env.name("web");
    env.write("web.yaml", &service_yaml(&web, ""));
    let _moor = Controller::start_at(&env, &[]).await;
    let first = first_container(&docker, &env, &web).await;
    common::docker_cli(&["rm", "-f", &env.container(&web)]);
    eventually(Duration::from_secs(30), "running again", || async {
        owned(&docker, &env.instance).await.get(&env.container(&web)).filter(|id| **id != first).cloned()
    })
    .await;
    let log_file = env.dir.path().join(".moor-run.log");
    let log = eventually(Duration::from_secs(10), "the drift line in the log", || async {
        let log = std::fs::read_to_string(&log_file).unwrap_or_default();
        log.contains("why=\"drift\"").then_some(log)
    })
    .await;
    let acted: Vec<&str> = log.lines().filter(|l| l.contains("why=")).collect();
    assert!(acted.iter().any(|l| l.contains("why=\"converge\"") && l.contains("create")), "{log}");
    assert!(acted.iter().any(|l| l.contains("why=\"drift\"") && l.contains("create")), "{log}");
    assert!(!log.contains("DEBUG") && !log.contains("\u{1b}["), "debug lines or colour in a file: {log}");
}
