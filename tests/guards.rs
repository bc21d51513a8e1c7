//! The prune guard and the watch that cannot go blind, against the real daemon: an emptied,
//! truncated or dangling manifest set removes nothing; a manifest folder renamed away and
//! replaced, or removed and created again, is followed; `apply`, `plan` and `validate` say the
//! same. Every wait polls with a deadline.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{docker, eventually, expect_code, image, owned, running_env, service_yaml, Controller, TestEnv};

/// The old behaviour removed a service within 0.7 s of its manifest going away: a guard that
/// holds for this long has held through the reload and the resync it triggers.
const HOLD: Duration = Duration::from_secs(3);

/// A manifest folder `name` inside the test's folder (which keeps the controller's log).
fn folder(env: &TestEnv, name: &str) -> PathBuf {
    let dir = env.manifests().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

fn text(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

/// Polls `check` for `d` and fails at the first poll where it does not hold.
async fn holds<F, Fut>(d: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + d;
    while Instant::now() < until {
        assert!(check().await, "no longer true: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every name in `names` is an owned container of the test's instance.
async fn all_exist(docker: &bollard::Docker, env: &TestEnv, names: &[&str]) {
    eventually(Duration::from_secs(20), "the services created", || async {
        let now = owned(docker, &env.instance).await;
        names.iter().all(|n| now.contains_key(&env.container(n))).then_some(())
    })
    .await;
}

/// A controller on folder `m` holding services `a` and `b`, both created. The controller comes
/// first so that it stops before the test's cleanup runs; a test that takes it apart binds
/// `env` before `moor` (locals drop in reverse order), or the controller makes containers again
/// after the cleanup.
struct Two {
    moor: Controller,
    env: TestEnv,
    docker: bollard::Docker,
    m: PathBuf,
    a: String,
    b: String,
}

async fn two_services(test: &str) -> Two {
    image().await;
    let env = TestEnv::new(test);
    let docker = docker().await;
    let (a, b) = (env.name("a"), env.name("b"));
    let m = folder(&env, "m");
    write(&m, "a.yaml", &service_yaml(&a, ""));
    write(&m, "b.yaml", &service_yaml(&b, ""));
    let moor = Controller::start_args(&env, &["-v", text(&m)]).await;
    all_exist(&docker, &env, &[&a, &b]).await;
    Two { moor, env, docker, m, a, b }
}

fn guard_text(dir: &Path) -> String {
    format!("no Service manifest in {}: prune suspended (pass --allow-empty)", dir.display())
}

/// The `/status` problems that name `file`.
fn problems_naming(moor: &Controller, file: &str) -> usize {
    let status = moor.status();
    status["problems"]
        .as_array()
        .map(|p| p.iter().filter(|p| p.as_str().unwrap_or("").contains(file)).count())
        .unwrap_or(0)
}

#[tokio::test]
async fn removing_every_manifest_removes_nothing_and_status_shows_the_guard() {
    let Two { env, moor, docker, m, a, b } = two_services("g-rmall").await;

    // `rm m/*`
    std::fs::remove_file(m.join("a.yaml")).unwrap();
    std::fs::remove_file(m.join("b.yaml")).unwrap();
    let guard = guard_text(&m);
    eventually(Duration::from_secs(10), "the guard in /status", || async {
        (moor.status()["pruneSuspended"].as_str() == Some(guard.as_str())).then_some(())
    })
    .await;
    holds(HOLD, "a and b kept", || async {
        let now = owned(&docker, &env.instance).await;
        now.contains_key(&env.container(&a)) && now.contains_key(&env.container(&b))
    })
    .await;
    assert_eq!(moor.metric("moor_prune_suspended"), Some(1.0));
    assert_eq!(moor.status()["problems"].as_array().map(Vec::len), Some(0), "the guard is not a file's problem");

    // One Service manifest back: the guard lifts and b, which no manifest declares, is pruned.
    write(&m, "a.yaml", &service_yaml(&a, ""));
    eventually(Duration::from_secs(10), "b pruned once a Service manifest is back", || async {
        (!owned(&docker, &env.instance).await.contains_key(&env.container(&b))).then_some(())
    })
    .await;
    assert!(owned(&docker, &env.instance).await.contains_key(&env.container(&a)));
    assert!(moor.status().get("pruneSuspended").is_none(), "{}", moor.status());
}

#[tokio::test]
async fn a_manifest_truncated_to_zero_bytes_keeps_its_service() {
    let Two { env, moor, docker, m, b, .. } = two_services("g-trunc").await;
    let b_id = owned(&docker, &env.instance).await[&env.container(&b)].clone();

    // What a non-atomic editor save leaves for a moment.
    std::fs::File::create(m.join("b.yaml")).unwrap();
    eventually(Duration::from_secs(10), "b.yaml's problem in /status", || async {
        (problems_naming(&moor, "b.yaml") == 1).then_some(())
    })
    .await;
    holds(HOLD, "b kept", || async { owned(&docker, &env.instance).await.get(&env.container(&b)) == Some(&b_id) })
        .await;

    write(&m, "b.yaml", &service_yaml(&b, ""));
    eventually(Duration::from_secs(10), "the problem cleared", || async {
        (problems_naming(&moor, "b.yaml") == 0).then_some(())
    })
    .await;
    assert_eq!(owned(&docker, &env.instance).await.get(&env.container(&b)), Some(&b_id), "b was touched");
}

#[tokio::test]
async fn a_manifest_symlink_whose_target_disappears_keeps_its_service() {
    image().await;
    let env = TestEnv::new("g-dangle");
    let docker = docker().await;
    let (a, b) = (env.name("a"), env.name("b"));
    let m = folder(&env, "m");
    let store = folder(&env, "store");
    write(&m, "a.yaml", &service_yaml(&a, ""));
    write(&store, "b.yaml", &service_yaml(&b, ""));
    std::os::unix::fs::symlink(store.join("b.yaml"), m.join("b.yaml")).unwrap();
    // The link in m does not change when its target goes: the folder's watch cannot see it, and
    // the resync's reload must. A short interval keeps the test short.
    let moor = Controller::start_every(&env, "2s", &["-v", text(&m)]).await;
    all_exist(&docker, &env, &[&a, &b]).await;

    std::fs::remove_file(store.join("b.yaml")).unwrap();
    eventually(Duration::from_secs(10), "the dangling link's problem in /status", || async {
        (problems_naming(&moor, "b.yaml") == 1).then_some(())
    })
    .await;
    holds(HOLD, "b kept", || async { owned(&docker, &env.instance).await.contains_key(&env.container(&b)) }).await;
}

/// Starts `moor run` on folder `m` holding `a` (V=1), with `--interval interval`, and waits
/// until `a` runs.
async fn run_on_folder(env: &TestEnv, interval: &str, m: &Path, a: &str) -> Controller {
    write(m, "a.yaml", &service_yaml(a, "  env: { V: \"1\" }\n"));
    let moor = Controller::start_every(env, interval, &["-v", text(m)]).await;
    all_exist(&docker().await, env, &[a]).await;
    moor
}

/// Waits until `a` runs with V=2 and `c` exists: the new folder's manifests were applied.
async fn new_folder_applied(env: &TestEnv, a: &str, c: &str) {
    let docker = docker().await;
    eventually(Duration::from_secs(20), "the new folder's manifests applied", || async {
        let a_new =
            running_env(&docker, &env.container(a)).await.filter(|(up, vars)| *up && vars.contains(&"V=2".to_string()));
        let c_there = owned(&docker, &env.instance).await.contains_key(&env.container(c));
        (a_new.is_some() && c_there).then_some(())
    })
    .await;
}

/// Edits `a` to V=3 in `m` and waits until it runs so: the watch is on the folder now at `m`.
/// (An event of the old folder going can wake a reload that reads the new one by its path: only
/// an edit after that shows which folder is watched.)
async fn later_edit_applied(env: &TestEnv, m: &Path, a: &str) {
    let docker = docker().await;
    write(m, "a.yaml", &service_yaml(a, "  env: { V: \"3\" }\n"));
    eventually(Duration::from_secs(20), "an edit in the new folder applied", || async {
        running_env(&docker, &env.container(a)).await.filter(|(up, vars)| *up && vars.contains(&"V=3".to_string()))
    })
    .await;
}

#[tokio::test]
async fn a_folder_renamed_away_and_replaced_is_applied() {
    image().await;
    let env = TestEnv::new("g-mv");
    let docker = docker().await;
    let (a, c) = (env.name("a"), env.name("c"));
    let m = folder(&env, "m");
    let moor = run_on_folder(&env, "60s", &m, &a).await;

    std::fs::rename(&m, env.manifests().join("m.old")).unwrap();
    // Meanwhile the folder is missing: an error in /status, and nothing is removed.
    eventually(Duration::from_secs(10), "the missing folder in /status", || async {
        (problems_naming(&moor, text(&m)) == 1).then_some(())
    })
    .await;
    assert!(owned(&docker, &env.instance).await.contains_key(&env.container(&a)));

    let next = folder(&env, "m.next");
    write(&next, "a.yaml", &service_yaml(&a, "  env: { V: \"2\" }\n"));
    write(&next, "c.yaml", &service_yaml(&c, ""));
    std::fs::rename(&next, &m).unwrap();
    // The interval is 60 s: only a watch that follows the path explains this.
    new_folder_applied(&env, &a, &c).await;

    later_edit_applied(&env, &m, &a).await;
    assert_eq!(problems_naming(&moor, ""), 0, "{}", moor.status());
}

#[tokio::test]
async fn a_folder_removed_and_created_again_is_applied_with_a_long_interval() {
    image().await;
    let env = TestEnv::new("g-rmdir");
    let (a, c) = (env.name("a"), env.name("c"));
    let m = folder(&env, "m");
    let _moor = run_on_folder(&env, "1h", &m, &a).await;

    std::fs::remove_dir_all(&m).unwrap();
    std::fs::create_dir(&m).unwrap();
    write(&m, "a.yaml", &service_yaml(&a, "  env: { V: \"2\" }\n"));
    write(&m, "c.yaml", &service_yaml(&c, ""));
    new_folder_applied(&env, &a, &c).await;
    later_edit_applied(&env, &m, &a).await;
}

#[tokio::test]
async fn a_folder_replaced_by_rename_is_followed_with_a_long_interval() {
    image().await;
    let env = TestEnv::new("g-mvlong");
    let (a, c) = (env.name("a"), env.name("c"));
    let m = folder(&env, "m");
    let _moor = run_on_folder(&env, "1h", &m, &a).await;

    // Swapped in one step each way, as a deploy script does.
    let next = folder(&env, "m.next");
    write(&next, "a.yaml", &service_yaml(&a, "  env: { V: \"2\" }\n"));
    write(&next, "c.yaml", &service_yaml(&c, ""));
    std::fs::rename(&m, env.manifests().join("m.old")).unwrap();
    std::fs::rename(&next, &m).unwrap();
    new_folder_applied(&env, &a, &c).await;
    later_edit_applied(&env, &m, &a).await;
}

#[tokio::test]
async fn apply_and_plan_on_an_empty_folder_remove_nothing_unless_allowed() {
    image().await;
    let env = TestEnv::new("g-apply");
    let docker = docker().await;
    let a = env.name("a");
    let m = folder(&env, "m");
    write(&m, "a.yaml", &service_yaml(&a, ""));
    expect_code(env.moor(&["apply", text(&m)]), 0);
    all_exist(&docker, &env, &[&a]).await;

    std::fs::remove_file(m.join("a.yaml")).unwrap();
    let guard = guard_text(&m);
    let out = env.moor(&["plan", text(&m)]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let plan = expect_code(out, 1);
    assert!(plan.contains(&guard) && plan.contains(&format!("kept: container {}", env.container(&a))), "{plan}");
    assert!(!plan.contains("in sync"), "{plan}");
    assert!(stderr.contains(&guard), "{stderr}");

    let out = env.moor(&["apply", text(&m)]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    expect_code(out, 1);
    assert!(stderr.contains(&guard), "{stderr}");
    assert!(owned(&docker, &env.instance).await.contains_key(&env.container(&a)), "apply pruned an empty folder");

    // With --allow-empty, plan shows the removal and apply does it.
    let plan = expect_code(env.moor(&["plan", "--allow-empty", text(&m)]), 2);
    assert!(plan.contains(&format!("- remove {}", env.container(&a))), "{plan}");
    expect_code(env.moor(&["apply", "--allow-empty", text(&m)]), 0);
    assert!(!owned(&docker, &env.instance).await.contains_key(&env.container(&a)));
    assert_eq!(expect_code(env.moor(&["plan", "--allow-empty", text(&m)]), 0), "in sync: nothing to do\n");
}

#[test]
fn validate_fails_on_a_folder_without_a_service_but_not_on_a_lone_network_file() {
    let env = TestEnv::new("g-validate");
    let empty = folder(&env, "empty");
    let out = env.moor(&["validate", text(&empty)]);
    let stdout = expect_code(out, 1);
    assert!(stdout.contains("no Service manifest in this folder") && stdout.contains("--allow-empty"), "{stdout}");
    expect_code(env.moor(&["validate", "--allow-empty", text(&empty)]), 0);

    let nets = folder(&env, "nets");
    write(&nets, "net.yaml", "apiVersion: moor/v1\nkind: Network\nmetadata: {name: front}\n");
    // A pre-commit hook's staged files: no Service among them is fine.
    expect_code(env.moor(&["validate", text(&nets.join("net.yaml"))]), 0);
    // The folder as a whole would prune every service.
    expect_code(env.moor(&["validate", text(&nets)]), 1);
}

#[test]
fn a_missing_manifest_folder_is_an_error_not_in_sync() {
    let env = TestEnv::new("g-missing");
    let missing = env.manifests().join("nowhere");
    for command in ["plan", "apply", "status"] {
        let out = env.moor(&[command, text(&missing)]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let stdout = expect_code(out, 1);
        assert!(!stdout.contains("in sync"), "{command}: {stdout}");
        assert!(stderr.contains("nowhere") && stderr.contains("no such file or folder"), "{command}: {stderr}");
    }
    expect_code(env.moor(&["validate", text(&missing)]), 1);
}

#[tokio::test]
async fn allow_empty_is_one_flag_for_git_too() {
    image().await;
    let env = TestEnv::new("g-git");
    let docker = docker().await;
    let a = env.name("a");
    let repo = common::git::GitRepo::new();
    repo.commit(&[("a.yaml", &service_yaml(&a, ""))], "a");
    let (url, state) = (repo.url(), env.manifests().join("state"));
    let git = ["--git", url.as_str(), "--state-dir", text(&state)];
    expect_code(env.moor(&[&["apply"], &git[..]].concat()), 0);
    all_exist(&docker, &env, &[&a]).await;

    repo.remove(&["a.yaml"], "everything moved away");
    let out = env.moor(&[&["plan"], &git[..]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    expect_code(out, 1);
    assert!(stderr.contains("no Service manifest") && stderr.contains("--allow-empty"), "{stderr}");
    let plan = expect_code(env.moor(&[&["plan", "--allow-empty"], &git[..]].concat()), 2);
    assert!(plan.contains(&format!("- remove {}", env.container(&a))), "{plan}");
    assert!(owned(&docker, &env.instance).await.contains_key(&env.container(&a)), "plan removed something");

    let moor = Controller::start_args(&env, &[&git[..], &["--poll", "1s", "--allow-empty", "-v"]].concat()).await;
    eventually(Duration::from_secs(20), "a pruned by the empty revision", || async {
        (!owned(&docker, &env.instance).await.contains_key(&env.container(&a))).then_some(())
    })
    .await;
    assert!(moor.status().get("pruneSuspended").is_none(), "{}", moor.status());
}
