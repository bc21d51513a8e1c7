//! The fleet's page (`moor dashboard --fleet URLs`): [`fleet_page`] is the whole document,
//! [`fleet_live`] the fragment inside `<main id="live">`. A table of nodes, then one services
//! table over every node that answered, with a NODE column.
//!
//! Invariants: as the agent's page (pure, escaped, no inline script or style, relative assets);
//! a node that did not answer is shown as such (`not answering: <reason>`, class `unreachable`),
//! never dropped and never counted as in sync.

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
    let services: Vec<ServiceRow> =
        f.nodes.iter().filter_map(|n| n.answer.as_ref().ok()).flat_map(|v| v.services.iter().cloned()).collect();
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
                    @for n in &f.nodes { (node_row(n)) }
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

fn node_row(n: &FleetNode) -> Markup {
    // Only a web URL becomes a link: the URL comes from the command line, but a `javascript:`
    // one must never be clickable.
    let link = n.url.starts_with("http://") || n.url.starts_with("https://");
    let name = html! {
        th scope="row" data-label="Node" {
            @if link { a href=(n.url) title=(n.url) { (n.name) } } @else { (n.name) }
        }
    };
    let id = format!("node-{}", n.name);
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
                td.error colspan="4" data-label="State" { "✗ not answering: " (reason) }
            }
        },
    }
}
