//! Secrets from a git source: SOPS files committed next to the manifests, decrypted by the host
//! with `plan --git` (from its throwaway clone), `apply --git` and `run --git`, a rotation pushed
//! and rolled out, and no value in any output.

mod common;

use std::time::Duration;

use common::git::GitRepo;
use common::sops::{age_key, all_output, sops_encrypt, AgeKey};
use common::{docker, eventually, expect_code, image, owned, service_yaml, Controller, TestEnv};

const SECRET: &str = "apiVersion: moor/v1\nkind: Secret\nmetadata: {name: db}\nspec:\n  file: ./db.sops.yaml\n";

/// `password: VALUE` encrypted for `key`, as the text to commit.
fn db_file(key: &AgeKey, value: &str) -> String {
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("db.sops.yaml");
    sops_encrypt(key, "db.yaml", &format!("password: {value}\n"), &file);
    std::fs::read_to_string(file).unwrap()
}

#[tokio::test]
async fn a_git_source_decrypts_on_the_host_and_rolls_a_pushed_rotation() {
    image().await;
    let docker = docker().await;
    let env = TestEnv::new("secrets-git");
    let key = age_key(env.dir.path(), "host.agekey");
    env.set_env("SOPS_AGE_KEY_FILE", key.file.to_str().unwrap());
    let (first, second) = (env.name("pw-first"), env.name("pw-second"));
    let app = env.name("app");
    let app_yaml = service_yaml(
        &app,
        "  env:\n    DB_PASSWORD: { secret: db, key: password }\n  configs:\n    - { file: ./conf/app.conf, target: /etc/app.conf }\n",
    );
    let repo = GitRepo::new();
    let db = db_file(&key, &first);
    repo.commit(
        &[
            ("deploy/secrets.yaml", SECRET),
            ("deploy/db.sops.yaml", &db),
            ("deploy/conf/app.conf", "one\n"),
            ("deploy/app.yaml", &app_yaml),
        ],
        "app with a secret",
    );
    let state = env.dir.path().join("state");
    let git = |command: &str| {
        env.moor(&[command, "--git", &repo.url(), "--path", "deploy", "--state-dir", state.to_str().unwrap()])
    };

    // plan --git reads the secret from its throwaway clone; apply --git from the host's snapshot.
    let out = git("plan");
    let text = all_output(&out);
    assert!(!text.contains(&first), "plan --git shows the value:\n{text}");
    assert!(text.contains(&app), "{text}");
    expect_code(out, 2);
    let out = git("apply");
    assert!(!all_output(&out).contains(&first), "{}", all_output(&out));
    expect_code(out, 0);
    let exec = |script: &str| common::docker_cli(&["exec", &env.container(&app), "sh", "-c", script]);
    assert!(exec("env").lines().any(|l| l == format!("DB_PASSWORD={first}")));
    assert_eq!(exec("cat /etc/app.conf"), "one\n");
    assert_eq!(expect_code(git("plan"), 0), "in sync: nothing to do\n");

    // The controller follows the repository: a pushed rotation replaces the service.
    let c = Controller::start_args(
        &env,
        &["-vv", "--git", &repo.url(), "--path", "deploy", "--state-dir", state.to_str().unwrap(), "--poll", "1s"],
    )
    .await;
    let before = owned(&docker, &env.instance).await[&env.container(&app)].clone();
    repo.commit(&[("deploy/db.sops.yaml", &db_file(&key, &second))], "rotate the password");
    eventually(Duration::from_secs(30), "the rotated password in the container", || async {
        let id = owned(&docker, &env.instance).await.get(&env.container(&app)).cloned()?;
        (id != before && exec("env").lines().any(|l| l == format!("DB_PASSWORD={second}"))).then_some(())
    })
    .await;
    // A tampered file refuses the whole revision, as a broken manifest does: the last good one
    // keeps running, its other changes (a new env var here) wait too.
    let rotated = owned(&docker, &env.instance).await[&env.container(&app)].clone();
    let good = db_file(&key, &second);
    let at = good.find("data:").expect("an encrypted value") + 5;
    let flipped = if &good[at..at + 1] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &good[..at], &good[at + 1..]);
    let app_changed = app_yaml.replace("  env:\n", "  env:\n    LOG_LEVEL: debug\n");
    let bad = repo.commit(&[("deploy/db.sops.yaml", &tampered), ("deploy/app.yaml", &app_changed)], "tampered");
    let source = eventually(Duration::from_secs(30), "the tampered revision refused", || async {
        let source = c.status()["source"].clone();
        (source["lastAttemptedRevision"] == format!("main@sha1:{bad}").as_str() && source["lastError"].is_string())
            .then_some(source)
    })
    .await;
    assert!(source["lastError"].as_str().unwrap().contains("db.sops.yaml"), "{source:#}");
    assert_eq!(owned(&docker, &env.instance).await[&env.container(&app)], rotated, "the running service was touched");
    assert!(!exec("env").contains("LOG_LEVEL"), "a change of the refused revision was applied");

    for (what, text) in [
        ("/status", c.get("/status").1),
        ("/metrics", c.get("/metrics").1),
        ("the log", Controller::log(&env)),
        ("the labels", common::docker_cli(&["inspect", "-f", "{{json .Config.Labels}}", &env.container(&app)])),
    ] {
        for value in [&first, &second] {
            assert!(!text.contains(value.as_str()), "{what} shows a value:\n{text}");
        }
    }
}
