//! One-shot jobs (`mode: job`) against the real daemon: a migration job gates its app, a failed
//! job blocks it and names its exit code, an `autoRemove` job runs once per spec (its run is
//! recorded in the state dir), and `moor status` tells completed from failed.

mod common;

use common::{docker, expect_code, image, TestEnv, IMAGE};

fn path(env: &TestEnv) -> &str {
    env.manifests().to_str().unwrap()
}

/// `moor ARGS... <manifests> --state-dir <test>/state`.
fn moor(env: &TestEnv, command: &str) -> std::process::Output {
    let state = env.dir.path().join(".state");
    env.moor(&[command, path(env), "--state-dir", state.to_str().unwrap()])
}

fn volume(name: &str) -> String {
    format!("---\napiVersion: moor/v1\nkind: Volume\nmetadata:\n  name: {name}\n")
}

/// A job on the test image running `script` with the volume `data` at /data; `extra` spec lines.
fn job(name: &str, data: &str, script: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  mode: job\n  image: {IMAGE}\n  pull: never\n  command: [\"sh\", \"-c\", \"{script}\"]\n  volumes: [\"{data}:/data\"]\n{extra}"
    )
}

/// An app that exits 9 at once unless the migration's file is there, and else runs until stopped.
fn app(name: &str, data: &str, migrate: &str) -> String {
    format!(
        "---\napiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  image: {IMAGE}\n  pull: never\n  command: [\"sh\", \"-c\", \"test -f /data/migrated || exit 9; trap 'exit 0' TERM; sleep 1000000 & wait\"]\n  stopTimeout: 5s\n  volumes: [\"{data}:/data\"]\n  dependsOn: {{ {migrate}: completed }}\n"
    )
}

/// The lines of a file in volume `data`, read by a throwaway container.
fn volume_lines(env: &TestEnv, data: &str, file: &str) -> Vec<String> {
    let reader = env.name("reader");
    let out =
        common::docker_cli(&["run", "--rm", "--name", &reader, "-v", &format!("{data}:/data"), IMAGE, "cat", file]);
    out.lines().map(str::to_string).collect()
}

#[tokio::test]
async fn a_migration_job_gates_its_app() {
    image().await;
    let env = TestEnv::new("job-gates");
    let docker = docker().await;
    let (data, migrate, web) = (env.name("data"), env.name("migrate"), env.name("web"));
    // The job takes a while, so an app started early would find no file and exit 9.
    let script = "sleep 1; echo done > /data/migrated";
    env.write("all.yaml", &[volume(&data), job(&migrate, &data, script, ""), app(&web, &data, &migrate)].concat());

    expect_code(moor(&env, "apply"), 0);

    let job = docker.inspect_container(&env.container(&migrate), None).await.unwrap().state.unwrap();
    assert_eq!((job.running, job.exit_code), (Some(false), Some(0)), "{job:?}");
    let app = docker.inspect_container(&env.container(&web), None).await.unwrap().state.unwrap();
    assert_eq!(app.running, Some(true), "the app found the migration's file: {app:?}");
    // Docker's timestamps are RFC 3339 in UTC with the same precision: they order as text.
    let (finished, started) = (job.finished_at.unwrap(), app.started_at.unwrap());
    assert!(finished <= started, "the app started at {started}, before the job finished at {finished}");

    // Converged: the completed job is not run again, and status says how it ended.
    expect_code(moor(&env, "plan"), 0);
    let status = expect_code(moor(&env, "status"), 0);
    let line = status.lines().find(|l| l.contains(&migrate)).unwrap_or_default();
    assert!(line.contains("completed (exit 0)"), "{status}");
    let again = docker.inspect_container(&env.container(&migrate), None).await.unwrap().state.unwrap();
    assert_eq!(again.started_at, job.started_at, "the job ran again");
}

#[tokio::test]
async fn a_failing_job_blocks_its_app_and_names_its_exit_code() {
    image().await;
    let env = TestEnv::new("job-fails");
    let docker = docker().await;
    let (data, migrate, web) = (env.name("data"), env.name("migrate"), env.name("web"));
    env.write("all.yaml", &[volume(&data), job(&migrate, &data, "exit 3", ""), app(&web, &data, &migrate)].concat());

    let stdout = expect_code(moor(&env, "apply"), 1);
    assert!(stdout.contains("the job failed: it exited with code 3"), "{stdout}");
    assert!(
        stdout.contains(&format!("dependency {migrate:?} is a job that failed: it exited with code 3")),
        "{stdout}"
    );
    assert!(
        docker.inspect_container(&env.container(&web), None).await.is_err(),
        "the app was created although its job failed"
    );
    let state = docker.inspect_container(&env.container(&migrate), None).await.unwrap().state.unwrap();
    assert_eq!(state.exit_code, Some(3));

    let status = expect_code(moor(&env, "status"), 2);
    let line = status.lines().find(|l| l.contains(&migrate)).unwrap_or_default();
    assert!(line.contains("failed (exit 3)"), "{status}");

    // A failed job runs again at the next apply; fixed, it lets the app start.
    env.write(
        "all.yaml",
        &[volume(&data), job(&migrate, &data, "touch /data/migrated", ""), app(&web, &data, &migrate)].concat(),
    );
    expect_code(moor(&env, "apply"), 0);
    assert_eq!(docker.inspect_container(&env.container(&web), None).await.unwrap().state.unwrap().running, Some(true));
}

#[tokio::test]
async fn an_auto_remove_job_runs_once_per_spec() {
    image().await;
    let env = TestEnv::new("job-autoremove");
    let docker = docker().await;
    let (data, migrate) = (env.name("data"), env.name("migrate"));
    let manifests = |version: &str| {
        let extra = format!("  autoRemove: true\n  env: {{ VERSION: \"{version}\" }}\n");
        [volume(&data), job(&migrate, &data, "echo run $VERSION >> /data/runs", &extra)].concat()
    };
    env.write("all.yaml", &manifests("1"));

    expect_code(moor(&env, "apply"), 0);
    // Docker removes an auto-removed container just after its exit, which the wait reports.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while docker.inspect_container(&env.container(&migrate), None).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "Docker did not remove the autoRemove job");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let record = env.dir.path().join(".state/jobs").join(&env.instance).join(format!("{migrate}.json"));
    let text = std::fs::read_to_string(&record).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["exitCode"], 0, "{text}");

    // The container is gone, but the record says it completed under this spec.
    expect_code(moor(&env, "apply"), 0);
    expect_code(moor(&env, "plan"), 0);
    assert_eq!(volume_lines(&env, &data, "/data/runs"), ["run 1"]);
    let status = expect_code(moor(&env, "status"), 0);
    assert!(status.lines().any(|l| l.contains(&migrate) && l.contains("completed (exit 0)")), "{status}");

    // A changed spec runs it again, once.
    env.write("all.yaml", &manifests("2"));
    expect_code(moor(&env, "apply"), 0);
    expect_code(moor(&env, "apply"), 0);
    assert_eq!(volume_lines(&env, &data, "/data/runs"), ["run 1", "run 2"]);
}

#[tokio::test]
async fn restart_true_restarts_the_dependant_after_its_dependency_is_replaced() {
    image().await;
    let env = TestEnv::new("depends-restart");
    let docker = docker().await;
    let (db, web) = (env.name("db"), env.name("web"));
    let manifests = |version: &str| {
        let db_yaml = common::service_yaml(&db, &format!("  env: {{ VERSION: \"{version}\" }}\n"));
        let web_yaml = common::service_yaml(
            &web,
            &format!(
                "  dependsOn: {{ {db}: {{ condition: started, restart: true }}, absent: {{ required: false }} }}\n"
            ),
        );
        format!("{db_yaml}---\n{web_yaml}")
    };
    env.write("all.yaml", &manifests("1"));
    expect_code(moor(&env, "apply"), 0);
    let before = docker.inspect_container(&env.container(&web), None).await.unwrap();

    env.write("all.yaml", &manifests("2"));
    let stdout = expect_code(moor(&env, "apply"), 0);
    let after = docker.inspect_container(&env.container(&web), None).await.unwrap();
    assert_eq!(after.id, before.id, "web is restarted, not replaced:\n{stdout}");
    let (was, now) = (before.state.unwrap().started_at.unwrap(), after.state.unwrap());
    assert_eq!(now.running, Some(true));
    let db_started =
        docker.inspect_container(&env.container(&db), None).await.unwrap().state.unwrap().started_at.unwrap();
    let now = now.started_at.unwrap();
    assert!(now > was && now >= db_started, "web started at {now} (before: {was}), the new db at {db_started}");
    // Nothing moves: nothing restarts.
    expect_code(moor(&env, "apply"), 0);
    let still = docker.inspect_container(&env.container(&web), None).await.unwrap().state.unwrap().started_at.unwrap();
    assert_eq!(still, now);
}
