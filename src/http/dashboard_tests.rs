//! The dashboard's routes on a real listener: the page, its assets and headers, the token, and
//! the live stream (a change reaches an open page; shutdown ends every stream).

use std::time::Duration;

use base64::Engine as _;

use super::*;

const WAIT: Duration = Duration::from_secs(10);

async fn serve(options: ListenOptions) -> (String, Arc<Shared>, CancellationToken, reqwest::Client) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shared = Arc::new(Shared::default());
    shared.set_instance("dash");
    let token = CancellationToken::new();
    serve_on(listener, shared.clone(), None, options, token.clone()).unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().build().unwrap();
    (url, shared, token, client)
}

/// Reads the stream until its text so far satisfies `done`, or fails after [`WAIT`].
async fn read_until(response: &mut reqwest::Response, seen: &mut String, done: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done(seen) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk()).await;
        match chunk {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("the stream ended or stalled ({other:?}); so far: {seen}"),
        }
    }
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_a_strict_policy() {
    let (url, shared, token, client) = serve(ListenOptions::default()).await;
    shared.service("web", |s| {
        s.desired = "running".into();
        s.observed = "running".into();
        s.in_sync = true;
    });
    for path in ["/", "/ui"] {
        let response = client.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let csp = response.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"), "{csp}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let body = response.text().await.unwrap();
        assert!(body.contains(r#"<main id="live">"#) && body.contains(r#"id="service-web""#), "{body}");
        assert!(body.contains(r#"src="ui/live.js""#), "the script is linked relative to the page");
    }
    let css = client.get(format!("{url}/ui/style.css")).send().await.unwrap();
    assert!(css.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    assert_eq!(css.text().await.unwrap(), crate::dashboard::STYLE);
    let js = client.get(format!("{url}/ui/live.js")).send().await.unwrap();
    assert!(js.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(js.text().await.unwrap().contains("EventSource"));
    token.cancel();
}

#[tokio::test]
async fn with_a_token_the_page_and_its_stream_want_basic_auth() {
    let options = ListenOptions { token: Some(ListenToken::from_bytes("t0ken")), ..ListenOptions::default() };
    let (url, _shared, token, client) = serve(options).await;
    for path in ["/", "/ui", "/events", "/ui/live.js"] {
        let response = client.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Basic"), "a browser asks for it by itself: {challenge}");
    }
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("me:t0ken"));
    let page = client.get(format!("{url}/")).header("authorization", &basic).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let wrong = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("me:nope"));
    let refused = client.get(format!("{url}/events")).header("authorization", wrong).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let mut stream = client.get(format!("{url}/events")).header("authorization", &basic).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, |s| s.contains("event: live")).await;
    token.cancel();
}

#[tokio::test]
async fn a_change_reaches_an_open_page_and_shutdown_ends_the_stream() {
    let (url, shared, token, client) = serve(ListenOptions::default()).await;
    let mut stream = client.get(format!("{url}/events")).send().await.unwrap();
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, |s| s.contains("event: live")).await;
    assert!(!seen.contains("service-db"));
    let before = seen.len();
    shared.service("db", |s| s.observed = "absent".into());
    read_until(&mut stream, &mut seen, |s| s[before..].contains(r#"id="service-db""#)).await;
    assert!(seen[before..].starts_with("event: live"), "one whole fragment: {}", &seen[before..]);
    token.cancel();
    let end = tokio::time::timeout(WAIT, async {
        loop {
            match stream.chunk().await {
                Ok(Some(_)) => continue,
                _ => return,
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the stream did not end at shutdown");
}
