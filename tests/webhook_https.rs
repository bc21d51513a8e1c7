//! The update webhook over HTTPS, to a server whose certificate is signed by a CA made here and
//! trusted only through `SSL_CERT_FILE`.
//!
//! The tests of this binary change the process environment (inherited by `moor run`): they hold
//! [`ENV`] throughout, and no other test binary sees the change.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::registry::{image_of, publish, tag, Registry};
use common::{docker, eventually, image, service_yaml, Controller, TestEnv};
use moor::http_client::{HttpClient, HttpError};
use moor::notify::{Delivery, DeliveryError, Notifier};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

static ENV: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A CA written as PEM to a file, and a TLS webhook receiver on 127.0.0.1 whose certificate
/// (for `127.0.0.1` and `localhost`) it signed.
struct HttpsHook {
    ca_file: PathBuf,
    url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    _dir: tempfile::TempDir,
}

async fn https_hook() -> HttpsHook {
    let (config, ca_pem) = common::tls::server_config();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
    let bodies: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let sink = bodies.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, sink) = (acceptor.clone(), sink.clone());
            tokio::spawn(async move {
                // A client that does not trust the CA ends the handshake: nothing arrives.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let body = read_body(&mut tls).await;
                if let Ok(v) = serde_json::from_slice(&body) {
                    sink.lock().unwrap().push(v);
                }
                let _ = tls.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n").await;
                let _ = tls.shutdown().await;
            });
        }
    });
    HttpsHook { ca_file, url, bodies, _dir: dir }
}

/// Reads one request and returns its `Content-Length` body.
async fn read_body<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = s.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            return Vec::new();
        }
        raw.extend_from_slice(&buf[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(head)) = request.parse(&raw) {
            let length = request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
                .unwrap_or(0);
            if raw.len() >= head + length {
                return raw[head..head + length].to_vec();
            }
        }
    }
}

/// Trusts `ca_file` alone through `SSL_CERT_FILE` (the machine may set both variables to the
/// system bundle), or nothing beyond the system store when `None`.
fn trust(ca_file: Option<&PathBuf>) {
    std::env::remove_var("SSL_CERT_DIR");
    match ca_file {
        Some(file) => std::env::set_var("SSL_CERT_FILE", file),
        None => std::env::remove_var("SSL_CERT_FILE"),
    }
}

fn notifier(url: &str) -> (Notifier, tokio::sync::mpsc::UnboundedReceiver<Delivery>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let fast = backon::ExponentialBuilder::default().with_min_delay(Duration::from_millis(10)).with_max_times(1);
    let notifier = Notifier::new(
        HttpClient::new().unwrap(),
        url,
        Arc::new(move |d| {
            let _ = tx.send(d);
        }),
    )
    .with_retry(fast);
    (notifier, rx)
}

#[tokio::test]
async fn the_notifier_delivers_over_https_when_ssl_cert_file_trusts_the_ca() {
    let _env = ENV.lock().await;
    let hook = https_hook().await;

    // Without the CA the certificate is refused, and nothing is delivered.
    trust(None);
    let (untrusting, mut outcomes) = notifier(&hook.url);
    untrusting.send(&serde_json::json!({"try": 1}));
    match outcomes.recv().await.unwrap() {
        Delivery::Failed { attempts: 2, error: DeliveryError::Http(HttpError::Connect { message, .. }) } => {
            assert!(message.contains("certificate"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(hook.bodies.lock().unwrap().is_empty());

    // The client reads SSL_CERT_FILE when it is built.
    trust(Some(&hook.ca_file));
    let (trusting, mut outcomes) = notifier(&hook.url);
    trusting.send(&serde_json::json!({"try": 2}));
    match outcomes.recv().await.unwrap() {
        Delivery::Delivered { status: 204, attempts: 1 } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(*hook.bodies.lock().unwrap(), [serde_json::json!({"try": 2})]);
    // `localhost` is in the certificate too.
    let by_name = hook.url.replace("127.0.0.1", "localhost");
    let status = HttpClient::new().unwrap().post_json(&by_name, "x", Duration::from_secs(5)).await.unwrap();
    assert_eq!(status, 204);
}

// --- End to end: `moor run --notify-url https://...` and a real image update.

#[tokio::test]
async fn moor_run_posts_an_image_update_to_an_https_webhook() {
    let _env = ENV.lock().await;
    let hook = https_hook().await;
    trust(Some(&hook.ca_file));

    image().await;
    let env = TestEnv::new("httpshook");
    let docker = docker().await;
    let registry = Registry::start().await;
    let name = env.name("svc");
    let reference = format!("{}/{name}:1", registry.addr);
    let v1 = publish(&docker, &env, &reference, "v1", true).await;
    tag(&docker, &v1, &reference).await;
    let spec = service_yaml(&name, "  update: { watch: digest, interval: 1s, healthTimeout: 10s }\n");
    env.write("svc.yaml", &spec.replace(common::IMAGE, &reference).replace("pull: never", "pull: missing"));
    // The child inherits SSL_CERT_FILE.
    let moor = Controller::start(&env, &["--notify-url", &hook.url]).await;
    eventually(Duration::from_secs(20), "v1 running", || async {
        (image_of(&docker, &env.container(&name)).await? == v1).then_some(())
    })
    .await;

    let v2 = publish(&docker, &env, &reference, "v2", true).await;
    eventually(Duration::from_secs(30), "v2 running", || async {
        (image_of(&docker, &env.container(&name)).await? == v2).then_some(())
    })
    .await;
    let payload =
        eventually(Duration::from_secs(15), "the webhook", || async { hook.bodies.lock().unwrap().first().cloned() })
            .await;
    assert_eq!(payload["service"], name.as_str());
    assert_eq!(payload["result"], "success");
    assert_eq!(payload["image"], reference.as_str());
    let status = moor.status();
    assert_eq!(payload["to"], status["services"][&name]["update"]["registryDigest"]);
    drop(moor);
}
