//! Why a TLS connection to a remote daemon failed, told in the user's terms.
//!
//! rustls says why in a typed error, but it does not always reach us through bollard: with TLS
//! 1.3 the client's handshake is over before the daemon has checked the client's certificate,
//! so a refusal arrives as an alert after the request was sent, and hyper's pool may see only a
//! closed connection ("connection was not ready"). When bollard's error carries no reason,
//! [`probe`] repeats the exchange on a connection of its own, where the alert is read for
//! certain. The probe sends no request and only ever runs after a failure.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::AsyncReadExt;

use super::connect::TlsFiles;

/// How long the probe waits, after its handshake, for the daemon's verdict on the client's
/// certificate.
const VERDICT_WAIT: Duration = Duration::from_secs(1);

/// `error: cause: cause…`: bollard's hyper errors say "client error (Connect)" and keep the
/// reason (refused, unknown CA, certificate required) in their sources.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// What a TLS failure means for the user, from rustls' typed error in `error`'s sources (an
/// `io::Error` wraps it, and hides it from `source()`, so each is looked into).
pub fn tls_reason(error: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use rustls::{AlertDescription as A, CertificateError as C};
    let mut next = Some(error);
    while let Some(e) = next {
        // An io::Error's inner error (possibly another io::Error) first, then the source.
        next = match e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
        match e.downcast_ref::<rustls::Error>() {
            Some(rustls::Error::AlertReceived(A::BadCertificate | A::UnknownCA | A::CertificateRequired)) => {
                return Some("the daemon refused this client's certificate: give --tls-cert and --tls-key signed by the CA the daemon trusts (its --tlscacert)");
            }
            Some(rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature)) => {
                return Some("the daemon's certificate is not signed by the CA given (--tls-ca, ca.pem)");
            }
            Some(rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. })) => {
                return Some("the daemon's certificate does not name this host in its subjectAltName");
            }
            Some(rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. })) => {
                return Some("the daemon's certificate has expired");
            }
            _ => {}
        }
    }
    None
}

/// Connects to `host` (`tcp://…`) with the same files as bollard and waits for the daemon's
/// verdict on the client's certificate; the reason of a TLS failure on the way, if any. `None` when the probe
/// succeeds, fails for another reason, or takes longer than `deadline`.
pub async fn probe(host: &str, tls: &TlsFiles, deadline: Duration) -> Option<&'static str> {
    let error = tokio::time::timeout(deadline, exchange(host, tls)).await.ok()?.err()?;
    tls_reason(&error)
}

async fn exchange(host: &str, tls: &TlsFiles) -> std::io::Result<()> {
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    let address = host.split_once("://").map_or(host, |(_, rest)| rest);
    let name = address.rsplit_once(':').map_or(address, |(name, _)| name);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let server = ServerName::try_from(name.to_string()).map_err(|e| invalid(e.to_string()))?;

    // The daemon's CA only: the probe asks for the daemon's verdict, not the system's.
    let config = super::tls_transport::client_config(tls, false).map_err(invalid)?;

    let tcp = tokio::net::TcpStream::connect(address).await?;
    let mut stream = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(server, tcp).await?;
    // Nothing is sent: a request the daemon never reads would make its close a reset, which can
    // overtake the alert. A refusal comes within a round trip; silence means it was accepted.
    let mut byte = [0u8; 1];
    match tokio::time::timeout(VERDICT_WAIT, stream.read(&mut byte)).await {
        Ok(Err(e)) => Err(e),
        Ok(Ok(_)) | Err(_) => Ok(()),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::AsyncWriteExt;

    /// A CA in `dir/<name>-ca.pem` and a leaf for 127.0.0.1 it signed (`<name>-cert.pem`,
    /// `<name>-key.pem`).
    pub(in crate::engine) fn pki(dir: &std::path::Path, name: &str) -> TlsFiles {
        pki_for(dir, name, &["127.0.0.1"])
    }

    /// As [`pki`], the leaf certificate for `names` (IP addresses or DNS names).
    pub(in crate::engine) fn pki_for(dir: &std::path::Path, name: &str, names: &[&str]) -> TlsFiles {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names: two CAs of one name make the verifier report a bad signature instead.
        ca.distinguished_name.push(rcgen::DnType::CommonName, format!("{name} CA"));
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let files = TlsFiles {
            ca: dir.join(format!("{name}-ca.pem")),
            cert: dir.join(format!("{name}-cert.pem")),
            key: dir.join(format!("{name}-key.pem")),
        };
        std::fs::write(&files.ca, ca.pem()).unwrap();
        std::fs::write(&files.cert, leaf.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }

    /// A server as dockerd's `--tlsverify`: its certificate from `server`, and client
    /// certificates required and verified against `server.ca`. Answers one `_ping` per connection.
    /// A daemon's TLS, as dockerd's `--tlsverify`: its certificate from `server`, client
    /// certificates required and verified against `server.ca`.
    pub(in crate::engine) fn acceptor(server: &TlsFiles) -> tokio_rustls::TlsAcceptor {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(&server.ca).unwrap()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from_pem_file(&server.cert).unwrap()],
                PrivateKeyDer::from_pem_file(&server.key).unwrap(),
            )
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }

    async fn daemon(server: &TlsFiles) -> String {
        let acceptor = acceptor(server);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut stream) = acceptor.accept(tcp).await {
                        let mut request = [0u8; 256];
                        let _ = stream.read(&mut request).await;
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK").await;
                        let _ = stream.shutdown().await;
                    }
                });
            }
        });
        format!("tcp://{address}")
    }

    const DEADLINE: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn a_client_certificate_of_another_ca_is_told_as_refused_by_the_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let (good, other) = (pki(dir.path(), "good"), pki(dir.path(), "other"));
        let host = daemon(&good).await;
        // The right files: the exchange succeeds, so there is nothing to tell.
        assert_eq!(probe(&host, &good, DEADLINE).await, None);
        let stranger = TlsFiles { ca: good.ca.clone(), ..other.clone() };
        let reason = probe(&host, &stranger, DEADLINE).await.expect("a reason");
        assert!(reason.starts_with("the daemon refused this client's certificate"), "{reason}");
    }

    #[tokio::test]
    async fn a_daemon_certificate_of_another_ca_is_told_as_not_signed() {
        let dir = tempfile::tempdir().unwrap();
        let (good, other) = (pki(dir.path(), "good"), pki(dir.path(), "other"));
        let host = daemon(&good).await;
        let wrong_ca = TlsFiles { ca: other.ca.clone(), ..good.clone() };
        let reason = probe(&host, &wrong_ca, DEADLINE).await.expect("a reason");
        assert!(reason.contains("not signed by the CA given"), "{reason}");
    }

    #[tokio::test]
    async fn a_closed_port_has_no_tls_reason() {
        let dir = tempfile::tempdir().unwrap();
        let good = pki(dir.path(), "good");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = format!("tcp://{}", listener.local_addr().unwrap());
        drop(listener);
        assert_eq!(probe(&host, &good, DEADLINE).await, None);
    }
}
