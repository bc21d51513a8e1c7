//! `moor status --fleet`: one table of many agents, read from each agent's `/status`, with no
//! server of its own.
//!
//! Exit codes: 0 when every agent answers, is ready, has no manifest problem, has every service
//! in sync and all run the same revision; 2 when all answer but that is not so; 1 when an agent
//! cannot be read (each one is named). The decision is [`verdict`], a pure function of the rows.
//! Two agents that answer with one node name are not in sync either: placement and the
//! `moor.node` ownership label take a node name for one agent, so the fleet is misconfigured
//! ([`shared_nodes`] names them). A URL listed twice is read once.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

use super::{render, Global};
use crate::controller::status::StatusDoc;
use crate::http_client::{redact_url, HttpClient};

/// How long one agent may take to answer.
const AGENT_TIMEOUT: Duration = Duration::from_secs(5);

/// One agent's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetRow {
    /// The agent's node name, or its URL when it did not say (or did not answer).
    pub node: String,
    pub url: String,
    /// The agent's instance (`--instance`), when it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    pub reachable: bool,
    pub ready: bool,
    /// The revision applied (a git source); `None` for a folder source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub services: usize,
    pub in_sync: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    InSync,
    NotInSync,
    Unreachable,
}

/// The fleet's state from its rows (see the module's exit codes).
pub fn verdict(rows: &[FleetRow]) -> Verdict {
    if rows.iter().any(|r| !r.reachable) {
        return Verdict::Unreachable;
    }
    let all_in_sync = rows.iter().all(|r| r.ready && r.last_error.is_none() && r.in_sync == r.services);
    let same_revision = rows.windows(2).all(|w| w[0].revision == w[1].revision);
    if all_in_sync && same_revision && shared_nodes(rows).is_empty() {
        Verdict::InSync
    } else {
        Verdict::NotInSync
    }
}

/// Node names that more than one agent of one instance answered with, each with those agents'
/// URLs. Agents of different instances on one node are not: instances share a daemon by design.
pub fn shared_nodes(rows: &[FleetRow]) -> std::collections::BTreeMap<&str, Vec<&str>> {
    let mut by_agent: std::collections::BTreeMap<(&str, Option<&str>), Vec<&str>> = Default::default();
    for r in rows.iter().filter(|r| r.reachable) {
        by_agent.entry((r.node.as_str(), r.instance.as_deref())).or_default().push(r.url.as_str());
    }
    let mut by_node: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for ((node, _), urls) in by_agent.into_iter().filter(|(_, urls)| urls.len() > 1) {
        by_node.entry(node).or_default().extend(urls);
    }
    by_node
}

pub fn row_of(url: &str, doc: &StatusDoc) -> FleetRow {
    let services = doc.services.len();
    let in_sync = doc.services.values().filter(|s| s.in_sync).count();
    // The first reason it is not converged, in the order a reader fixes them.
    let last_error = doc
        .problems
        .first()
        .cloned()
        .or(doc.prune_suspended.clone())
        .or_else(|| doc.source.as_ref().and_then(|s| s.last_error.clone()))
        .or_else(|| doc.services.iter().find_map(|(n, s)| s.last_error.as_ref().map(|e| format!("{n}: {e}"))));
    let revision = doc.source.as_ref().and_then(|s| s.last_applied_revision.clone().or(s.revision.clone()));
    FleetRow {
        node: node_name(url, doc),
        url: url.to_string(),
        instance: doc.instance.clone(),
        reachable: true,
        ready: doc.ready,
        revision,
        services,
        in_sync,
        last_error,
    }
}

fn unreachable(url: &str, error: String) -> FleetRow {
    FleetRow {
        node: url.to_string(),
        url: url.to_string(),
        instance: None,
        reachable: false,
        ready: false,
        revision: None,
        services: 0,
        in_sync: 0,
        last_error: Some(error),
    }
}

/// The node's name an agent gives, or its URL when it gives none (a release before nodes).
pub fn node_name(url: &str, doc: &StatusDoc) -> String {
    doc.node.as_ref().map(|n| n.name.clone()).filter(|n| !n.is_empty()).unwrap_or_else(|| url.to_string())
}

/// One agent's `/status`, or why it could not be read; `url` is shown without userinfo.
pub async fn read_agent(client: &HttpClient, url: &str, token: Option<&str>) -> Result<StatusDoc, String> {
    let status = format!("{}/status", url.trim_end_matches('/'));
    match client.get_with_token(&status, token, AGENT_TIMEOUT).await {
        Ok((200, body)) => {
            let value: serde_json::Value =
                serde_json::from_str(&body).map_err(|e| format!("its /status is not moor's: {e}"))?;
            // Every field of the document has a default (an agent of an older release lacks
            // some): `ready` and `services`, which every release writes, tell moor's answer from
            // any other JSON (a wrong port, another service).
            if !(value.get("ready").is_some_and(|r| r.is_boolean())
                && value.get("services").is_some_and(|s| s.is_object()))
            {
                return Err("its /status is not moor's (no `ready` and `services`)".into());
            }
            serde_json::from_value::<StatusDoc>(value).map_err(|e| format!("its /status is not moor's: {e}"))
        }
        Ok((401, _)) => Err("answered 401: give the listener's token with --token-file".into()),
        Ok((code, _)) => Err(format!("answered {code}")),
        Err(e) => Err(format!("cannot be reached: {e}")),
    }
}

/// The agents' token from `--token-file`, trimmed.
pub fn read_token(token_file: Option<&PathBuf>) -> anyhow::Result<Option<String>> {
    token_file
        .map(|file| {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            anyhow::Ok(text.trim().to_string())
        })
        .transpose()
}

/// The agents' URLs: `--fleet` as given, then the lines of `--fleet-file` (blank lines and
/// `#` comments skipped).
pub fn urls(fleet: &[String], file: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let mut urls: Vec<String> = fleet.iter().map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect();
    if let Some(file) = file {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        urls.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from));
    }
    anyhow::ensure!(!urls.is_empty(), "--fleet names no agent");
    let mut seen = std::collections::BTreeSet::new();
    // read_agent trims a trailing slash: `http://a:9090/` is `http://a:9090`.
    urls.retain(|u| seen.insert(u.trim_end_matches('/').to_string()));
    Ok(urls)
}

fn table(rows: &[FleetRow]) -> String {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.node.clone(),
                r.revision.clone().unwrap_or_else(|| "-".into()),
                if r.reachable { format!("{}/{}", r.in_sync, r.services) } else { "-".into() },
                if r.reachable { if r.ready { "yes" } else { "no" }.into() } else { "-".into() },
                r.last_error.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    render::table(&["NODE", "REVISION", "IN SYNC", "READY", "LAST ERROR"], &cells)
}

pub fn status(
    fleet: &[String],
    fleet_file: Option<&Path>,
    token_file: Option<&PathBuf>,
    global: &Global,
) -> anyhow::Result<ExitCode> {
    let urls = urls(fleet, fleet_file)?;
    let token = read_token(token_file)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let rows = runtime.block_on(async {
        let client = HttpClient::new()?;
        let reads = urls.iter().map(|u| async {
            let shown = redact_url(u);
            match read_agent(&client, u, token.as_deref()).await {
                Ok(doc) => row_of(&shown, &doc),
                Err(e) => unreachable(&shown, e),
            }
        });
        anyhow::Ok(futures_util::future::join_all(reads).await)
    })?;
    for r in rows.iter().filter(|r| !r.reachable) {
        eprintln!("! {}: {}", r.url, r.last_error.as_deref().unwrap_or("unreachable"));
    }
    for (node, urls) in shared_nodes(&rows) {
        eprintln!(
            "! node {node} is the node of {} agents of one instance ({}): give each agent a node name of its own (--node or MOOR_NODE)",
            urls.len(),
            urls.join(", ")
        );
    }
    render::print_data(global.output, &rows, || table(&rows))?;
    Ok(ExitCode::from(match verdict(&rows) {
        Verdict::InSync => 0,
        Verdict::NotInSync => 2,
        Verdict::Unreachable => 1,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: &str) -> StatusDoc {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rows_read_what_an_agent_says() {
        let r = row_of(
            "http://a:9090",
            &doc(r#"{"node": {"name": "edge-1", "labels": {"role": "edge"}}, "ready": true, "problems": [],
                   "source": {"url": "x", "revision": "main@sha1:bb", "lastAppliedRevision": "main@sha1:aa"},
                   "services": {"db": {"inSync": true}, "web": {"inSync": false, "lastError": "boom"}}}"#),
        );
        assert_eq!((r.node.as_str(), r.revision.as_deref()), ("edge-1", Some("main@sha1:aa")));
        assert_eq!((r.services, r.in_sync), (2, 1));
        assert_eq!(r.last_error.as_deref(), Some("web: boom"));
        // An agent of a release without node names is named by its URL.
        let old = row_of("http://b:9090", &doc(r#"{"ready": true, "problems": ["a.yaml:1:1: bad"], "services": {}}"#));
        assert_eq!((old.node.as_str(), old.last_error.as_deref()), ("http://b:9090", Some("a.yaml:1:1: bad")));
    }

    #[test]
    fn the_verdict_needs_every_agent_in_sync_on_one_revision() {
        let ok = |node: &str, rev: &str| FleetRow {
            node: node.into(),
            url: format!("http://{node}"),
            instance: None,
            reachable: true,
            ready: true,
            revision: Some(rev.into()),
            services: 2,
            in_sync: 2,
            last_error: None,
        };
        assert_eq!(verdict(&[ok("a", "r1"), ok("b", "r1")]), Verdict::InSync);
        assert_eq!(verdict(&[ok("a", "r1"), ok("b", "r2")]), Verdict::NotInSync);
        let behind = FleetRow { in_sync: 1, ..ok("b", "r1") };
        assert_eq!(verdict(&[ok("a", "r1"), behind]), Verdict::NotInSync);
        let starting = FleetRow { ready: false, ..ok("b", "r1") };
        assert_eq!(verdict(&[ok("a", "r1"), starting]), Verdict::NotInSync);
        // Two agents answering as one node: misconfigured, whatever their services say.
        let twin = FleetRow { url: "http://a-again".into(), ..ok("a", "r1") };
        assert_eq!(verdict(&[ok("a", "r1"), twin.clone()]), Verdict::NotInSync);
        assert_eq!(
            shared_nodes(&[ok("a", "r1"), ok("b", "r1"), twin]),
            [("a", vec!["http://a", "http://a-again"])].into()
        );
        let gone = unreachable("http://c", "cannot be reached".into());
        assert_eq!(verdict(&[ok("a", "r1"), ok("b", "r2"), gone]), Verdict::Unreachable);
    }

    #[test]
    fn urls_come_from_the_flag_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agents");
        std::fs::write(&file, "# the fleet\nhttp://c:9090\n\n  http://d:9090  \n").unwrap();
        // A URL given twice (here in the flag and the file) is one agent.
        let got = urls(&["http://a:9090".into(), " ".into(), "http://c:9090".into()], Some(&file)).unwrap();
        assert_eq!(got, ["http://a:9090", "http://c:9090", "http://d:9090"]);
        assert!(urls(&[], None).is_err());
    }

    #[test]
    fn agents_of_two_instances_on_one_node_do_not_share_it() {
        // `--instance` lets several instances share one daemon, so one node: the agent of each
        // is on that node by right, and giving them node names of their own would be wrong.
        let agent = |url: &str, instance: &str| {
            let json = format!(
                r#"{{"instance": "{instance}", "node": {{"name": "edge-1"}}, "ready": true, "problems": [], "services": {{}}}}"#
            );
            row_of(url, &doc(&json))
        };
        let rows = [agent("http://edge-1:9090", "web"), agent("http://edge-1:9091", "metrics")];
        assert_eq!(shared_nodes(&rows), Default::default());
        assert_eq!(verdict(&rows), Verdict::InSync);
        // One instance twice on the node is the misconfiguration.
        let twins = [agent("http://edge-1:9090", "web"), agent("http://edge-1:9091", "web")];
        assert_eq!(shared_nodes(&twins).len(), 1);
    }

    #[test]
    fn a_url_with_a_trailing_slash_is_the_same_agent() {
        // read_agent asks `<url>/status` with the slash trimmed: these are one agent, which
        // would otherwise be read twice and reported as two agents sharing its node name.
        let got = urls(&["http://a:9090".into(), "http://a:9090/".into()], None).unwrap();
        assert_eq!(got, ["http://a:9090"]);
    }

    #[test]
    fn the_table_has_a_node_column() {
        let rows = [
            row_of(
                "http://a",
                &doc(r#"{"node": {"name": "edge-1"}, "ready": true, "services": {"db": {"inSync": true}}}"#),
            ),
            unreachable("http://b", "cannot be reached: connection refused".into()),
        ];
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NODE      REVISION  IN SYNC  READY  LAST ERROR"), "{text}");
        assert!(lines[1].starts_with("edge-1    -         1/1      yes    -"), "{text}");
        assert!(lines[2].starts_with("http://b  -         -        -      cannot be reached"), "{text}");
    }
}
