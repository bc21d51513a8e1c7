//! The update webhook (`moor run --notify-url`): one JSON POST per image update.
//!
//! Plain `http://` only, with no TLS stack in moor; point it at a local relay for HTTPS. A
//! failed delivery is logged and never retried: the webhook informs, it does not drive.

use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The payload, as documented in the README.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateEvent {
    pub service: String,
    pub image: String,
    /// The digest (or image ID) that ran before.
    pub from: Option<String>,
    /// The registry digest the update went to.
    pub to: String,
    /// `success`, `rolled_back` or `failed`.
    pub result: String,
    pub message: String,
    /// RFC 3339.
    pub time: String,
}

fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = if host.contains(':') { host.to_string() } else { format!("{host}:80") };
    Ok((host, path.to_string()))
}

/// POSTs `event` as JSON to `url`; returns the HTTP status.
pub async fn post(url: &str, event: &UpdateEvent) -> Result<u16, String> {
    let (host, path) = split_url(url)?;
    let body = serde_json::to_string(event).map_err(|e| e.to_string())?;
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(&host).await.map_err(|e| e.to_string())?;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nUser-Agent: moor\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut head = [0u8; 64];
        let n = stream.read(&mut head).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&head[..n]);
        text.split(' ').nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| format!("no HTTP status in {text:?}"))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange).await.map_err(|_| "timed out".to_string())?
}

/// Sends `event` in the background, logging the outcome.
pub fn send(url: Option<String>, event: UpdateEvent) {
    let Some(url) = url else { return };
    tokio::spawn(async move {
        match post(&url, &event).await {
            Ok(status) if (200..300).contains(&status) => tracing::debug!(%url, status, "update webhook delivered"),
            Ok(status) => tracing::warn!(%url, status, "update webhook answered with an error"),
            Err(e) => tracing::warn!(%url, error = %e, "update webhook failed"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_and_path() {
        assert_eq!(split_url("http://127.0.0.1:8080/hook").unwrap(), ("127.0.0.1:8080".into(), "/hook".into()));
        assert_eq!(split_url("http://relay").unwrap(), ("relay:80".into(), "/".into()));
        assert!(split_url("https://x").is_err());
    }

    #[tokio::test]
    async fn posts_json_and_reads_the_status() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = String::new();
            while !got.contains("\"time\"") {
                let n = s.read(&mut buf).await.unwrap();
                got.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await.unwrap();
            got
        });
        let event = UpdateEvent {
            service: "web".into(),
            image: "app:1".into(),
            from: Some("sha256:a".into()),
            to: "sha256:b".into(),
            result: "success".into(),
            message: "updated".into(),
            time: "2026-11-29T00:00:00Z".into(),
        };
        assert_eq!(post(&format!("http://{addr}/hook"), &event).await, Ok(204));
        let request = server.await.unwrap();
        assert!(request.starts_with("POST /hook HTTP/1.1"), "{request}");
        let body = request.split("\r\n\r\n").nth(1).unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(body).unwrap()["to"], "sha256:b");
    }
}
