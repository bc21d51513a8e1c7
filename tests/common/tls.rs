//! A CA made in the test and a certificate for `127.0.0.1` and `localhost` that it signed:
//! HTTPS servers of tests trust nothing but what `SSL_CERT_FILE` names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;

use rcgen::{BasicConstraints, Certificate, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// The CA (as PEM), the leaf certificate it signed, and the leaf's key.
fn ca_and_leaf() -> (String, Certificate, KeyPair) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "moor test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    (ca.pem(), leaf, key)
}

/// A rustls server config, and the PEM of the CA that signed its certificate.
pub fn server_config() -> (Arc<rustls::ServerConfig>, String) {
    let (ca_pem, leaf, key) = ca_and_leaf();
    let ca_der = rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), ca_der],
            rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
        .unwrap();
    (Arc::new(config), ca_pem)
}

/// The same as PEM files in `dir`: `(certificate chain, private key, CA)`.
pub fn pem_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca_pem, leaf, key) = ca_and_leaf();
    let (cert_file, key_file, ca_file) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("ca.pem"));
    std::fs::write(&cert_file, leaf.pem() + &ca_pem).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    std::fs::write(&ca_file, &ca_pem).unwrap();
    (cert_file, key_file, ca_file)
}
