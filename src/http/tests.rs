//! The endpoints on a real listener, through a real HTTP client.

use std::time::Duration;

use super::*;

const SECRET: &str = "It's a Secret to Everybody";
const BODY: &str = r#"{"ref":"refs/heads/main","after":"0123456789abcdef"}"#;
/// HMAC-SHA256 of `BODY` under `SECRET` (`openssl dgst -sha256 -hmac`).
const SIGNATURE: &str = "378fd8ef898f9f62b40ff08a04e27fa2c573642cc582ffa7adbcb55d87c82947";
/// Long enough for a loaded machine; only waits that succeed take it.
const WAIT: Duration = Duration::from_secs(10);

struct Server {
    url: String,
    shared: Arc<Shared>,
    trigger: Arc<Notify>,
    client: reqwest::Client,
    token: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// Serves on 127.0.0.1:0, with `/hooks/git` when `with_hook`.
async fn start(with_hook: bool) -> Server {
    start_with(with_hook, ListenOptions::default()).await
}

async fn start_with(with_hook: bool, options: ListenOptions) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shared = Arc::new(Shared::default());
    let trigger = Arc::new(Notify::new());
    let hook = with_hook.then(|| GitHook { secret: WebhookSecret::from_bytes(SECRET), trigger: trigger.clone() });
    let token = CancellationToken::new();
    serve_on(listener, shared.clone(), hook, options, token.clone()).unwrap();
    // reqwest is built without a rustls provider (`http_client` installs ring); plain HTTP
    // needs none, but building the client does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    Server { url, shared, trigger, client, token }
}

impl Server {
    async fn post_hook(&self, headers: &[(&str, &str)], body: impl Into<reqwest::Body>) -> (u16, String) {
        let mut request = self.client.post(format!("{}/hooks/git", self.url)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = self.client.get(format!("{}{path}", self.url)).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Whether the trigger fired (consuming its permit). `notify_one` runs before the answer
    /// is written, so after an answer has been read a fired trigger is already waiting here and
    /// a short wait is enough for a "no".
    async fn fired(&self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.trigger.notified()).await.is_ok()
    }

    fn metric_line(&self, result: &str) -> Option<String> {
        let prefix = format!("moor_git_webhooks_total{{result=\"{result}\"}} ");
        self.shared.metrics.text().lines().find(|l| l.starts_with(&prefix)).map(str::to_string)
    }
}

const NOT_FIRED: Duration = Duration::from_millis(100);

#[tokio::test]
async fn a_github_hook_is_accepted_and_triggers() {
    let server = start(true).await;
    let signature = format!("sha256={SIGNATURE}");
    let headers = [("X-Hub-Signature-256", signature.as_str()), ("X-GitHub-Event", "push")];
    assert_eq!(server.post_hook(&headers, BODY).await, (202, "accepted: fetching\n".to_string()));
    assert!(server.fired(WAIT).await);
    // GitHub's `ping` on creating the hook triggers too.
    let ping = [("X-Hub-Signature-256", signature.as_str()), ("X-GitHub-Event", "ping")];
    assert_eq!(server.post_hook(&ping, BODY).await.0, 202);
    assert!(server.fired(WAIT).await);
    assert!(!server.fired(NOT_FIRED).await, "one permit per hook at most");
    assert_eq!(server.metric_line("accepted").as_deref(), Some(r#"moor_git_webhooks_total{result="accepted"} 2"#));
    assert_eq!(server.metric_line("rejected"), None);
}

#[tokio::test]
async fn gitea_and_gitlab_hooks_are_accepted() {
    let server = start(true).await;
    let cases: [&[(&str, &str)]; 4] = [
        &[("X-Gitea-Signature", SIGNATURE), ("X-Gogs-Signature", SIGNATURE), ("X-Gitea-Event", "push")],
        &[("X-Forgejo-Signature", SIGNATURE), ("X-Forgejo-Event", "push")],
        &[("X-Gogs-Signature", SIGNATURE), ("X-Gogs-Event", "push")],
        &[("X-Gitlab-Token", SECRET), ("X-Gitlab-Event", "Push Hook")],
    ];
    for headers in cases {
        assert_eq!(server.post_hook(headers, BODY).await.0, 202, "{headers:?}");
        assert!(server.fired(WAIT).await, "{headers:?}");
    }
    assert_eq!(server.metric_line("accepted").as_deref(), Some(r#"moor_git_webhooks_total{result="accepted"} 4"#));
}

#[tokio::test]
async fn an_invalid_hook_gets_401_and_triggers_nothing() {
    let server = start(true).await;
    let wrong = format!("sha256={}", "0".repeat(64));
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("X-Hub-Signature-256", &wrong)], "bad signature\n"),
        (&[("X-Gitlab-Token", "a guess")], "bad signature\n"),
        (&[("X-Gitea-Signature", "not hex")], "malformed signature\n"),
        (&[("X-GitHub-Event", "push")], "no signature\n"),
    ];
    for (headers, answer) in cases {
        assert_eq!(server.post_hook(headers, BODY).await, (401, answer.to_string()), "{headers:?}");
        assert!(!server.fired(NOT_FIRED).await, "{headers:?}");
    }
    // The right signature over another body is refused too.
    let signature = format!("sha256={SIGNATURE}");
    assert_eq!(server.post_hook(&[("X-Hub-Signature-256", &signature)], "{}").await.0, 401);
    assert!(!server.fired(NOT_FIRED).await);
    assert_eq!(server.metric_line("rejected").as_deref(), Some(r#"moor_git_webhooks_total{result="rejected"} 5"#));
    assert_eq!(server.metric_line("accepted"), None);
    // And the trigger still works: the refusals left it waiting, not broken.
    assert_eq!(server.post_hook(&[("X-Hub-Signature-256", &signature)], BODY).await.0, 202);
    assert!(server.fired(WAIT).await);
}

#[tokio::test]
async fn the_metric_is_served_on_metrics() {
    let server = start(true).await;
    assert_eq!(server.post_hook(&[("X-Gitlab-Token", "wrong")], BODY).await.0, 401);
    let (status, text) = server.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(text.lines().any(|l| l == r#"moor_git_webhooks_total{result="rejected"} 1"#), "{text}");
}

#[tokio::test]
async fn without_a_hook_the_path_is_not_found() {
    let server = start(false).await;
    assert_eq!(server.post_hook(&[("X-Gitlab-Token", SECRET)], BODY).await.0, 404);
    assert!(!server.fired(NOT_FIRED).await);
    // The other endpoints are unchanged.
    assert_eq!(server.get("/healthz").await, (200, "ok\n".to_string()));
}

#[tokio::test]
async fn another_method_is_405() {
    let server = start(true).await;
    assert_eq!(server.get("/hooks/git").await.0, 405);
    let response = server.client.put(format!("{}/hooks/git", server.url)).body(BODY).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert!(!server.fired(NOT_FIRED).await);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_one_at_it_is_checked() {
    let server = start(true).await;
    let at_limit = vec![b'x'; HOOK_BODY_LIMIT];
    assert_eq!(server.post_hook(&[("X-Gitlab-Token", SECRET)], at_limit).await.0, 202);
    assert!(server.fired(WAIT).await);
    let over = vec![b'x'; HOOK_BODY_LIMIT + 1];
    assert_eq!(server.post_hook(&[("X-Gitlab-Token", SECRET)], over).await.0, 413);
    assert!(!server.fired(NOT_FIRED).await);
    assert_eq!(server.metric_line("rejected").as_deref(), Some(r#"moor_git_webhooks_total{result="rejected"} 1"#));
}

#[tokio::test]
async fn with_a_listener_token_the_hook_still_needs_only_its_signature() {
    let options = ListenOptions { token: Some(ListenToken::from_bytes("listen-token")), tls: None };
    let server = start_with(true, options).await;
    assert_eq!(server.get("/status").await.0, 401);
    assert_eq!(server.get("/healthz").await.0, 200);
    let signature = format!("sha256={SIGNATURE}");
    let (status, _) = server.post_hook(&[("X-Hub-Signature-256", signature.as_str())], BODY).await;
    assert_eq!(status, 202);
    let (status, _) = server.post_hook(&[("X-Hub-Signature-256", "sha256=00")], BODY).await;
    assert_eq!(status, 401);
}
