//! The `--listen` endpoints of `moor run`: the dashboard (`/`, `/ui`, `/events`: [`dashboard`]),
//! `/healthz`, `/readyz`, `/metrics`, `/status`, and, when a git source has a webhook secret,
//! `POST /hooks/git`.
//!
//! A thin edge. The read endpoints only read [`Shared`]. `/hooks/git` only checks a hook's
//! signature ([`crate::git::webhook::verify`]), counts it and, when it is valid, wakes the git
//! source through a [`Notify`]: it answers `202` at once and never waits for the fetch, and
//! nothing in the payload (a SHA, a ref) is used, since the fetch asks the remote itself. An
//! invalid hook gets `401` and triggers nothing.
//!
//! With a token ([`auth`]), every endpoint but `/healthz` and `/hooks/git` wants it; with a
//! certificate ([`tls`]), the listener speaks HTTPS. `moor run` refuses a non-loopback address
//! without a token unless told `--listen-insecure`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::controller::status::Shared;
use crate::git::webhook::{event_kind, verify, WebhookSecret};

pub mod auth;
pub mod dashboard;
#[cfg(test)]
mod dashboard_tests;
#[cfg(test)]
mod tests;
pub mod tls;

pub use auth::ListenToken;

/// How the listener protects itself: a token for the read endpoints, TLS.
#[derive(Debug, Clone, Default)]
pub struct ListenOptions {
    pub token: Option<ListenToken>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Larger than any push payload a git server sends (GitHub caps its payloads at 25 MB, but
/// trims a push's commit list far below that); a larger body is refused with `413` before any
/// HMAC is computed over it.
pub const HOOK_BODY_LIMIT: usize = 5 * 1024 * 1024;

/// What `POST /hooks/git` needs: the shared secret, and the [`Notify`] the git source waits
/// on. `notify_one` keeps one permit when the source is busy, so hooks arriving during a fetch
/// cause exactly one more fetch after it, however many they are.
#[derive(Debug)]
pub struct GitHook {
    pub secret: WebhookSecret,
    pub trigger: Arc<Notify>,
}

struct HookState {
    shared: Arc<Shared>,
    hook: GitHook,
}

/// The endpoints; `/hooks/git` only when `hook` is given (otherwise it is a 404 like any
/// unknown path); with `token`, every endpoint but `/healthz` and `/hooks/git` wants it.
pub fn router(
    shared: Arc<Shared>,
    hook: Option<GitHook>,
    token: Option<ListenToken>,
    shutdown: CancellationToken,
) -> Router {
    let mut read = Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(shared.clone())
        .merge(dashboard::routes(dashboard::AgentPage { shared: shared.clone() }, shutdown));
    if let Some(token) = token {
        read = read.layer(axum::middleware::from_fn_with_state(token, auth::require_token));
    }
    let read = read.route("/healthz", get(|| async { "ok\n" }));
    match hook {
        Some(hook) => read.merge(
            Router::new()
                .route("/hooks/git", post(git_hook))
                .layer(DefaultBodyLimit::max(HOOK_BODY_LIMIT))
                .with_state(Arc::new(HookState { shared, hook })),
        ),
        None => read,
    }
}

async fn readyz(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    if shared.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], shared.metrics.text())
}

async fn status(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    Json(shared.status())
}

/// `POST /hooks/git`. Nothing the sender wrote is logged before the signature holds; after,
/// only the event's name is (never the body or a header carrying the signature or token).
async fn git_hook(
    State(state): State<Arc<HookState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let metrics = &state.shared.metrics;
    let body = match body {
        Ok(body) => body,
        // Too large (413) or cut off: refused like a bad signature, and counted so an operator
        // sees the hooks that never got as far as a check.
        Err(rejection) => {
            metrics.git_webhook("rejected");
            tracing::warn!(status = rejection.status().as_u16(), "git webhook rejected: body not read");
            return rejection.into_response();
        }
    };
    match verify(&headers, &body, &state.hook.secret) {
        Ok(provider) => {
            state.hook.trigger.notify_one();
            metrics.git_webhook("accepted");
            let event = event_kind(&headers);
            tracing::info!(%provider, event = event.as_deref().unwrap_or("-"), "git webhook accepted");
            (StatusCode::ACCEPTED, "accepted: fetching\n").into_response()
        }
        Err(error) => {
            metrics.git_webhook("rejected");
            tracing::warn!(reason = error.reason(), "git webhook rejected: {error}");
            (StatusCode::UNAUTHORIZED, format!("{}\n", error.reason())).into_response()
        }
    }
}

/// Binds `addr` (an error now, not later, when it is taken) and serves until `token` is
/// cancelled.
pub async fn serve(
    addr: SocketAddr,
    shared: Arc<Shared>,
    hook: Option<GitHook>,
    options: ListenOptions,
    token: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(listener, shared, hook, options, token)
}

/// [`serve`] on a listener already bound (tests bind port 0 and read the port back).
pub fn serve_on(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    hook: Option<GitHook>,
    options: ListenOptions,
    token: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let endpoints = match hook {
        Some(_) => "/ /events /healthz /readyz /metrics /status /hooks/git",
        None => "/ /events /healthz /readyz /metrics /status",
    };
    let app = router(shared, hook, options.token.clone(), token.clone());
    serve_app(listener, app, endpoints, options, token)
}

/// Serves `app` on `listener` (TLS when `options` say so) until `token` is cancelled. `app`
/// already carries the token's check where it wants one.
pub fn serve_app(
    listener: tokio::net::TcpListener,
    app: Router,
    endpoints: &str,
    options: ListenOptions,
    token: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let scheme = if options.tls.is_some() { "https" } else { "http" };
    let auth = if options.token.is_some() { "token" } else { "none" };
    tracing::info!(addr = %listener.local_addr()?, scheme, auth, "serving {endpoints}");
    let shutdown = token.cancelled_owned();
    // axum serves each connection in a task of its own: every request is put back in the
    // caller's span (`moor run`'s `agent{node=...}`), so that what a handler logs names the node.
    let span = tracing::Span::current();
    let app =
        app.layer(axum::middleware::from_fn(move |request: axum::extract::Request, next: axum::middleware::Next| {
            tracing::Instrument::instrument(next.run(request), span.clone())
        }));
    Ok(match options.tls {
        Some(config) => {
            let listener = tls::TlsListener::new(listener, config)?;
            tokio::spawn(tracing::Instrument::in_current_span(async move {
                axum::serve(listener, app).with_graceful_shutdown(shutdown).await
            }))
        }
        None => tokio::spawn(tracing::Instrument::in_current_span(async move {
            axum::serve(listener, app).with_graceful_shutdown(shutdown).await
        })),
    })
}
