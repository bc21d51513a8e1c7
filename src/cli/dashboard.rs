//! `moor dashboard --fleet URL[,URL...] --listen ADDR`: one page over many agents, made from
//! each agent's `/status` (read every `--interval`, all at once) and served with its live
//! stream like an agent's own page. No server of the fleet's own and no state but the agents'
//! last answers; it only reads.
//!
//! Invariants: an agent that does not answer is shown as such, with why, never dropped; the
//! page changes (and open pages are told) only when an answer differs from the last.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use axum::routing::get;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::fleet::{node_name, read_agent, read_token, row_of, urls};
use super::listen::ListenArgs;
use crate::controller::status::StatusDoc;
use crate::dashboard::model::{Fleet, FleetNode, NodeView};
use crate::http::dashboard::{routes, PageSource};
use crate::http_client::{redact_url, HttpClient};

#[derive(Debug, Clone, clap::Args)]
pub struct DashboardArgs {
    /// The agents' `moor run --listen` URLs (comma-separated, repeatable).
    #[arg(long, value_delimiter = ',', value_name = "URL", required_unless_present = "fleet_file")]
    pub fleet: Vec<String>,
    /// A file listing agents' URLs, one per line (`#` comments), as --fleet.
    #[arg(long, value_name = "FILE")]
    pub fleet_file: Option<PathBuf>,
    /// The agents' listener token (their --listen-token-file).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Where to serve the page, such as 127.0.0.1:9080.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub listen_args: ListenArgs,
    /// How often every agent is read.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
}

/// The fleet's page: the agents' last answers, and the signal that they changed.
struct FleetPage {
    nodes: Mutex<Vec<FleetNode>>,
    changes: watch::Sender<u64>,
}

impl FleetPage {
    fn fleet(&self, now: SystemTime) -> Fleet {
        Fleet { now, nodes: self.nodes.lock().unwrap_or_else(|e| e.into_inner()).clone() }
    }

    /// Keeps `nodes` and tells open pages, when they differ from the last answers.
    fn update(&self, nodes: Vec<FleetNode>) {
        let mut last = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        if *last != nodes {
            *last = nodes;
            self.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

impl PageSource for Arc<FleetPage> {
    fn page(&self, now: SystemTime) -> String {
        crate::dashboard::fleet_page(&self.fleet(now))
    }
    fn live(&self, now: SystemTime) -> String {
        crate::dashboard::fleet_live(&self.fleet(now))
    }
    fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

/// One agent on the fleet's page from its answer; `url` is shown without userinfo.
pub fn fleet_node(url: &str, answer: Result<StatusDoc, String>) -> FleetNode {
    match answer {
        Ok(doc) => {
            let name = node_name(url, &doc);
            let row = row_of(url, &doc);
            let services = doc
                .services
                .iter()
                .map(|(service, s)| crate::dashboard::view::service_row(service, s, Some(name.clone())))
                .collect();
            let view = NodeView { ready: row.ready, revision: row.revision, last_error: row.last_error, services };
            FleetNode { url: url.to_string(), name, answer: Ok(view) }
        }
        Err(why) => FleetNode { url: url.to_string(), name: url.to_string(), answer: Err(why) },
    }
}

async fn read_all(client: &HttpClient, urls: &[String], token: Option<&str>) -> Vec<FleetNode> {
    let reads =
        urls.iter().map(|url| async move { fleet_node(&redact_url(url), read_agent(client, url, token).await) });
    futures_util::future::join_all(reads).await
}

pub fn run(args: DashboardArgs) -> anyhow::Result<ExitCode> {
    let urls = urls(&args.fleet, args.fleet_file.as_deref())?;
    let token = read_token(args.token_file.as_ref())?;
    let options = args.listen_args.options(args.listen)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        super::run::on_signals(shutdown.clone())?;
        let client = HttpClient::new()?;
        let page = Arc::new(FleetPage { nodes: Mutex::new(Vec::new()), changes: watch::Sender::new(0) });
        // The first answers before the first page is served: never an empty fleet on screen.
        page.update(read_all(&client, &urls, token.as_deref()).await);
        let mut app = routes(page.clone(), shutdown.clone());
        if let Some(listen_token) = options.token.clone() {
            app = app.layer(axum::middleware::from_fn_with_state(listen_token, crate::http::auth::require_token));
        }
        let app = app.route("/healthz", get(|| async { "ok\n" }));
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let server = crate::http::serve_app(listener, app, "/ /events /healthz", options, shutdown.clone())?;
        tracing::info!(agents = urls.len(), interval = ?args.interval, "moor dashboard: reading the fleet");
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(args.interval) => page.update(read_all(&client, &urls, token.as_deref()).await),
            }
        }
        server.await.context("the dashboard's listener")?.context("the dashboard's listener")?;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_is_shown_by_its_node_name_with_its_services_or_as_not_answering() {
        let doc: StatusDoc = serde_json::from_str(
            r#"{"node": {"name": "edge-1"}, "ready": true,
                "source": {"url": "x", "ref": "main", "path": ".", "lastAppliedRevision": "main@sha1:aa"},
                "services": {"web": {"desired": "running", "observed": "running", "inSync": true, "health": "healthy"},
                             "db": {"desired": "running", "observed": "absent", "inSync": false, "lastError": "boom"}}}"#,
        )
        .unwrap();
        let node = fleet_node("http://a:9090", Ok(doc));
        assert_eq!(node.name, "edge-1");
        let view = node.answer.unwrap();
        assert_eq!((view.ready, view.revision.as_deref()), (true, Some("main@sha1:aa")));
        assert_eq!(view.last_error.as_deref(), Some("db: boom"));
        assert_eq!(view.services.len(), 2);
        assert!(view.services.iter().all(|s| s.node.as_deref() == Some("edge-1")));
        let web = view.services.iter().find(|s| s.name == "web").unwrap();
        assert_eq!((web.in_sync, web.health.as_deref()), (true, Some("healthy")));

        let gone = fleet_node("http://b:9090", Err("cannot be reached: connection refused".into()));
        assert_eq!(gone.name, "http://b:9090");
        assert_eq!(gone.answer, Err("cannot be reached: connection refused".to_string()));
    }

    #[test]
    fn open_pages_are_told_only_when_an_answer_changed() {
        let page = FleetPage { nodes: Mutex::new(Vec::new()), changes: watch::Sender::new(0) };
        let mut rx = page.changes.subscribe();
        rx.borrow_and_update();
        let nodes = vec![fleet_node("http://b", Err("answered 500".into()))];
        page.update(nodes.clone());
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        page.update(nodes);
        assert!(!rx.has_changed().unwrap(), "the same answers are no change");
    }
}
