//! moor's outgoing HTTP: the update webhook ([`crate::notify`]) and `moor status --controller`.
//!
//! A thin layer over reqwest with rustls (ring provider; no OpenSSL, no native-tls). `http://` and
//! `https://` both work; HTTPS trusts the system's CA store and, in addition, the certificates in
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` (rustls-native-certs alone would trust only those when they are
//! set, so the system store is added back here). Errors and logs never show a URL's userinfo:
//! see [`redact_url`].

use std::sync::Once;
use std::time::Duration;

use serde::Serialize;

/// What went wrong with a request; an answer with an error status is not an error here, it is
/// returned as a status. The URLs in it are redacted.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("building the HTTP client: {0}")]
    Build(String),
    #[error("{url}: not a valid http:// or https:// URL")]
    InvalidUrl { url: String },
    #[error("{url}: no answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("{url}: cannot connect: {message}")]
    Connect { url: String, message: String },
    #[error("{url}: {message}")]
    Request { url: String, message: String },
    #[error("{url}: reading the answer: {message}")]
    Body { url: String, message: String },
    #[error("serializing the request body: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// An HTTP client; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
}

impl HttpClient {
    /// Builds the client and loads the trusted CAs (once per client: build one and clone it).
    pub fn new() -> Result<Self, HttpError> {
        install_crypto_provider();
        let builder = reqwest::Client::builder()
            .user_agent(concat!("moor/", env!("CARGO_PKG_VERSION")))
            // A redirected POST becomes a GET and loses its payload; a 3xx is reported instead.
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_merge(system_roots_beside_env());
        let inner = builder.build().map_err(|e| HttpError::Build(chain(e)))?;
        Ok(HttpClient { inner })
    }

    /// GETs `url`; returns the status and the body (chunked or not), whatever the status.
    pub async fn get(&self, url: &str, timeout: Duration) -> Result<(u16, String), HttpError> {
        self.get_with_token(url, None, timeout).await
    }

    /// [`HttpClient::get`] with `Authorization: Bearer TOKEN` when a token is given.
    pub async fn get_with_token(
        &self,
        url: &str,
        token: Option<&str>,
        timeout: Duration,
    ) -> Result<(u16, String), HttpError> {
        let mut request = self.inner.get(url).timeout(timeout);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = self.send(request, url, timeout).await?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|e| classify(e, url, timeout))?;
        Ok((status, body))
    }

    /// POSTs `body` serialized as JSON; returns the status, whatever it is.
    pub async fn post_json<T: Serialize + ?Sized>(
        &self,
        url: &str,
        body: &T,
        timeout: Duration,
    ) -> Result<u16, HttpError> {
        self.post_json_text(url, serde_json::to_string(body)?, timeout).await
    }

    /// POSTs `json`, already serialized, with `Content-Type: application/json`.
    pub async fn post_json_text(&self, url: &str, json: String, timeout: Duration) -> Result<u16, HttpError> {
        let request =
            self.inner.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(json).timeout(timeout);
        Ok(self.send(request, url, timeout).await?.status().as_u16())
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
        timeout: Duration,
    ) -> Result<reqwest::Response, HttpError> {
        request.send().await.map_err(|e| classify(e, url, timeout))
    }
}

/// reqwest 0.13 with `rustls-no-provider` takes rustls' process-wide provider. ring is installed
/// unless something installed one first; installing it also keeps rustls from panicking ("no
/// process-level CryptoProvider") should another crate (gix) enable aws-lc-rs beside it. Public
/// for the git source, whose https transport (gix's reqwest) needs the same provider.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The system's CAs, when `SSL_CERT_FILE` or `SSL_CERT_DIR` is set: reqwest's verifier then loads
/// only those (rustls-native-certs' rule), and a CA added for one internal webhook should not
/// make every public one fail. Empty otherwise: the verifier loads the system store itself.
fn system_roots_beside_env() -> Vec<reqwest::Certificate> {
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if !set("SSL_CERT_FILE") && !set("SSL_CERT_DIR") {
        return Vec::new();
    }
    system_roots()
}

/// The CAs of the system's certificate directories, skipping any rustls cannot use (one bad
/// certificate would otherwise fail the whole client).
fn system_roots() -> Vec<reqwest::Certificate> {
    let mut roots = Vec::new();
    for dir in openssl_probe::candidate_cert_dirs() {
        for cert in rustls_native_certs::load_certs_from_paths(None, Some(dir)).certs {
            if rustls::RootCertStore::empty().add(cert.clone()).is_ok() {
                roots.extend(reqwest::Certificate::from_der(&cert).ok());
            }
        }
    }
    roots
}

fn classify(error: reqwest::Error, url: &str, timeout: Duration) -> HttpError {
    let url = redact_url(url);
    if error.is_timeout() {
        HttpError::Timeout { url, timeout }
    } else if error.is_builder() {
        HttpError::InvalidUrl { url }
    } else if error.is_connect() {
        HttpError::Connect { url, message: chain(error) }
    } else if error.is_body() || error.is_decode() {
        HttpError::Body { url, message: chain(error) }
    } else {
        HttpError::Request { url, message: chain(error) }
    }
}

/// The error and its causes, without reqwest's copy of the URL (it may hold credentials).
fn chain(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `url` without its userinfo (`https://user:token@host/p` gives `https://host/p`), for errors and
/// logs. Works on text that does not parse as a URL too.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    // A password holding `/`, `?` or `#` would end the authority early for the reading below,
    // and a URL parser refuses such a URL whole: then all up to the last `@` is userinfo (as
    // `git::remote` shows a remote).
    if url::Url::parse(url).is_err() {
        return match rest.rfind('@') {
            Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
            None => url.to_string(),
        };
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A plain-HTTP server on 127.0.0.1:0 that answers its n-th request with `answers[n]` (the
    /// last one repeated) and records the requests. Returns its base URL.
    pub(crate) async fn serve(answers: Vec<&'static str>) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((mut s, _)) = listener.accept().await {
                let request = read_request(&mut s).await;
                log.lock().unwrap().push(request);
                let answer = answers[n.min(answers.len() - 1)];
                n += 1;
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            }
        });
        (url, seen)
    }

    /// Reads one request: the head and a `Content-Length` body.
    pub(crate) async fn read_request<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> String {
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    break;
                }
            }
        }
        String::from_utf8_lossy(&raw).into_owned()
    }

    const SECOND: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn get_reads_a_chunked_body() {
        let (url, seen) = serve(vec![
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
             4\r\n{\"a\"\r\n5\r\n: 1, \r\n7\r\n\"b\": 2}\r\n0\r\n\r\n",
        ])
        .await;
        let client = HttpClient::new().unwrap();
        assert_eq!(client.get(&format!("{url}/status"), SECOND).await.unwrap(), (200, "{\"a\": 1, \"b\": 2}".into()));
        assert!(seen.lock().unwrap()[0].starts_with("GET /status HTTP/1.1\r\n"));
    }

    #[tokio::test]
    async fn an_error_status_is_a_status_not_an_error() {
        let (url, _) = serve(vec!["HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"]).await;
        let client = HttpClient::new().unwrap();
        assert_eq!(client.get(&url, SECOND).await.unwrap(), (503, "busy".into()));
        assert_eq!(client.post_json(&url, &serde_json::json!({"a": 1}), SECOND).await.unwrap(), 503);
    }

    #[tokio::test]
    async fn post_json_sends_the_payload() {
        let (url, seen) = serve(vec!["HTTP/1.1 204 No Content\r\n\r\n"]).await;
        let client = HttpClient::new().unwrap();
        assert_eq!(client.post_json(&format!("{url}/hook"), &serde_json::json!({"a": 1}), SECOND).await.unwrap(), 204);
        let request = seen.lock().unwrap()[0].to_ascii_lowercase();
        assert!(request.starts_with("post /hook http/1.1\r\n"), "{request}");
        assert!(request.contains("\r\ncontent-type: application/json\r\n"), "{request}");
        assert!(request.ends_with("\r\n\r\n{\"a\":1}"), "{request}");
    }

    #[tokio::test]
    async fn errors_are_typed_and_show_no_credentials() {
        // A port nobody listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let client = HttpClient::new().unwrap();
        let error = client.get(&format!("http://moor:s3cret@127.0.0.1:{port}/x"), SECOND).await.unwrap_err();
        assert!(matches!(error, HttpError::Connect { .. }), "{error:?}");
        let text = format!("{error} {error:?}");
        assert!(!text.contains("s3cret") && text.contains(&format!("http://127.0.0.1:{port}/x")), "{text}");
        let error = client.get("ftp://moor:s3cret@127.0.0.1/", SECOND).await.unwrap_err();
        assert!(matches!(error, HttpError::InvalidUrl { .. }) && !format!("{error:?}").contains("s3cret"), "{error:?}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let client = HttpClient::new().unwrap();
        let error = client.get(&url, Duration::from_millis(200)).await.unwrap_err();
        assert!(matches!(error, HttpError::Timeout { .. }), "{error:?}");
        drop(listener);
    }

    #[test]
    fn redact_url_drops_userinfo_only() {
        assert_eq!(redact_url("https://user:token@hooks.example/p?q=1"), "https://hooks.example/p?q=1");
        assert_eq!(redact_url("https://token@hooks.example"), "https://hooks.example");
        assert_eq!(redact_url("http://a:b@c@host:8080/x@y"), "http://host:8080/x@y");
        assert_eq!(redact_url("http://127.0.0.1:9/hook?to=a@b"), "http://127.0.0.1:9/hook?to=a@b");
        assert_eq!(redact_url("not a url"), "not a url");
        assert_eq!(redact_url("http://moor:s3cr/et1@127.0.0.1:1"), "http://127.0.0.1:1");
        assert_eq!(redact_url("http://moor:a?b#c@host:9090/status"), "http://host:9090/status");
    }

    #[test]
    fn the_system_store_is_found() {
        assert!(!system_roots().is_empty(), "no CA in {:?}", openssl_probe::candidate_cert_dirs().collect::<Vec<_>>());
    }
}
