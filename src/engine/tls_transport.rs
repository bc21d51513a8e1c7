//! The HTTPS transport to a remote daemon (`tcp://HOST:2376` with TLS), as the Docker CLI's.
//!
//! bollard's own `connect_with_ssl` leaves Nagle's algorithm on and keeps no idle connection, so
//! every request made a new TCP and TLS connection, and the request written right behind the
//! handshake's last flight waited for the daemon's delayed ACK: about 40 ms a request on a
//! LAN (seen with strace: `TCP_NODELAY 0`, then 42 ms between the request and the next write; a
//! no-op `moor apply` of 10 services took 70 ms over TLS against 12 ms over the unix socket, and
//! docker compose, in Go, 57 ms). This transport is the same hyper-rustls client with
//! `TCP_NODELAY` and the pool's idle connections kept (one handshake for the whole command, as
//! Go's client keeps its connections), handed to bollard through its custom-transport hook.
//!
//! Invariants: the trust is bollard's and the Docker CLI's (the system's roots plus the CA file
//! given); the client certificate is read once, here, so a missing or unreadable file is an
//! error before any connection. The errors a request returns are bollard's
//! (`HyperLegacyError` with hyper's and rustls' causes as sources), so
//! [`super::tls_diagnosis::tls_reason`] reads them as before.

use std::sync::Arc;

use bollard::{BollardRequest, ClientVersion, Docker};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::connect::TlsFiles;

/// The rustls client configuration for a daemon: the system's roots and the CA file as trust,
/// the client certificate and key as identity. Errors name the file.
pub fn client_config(tls: &TlsFiles, system_roots: bool) -> Result<rustls::ClientConfig, String> {
    let named = |path: &std::path::Path, e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut roots = rustls::RootCertStore::empty();
    if system_roots {
        // A system store that cannot be read (no /etc/ssl) leaves the CA file as the only trust,
        // which is all a daemon's own CA needs.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    }
    let ca: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&tls.ca).and_then(|certs| certs.collect()).map_err(|e| named(&tls.ca, &e))?;
    if ca.is_empty() {
        return Err(named(&tls.ca, &"no certificate in it"));
    }
    for cert in ca {
        roots.add(cert).map_err(|e| named(&tls.ca, &e))?;
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&tls.cert).and_then(|certs| certs.collect()).map_err(|e| named(&tls.cert, &e))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| named(&tls.key, &e))?;
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("{} and {}: {e}", tls.cert.display(), tls.key.display()))
}

/// A bollard client for `host` (`tcp://…` or `https://…`) over TLS with `tls`.
pub fn connect(host: &str, tls: &TlsFiles, timeout: u64, version: &ClientVersion) -> Result<Docker, String> {
    let config = client_config(tls, true)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    let client = Arc::new(Client::builder(TokioExecutor::new()).build(https));
    let address = host.split_once("://").map_or(host, |(_, rest)| rest);
    Docker::connect_with_custom_transport(
        move |request: BollardRequest| {
            let client = Arc::clone(&client);
            async move { client.request(request).await.map_err(bollard::errors::Error::from) }
        },
        Some(format!("https://{address}")),
        timeout,
        version,
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A daemon's TLS listener (client certificates required, as `--tlsverify`) that answers
    /// `GET /_ping` with `OK` and keeps each connection open; counts the connections accepted.
    async fn daemon(server: &TlsFiles, accepted: Arc<AtomicUsize>) -> String {
        daemon_at(server, accepted, "127.0.0.1:0", false).await
    }

    /// As [`daemon`], listening at `bind`; with `close_after_answer`, each connection is closed
    /// right after its first answer (as a daemon or a proxy closing an idle connection).
    async fn daemon_at(server: &TlsFiles, accepted: Arc<AtomicUsize>, bind: &str, close_after_answer: bool) -> String {
        let acceptor = super::super::tls_diagnosis::tests::acceptor(server);
        let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut stream) = acceptor.accept(tcp).await else { return };
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        // One answer per request head (GET: no body).
                        while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            buffer.drain(..end + 4);
                            let answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK";
                            if stream.write_all(answer).await.is_err() {
                                return;
                            }
                            if close_after_answer {
                                let _ = stream.shutdown().await;
                                return;
                            }
                        }
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        format!("tcp://{address}")
    }

    #[tokio::test]
    async fn requests_share_one_connection_and_its_handshake() {
        let dir = tempfile::tempdir().unwrap();
        let files = super::super::tls_diagnosis::tests::pki(dir.path(), "keep");
        let accepted = Arc::new(AtomicUsize::new(0));
        let host = daemon(&files, accepted.clone()).await;
        let docker = connect(&host, &files, 10, bollard::API_DEFAULT_VERSION).unwrap();
        for _ in 0..3 {
            assert_eq!(docker.ping().await.unwrap(), "OK");
        }
        // bollard's own `connect_with_ssl` made a connection (and a handshake) per request.
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_ipv6_host_and_a_dns_name_are_verified_by_their_own_name() {
        let dir = tempfile::tempdir().unwrap();
        let files = super::super::tls_diagnosis::tests::pki_for(dir.path(), "names", &["::1", "localhost"]);
        let accepted = Arc::new(AtomicUsize::new(0));
        // `tcp://[::1]:PORT`: the server name is the IP address ::1, without its brackets.
        let host = daemon_at(&files, accepted.clone(), "[::1]:0", false).await;
        assert!(host.starts_with("tcp://[::1]:"), "{host}");
        let docker = connect(&host, &files, 10, bollard::API_DEFAULT_VERSION).unwrap();
        assert_eq!(docker.ping().await.unwrap(), "OK");
        // `https://localhost:PORT`: the server name is the DNS name (SNI), not an address.
        let host = daemon_at(&files, accepted, "127.0.0.1:0", false).await;
        let port = host.rsplit(':').next().unwrap();
        let docker = connect(&format!("https://localhost:{port}"), &files, 10, bollard::API_DEFAULT_VERSION).unwrap();
        assert_eq!(docker.ping().await.unwrap(), "OK");
    }

    #[tokio::test]
    async fn a_pooled_connection_the_daemon_closed_is_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let files = super::super::tls_diagnosis::tests::pki(dir.path(), "closing");
        let accepted = Arc::new(AtomicUsize::new(0));
        let host = daemon_at(&files, accepted.clone(), "127.0.0.1:0", true).await;
        let docker = connect(&host, &files, 10, bollard::API_DEFAULT_VERSION).unwrap();
        for round in 0..20 {
            assert_eq!(docker.ping().await.unwrap_or_else(|e| panic!("request {round}: {e}")), "OK");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 20);
    }

    #[test]
    fn files_that_are_not_certificates_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = super::super::tls_diagnosis::tests::pki(dir.path(), "named");
        assert!(client_config(&files, false).is_ok());
        let missing = TlsFiles { key: dir.path().join("absent-key.pem"), ..files.clone() };
        let error = client_config(&missing, false).unwrap_err();
        assert!(error.contains("absent-key.pem"), "{error}");
        std::fs::write(&files.ca, "not a certificate\n").unwrap();
        let error = client_config(&files, false).unwrap_err();
        assert!(error.starts_with(&files.ca.display().to_string()) && error.contains("no certificate"), "{error}");
    }
}
