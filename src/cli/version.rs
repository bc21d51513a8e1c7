//! `moor version` and the text of `moor --version`.
//!
//! clap's `--version` is a static string, so it carries only what is known at build time (the
//! version and the git commit that `build.rs` embeds); the daemon's side lives in `moor version`,
//! which asks the daemon, as `docker version` does. Invariant: `moor version` exits 0 whether or
//! not a daemon answers; a silent daemon is reported in its output, not as a failure.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

use super::Global;
use crate::engine::ServerVersion;

/// `0.1.0 (commit abcdef1)`: what `moor --version` prints after the name.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("MOOR_GIT_COMMIT"), ")");

/// How long the daemon may take to answer before it counts as not answering: a `tcp://` host
/// that drops packets would otherwise hang the command.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    client: Client,
    /// `None` when no daemon answered; `server_error` then says why.
    server: Option<Server>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_error: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Client {
    version: &'static str,
    commit: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Server {
    #[serde(flatten)]
    daemon: ServerVersion,
    /// The API version moor speaks with this daemon: the lower of the daemon's and bollard's.
    negotiated_api_version: String,
}

async fn server(global: &Global) -> anyhow::Result<Server> {
    let ask = async {
        let engine = global.docker().await.context("connecting to Docker")?;
        let daemon = engine.server_version().await.context("asking Docker for its version")?;
        anyhow::Ok(Server { daemon, negotiated_api_version: crate::engine::Engine::api_version(&engine).to_string() })
    };
    tokio::time::timeout(DAEMON_TIMEOUT, ask).await.with_context(|| format!("no answer within {DAEMON_TIMEOUT:?}"))?
}

pub fn run(global: &Global) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting tokio")?;
    let (server, server_error) = match runtime.block_on(server(global)) {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let client = Client { version: env!("CARGO_PKG_VERSION"), commit: env!("MOOR_GIT_COMMIT") };
    let report = Report { client, server, server_error };
    super::render::print_data(global.output, &report, || text(&report))?;
    Ok(ExitCode::SUCCESS)
}

fn text(report: &Report) -> String {
    let mut out = format!("Client:\n Version:     {}\n Git commit:  {}\n", report.client.version, report.client.commit);
    match (&report.server, &report.server_error) {
        (Some(s), _) => {
            let d = &s.daemon;
            out += &format!(
                "Server:\n Version:     {}\n API version: {} (minimum {}), negotiated {}\n OS/Arch:     {}\n",
                d.version, d.api_version, d.min_api_version, s.negotiated_api_version, d.os_arch
            );
        }
        (None, error) => {
            out += &format!("Server:\n the Docker daemon does not answer: {}\n", error.as_deref().unwrap_or("unknown"))
        }
    }
    out
}
