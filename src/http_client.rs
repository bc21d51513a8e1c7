//! A minimal HTTP/1.1 client for plain `http://` URLs: the update webhook and `moor status
//! --controller`. moor carries no TLS stack; use a local relay for HTTPS.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = if host.contains(':') { host.to_string() } else { format!("{host}:80") };
    Ok((host, path.to_string()))
}

/// Sends one request and returns `(status, body)`. `json` is sent as the body when given.
pub async fn request(method: &str, url: &str, json: Option<&str>, timeout: Duration) -> Result<(u16, String), String> {
    let (host, path) = split_url(url)?;
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(&host).await.map_err(|e| format!("{url}: {e}"))?;
        let body = json.unwrap_or("");
        let content = if json.is_some() { "Content-Type: application/json\r\n" } else { "" };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{content}Content-Length: {}\r\nUser-Agent: moor\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
        stream.write_all(body.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status =
            text.split(' ').nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| format!("no HTTP status from {url}"))?;
        Ok((status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()))
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| format!("{url}: timed out"))?
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
    async fn sends_json_and_reads_status_and_body() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = String::new();
            while !got.contains("}") {
                let n = s.read(&mut buf).await.unwrap();
                got.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            s.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok").await.unwrap();
            got
        });
        let url = format!("http://{addr}/hook");
        let answer = request("POST", &url, Some("{\"a\":1}"), Duration::from_secs(5)).await;
        assert_eq!(answer, Ok((201, "ok".to_string())));
        let sent = server.await.unwrap();
        assert!(sent.starts_with("POST /hook HTTP/1.1") && sent.ends_with("{\"a\":1}"), "{sent}");
    }
}
