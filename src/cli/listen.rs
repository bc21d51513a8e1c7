//! `moor run`'s listener flags: the token, `--listen-insecure`, TLS.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::http::{tls, ListenOptions, ListenToken};

#[derive(Debug, Clone, clap::Args)]
pub struct ListenArgs {
    /// A file holding the token that /readyz, /metrics and /status want (as `Authorization:
    /// Bearer TOKEN`, or as the password of Basic auth); /healthz and /hooks/git stay open.
    #[arg(long, value_name = "FILE", requires = "listen")]
    pub listen_token_file: Option<PathBuf>,
    /// Serve a non-loopback --listen without a token: anyone who reaches it reads /status and
    /// /metrics.
    #[arg(long, requires = "listen", conflicts_with = "listen_token_file")]
    pub listen_insecure: bool,
    /// Serve HTTPS with this PEM certificate chain (with --listen-tls-key).
    #[arg(long, value_name = "FILE", requires_all = ["listen", "listen_tls_key"])]
    pub listen_tls_cert: Option<PathBuf>,
    /// The PEM private key of --listen-tls-cert.
    #[arg(long, value_name = "FILE", requires_all = ["listen", "listen_tls_cert"])]
    pub listen_tls_key: Option<PathBuf>,
}

impl ListenArgs {
    /// The listener's protection for `addr`. A non-loopback address needs a token or an explicit
    /// `--listen-insecure`: `/status` names every service and its errors.
    pub fn options(&self, addr: SocketAddr) -> anyhow::Result<ListenOptions> {
        let token = match &self.listen_token_file {
            Some(file) => Some(ListenToken::load(file)?),
            None => None,
        };
        if token.is_none() && !addr.ip().is_loopback() {
            anyhow::ensure!(
                self.listen_insecure,
                "--listen {addr} is reachable from other hosts: give --listen-token-file FILE, \
                 or --listen-insecure to serve /status and /metrics to anyone"
            );
            tracing::warn!(%addr, "--listen-insecure: /readyz, /metrics and /status are served without a token");
        }
        let tls = match (&self.listen_tls_cert, &self.listen_tls_key) {
            (Some(cert), Some(key)) => Some(tls::server_config(cert, key).context("--listen-tls-cert")?),
            _ => None,
        };
        Ok(ListenOptions { token, tls })
    }
}
