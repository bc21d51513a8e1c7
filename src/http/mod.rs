//! The `--listen` endpoints of `moor run`: `/healthz`, `/readyz`, `/metrics`, `/status`, and, when a
//! git source has a webhook secret, `POST /hooks/git`.
//!
//! A thin edge. The read endpoints only read [`Shared`]. `/hooks/git` only checks a hook's
//! signature ([`crate::git::webhook::verify`]), counts it and, when it is valid, wakes the git
//! source through a [`Notify`]: it answers `202` at once and never waits for the fetch, and
//! nothing in the payload (a SHA, a ref) is used, since the fetch asks the remote itself. An
//! invalid hook gets `401` and triggers nothing.

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

#[cfg(test)]
mod tests;

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
/// unknown path).
pub fn router(shared: Arc<Shared>, hook: Option<GitHook>) -> Router {
    let read = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(shared.clone());
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
    token: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(listener, shared, hook, token)
}

/// [`serve`] on a listener already bound (tests bind port 0 and read the port back).
pub fn serve_on(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    hook: Option<GitHook>,
    token: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let endpoints = match hook {
        Some(_) => "/healthz /readyz /metrics /status /hooks/git",
        None => "/healthz /readyz /metrics /status",
    };
    tracing::info!(addr = %listener.local_addr()?, "serving {endpoints}");
    Ok(tokio::spawn(async move {
        axum::serve(listener, router(shared, hook)).with_graceful_shutdown(token.cancelled_owned()).await
    }))
}
