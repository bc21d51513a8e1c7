//! Adversarial review of issue #11 (secrets and configs): each test states a property the issue
//! or the README promises. Tests marked `// Found in review:` failed on the reviewed code and
//! pin down the fix; the others pin down behaviour found sound. Real `sops` and `age-keygen`,
//! the real daemon.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::sops::{age_key, all_output, files_under, sops_encrypt};
use common::{docker, eventually, expect_code, image, owned, service_yaml, Controller, TestEnv};
use moor::secrets::read::Roots;
use moor::secrets::resolve::{resolve, IdentitySource, KeySource, KeyUse, Mode, Resolver};

/// `moor ARGS... DIR --state-dir STATE`.
fn moor(env: &TestEnv, state: &Path, args: &[&str]) -> std::process::Output {
    let (dir, state) = (env.manifests().display().to_string(), state.display().to_string());
    let mut all: Vec<&str> = args.to_vec();
    all.extend([dir.as_str(), "--state-dir", state.as_str()]);
    env.moor(&all)
}

/// `sh -c script` in container `name`: `(succeeded, stdout + stderr)`.
fn exec(name: &str, script: &str) -> (bool, String) {
    let out = Command::new("docker").args(["exec", name, "sh", "-c", script]).output().unwrap();
    (out.status.success(), all_output(&out))
}

const TOKEN_SECRET: &str = "apiVersion: moor/v1\nkind: Secret\nmetadata: {name: tok}\nspec:\n  file: ./data/tok.txt\n";

// Found in review: the host's own age private key can be read as a Secret (or config) by any manifest.
// moor refuses nothing under a readable root, and the README tells users to put the key at
// `/etc/moor/age.key`, inside the default readPaths (`/etc/moor`): a `git push` with a Secret
// `file: /etc/moor/age.key` mounts the host's private key into a container of the pusher's
// choosing (as a config, 0444, readable by any user in it), and with it every secret ever
// encrypted for this host. The same goes for the other credentials the README keeps in
// /etc/moor (listen.token, tls.key, hook.secret, git-token).
#[tokio::test]
async fn the_hosts_age_key_is_never_read_as_a_secret() {
    let _ = image().await;
    let env = TestEnv::new("rv-agekey");
    let etc = tempfile::tempdir().unwrap();
    let key = age_key(etc.path(), "age.key");
    env.set_env("SOPS_AGE_KEY_FILE", key.file.to_str().unwrap());
    let policy = etc.path().join("policy.yaml");
    let policy_text =
        format!("apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  readPaths: [{}]\n", etc.path().display());
    std::fs::write(&policy, policy_text).unwrap();
    let app = env.name("app");
    env.write(
        "secrets.yaml",
        &format!(
            "apiVersion: moor/v1\nkind: Secret\nmetadata: {{name: hostkey}}\nspec:\n  file: {}\n",
            key.file.display()
        ),
    );
    env.write("app.yaml", &service_yaml(&app, "  secrets: [hostkey]\n"));
    let state = tempfile::tempdir().unwrap();

    let out = moor(&env, state.path(), &["apply", "--policy", policy.to_str().unwrap()]);
    let text = all_output(&out);
    let (_, seen) = exec(&env.container(&app), "cat /run/secrets/hostkey");
    assert!(
        out.status.code() == Some(1) && text.contains("age.key"),
        "the age key file was accepted as a Secret:\n{text}\nthe container sees:\n{seen}"
    );
    assert!(!seen.contains("AGE-SECRET-KEY-"), "the container holds the host's age key");
}

// Found in review: a secret file is owned by root (0400) unless the manifest repeats `uid`, so a service
// that runs as a non-root `user` cannot read its own secret. The issue asks for files "owned by
// the container's numeric `user`/`uid`/`gid` when given".
#[tokio::test]
async fn a_secret_file_is_readable_by_the_containers_user() {
    let _ = image().await;
    let env = TestEnv::new("rv-owner");
    std::fs::create_dir(env.manifests().join("data")).unwrap();
    std::fs::write(env.manifests().join("data/tok.txt"), "tok-value\n").unwrap();
    env.write("secrets.yaml", TOKEN_SECRET);
    let app = env.name("app");
    env.write("app.yaml", &service_yaml(&app, "  user: \"1000:1000\"\n  secrets: [tok]\n"));
    let state = tempfile::tempdir().unwrap();
    expect_code(moor(&env, state.path(), &["apply"]), 0);
    let (ok, text) = exec(&env.container(&app), "id -u; cat /run/secrets/tok");
    assert!(ok && text.contains("tok-value"), "user 1000 cannot read its secret:\n{text}");
}

// Found in review: a service set to `state: absent` keeps its secret files (and env bundle) under the state
// dir for good: `collect_files` keeps whatever the desired spec names, and an absent service's
// spec still names its files although no container uses them ("removed when no container uses
// them").
#[tokio::test]
async fn state_absent_leaves_no_secret_file_behind() {
    let _ = image().await;
    let env = TestEnv::new("rv-absent");
    std::fs::create_dir(env.manifests().join("data")).unwrap();
    std::fs::write(env.manifests().join("data/tok.txt"), "tok-value\n").unwrap();
    env.write("secrets.yaml", TOKEN_SECRET);
    let app = env.name("app");
    env.write("app.yaml", &service_yaml(&app, "  env:\n    API_TOKEN: t0k\n  secrets: [tok]\n"));
    let state = tempfile::tempdir().unwrap();
    expect_code(moor(&env, state.path(), &["apply"]), 0);
    let service_files = state.path().join("secrets").join(&app);
    assert!(!files_under(&service_files).is_empty(), "no secret file written");

    env.write("app.yaml", &service_yaml(&app, "  state: absent\n  env:\n    API_TOKEN: t0k\n  secrets: [tok]\n"));
    expect_code(moor(&env, state.path(), &["apply"]), 0);
    assert!(!owned(&docker().await, &env.instance).await.contains_key(&env.container(&app)), "the container is gone");
    assert_eq!(files_under(&service_files), Vec::<String>::new(), "files of an absent service are kept");
}

// Found in review: a config file that does not exist is reported at `spec.configs[0].file.file` (the field
// path gets `file` twice: `ConfigFileRef::field` already ends in `file`, resolve adds another).
#[test]
fn a_missing_config_is_located_at_its_file_field() {
    let env = TestEnv::new("rv-config-field");
    env.write(
        "app.yaml",
        &service_yaml("app", "  configs:\n    - { file: ./conf/missing.conf, target: /etc/app.conf }\n"),
    );
    let out = env.moor(&["validate", "-o", "json", env.manifests().to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_str(&expect_code(out, 1)).unwrap();
    let fields: Vec<&str> = json.as_array().unwrap().iter().filter_map(|p| p["field"].as_str()).collect();
    assert_eq!(fields, ["spec.configs[0].file"], "{json:#}");
}

/// The manifests of one service with a secret-looking plain env value (sealed with the digest key).
fn sealed_service(dir: &Path) -> moor::manifest::Loaded {
    std::fs::write(
        dir.join("app.yaml"),
        "apiVersion: moor/v1\nkind: Service\nmetadata: {name: app}\nspec:\n  image: app:1\n  env: {DB_PASSWORD: x}\n",
    )
    .unwrap();
    moor::manifest::load_paths(&[dir.to_path_buf()])
}

// Found in review: the digest key's outcome is kept for the life of the process, errors included
// (`KeySource::get` caches its `Result` in a OnceLock). `moor run` holds one Resolver: once the
// key could not be made (a full disk, a state dir not yet mounted), every service with a secret
// stays a problem, with prune suspended, until the controller is restarted.
#[test]
fn a_digest_key_that_could_not_be_made_is_tried_again() {
    let manifests = tempfile::tempdir().unwrap();
    let base = tempfile::tempdir().unwrap();
    // The state dir's parent is a file for now: the key cannot be made.
    let blocker = base.path().join("mnt");
    std::fs::write(&blocker, "not a folder").unwrap();
    let resolver = Resolver {
        roots: Roots::folder(manifests.path().into(), Vec::new()),
        identities: IdentitySource::Fixed(Ok(None)),
        key: KeySource::state_dir(blocker.join("state"), KeyUse::Create),
        mode: Mode::Apply,
    };
    let mut loaded = sealed_service(manifests.path());
    resolve(&mut loaded, &resolver);
    assert!(!loaded.desired.services.contains_key("app"), "sealed without a key?");

    std::fs::remove_file(&blocker).unwrap();
    let mut loaded = sealed_service(manifests.path());
    resolve(&mut loaded, &resolver);
    let problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    assert!(
        loaded.desired.services.contains_key("app"),
        "still refused once the state dir can be written: {problems:?}"
    );
}

// Found in review: `moor run` reads the host's age key once, at start (`cli::secrets::resolver` stores the
// `Result` of `identities()`): a controller started before its key file exists, or whose key is
// replaced, never decrypts with the key it is given, however often it resyncs, until it is
// restarted. The README says nothing of a restart (it does for the policy: "Read once").
#[tokio::test]
async fn the_controller_uses_an_age_key_made_after_it_started() {
    let _ = image().await;
    let docker = docker().await;
    let env = TestEnv::new("rv-late-key");
    let keys = tempfile::tempdir().unwrap();
    let key = age_key(keys.path(), "made-later.agekey");
    let key_path = keys.path().join("host.agekey");
    env.set_env("SOPS_AGE_KEY_FILE", key_path.to_str().unwrap());
    sops_encrypt(&key, "db.yaml", "password: pw-1\n", &env.manifests().join("db.sops.yaml"));
    env.write(
        "secrets.yaml",
        "apiVersion: moor/v1\nkind: Secret\nmetadata: {name: db}\nspec:\n  file: ./db.sops.yaml\n",
    );
    let app = env.name("app");
    env.write("app.yaml", &service_yaml(&app, "  env:\n    DB_PASSWORD: { secret: db, key: password }\n"));
    let state = tempfile::tempdir().unwrap();
    let (dir, state_arg) = (env.manifests().display().to_string(), state.path().display().to_string());
    let _c = Controller::start_every(&env, "2s", &[&dir, "--state-dir", &state_arg]).await;
    // The key arrives (an operator's `age-keygen -o`), and the manifests are touched too.
    std::fs::copy(&key.file, &key_path).unwrap();
    env.write("app.yaml", &service_yaml(&app, "  env:\n    DB_PASSWORD: { secret: db, key: password }\n\n"));
    eventually(Duration::from_secs(20), "the service created with the key now present", || async {
        owned(&docker, &env.instance).await.contains_key(&env.container(&app)).then_some(())
    })
    .await;
}

/// Rollouts follow values, not files: re-encrypting the same values in another order, or adding
/// a key no service uses, replaces nothing; a secret file's mode replaces the service.
#[tokio::test]
async fn rollouts_follow_values_not_files() {
    let _ = image().await;
    let env = TestEnv::new("rv-rollouts");
    let keys = tempfile::tempdir().unwrap();
    let key = age_key(keys.path(), "host.agekey");
    env.set_env("SOPS_AGE_KEY_FILE", key.file.to_str().unwrap());
    let db = env.manifests().join("db.sops.yaml");
    let password = env.name("pw-value");
    sops_encrypt(&key, "db.yaml", &format!("password: {password}\nuser: admin\n"), &db);
    env.write(
        "secrets.yaml",
        "apiVersion: moor/v1\nkind: Secret\nmetadata: {name: db}\nspec:\n  file: ./db.sops.yaml\n",
    );
    let app = env.name("app");
    let spec = |mode: &str| {
        service_yaml(
            &app,
            &format!("  env:\n    DB_PASSWORD: {{ secret: db, key: password }}\n  secrets:\n    - {{ secret: db, key: password, target: /run/secrets/pw, mode: \"{mode}\" }}\n"),
        )
    };
    env.write("app.yaml", &spec("0400"));
    let state = tempfile::tempdir().unwrap();
    expect_code(moor(&env, state.path(), &["apply"]), 0);

    sops_encrypt(&key, "db.yaml", &format!("user: admin\npassword: {password}\n"), &db);
    let out = moor(&env, state.path(), &["plan"]);
    assert!(!all_output(&out).contains(&password));
    expect_code(out, 0);
    sops_encrypt(&key, "db.yaml", &format!("user: admin\npassword: {password}\nunused: zzz\n"), &db);
    expect_code(moor(&env, state.path(), &["plan"]), 0);
    env.write("app.yaml", &spec("0440"));
    let out = moor(&env, state.path(), &["plan"]);
    let text = all_output(&out);
    assert!(text.contains("secret file /run/secrets/pw mode") && !text.contains(&password), "{text}");
    expect_code(out, 2);
}

/// Values from a plain env file, a plain YAML Secret and a secret-looking plain `env` key, before
/// and after a change, in every output of the CLI and in the container's labels.
#[tokio::test]
async fn no_value_in_any_cli_output() {
    let _ = image().await;
    let env = TestEnv::new("rv-outputs");
    let m = env.manifests().to_path_buf();
    std::fs::create_dir(m.join("data")).unwrap();
    let app = env.name("app");
    let values: Vec<String> = ["smtp1", "db1", "tok1", "smtp2", "db2", "tok2"].iter().map(|v| env.name(v)).collect();
    let write = |smtp: &str, db: &str, tok: &str| {
        std::fs::write(m.join("data/app.env"), format!("SMTP_PASS={smtp}\n")).unwrap();
        std::fs::write(m.join("data/db.yaml"), format!("password: {db}\n")).unwrap();
        env.write(
            "app.yaml",
            &service_yaml(
                &app,
                &format!("  envFrom: [ {{ file: ./data/app.env }} ]\n  env:\n    LOG_LEVEL: info\n    API_TOKEN: {tok}\n    DB_PASSWORD: {{ secret: db, key: password }}\n  secrets:\n    - {{ secret: db, key: password, target: /run/secrets/pw }}\n"),
            ),
        );
    };
    env.write(
        "secrets.yaml",
        "apiVersion: moor/v1\nkind: Secret\nmetadata: {name: db}\nspec:\n  file: ./data/db.yaml\n",
    );
    write(&values[0], &values[1], &values[2]);
    let state = tempfile::tempdir().unwrap();
    let hidden = |what: &str, text: &str| {
        for v in &values {
            assert!(!text.contains(v.as_str()), "{what} shows {v}:\n{text}");
        }
    };
    let out = moor(&env, state.path(), &["apply", "-vv", "-o", "json"]);
    hidden("apply -o json -vv", &all_output(&out));
    expect_code(out, 0);
    write(&values[3], &values[4], &values[5]);
    let dir = m.display().to_string();
    for args in [
        &["plan", "-v"][..],
        &["plan", "-o", "json"],
        &["plan", "-o", "yaml"],
        &["status"],
        &["status", "-o", "json"],
        &["status", "-o", "yaml"],
    ] {
        let out = moor(&env, state.path(), args);
        hidden(&args.join(" "), &all_output(&out));
    }
    let out = env.moor(&["validate", "-o", "json", &dir]);
    hidden("validate", &all_output(&out));
    let out = moor(&env, state.path(), &["apply", "-vv", "-o", "yaml"]);
    hidden("apply -o yaml -vv", &all_output(&out));
    expect_code(out, 0);
    let labels = common::docker_cli(&["inspect", "-f", "{{json .Config.Labels}}", &env.container(&app)]);
    hidden("labels", &labels);
    let (_, seen) = exec(&env.container(&app), "echo $SMTP_PASS $API_TOKEN $DB_PASSWORD; cat /run/secrets/pw");
    assert_eq!(seen.split_whitespace().collect::<Vec<_>>(), [&values[3], &values[5], &values[4], &values[4]]);
}

// Found in review: `moor validate` in CI fails every repository that uses a host-held secret, the issue's
// own example (`file: /etc/moor/secrets/db.env`): the file exists only on the host, so validate
// reports "no such file" (and each reference to it), exit 1. Without the age key validate checks
// what it can and warns; a host-held file it cannot see should be a warning the same way (plan,
// apply and run still need it).
#[test]
fn validate_passes_a_repository_with_a_host_held_secret() {
    let env = TestEnv::new("rv-host-held");
    env.write(
        "secrets.yaml",
        "apiVersion: moor/v1\nkind: Secret\nmetadata: {name: db}\nspec:\n  file: /etc/moor/rv-review-host-only/db.env\n",
    );
    env.write("app.yaml", &service_yaml("app", "  env:\n    DB_PASSWORD: { secret: db, key: password }\n"));
    let out = env.moor(&["validate", env.manifests().to_str().unwrap()]);
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("warning") && text.contains("/etc/moor/rv-review-host-only/db.env"), "{text}");
}

/// The controller with a tampered SOPS file: the service using it is left as it runs, prune is
/// suspended (a service whose manifest was removed stays), and once the file is fixed prune
/// resumes and the service is still the same container.
#[tokio::test]
async fn the_controller_holds_back_on_a_tampered_file_and_recovers() {
    let _ = image().await;
    let docker = docker().await;
    let env = TestEnv::new("rv-recover");
    let keys = tempfile::tempdir().unwrap();
    let key = age_key(keys.path(), "host.agekey");
    env.set_env("SOPS_AGE_KEY_FILE", key.file.to_str().unwrap());
    let db = env.manifests().join("db.sops.yaml");
    sops_encrypt(&key, "db.yaml", "password: pw-1\n", &db);
    env.write(
        "secrets.yaml",
        "apiVersion: moor/v1\nkind: Secret\nmetadata: {name: db}\nspec:\n  file: ./db.sops.yaml\n",
    );
    let (app, other) = (env.name("app"), env.name("other"));
    env.write("app.yaml", &service_yaml(&app, "  env:\n    DB_PASSWORD: { secret: db, key: password }\n"));
    env.write("other.yaml", &service_yaml(&other, ""));
    let state = tempfile::tempdir().unwrap();
    let (dir, state_arg) = (env.manifests().display().to_string(), state.path().display().to_string());
    let c = Controller::start_every(&env, "2s", &[&dir, "--state-dir", &state_arg]).await;
    let first = eventually(Duration::from_secs(30), "both services up", || async {
        let o = owned(&docker, &env.instance).await;
        (o.len() == 2).then_some(o)
    })
    .await;

    let good = std::fs::read_to_string(&db).unwrap();
    let at = good.find("data:").unwrap() + 5;
    let flipped = if &good[at..at + 1] == "A" { "B" } else { "A" };
    std::fs::write(&db, format!("{}{flipped}{}", &good[..at], &good[at + 1..])).unwrap();
    env.remove("other.yaml");
    let seen = eventually(Duration::from_secs(20), "the problem in /status", || async {
        let s = c.status();
        let problem =
            s["problems"].as_array().is_some_and(|p| p.iter().any(|p| p.to_string().contains("db.sops.yaml")));
        problem.then(|| s["lastResync"].clone())
    })
    .await;
    // A whole resync later, with the problem still there.
    eventually(Duration::from_secs(20), "a resync after the problem", || async {
        (c.status()["lastResync"] != seen).then_some(())
    })
    .await;
    assert_eq!(owned(&docker, &env.instance).await, first, "touched or pruned with a tampered file");

    std::fs::write(&db, good).unwrap();
    eventually(Duration::from_secs(20), "prune resumes", || async {
        let o = owned(&docker, &env.instance).await;
        (!o.contains_key(&env.container(&other))).then_some(())
    })
    .await;
    assert_eq!(
        owned(&docker, &env.instance).await.get(&env.container(&app)),
        first.get(&env.container(&app)),
        "the service is not replaced"
    );
}

// Found in review: a service whose dependency could not be resolved (its env file is missing) fails with
// `dependency "db" has no manifest`: the manifest is there, and the message sends the user
// looking for the wrong thing. (Resolve drops the service from `Desired::services`; apply tells
// only refused from undeclared.)
#[test]
fn a_dependant_names_why_its_dependency_is_missing() {
    let env = TestEnv::new("rv-dependant");
    let (db, app) = (env.name("db"), env.name("app"));
    env.write("db.yaml", &service_yaml(&db, "  envFrom: [ { file: ./data/missing.env } ]\n"));
    env.write("app.yaml", &service_yaml(&app, &format!("  dependsOn: [{db}]\n")));
    let state = tempfile::tempdir().unwrap();
    let out = moor(&env, state.path(), &["apply"]);
    let text = all_output(&out);
    assert!(text.contains("missing.env"), "{text}");
    assert!(!text.contains("has no manifest"), "{text}");
}
