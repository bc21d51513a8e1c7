//! `moor run --listen`: a non-loopback address wants a token (or `--listen-insecure`), the token
//! guards everything but `/healthz` and `/hooks/git`, TLS with `--listen-tls-cert`, and
//! `moor status --controller --token-file`.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use common::{eventually, expect_code, http_exchange, moor_bin, TestEnv};

const TOKEN: &str = "listen-t0ken-5521";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Run(Child);

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The test's manifest folder: one Service with `state: absent` (nothing to run, so `moor status`
/// is in sync at once; an empty folder would be an error under the prune guard).
fn manifests(env: &TestEnv) -> std::path::PathBuf {
    let dir = env.dir.path().join("m");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("web.yaml"),
        common::service_yaml(
            &env.name("web"),
            "  state: absent
",
        ),
    )
    .unwrap();
    dir
}

fn spawn(env: &TestEnv, args: &[&str]) -> Run {
    let dir = manifests(env);
    let child = Command::new(moor_bin())
        .arg("run")
        .arg(&dir)
        .args(["--instance", &env.instance])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Run(child)
}

/// `GET path` with an optional `Authorization` value: the status code.
fn get(port: u16, path: &str, authorization: Option<&str>) -> u16 {
    let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    let head = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}\r\n");
    http_exchange(&format!("127.0.0.1:{port}"), &head, &[]).map_or(0, |(status, ..)| status)
}

#[test]
fn a_listener_reachable_from_other_hosts_needs_a_token_or_an_explicit_insecure() {
    let env = TestEnv::new("listen-open");
    let port = free_port().to_string();
    let dir = env.dir.path().join("m");
    std::fs::create_dir_all(&dir).unwrap();
    let out = env.moor(&["run", dir.to_str().unwrap(), "--listen", &format!("0.0.0.0:{port}")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--listen-token-file") && stderr.contains("--listen-insecure"), "{stderr}");
}

#[tokio::test]
async fn the_token_guards_everything_but_healthz_as_bearer_or_basic() {
    let env = TestEnv::new("listen-token");
    let port = free_port();
    let token_file = env.dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let _run = spawn(
        &env,
        &["--listen", &format!("0.0.0.0:{port}"), "--listen-token-file", token_file.to_str().unwrap(), "-vv"],
    );
    eventually(Duration::from_secs(20), "/healthz", || async { (get(port, "/healthz", None) == 200).then_some(()) })
        .await;
    let bearer = format!("Bearer {TOKEN}");
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("me:{TOKEN}")));
    for path in ["/status", "/metrics", "/readyz"] {
        assert_eq!(get(port, path, None), 401, "{path} without a token");
        assert_eq!(get(port, path, Some("Bearer wrong")), 401, "{path} with a wrong token");
    }
    assert_eq!(get(port, "/status", Some(&bearer)), 200);
    assert_eq!(get(port, "/metrics", Some(&basic)), 200);
    // Unknown paths are behind the token too: nothing tells which paths exist.
    assert_eq!(get(port, "/nothing-here", None), 401);

    // `moor status --controller` needs the token too, and names the flag when it is missing.
    let dir = env.dir.path().join("m");
    let url = format!("http://127.0.0.1:{port}");
    let without = env.moor(&["status", dir.to_str().unwrap(), "--controller", &url]);
    let stderr = String::from_utf8_lossy(&without.stderr).into_owned();
    assert_eq!(without.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("401") && stderr.contains("--token-file"), "{stderr}");
    let with = env.moor(&[
        "status",
        dir.to_str().unwrap(),
        "--controller",
        &url,
        "--token-file",
        token_file.to_str().unwrap(),
    ]);
    expect_code(with, 0);
}

#[tokio::test]
async fn listen_insecure_serves_without_a_token() {
    let env = TestEnv::new("listen-insecure");
    let port = free_port();
    let _run = spawn(&env, &["--listen", &format!("0.0.0.0:{port}"), "--listen-insecure"]);
    eventually(Duration::from_secs(20), "/status", || async { (get(port, "/status", None) == 200).then_some(()) })
        .await;
}

#[tokio::test]
async fn tls_with_a_token_serves_moor_status_over_https() {
    let env = TestEnv::new("listen-tls");
    let port = free_port();
    let (cert, key, ca) = common::tls::pem_files(env.dir.path());
    let token_file = env.dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let _run = spawn(
        &env,
        &[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--listen-token-file",
            token_file.to_str().unwrap(),
            "--listen-tls-cert",
            cert.to_str().unwrap(),
            "--listen-tls-key",
            key.to_str().unwrap(),
        ],
    );
    let dir = env.dir.path().join("m");
    let url = format!("https://127.0.0.1:{port}");
    let status = || {
        Command::new(moor_bin())
            .args(["status", dir.to_str().unwrap(), "--instance", &env.instance, "--controller", &url])
            .args(["--token-file", token_file.to_str().unwrap()])
            .env("SSL_CERT_FILE", &ca)
            .output()
            .unwrap()
    };
    let out = eventually(Duration::from_secs(20), "moor status over https", || async {
        let out = status();
        (out.status.code() == Some(0)).then_some(out)
    })
    .await;
    let table = expect_code(out, 0);
    assert!(table.contains(&env.name("web")), "{table}");
    // Plain HTTP to the TLS port gets no answer.
    assert_eq!(get(port, "/healthz", None), 0);
}
