//! A daemon of the test's own that serves its API over TLS with client verification
//! (`--tlsverify`), on an address of a veth pair between its network namespace and the test's,
//! with certificates made by `openssl` in the test: a CA, a server certificate naming the
//! address in its subjectAltName, a client certificate; and, to be refused, a second CA with a
//! client certificate of its own.
//!
//! Its unix socket stays plain (dockerd puts TLS on tcp listeners only), for loading the image
//! and reading results back.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::daemon::{must, Daemon};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A CA's files: `ca.pem`, its key, and a client certificate it signed.
pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct TlsDaemon {
    pub daemon: Daemon,
    /// `tcp://ADDR:2376`.
    pub tcp: String,
    /// The CA that signed the daemon's certificate, and a client certificate it signed.
    pub good: Pki,
    /// Another CA, and a client certificate it signed: the daemon trusts neither.
    pub other: Pki,
    _certs: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl").current_dir(dir).args(args).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A self-signed CA named `name` in `dir` (`NAME-ca.pem`, `NAME-ca-key.pem`).
fn ca(dir: &Path, name: &str) -> PathBuf {
    let (cert, key) = (format!("{name}-ca.pem"), format!("{name}-ca-key.pem"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &cert,
            "-days",
            "2",
            "-subj",
            &format!("/CN=moor test {name} CA"),
        ],
    );
    dir.join(cert)
}

/// A certificate `NAME.pem` (key `NAME-key.pem`) signed by the CA `ca_name`, with the
/// extensions `ext` (an extension file's text).
fn leaf(dir: &Path, ca_name: &str, name: &str, ext: &str) -> (PathBuf, PathBuf) {
    let (cert, key, csr, extfile) =
        (format!("{name}.pem"), format!("{name}-key.pem"), format!("{name}.csr"), format!("{name}.ext"));
    std::fs::write(dir.join(&extfile), ext).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca_name}-ca.pem"),
            "-CAkey",
            &format!("{ca_name}-ca-key.pem"),
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            &extfile,
        ],
    );
    (dir.join(cert), dir.join(key))
}

impl TlsDaemon {
    pub fn start(test: &str) -> TlsDaemon {
        let certs = tempfile::Builder::new().prefix("moor-tls-").tempdir().unwrap();
        let dir = certs.path();
        // A /30 of its own per daemon; the pid keeps parallel test binaries apart.
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let slot = (std::process::id() as usize * 7 + n) % 16_000;
        let (third, fourth) = (slot / 64, (slot % 64) * 4);
        let (host_ip, ns_ip) = (format!("10.251.{third}.{}", fourth + 1), format!("10.251.{third}.{}", fourth + 2));
        let good_ca = ca(dir, "good");
        let (server_cert, server_key) =
            leaf(dir, "good", "server", &format!("subjectAltName=IP:{ns_ip}\nextendedKeyUsage=serverAuth\n"));
        let (cert, key) = leaf(dir, "good", "client", "extendedKeyUsage=clientAuth\n");
        let good = Pki { ca: good_ca, cert, key };
        let other_ca = ca(dir, "other");
        let (cert, key) = leaf(dir, "other", "stranger", "extendedKeyUsage=clientAuth\n");
        let other = Pki { ca: other_ca, cert, key };
        let tcp = format!("tcp://{ns_ip}:2376");
        let veth = format!("mt{}x{n}", std::process::id() % 100_000);
        let peer = format!("{veth}p");
        let ca_path = good.ca.to_str().unwrap().to_string();
        let daemon = Daemon::start_with(test, |netns, _| {
            must("ip", &["link", "add", &veth, "type", "veth", "peer", "name", &peer]);
            must("ip", &["link", "set", &peer, "netns", netns]);
            must("ip", &["addr", "add", &format!("{host_ip}/30"), "dev", &veth]);
            must("ip", &["link", "set", &veth, "up"]);
            must("ip", &["netns", "exec", netns, "ip", "addr", "add", &format!("{ns_ip}/30"), "dev", &peer]);
            must("ip", &["netns", "exec", netns, "ip", "link", "set", &peer, "up"]);
            vec![
                "--tlsverify".into(),
                "--tlscacert".into(),
                ca_path,
                "--tlscert".into(),
                server_cert.to_str().unwrap().into(),
                "--tlskey".into(),
                server_key.to_str().unwrap().into(),
                "-H".into(),
                tcp.clone(),
            ]
        });
        TlsDaemon { daemon, tcp, good, other, _certs: certs }
    }
}
