//! The git source's figures (BENCHMARKS.md, "GitOps"): what an idle poll costs on the wire, and
//! how long a push takes to run with a webhook. `scripts/bench-git.sh` builds moor in release and
//! runs this; it prints a Markdown table.
//!
//! 1. Idle poll: `moor run --git http://… --poll 1s` over smart HTTP (`git http-backend` behind
//!    the tests' counting server), in sync; requests, bytes each way and pack fetches per poll,
//!    beside `git ls-remote` and a no-op `git fetch` against the same server.
//! 2. Push to converged: one service, `--poll 10m`, a GitHub-signed webhook after each push;
//!    from the push's end to the new container running with the new value (polled with bollard
//!    every 5 ms), median of 10. Beside it, the glue the source replaces: `git pull` in a clone,
//!    then `moor apply` on it, for the same kind of change.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::git::{git_command, run, GitRepo};
use common::git_http::GitHttp;
use common::{docker, eventually, image, owned, running_env, service_yaml, Controller, TestEnv};
use hmac::Mac as _;

const ROUNDS: usize = 10;

fn service(name: &str, value: usize) -> String {
    service_yaml(name, &format!("  env:\n    VERSION: \"{value}\"\n"))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

/// Requests, bytes the server sent, bytes it received and pack fetches, since `from` in its log.
fn traffic(server: &GitHttp, from: usize, sent_before: u64) -> (usize, u64, u64, usize) {
    let log = server.log();
    let new = &log[from.min(log.len())..];
    let received: u64 = new.iter().map(|r| (r.target.len() + r.body.len()) as u64).sum();
    (new.len(), server.bytes_sent() - sent_before, received, new.iter().filter(|r| r.is_pack_fetch()).count())
}

async fn running_with(docker: &bollard::Docker, env: &TestEnv, name: &str, value: usize) {
    let want = format!("VERSION={value}");
    eventually(Duration::from_secs(60), &want, || async {
        let id = owned(docker, &env.instance).await.get(name).cloned()?;
        let (running, vars) = running_env(docker, &id).await?;
        (running && vars.contains(&want)).then_some(())
    })
    .await;
}

async fn idle_poll() -> Vec<String> {
    let env = TestEnv::new("bench-poll");
    let a = env.name("a");
    let repo = GitRepo::new();
    repo.commit(&[("a.yaml", &service(&a, 1))], "a");
    let server = GitHttp::serve(repo.bare_path().parent().unwrap());
    let url = format!("{}/{}", server.url_base, repo.bare_path().file_name().unwrap().to_str().unwrap());
    let state = env.dir.path().join("state");
    let c =
        Controller::start_args(&env, &["--git", &url, "--state-dir", state.to_str().unwrap(), "--poll", "1s"]).await;
    let unchanged = |c: &Controller| c.metric("moor_source_fetches_total{result=\"unchanged\"}").unwrap_or(0.0);
    eventually(Duration::from_secs(30), "first idle poll", || async { (unchanged(&c) >= 1.0).then_some(()) }).await;
    let (from, sent, polls) = (server.log().len(), server.bytes_sent(), unchanged(&c));
    eventually(Duration::from_secs(60), "10 idle polls", || async { (unchanged(&c) >= polls + 10.0).then_some(()) })
        .await;
    let (requests, down, up, packs) = traffic(&server, from, sent);
    let polled = unchanged(&c) - polls;
    let per = |n: f64| n / polled;
    let mut rows = vec![format!(
        "| idle poll, moor run --git (smart HTTP, in sync) | {:.1} requests · {:.0} B down · {:.0} B up · {packs} pack fetches per poll ({polled} polls) |",
        per(requests as f64),
        per(down as f64),
        per(up as f64)
    )];
    drop(c);

    let (from, sent) = (server.log().len(), server.bytes_sent());
    run(Command::new("git").args(["ls-remote", &url, "refs/heads/main"]).env("GIT_CONFIG_GLOBAL", "/dev/null"));
    let (requests, down, up, packs) = traffic(&server, from, sent);
    rows.push(format!(
        "| anchor: git ls-remote URL refs/heads/main | {requests} requests · {down} B down · {up} B up · {packs} pack fetches |"
    ));
    let clone = tempfile::tempdir().unwrap();
    run(git_command(clone.path()).args(["clone", "-q", &url, "c"]));
    let (from, sent) = (server.log().len(), server.bytes_sent());
    run(git_command(&clone.path().join("c")).args(["fetch", "-q"]));
    let (requests, down, up, packs) = traffic(&server, from, sent);
    rows.push(format!(
        "| anchor: git fetch in an up-to-date clone | {requests} requests · {down} B down · {up} B up · {packs} pack fetches |"
    ));
    rows
}

fn hook(port: u16, secret: &str) {
    let body = br#"{"ref":"refs/heads/main"}"#;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let head = format!(
        "POST /hooks/git HTTP/1.0\r\nHost: 127.0.0.1\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: sha256={hex}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (status, ..) = common::http_exchange(&format!("127.0.0.1:{port}"), &head, body).expect("hook answered");
    assert_eq!(status, 202);
}

async fn push_to_converged() -> Vec<String> {
    let docker = docker().await;
    let env = TestEnv::new("bench-hook");
    let a = env.name("a");
    let repo = GitRepo::new();
    repo.commit(&[("a.yaml", &service(&a, 0))], "a at 0");
    let secret = "bench-secret";
    let secret_file = env.dir.path().join("secret");
    std::fs::write(&secret_file, secret).unwrap();
    let state = env.dir.path().join("state");
    let args = [
        "--git",
        &repo.url(),
        "--state-dir",
        state.to_str().unwrap(),
        "--poll",
        "10m",
        "--webhook-secret-file",
        secret_file.to_str().unwrap(),
    ];
    let c = Controller::start_args(&env, &args).await;
    running_with(&docker, &env, &a, 0).await;
    let mut hooked = Vec::new();
    for i in 1..=ROUNDS {
        repo.commit(&[("a.yaml", &service(&a, i))], &format!("a at {i}"));
        let pushed = Instant::now();
        hook(c.port, secret);
        running_with(&docker, &env, &a, i).await;
        hooked.push(pushed.elapsed());
    }
    drop(c);

    // The glue: a clone on the host, `git pull`, then `moor apply` on it.
    let clone = tempfile::tempdir().unwrap();
    run(git_command(clone.path()).args(["clone", "-q", &repo.url(), "c"]));
    let work = clone.path().join("c");
    let mut glued = Vec::new();
    for i in ROUNDS + 1..=2 * ROUNDS {
        repo.commit(&[("a.yaml", &service(&a, i))], &format!("a at {i}"));
        let pushed = Instant::now();
        run(git_command(&work).args(["pull", "-q"]));
        let out = env.moor(&["apply", work.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        running_with(&docker, &env, &a, i).await;
        glued.push(pushed.elapsed());
    }
    vec![
        format!(
            "| push to converged, webhook (moor run --git --poll 10m, one service) | median {} · max {} ({ROUNDS} pushes) |",
            ms(median(hooked.clone())),
            ms(*hooked.iter().max().unwrap())
        ),
        format!(
            "| anchor: git pull + moor apply in a clone, same change | median {} · max {} ({ROUNDS} pushes) |",
            ms(median(glued.clone())),
            ms(*glued.iter().max().unwrap())
        ),
    ]
}

#[tokio::main]
async fn main() {
    image().await;
    let mut rows = vec!["| figure | result |".to_string(), "|---|---|".to_string()];
    rows.extend(idle_poll().await);
    rows.extend(push_to_converged().await);
    println!("{}", rows.join("\n"));
}
