//! moor against a remote daemon, as the Docker CLI reaches one: a daemon of the test's own
//! serving its API over TLS with client verification on a veth address (tests/common/tls_daemon.rs),
//! reached through `--tls-*` options, a Docker context, and `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`;
//! and refused, with a message that says why, without TLS, with a client certificate of another
//! CA, and when the daemon's certificate is not signed by the CA given.

mod common;

use std::path::Path;

use common::tls_daemon::TlsDaemon;
use common::{eventually, expect_code, service_yaml, Controller, TestEnv};

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A failed moor's stderr (exit code 1).
#[track_caller]
fn refused(out: std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_over_tls_creates_a_container_and_wrong_credentials_are_refused() {
    let tls = TlsDaemon::start("tls");
    tls.daemon.load_test_image().await;
    let env = TestEnv::new("tlsapply");
    env.write("web.yaml", &service_yaml("web", ""));
    let dir = s(env.manifests());
    let good = &tls.good;
    let with_good =
        ["--host", &tls.tcp, "--tls-ca", s(&good.ca), "--tls-cert", s(&good.cert), "--tls-key", s(&good.key)];

    expect_code(env.moor(&[&["apply", dir][..], &with_good].concat()), 0);
    // Read back over the daemon's own (plain) unix socket.
    let inspect = tls.daemon.docker(&[
        "inspect",
        "-f",
        "{{.State.Running}} {{index .Config.Labels \"moor.instance\"}}",
        &env.container("web"),
    ]);
    assert!(inspect.status.success(), "{}", String::from_utf8_lossy(&inspect.stderr));
    assert_eq!(String::from_utf8_lossy(&inspect.stdout).trim(), format!("true {}", env.instance));
    // In sync now: plan says so (exit 0) through the same TLS connection.
    expect_code(env.moor(&[&["plan", dir][..], &with_good].concat()), 0);

    // No TLS at all: the daemon answers plain HTTP with a 400, and moor says TLS is wanted.
    let stderr = refused(env.moor(&["plan", dir, "--host", &tls.tcp]));
    assert!(stderr.contains("it wants TLS"), "{stderr}");

    // A client certificate of a CA the daemon does not trust: the daemon ends the handshake.
    let other = &tls.other;
    let stranger = ["--tls-ca", s(&good.ca), "--tls-cert", s(&other.cert), "--tls-key", s(&other.key)];
    let stderr = refused(env.moor(&[&["plan", dir, "--host", &tls.tcp][..], &stranger].concat()));
    assert!(stderr.contains(&format!("{} over TLS", tls.tcp)), "{stderr}");
    assert!(stderr.contains("the daemon refused this client's certificate"), "{stderr}");

    // The wrong CA: the daemon's certificate is not verified, so nothing is sent.
    let wrong_ca = ["--tls-ca", s(&other.ca), "--tls-cert", s(&good.cert), "--tls-key", s(&good.key)];
    let stderr = refused(env.moor(&[&["plan", dir, "--host", &tls.tcp][..], &wrong_ca].concat()));
    assert!(stderr.contains(&format!("{} over TLS", tls.tcp)), "{stderr}");
    assert!(stderr.contains("the daemon's certificate is not signed by the CA given"), "{stderr}");

    // A missing TLS file is named before any connection.
    let missing = env.manifests().join("absent.pem");
    let stderr =
        refused(env.moor(&["plan", dir, "--host", &tls.tcp, "--tls-ca", s(&good.ca), "--tls-cert", s(&missing)]));
    assert!(stderr.contains("absent.pem") && stderr.contains("--tls-cert"), "{stderr}");

    // A Docker context, as `docker context create` writes it, with the daemon's TLS files.
    let config = tempfile::tempdir().unwrap();
    let id = moor::engine::connect::context_dir_name("remote-tls");
    let meta = config.path().join("contexts/meta").join(&id);
    std::fs::create_dir_all(&meta).unwrap();
    let doc = serde_json::json!({"Name": "remote-tls", "Metadata": {}, "Endpoints": {"docker": {"Host": tls.tcp, "SkipTLSVerify": false}}});
    std::fs::write(meta.join("meta.json"), doc.to_string()).unwrap();
    let files = config.path().join("contexts/tls").join(&id).join("docker");
    std::fs::create_dir_all(&files).unwrap();
    for (from, to) in [(&good.ca, "ca.pem"), (&good.cert, "cert.pem"), (&good.key, "key.pem")] {
        std::fs::copy(from, files.join(to)).unwrap();
    }
    env.set_env("DOCKER_CONFIG", s(config.path()));
    expect_code(env.moor(&["plan", dir, "--context", "remote-tls"]), 0);
    // `DOCKER_CONTEXT` names it too; and `currentContext` of the config file.
    env.set_env("DOCKER_CONTEXT", "remote-tls");
    expect_code(env.moor(&["plan", dir]), 0);
    env.set_env("DOCKER_CONTEXT", "");
    std::fs::write(config.path().join("config.json"), r#"{"currentContext": "remote-tls"}"#).unwrap();
    expect_code(env.moor(&["plan", dir]), 0);
    std::fs::remove_file(config.path().join("config.json")).unwrap();

    // DOCKER_HOST with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (files named ca.pem, cert.pem,
    // key.pem there), as docker-machine set them.
    env.set_env("DOCKER_HOST", &tls.tcp);
    env.set_env("DOCKER_TLS_VERIFY", "1");
    env.set_env("DOCKER_CERT_PATH", s(&files));
    expect_code(env.moor(&["plan", dir]), 0);
    // Without the flag, plain HTTP again, refused as above.
    env.set_env("DOCKER_TLS_VERIFY", "");
    let stderr = refused(env.moor(&["plan", dir]));
    assert!(stderr.contains("it wants TLS"), "{stderr}");
}

/// `moor run` over TLS (moor's own transport: one pooled connection for requests, one for the
/// events stream): a container removed behind its back is made again within seconds, so the
/// events stream is read over TLS (the interval is 60 s), and later requests still get through.
#[tokio::test(flavor = "multi_thread")]
async fn run_over_tls_follows_the_events_stream() {
    let tls = TlsDaemon::start("tlsrun");
    tls.daemon.load_test_image().await;
    let env = TestEnv::new("tlsrun");
    env.write("web.yaml", &service_yaml("web", ""));
    let good = &tls.good;
    let with_good =
        ["--host", &tls.tcp, "--tls-ca", s(&good.ca), "--tls-cert", s(&good.cert), "--tls-key", s(&good.key)];
    let _run = Controller::start(&env, &[&with_good[..], &["--node", "tls-node"]].concat()).await;
    let id_of = || {
        let out = tls.daemon.docker(&["inspect", "-f", "{{.Id}} {{.State.Running}}", &env.container("web")]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success()).then(|| text.trim().strip_suffix(" true").map(str::to_string)).flatten()
    };
    let first = eventually(std::time::Duration::from_secs(30), "web running over TLS", || async { id_of() }).await;
    for round in 0..2 {
        let before = id_of().unwrap_or_default();
        let out = tls.daemon.docker(&["rm", "-f", &env.container("web")]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let again =
            eventually(std::time::Duration::from_secs(20), &format!("web made again (round {round})"), || async {
                id_of().filter(|id| *id != before)
            })
            .await;
        assert_ne!(again, first);
    }
}

/// `ssh://` as the Docker CLI does it: the system's `ssh` to an sshd of the test's own (user and
/// port in the URL), running
/// `docker system dial-stdio` there (against the machine's daemon, as a remote host's would
/// against its own).
#[tokio::test(flavor = "multi_thread")]
async fn apply_over_ssh_creates_a_container_and_an_unknown_key_is_refused() {
    common::image().await;
    let sshd = common::sshd::Sshd::start();
    let env = TestEnv::new("sshapply");
    env.set_env("PATH", &sshd.path_env());
    env.write("web.yaml", &service_yaml("web", ""));
    let dir = s(env.manifests());

    // An unknown host key: refused, and ssh's reason is in the message.
    let stderr = refused(env.moor(&["apply", dir, "--host", &sshd.host]));
    assert!(stderr.contains("ssh said: Host key verification failed"), "{stderr}");
    sshd.trust_host_key();

    // With a port, as the Docker CLI passes it (`ssh -l root -p PORT -- 127.0.0.1 …`).
    expect_code(env.moor(&["apply", dir, "--host", &sshd.host]), 0);
    let running = common::docker_cli(&[
        "inspect",
        "-f",
        "{{.State.Running}} {{index .Config.Labels \"moor.instance\"}}",
        &env.container("web"),
    ]);
    assert_eq!(running.trim(), format!("true {}", env.instance), "sshd log:\n{}", sshd.log());
    expect_code(env.moor(&["plan", dir, "--host", &sshd.host]), 0);
    // DOCKER_HOST names it too.
    env.set_env("DOCKER_HOST", &sshd.host);
    expect_code(env.moor(&["plan", dir]), 0);

    // A key the server does not know: ssh's own refusal is in the message.
    sshd.use_key(&sshd.stranger_key);
    let stderr = refused(env.moor(&["plan", dir]));
    assert!(stderr.contains(&sshd.host) && stderr.contains("ssh said: root@127.0.0.1: Permission denied"), "{stderr}");
    // Cleanup through the machine's daemon (TestEnv's drop) leaves nothing behind.
}
