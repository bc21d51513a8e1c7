//! The agent's page (`/` and `/ui` of `moor run --listen`): [`page`] is the whole document,
//! [`live`] the fragment inside `<main id="live">` that the stream `/events` sends again on each
//! change. Also the pieces the fleet page shares: the document shell and a service's row.
//!
//! Invariants: pure functions of the model (times are relative to `Page::now`, never the clock);
//! every value goes through maud's escaping (nothing here uses `PreEscaped` on model data); no
//! inline script or `style=` attribute (the CSP is `script-src 'self'; style-src 'self'`); the
//! assets are linked by relative URLs (`ui/style.css`, `ui/live.js`) so the page works at `/`,
//! at `/ui` and behind a proxy's subpath; state is told by words as well as colour.

use std::time::SystemTime;

use maud::{html, Markup, DOCTYPE};

use super::model::{EventRow, Page, ServiceRow, SourceView};
use super::{format, histogram, timeline};

/// The pages' stylesheet, to be served at `ui/style.css` (the pages link it relatively).
pub const STYLE: &str = include_str!("assets/style.css");
/// The pages' script, to be served at `ui/live.js`: swaps in the `live` fragments of `events`.
pub const SCRIPT: &str = include_str!("assets/live.js");

/// The whole HTML5 document of an agent's page.
pub fn page(p: &Page) -> String {
    let who = p.node.as_deref().unwrap_or(&p.instance);
    document(
        &format!("moor · {who}"),
        html! {
            h1 { "moor" }
            dl.identity {
                @if let Some(node) = &p.node {
                    div { dt { "node" } dd { (node) } }
                }
                div { dt { "instance" } dd { (p.instance) } }
            }
        },
        &live(p),
    )
}

/// The fragment inside `<main id="live">`.
pub fn live(p: &Page) -> String {
    let synced = p.services.iter().filter(|s| s.in_sync).count();
    html! {
        section #state aria-label="state" {
            (flag("ready", p.ready, "ready", "not ready"))
            (flag("docker", p.docker, "docker answers", "docker does not answer"))
            span.count { (synced) "/" (p.services.len()) " in sync" }
            @if let Some(t) = &p.last_resync {
                span.resync { "last resync " (format::time_text(p.now, t)) }
            }
        }
        @if let Some(src) = &p.source {
            (source(p.now, src))
        }
        @if !p.problems.is_empty() || p.prune_suspended.is_some() {
            section #problems.alert {
                h2 { "Problems" }
                @if !p.problems.is_empty() {
                    ul { @for problem in &p.problems { li { (problem) } } }
                }
                @if let Some(why) = &p.prune_suspended {
                    p.prune { strong { "Prune suspended: " } (why) }
                }
            }
        }
        section #services-section {
            h2 { "Services" }
            (services_table(p.now, &p.services, false))
        }
        section #events-section {
            h2 { "Events" }
            @if p.events.is_empty() {
                p.empty { "No event yet." }
            }
            ol #events { @for e in &p.events { (event(p.now, e)) } }
        }
        section #histogram-section {
            h2 { "Reconcile durations" }
            (histogram::histogram(&p.histogram))
        }
    }
    .into_string()
}

/// The document shell: head with the relative asset links, a header, `<main id="live">` holding
/// `live` (already rendered, and escaped, by maud), a footer.
pub(super) fn document(title: &str, header: Markup, live: &str) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) }
                link rel="stylesheet" href="ui/style.css";
                script src="ui/live.js" defer {}
            }
            body {
                header {
                    (header)
                    // The script sets `live` or `offline`; without it the page is a static view.
                    span #stream data-state="static" title="live updates" {}
                }
                // `live` is this module's own output: maud escaped every value in it already.
                main #live { (maud::PreEscaped(live)) }
                footer { "moor — read-only view" }
            }
        }
    }
    .into_string()
}

/// A yes/no state in words and a class (`ok`/`bad`), so it reads without colour.
fn flag(id: &str, ok: bool, yes: &str, no: &str) -> Markup {
    html! {
        span.flag.ok[ok].bad[!ok] #(id) { (if ok { "✓ " } else { "✗ " }) (if ok { yes } else { no }) }
    }
}

fn source(now: SystemTime, s: &SourceView) -> Markup {
    html! {
        section #source {
            h2 { "Source" }
            dl {
                div { dt { "repository" } dd { code { (s.url) } } }
                div { dt { "ref" } dd { code { (s.reference) } } }
                @if !s.path.is_empty() {
                    div { dt { "path" } dd { code { (s.path) } } }
                }
                @if let Some(rev) = &s.revision {
                    div { dt { "revision" } dd {
                        code title=(rev) { (format::short_revision(rev)) }
                        @if let Some(subject) = &s.subject { " " span.subject { (subject) } }
                    } }
                }
                div { dt { "applied" } dd {
                    @match &s.last_applied_revision {
                        Some(rev) => code title=(rev) { (format::short_revision(rev)) },
                        None => "not yet",
                    }
                } }
                @if let Some(t) = &s.last_fetch {
                    div { dt { "last fetch" } dd { (format::time_text(now, t)) } }
                }
                @if let Some(signer) = &s.verified_by {
                    div { dt { "verified" } dd { "✓ signed by " (signer) } }
                }
                @if let Some(err) = &s.last_error {
                    div.bad { dt { "last error" } dd.error { (err) } }
                }
            }
        }
    }
}

/// How a service stands, worst first: the word shown and the row's class.
pub(super) fn standing(s: &ServiceRow) -> (&'static str, &'static str) {
    if s.refused {
        ("✗ refused", "refused")
    } else if s.crash_loop.is_some() {
        ("✗ crash loop", "failing")
    } else if s.last_error.is_some() {
        ("✗ failing", "failing")
    } else if !s.in_sync {
        ("≠ out of sync", "drift")
    } else {
        ("✓ in sync", "in-sync")
    }
}

/// The services table; `fleet` adds nothing but ids that hold the node (`service-NODE-NAME`).
pub(super) fn services_table(now: SystemTime, rows: &[ServiceRow], fleet: bool) -> Markup {
    html! {
        table #services {
            thead { tr {
                th scope="col" { "Service" }
                th scope="col" { "Node" }
                th scope="col" { "Desired" }
                th scope="col" { "Observed" }
                th scope="col" { "State" }
                th scope="col" { "Health" }
                th scope="col" { "Image" }
                th scope="col" { "Running" }
                th scope="col" { "Update" }
                th scope="col" { "Last error" }
                th scope="col" { "Last hour" }
            } }
            tbody {
                @if rows.is_empty() {
                    tr.none { td colspan="11" { "No service." } }
                }
                @for s in rows { (service_row(now, s, fleet)) }
            }
        }
    }
}

fn service_row(now: SystemTime, s: &ServiceRow, fleet: bool) -> Markup {
    let id = match (&s.node, fleet) {
        (Some(node), true) => format!("service-{node}-{}", s.name),
        _ => format!("service-{}", s.name),
    };
    let (word, class) = standing(s);
    html! {
        tr #(id) class=(class) data-in-sync=(s.in_sync.to_string()) {
            th scope="row" data-label="Service" {
                (s.name)
                @if !s.labels.is_empty() {
                    ul.labels aria-label="labels" {
                        @for (key, value) in &s.labels { li { code { (key) "=" (value) } } }
                    }
                }
            }
            td data-label="Node" { (s.node.as_deref().unwrap_or("–")) }
            td data-label="Desired" { (s.desired) }
            td data-label="Observed" { (s.observed) }
            td.standing data-label="State" {
                (word)
                @if let Some(why) = &s.crash_loop { br; small { (why) } }
            }
            td data-label="Health" { (s.health.as_deref().unwrap_or("–")) }
            td data-label="Image" { @if let Some(image) = &s.image { code { (image) } } @else { "–" } }
            td data-label="Running" {
                @match &s.running_digest {
                    Some(d) => code title=(d) { (format::short_digest(d)) },
                    None => "–",
                }
            }
            td data-label="Update" {
                @match &s.update {
                    Some(u) => span title=(u) { (format::shorten_digests(u)) },
                    None => "–",
                }
            }
            td.error data-label="Last error" { (s.last_error.as_deref().unwrap_or("")) }
            td.hour data-label="Last hour" { (timeline::timeline(now, &s.name, &s.timeline)) }
        }
    }
}

fn event(now: SystemTime, e: &EventRow) -> Markup {
    html! {
        li.event data-why=(e.why) {
            (format::time(now, e.at))
            " "
            span.service { (e.service) }
            " "
            span.action { (e.action) }
            " "
            span.why { (e.why) }
            @if let Some(d) = &e.detail {
                @if !d.is_empty() {
                    " "
                    // A digest in a detail is cut as elsewhere; the whole text stays in `title`.
                    @let short = format::shorten_digests(d);
                    @if short == *d { span.detail { (d) } } @else { span.detail title=(d) { (short) } }
                }
            }
        }
    }
}
