//! `moor run --git`, `plan --git` and `apply --git` against real git repositories (made with the
//! git CLI, served over file:// and smart HTTP) and the real daemon. Every wait polls with a
//! deadline.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::git::{GitRepo, SshKey};
use common::git_http::GitHttp;
use common::{docker, eventually, expect_code, image, owned, running_env, service_yaml, Controller, TestEnv};
use hmac::Mac as _;

/// `moor run --git URL --state-dir <test>/state -v EXTRA...`.
async fn start(env: &TestEnv, url: &str, extra: &[&str]) -> Controller {
    let state = state_dir(env);
    let base = ["--git", url, "--state-dir", state.to_str().unwrap(), "-v"];
    Controller::start_args(env, &[&base[..], extra].concat()).await
}

fn state_dir(env: &TestEnv) -> PathBuf {
    env.dir.path().join("state")
}

/// Waits until `name` runs with `env_var` in its environment (or any env when `None`); returns
/// its ID.
async fn running_with(docker: &bollard::Docker, env: &TestEnv, name: &str, env_var: Option<&str>) -> String {
    let what = format!("{name} running with {env_var:?}");
    eventually(Duration::from_secs(30), &what, || async {
        let id = owned(docker, &env.instance).await.get(&env.container(name)).cloned()?;
        let (running, vars) = running_env(docker, &id).await?;
        (running && env_var.is_none_or(|v| vars.iter().any(|e| e == v))).then_some(id)
    })
    .await
}

/// Waits until the controller runs the revision `sha` and has converged on it.
async fn applied(c: &Controller, sha: &str) -> serde_json::Value {
    let want = format!("main@sha1:{sha}");
    eventually(Duration::from_secs(30), &format!("{want} applied"), || async {
        let source = c.status()["source"].clone();
        (source["revision"] == want.as_str() && source["lastAppliedRevision"] == want.as_str()).then_some(source)
    })
    .await
}

/// Waits until the controller has attempted `sha` and shows an error; returns the source status.
async fn refused(c: &Controller, sha: &str) -> serde_json::Value {
    let want = format!("main@sha1:{sha}");
    eventually(Duration::from_secs(30), &format!("{want} refused"), || async {
        let source = c.status()["source"].clone();
        (source["lastAttemptedRevision"] == want.as_str() && source["lastError"].is_string()).then_some(source)
    })
    .await
}

fn service(name: &str, value: &str) -> String {
    service_yaml(name, &format!("  env:\n    VERSION: \"{value}\"\n"))
}

#[tokio::test]
async fn pushes_reverts_and_force_pushes_are_followed_within_a_poll() {
    image().await;
    let env = TestEnv::new("git-follow");
    let docker = docker().await;
    let (a, b) = (env.name("a"), env.name("b"));
    let repo = GitRepo::new();
    let first = repo.commit(&[("a.yaml", &service(&a, "1"))], "a at 1");
    let c = start(&env, &repo.url(), &["--poll", "1s"]).await;
    running_with(&docker, &env, &a, Some("VERSION=1")).await;
    let source = applied(&c, &first).await;
    assert_eq!(source["url"], repo.url().as_str());
    assert_eq!(source["subject"], "a at 1");
    assert_eq!(c.metric(&format!("moor_source_revision_info{{revision=\"main@sha1:{first}\"}}")), Some(1.0));

    // A push: a changes, b appears.
    let second = repo.commit(&[("a.yaml", &service(&a, "2")), ("b.yaml", &service(&b, "1"))], "a at 2, b");
    let pushed = Instant::now();
    running_with(&docker, &env, &a, Some("VERSION=2")).await;
    running_with(&docker, &env, &b, None).await;
    applied(&c, &second).await;
    eprintln!("push applied in {:?} with --poll 1s", pushed.elapsed());
    assert_eq!(c.metric(&format!("moor_source_revision_info{{revision=\"main@sha1:{first}\"}}")), None);

    // `git revert` converges back: b is pruned, a is at 1 again.
    let reverted = repo.revert_head();
    running_with(&docker, &env, &a, Some("VERSION=1")).await;
    eventually(Duration::from_secs(30), "b pruned", || async {
        (!owned(&docker, &env.instance).await.contains_key(&env.container(&b))).then_some(())
    })
    .await;
    applied(&c, &reverted).await;

    // A force-push to an older commit is followed too: the remote's ref decides, not history.
    repo.commit(&[("b.yaml", &service(&b, "3"))], "b at 3");
    running_with(&docker, &env, &b, Some("VERSION=3")).await;
    repo.force_push(&first);
    applied(&c, &first).await;
    eventually(Duration::from_secs(30), "b pruned after the force-push", || async {
        (!owned(&docker, &env.instance).await.contains_key(&env.container(&b))).then_some(())
    })
    .await;
    // Once in sync, polls find the remote unchanged.
    eventually(Duration::from_secs(10), "an unchanged poll", || async {
        (c.metric("moor_source_fetches_total{result=\"unchanged\"}").unwrap_or(0.0) >= 1.0).then_some(())
    })
    .await;
    let log = Controller::log(&env);
    assert!(log.contains("revision applied") && log.contains("a at 2, b"), "{log}");
}

/// `POST /hooks/git` with `headers` and `body`; the status code.
fn post_hook(c: &Controller, headers: &[(&str, String)], body: &[u8]) -> u16 {
    let mut head = format!("POST /hooks/git HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    common::http_exchange(&format!("127.0.0.1:{}", c.port), &head, body).map_or(0, |(status, ..)| status)
}

fn hmac_hex(secret: &[u8], body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_signed_webhook_applies_a_push_at_once_and_a_bad_one_is_refused() {
    image().await;
    let env = TestEnv::new("git-hook");
    let docker = docker().await;
    let a = env.name("a");
    let repo = GitRepo::new();
    let first = repo.commit(&[("a.yaml", &service(&a, "1"))], "a at 1");
    let secret = "hook-secret-9f3c";
    let secret_file = env.dir.path().join("hook.secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let c = start(&env, &repo.url(), &["--poll", "10m", "--webhook-secret-file", secret_file.to_str().unwrap()]).await;
    applied(&c, &first).await;

    // A forged hook: 401, counted, and no fetch.
    repo.commit(&[("a.yaml", &service(&a, "2"))], "a at 2");
    let fetches = |c: &Controller| -> f64 {
        ["unchanged", "applied", "refused", "failed"]
            .iter()
            .filter_map(|r| c.metric(&format!("moor_source_fetches_total{{result=\"{r}\"}}")))
            .sum()
    };
    let before = fetches(&c);
    let body = br#"{"ref":"refs/heads/main","after":"0000000000000000000000000000000000000000"}"#;
    let forged = hmac_hex(b"not-the-secret", body);
    assert_eq!(post_hook(&c, &[("X-Hub-Signature-256", format!("sha256={forged}"))], body), 401);
    assert_eq!(post_hook(&c, &[("X-Gitlab-Token", "wrong".into())], body), 401);
    assert_eq!(post_hook(&c, &[], body), 401);
    assert_eq!(c.metric("moor_git_webhooks_total{result=\"rejected\"}"), Some(3.0));

    // A valid GitHub hook: 202 at once, and the push runs within 2 s although the poll is 10 min.
    let sent = Instant::now();
    let signature = hmac_hex(secret.as_bytes(), body);
    assert_eq!(post_hook(&c, &[("X-Hub-Signature-256", format!("sha256={signature}"))], body), 202);
    eventually(Duration::from_secs(2), "the hooked push applied within 2 s", || async {
        let id = owned(&docker, &env.instance).await.get(&env.container(&a)).cloned()?;
        running_env(&docker, &id).await.filter(|(r, vars)| *r && vars.iter().any(|v| v == "VERSION=2"))
    })
    .await;
    eprintln!("webhook to converged: {:?}", sent.elapsed());
    // The forged hooks fetched nothing: only the first sync and the valid hook's did.
    assert_eq!(fetches(&c) - before, 1.0, "only the valid hook fetched");

    // Gitea's and GitLab's forms are accepted too.
    let third = repo.commit(&[("a.yaml", &service(&a, "3"))], "a at 3");
    assert_eq!(post_hook(&c, &[("X-Gitea-Signature", hmac_hex(secret.as_bytes(), body))], body), 202);
    applied(&c, &third).await;
    let fourth = repo.commit(&[("a.yaml", &service(&a, "4"))], "a at 4");
    assert_eq!(post_hook(&c, &[("X-Gitlab-Token", secret.into())], body), 202);
    applied(&c, &fourth).await;
    assert!(!Controller::log(&env).contains(secret), "the webhook secret is in the log");
}

#[tokio::test]
async fn invalid_and_empty_revisions_are_refused_and_the_last_good_one_keeps_running() {
    image().await;
    let env = TestEnv::new("git-refuse");
    let docker = docker().await;
    let a = env.name("a");
    let repo = GitRepo::new();
    let good = repo.commit(&[("a.yaml", &service(&a, "1"))], "good");
    let c = start(&env, &repo.url(), &["--poll", "1s"]).await;
    let id = running_with(&docker, &env, &a, Some("VERSION=1")).await;
    applied(&c, &good).await;

    // An invalid manifest: refused as a whole, the error located, a untouched.
    let bad = repo.commit(
        &[
            ("a.yaml", &service(&a, "2")),
            ("b.yaml", "apiVersion: moor/v1\nkind: Service\nmetadata: {name: b}\nspec: {imagee: x}\n"),
        ],
        "typo",
    );
    let source = refused(&c, &bad).await;
    let error = source["lastError"].as_str().unwrap();
    assert!(error.contains("b.yaml:4") && error.contains("imagee"), "{error}");
    assert_eq!(source["revision"], format!("main@sha1:{good}").as_str());
    assert_eq!(source["lastAppliedRevision"], format!("main@sha1:{good}").as_str());
    assert_eq!(owned(&docker, &env.instance).await.get(&env.container(&a)), Some(&id), "a was touched");

    // No Service at all: refused unless --allow-empty; nothing is pruned.
    let empty = repo.remove(&["a.yaml", "b.yaml"], "moved everything away");
    let source = refused(&c, &empty).await;
    assert!(source["lastError"].as_str().unwrap().contains("no Service manifest"), "{source}");
    assert_eq!(owned(&docker, &env.instance).await.get(&env.container(&a)), Some(&id), "a was pruned");
    assert!(c.metric("moor_source_fetches_total{result=\"refused\"}").unwrap_or(0.0) >= 2.0);

    // A fix is applied and clears the error.
    let fixed = repo.commit(&[("a.yaml", &service(&a, "3"))], "fixed");
    running_with(&docker, &env, &a, Some("VERSION=3")).await;
    let source = applied(&c, &fixed).await;
    assert!(source["lastError"].is_null(), "{source}");
}

#[tokio::test]
async fn with_verify_commits_only_signed_commits_by_allowed_keys_run() {
    image().await;
    let env = TestEnv::new("git-sign");
    let docker = docker().await;
    let a = env.name("a");
    let repo = GitRepo::new();
    let keys = tempfile::tempdir().unwrap();
    let alice = SshKey::generate(keys.path(), "alice");
    let mallory = SshKey::generate(keys.path(), "mallory");
    let signers = keys.path().join("allowed_signers");
    std::fs::write(&signers, alice.allowed_signers_line("alice@example.com") + "\n").unwrap();
    let signed = repo.commit_signed(&[("a.yaml", &service(&a, "1"))], "signed by alice", &alice);
    let c = start(&env, &repo.url(), &["--poll", "1s", "--verify-commits", signers.to_str().unwrap()]).await;
    let id = running_with(&docker, &env, &a, Some("VERSION=1")).await;
    let source = applied(&c, &signed).await;
    let fingerprint = String::from_utf8(
        std::process::Command::new("ssh-keygen").arg("-lf").arg(&alice.public).output().unwrap().stdout,
    )
    .unwrap();
    let fingerprint = fingerprint.split_whitespace().nth(1).unwrap().to_string();
    let verified = source["verifiedBy"].as_str().unwrap();
    assert!(verified.contains("alice@example.com") && verified.contains(&fingerprint), "{verified} vs {fingerprint}");

    let unsigned = repo.commit(&[("a.yaml", &service(&a, "2"))], "unsigned");
    let source = refused(&c, &unsigned).await;
    assert!(source["lastError"].as_str().unwrap().contains("signature"), "{source}");
    let forged = repo.commit_signed(&[("a.yaml", &service(&a, "3"))], "signed by mallory", &mallory);
    refused(&c, &forged).await;
    assert_eq!(owned(&docker, &env.instance).await.get(&env.container(&a)), Some(&id), "an unverified commit ran");
}

#[tokio::test]
async fn a_restart_with_the_git_server_gone_converges_from_the_last_snapshot() {
    image().await;
    let env = TestEnv::new("git-offline");
    let docker = docker().await;
    let a = env.name("a");
    let repo = GitRepo::new();
    let sha = repo.commit(&[("a.yaml", &service(&a, "1"))], "a");
    let c = start(&env, &repo.url(), &["--poll", "1s"]).await;
    let first = running_with(&docker, &env, &a, None).await;
    applied(&c, &sha).await;
    drop(c);

    // The server goes, the container too; a new `moor run` brings it back from disk.
    let away = repo.bare_path().with_extension("away");
    std::fs::rename(repo.bare_path(), &away).unwrap();
    common::docker_cli(&["rm", "-f", &first]);
    let c = start(&env, &repo.url(), &["--poll", "1s"]).await;
    let second = running_with(&docker, &env, &a, None).await;
    assert_ne!(first, second);
    let source = eventually(Duration::from_secs(20), "the fetch failure shown", || async {
        let source = c.status()["source"].clone();
        source["lastError"].is_string().then_some(source)
    })
    .await;
    assert_eq!(source["revision"], format!("main@sha1:{sha}").as_str());
    assert!(c.metric("moor_source_fetches_total{result=\"failed\"}").unwrap_or(0.0) >= 1.0);
    std::fs::rename(&away, repo.bare_path()).unwrap();
}

#[tokio::test]
async fn smart_http_works_and_the_token_never_shows() {
    image().await;
    let env = TestEnv::new("git-http");
    let docker = docker().await;
    let a = env.name("a");
    let repo = GitRepo::new();
    let sha = repo.commit(&[("deploy/a.yaml", &service(&a, "1")), ("README.md", "not a manifest")], "a");
    let server = GitHttp::serve(repo.bare_path().parent().unwrap());
    let name = repo.bare_path().file_name().unwrap().to_str().unwrap().to_string();
    let url = format!("{}/{name}", server.url_base);
    let token = "ghp_TOKENt0ken-never-shown-7731";
    let token_file = env.dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let c = start(
        &env,
        &url,
        &["--poll", "1s", "--path", "deploy", "--git-token-file", token_file.to_str().unwrap(), "-vv"],
    )
    .await;
    running_with(&docker, &env, &a, None).await;
    applied(&c, &sha).await;

    // An idle poll asks for the ref only: no pack is fetched.
    let (requests, from) = (server.requests(), server.log().len());
    let polls = c.metric("moor_source_fetches_total{result=\"unchanged\"}").unwrap_or(0.0);
    eventually(Duration::from_secs(10), "two more idle polls", || async {
        (c.metric("moor_source_fetches_total{result=\"unchanged\"}").unwrap_or(0.0) >= polls + 2.0).then_some(())
    })
    .await;
    assert!(server.requests() > requests);
    let idle = server.log()[from..].to_vec();
    assert!(
        idle.iter().all(|r| !r.is_pack_fetch()),
        "an idle poll fetched a pack: {:?}",
        idle.iter().map(|r| &r.target).collect::<Vec<_>>()
    );

    // plan --git over the same remote, as one-shot, sees the host in sync.
    let plan = env.moor(&[
        "plan",
        "--git",
        &url,
        "--path",
        "deploy",
        "--state-dir",
        state_dir(&env).to_str().unwrap(),
        "--git-token-file",
        token_file.to_str().unwrap(),
    ]);
    let plan_err = String::from_utf8_lossy(&plan.stderr).into_owned();
    expect_code(plan.clone(), 0);
    // A remote that does not answer: the error names the URL without its password.
    let dead = env.moor(&[
        "plan",
        "--git",
        "http://someone:urlpass-8812@127.0.0.1:9/x.git",
        "--git-token-file",
        token_file.to_str().unwrap(),
    ]);
    let dead_err = String::from_utf8_lossy(&dead.stderr).into_owned();
    assert_eq!(dead.status.code(), Some(1), "{dead_err}");
    assert!(dead_err.contains("127.0.0.1:9") && !dead_err.contains("urlpass-8812"), "{dead_err}");

    let everything = [
        Controller::log(&env),
        c.get("/status").1,
        c.get("/metrics").1,
        String::from_utf8_lossy(&plan.stdout).into_owned(),
        plan_err,
        dead_err,
        common::docker_cli(&["inspect", &env.container(&a)]),
    ]
    .join("\n");
    assert!(!everything.contains(token), "the token was printed");
    assert!(!everything.contains("TOKENt0ken"), "part of the token was printed");
}

#[tokio::test]
async fn a_host_moving_from_a_folder_to_git_plans_in_sync_but_for_relative_binds() {
    image().await;
    let env = TestEnv::new("git-upgrade");
    let a = env.name("a");
    let b = env.name("b");
    let plain = service(&a, "1");
    let with_bind = service_yaml(&b, "  volumes:\n    - {type: bind, source: ./conf, target: /conf, readOnly: true}\n");
    let folder = env.dir.path().join("manifests");
    std::fs::create_dir_all(folder.join("conf")).unwrap();
    std::fs::write(folder.join("a.yaml"), &plain).unwrap();
    std::fs::write(folder.join("b.yaml"), &with_bind).unwrap();
    expect_code(env.moor(&["apply", folder.to_str().unwrap()]), 0);

    let repo = GitRepo::new();
    repo.commit(&[("a.yaml", &plain), ("b.yaml", &with_bind), ("conf/app.conf", "x=1\n")], "same manifests");
    let state = state_dir(&env);
    let plan = |extra: &[&str]| {
        let base = ["plan", "--git", &repo.url(), "--state-dir", state.to_str().unwrap(), "-o", "json"];
        env.moor(&[&base[..], extra].concat())
    };
    // Only b, whose relative bind now resolves under the state dir, would be replaced.
    let out = plan(&[]);
    let stdout = expect_code(out, 2);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let services = json["services"].as_object().unwrap();
    assert_eq!(services.keys().collect::<Vec<_>>(), vec![&b], "{stdout}");
    // plan --git wrote nothing into the host's state dir.
    assert!(!state.exists(), "plan --git wrote {}", state.display());

    // apply --git converges, then the host is in sync.
    expect_code(env.moor(&["apply", "--git", &repo.url(), "--state-dir", state.to_str().unwrap()]), 0);
    assert!(state.join("current/conf/app.conf").exists());
    expect_code(plan(&[]), 0);
}

#[tokio::test]
async fn a_revision_swapped_in_by_apply_git_is_taken_up_by_the_running_controller() {
    image().await;
    let env = TestEnv::new("git-apply-run");
    let docker = docker().await;
    let a = env.name("a");
    let repo = GitRepo::new();
    let first = repo.commit(&[("a.yaml", &service(&a, "1"))], "a at 1");
    let secret = "hook-secret-apply";
    let secret_file = env.dir.path().join("hook.secret");
    std::fs::write(&secret_file, secret).unwrap();
    let c = start(&env, &repo.url(), &["--poll", "10m", "--webhook-secret-file", secret_file.to_str().unwrap()]).await;
    applied(&c, &first).await;

    // `moor apply --git` on the host's state dir, as the README offers, while `run --git` runs.
    let second = repo.commit(&[("a.yaml", &service(&a, "2"))], "a at 2");
    let state = state_dir(&env);
    // (Its own apply may lose a race with the controller, which still runs `first`: only its
    // sync matters here.)
    env.moor(&["apply", "--git", &repo.url(), "--state-dir", state.to_str().unwrap()]);
    let link = std::fs::read_link(state.join("current")).unwrap();
    assert!(link.ends_with(&second), "{}", link.display());
    // The controller's next look at the remote finds `current` already at `second`: it must run
    // it, not keep the manifests of `first` (and put VERSION=1 back).
    let body = b"{}";
    let signature = hmac_hex(secret.as_bytes(), body);
    assert_eq!(post_hook(&c, &[("X-Hub-Signature-256", format!("sha256={signature}"))], body), 202);
    applied(&c, &second).await;
    running_with(&docker, &env, &a, Some("VERSION=2")).await;
}

#[tokio::test]
async fn sigterm_does_not_wait_for_a_fetch_from_a_remote_that_stalls() {
    let env = TestEnv::new("git-stall");
    // A "git server" that accepts connections and never answers: a fetch waits ~30 s for it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let mut c = start(&env, &format!("http://127.0.0.1:{port}/x.git"), &[]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let pid = c.child.id().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let sent = Instant::now();
    let code = eventually(Duration::from_secs(60), "moor to exit after SIGTERM", || {
        let exited = c.child.try_wait().unwrap();
        async move { exited }
    })
    .await;
    assert_eq!(code.code(), Some(0));
    assert!(sent.elapsed() < Duration::from_secs(5), "exited {:?} after SIGTERM", sent.elapsed());
}
