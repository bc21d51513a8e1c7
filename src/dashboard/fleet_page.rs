//! The fleet's page (`moor dashboard --fleet URLs`): [`fleet_page`] is the whole document,
//! [`fleet_live`] the fragment inside `<main id="live">`. A table of nodes, then one services
//! table over every node that answered, with a NODE column.
//!
//! Invariants: as the agent's page (pure, escaped, no inline script or style, relative assets);
//! a node that did not answer is shown as such (`✗ <reason>`: `cannot be reached: …`,
//! `answered 401: …`; class `unreachable`), never dropped and never counted as in sync; ids are
//! unique (nodes of one name are told apart by their place, `vm#2`; a service's id joins its
//! node's key and its name with `/`, which neither can hold).

use maud::{html, Markup};

use super::model::{Fleet, FleetNode, ServiceRow};
use super::page::{document, services_table};

/// The whole HTML5 document of the fleet's page.
pub fn fleet_page(f: &Fleet) -> String {
    document(
        "moor · fleet",
        html! {
            h1 { "moor" }
            dl.identity { div { dt { "fleet" } dd { (f.nodes.len()) " nodes" } } }
        },
        &fleet_live(f),
    )
}

/// The fragment inside `<main id="live">`.
pub fn fleet_live(f: &Fleet) -> String {
    let keys = node_keys(&f.nodes);
    // Each service row names its node by the node's key, so that two nodes of one name (two
    // agents left at the default `--node`, the host name) are told apart there too.
    let services: Vec<ServiceRow> = f
        .nodes
        .iter()
        .zip(&keys)
        .filter_map(|(n, key)| Some((n.answer.as_ref().ok()?, key)))
        .flat_map(|(v, key)| v.services.iter().map(|s| ServiceRow { node: Some(key.clone()), ..s.clone() }))
        .collect();
    let answering = f.nodes.iter().filter(|n| n.answer.is_ok()).count();
    let all = answering == f.nodes.len();
    html! {
        section #state aria-label="state" {
            span.count.ok[all].bad[!all] {
                (if all { "✓ " } else { "✗ " }) (answering) "/" (f.nodes.len()) " nodes answering"
            }
        }
        section #nodes-section {
            h2 { "Nodes" }
            table #nodes {
                thead { tr {
                    th scope="col" { "Node" }
                    th scope="col" { "Revision" }
                    th scope="col" { "Ready" }
                    th scope="col" { "In sync" }
                    th scope="col" { "Last error" }
                } }
                tbody {
                    @if f.nodes.is_empty() { tr.none { td colspan="5" { "No node." } } }
                    @for (n, key) in f.nodes.iter().zip(&keys) { (node_row(n, key)) }
                }
            }
        }
        section #services-section {
            h2 { "Services" }
            (services_table(f.now, &services, true))
        }
    }
    .into_string()
}

/// Each node's key on the page: its name, or `name#N` (its place in the list) when another
/// node has the same name. Ids are made from keys, so they are unique.
fn node_keys(nodes: &[FleetNode]) -> Vec<String> {
    let count = |name: &str| nodes.iter().filter(|n| n.name == name).count();
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| if count(&n.name) > 1 { format!("{}#{}", n.name, i + 1) } else { n.name.clone() })
        .collect()
}

fn node_row(n: &FleetNode, key: &str) -> Markup {
    // Only a web URL becomes a link: the URL comes from the command line, but a `javascript:`
    // one must never be clickable.
    let link = n.url.starts_with("http://") || n.url.starts_with("https://");
    let name = html! {
        th scope="row" data-label="Node" {
            @if link { a href=(n.url) title=(n.url) { (key) } } @else { (key) }
        }
    };
    let id = format!("node-{key}");
    match &n.answer {
        Ok(v) => {
            let synced = v.services.iter().filter(|s| s.in_sync).count();
            let all = synced == v.services.len();
            html! {
                tr #(id) class=(if v.ready && all { "in-sync" } else { "drift" }) {
                    (name)
                    td data-label="Revision" {
                        @match &v.revision {
                            Some(r) => code title=(r) { (super::format::short_revision(r)) },
                            None => "–",
                        }
                    }
                    td data-label="Ready" { (if v.ready { "✓ ready" } else { "✗ not ready" }) }
                    td data-label="In sync" { (if all { "✓ " } else { "≠ " }) (synced) "/" (v.services.len()) }
                    td.error data-label="Last error" { (v.last_error.as_deref().unwrap_or("")) }
                }
            }
        }
        Err(reason) => html! {
            tr.unreachable #(id) {
                (name)
                td.error colspan="4" data-label="State" { "✗ " (reason) }
            }
        },
    }
}
