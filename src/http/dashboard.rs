//! The dashboard's routes: the page at `/` and `/ui`, its assets at `/ui/style.css` and
//! `/ui/live.js`, and `/events`, a server-sent event stream of the page's live fragment.
//!
//! Invariants:
//! - Read-only: nothing here changes moor or Docker, and no route costs a Docker call (a page is
//!   made from what the controller already shares).
//! - Level-based like the controller: a change signal carries nothing; the stream renders the
//!   whole fragment again, at most once per [`COALESCE`], and sends it only when it differs from
//!   the last one sent. A quiet page still gets a fresh fragment every [`REFRESH`] (the relative
//!   times move on).
//! - Every stream ends when the listener shuts down, so a graceful shutdown never waits for a
//!   browser tab.
//! - Every response carries a Content-Security-Policy that allows only the page's own script and
//!   style: an escaping mistake could still not run a script.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::Stream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::controller::status::Shared;
use crate::dashboard;

/// Changes closer together than this are sent as one fragment.
pub const COALESCE: Duration = Duration::from_millis(100);
/// A quiet page is sent a fresh fragment this often (its "3 min ago" texts move on).
pub const REFRESH: Duration = Duration::from_secs(15);

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What a page is made from: a function of the time that renders the whole document or only
/// the live fragment, and the signal of a change. The agent's page reads [`Shared`]; the
/// fleet's reads the agents it polls.
pub trait PageSource: Send + Sync + 'static {
    fn page(&self, now: SystemTime) -> String;
    fn live(&self, now: SystemTime) -> String;
    fn subscribe(&self) -> watch::Receiver<u64>;
}

/// The agent's own page.
pub struct AgentPage {
    pub shared: Arc<Shared>,
}

impl PageSource for AgentPage {
    fn page(&self, now: SystemTime) -> String {
        dashboard::page(&self.model(now))
    }
    fn live(&self, now: SystemTime) -> String {
        dashboard::live(&self.model(now))
    }
    fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.subscribe()
    }
}

impl AgentPage {
    fn model(&self, now: SystemTime) -> dashboard::model::Page {
        let instance = self.shared.status().instance.unwrap_or_default();
        dashboard::view::page_of(&self.shared, &instance, now)
    }
}

struct Pages<P> {
    source: P,
    shutdown: CancellationToken,
}

/// The dashboard's routes over `source`; streams end when `shutdown` is cancelled.
pub fn routes<P: PageSource>(source: P, shutdown: CancellationToken) -> Router {
    let state = Arc::new(Pages { source, shutdown });
    Router::new()
        .route("/", get(page::<P>))
        .route("/ui", get(page::<P>))
        .route("/ui/style.css", get(|| asset("text/css; charset=utf-8", dashboard::STYLE)))
        .route("/ui/live.js", get(|| asset("text/javascript; charset=utf-8", dashboard::SCRIPT)))
        .route("/events", get(events::<P>))
        .with_state(state)
}

/// The headers every dashboard response carries.
fn guarded(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn page<P: PageSource>(State(pages): State<Arc<Pages<P>>>) -> Response {
    guarded(Html(pages.source.page(SystemTime::now())).into_response())
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    guarded(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

async fn events<P: PageSource>(State(pages): State<Arc<Pages<P>>>) -> Response {
    let stream = live_stream(pages);
    guarded(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

/// The `live` fragments of one open page: the current one at once, then one per change
/// (coalesced) or refresh, each only when it differs from the last.
fn live_stream<P: PageSource>(pages: Arc<Pages<P>>) -> impl Stream<Item = Result<Event, Infallible>> {
    let changes = pages.source.subscribe();
    let state = (pages, changes, None::<String>);
    futures_util::stream::unfold(state, |(pages, mut changes, last)| async move {
        loop {
            if last.is_some() {
                tokio::select! {
                    () = pages.shutdown.cancelled() => return None,
                    changed = changes.changed() => {
                        // The controller is gone: nothing will change again.
                        if changed.is_err() {
                            return None;
                        }
                        tokio::select! {
                            () = pages.shutdown.cancelled() => return None,
                            () = tokio::time::sleep(COALESCE) => {}
                        }
                        changes.borrow_and_update();
                    }
                    () = tokio::time::sleep(REFRESH) => {}
                }
            } else {
                changes.borrow_and_update();
            }
            let fragment = pages.source.live(SystemTime::now());
            if last.as_deref() == Some(fragment.as_str()) {
                continue;
            }
            let event = Event::default().event("live").data(&fragment);
            return Some((Ok(event), (pages, changes, Some(fragment))));
        }
    })
}
