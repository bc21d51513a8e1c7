//! The update webhook (`moor run --notify-url`): one JSON POST per image update.
//!
//! Plain `http://` only (see [`crate::http_client`]). A failed delivery is logged and never
//! retried: the webhook informs, it does not drive.

use std::time::Duration;

use serde::Serialize;

/// The payload, as documented in the README.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateEvent {
    pub service: String,
    pub image: String,
    /// The digest (or image ID) that ran before.
    pub from: Option<String>,
    /// The registry digest the update went to.
    pub to: String,
    /// `success`, `rolled_back` or `failed`.
    pub result: String,
    pub message: String,
    /// RFC 3339.
    pub time: String,
}

/// POSTs `event` as JSON to `url`; returns the HTTP status.
pub async fn post(url: &str, event: &UpdateEvent) -> Result<u16, String> {
    let body = serde_json::to_string(event).map_err(|e| e.to_string())?;
    crate::http_client::request("POST", url, Some(&body), Duration::from_secs(5)).await.map(|(status, _)| status)
}

/// Sends `event` in the background, logging the outcome.
pub fn send(url: Option<String>, event: UpdateEvent) {
    let Some(url) = url else { return };
    tokio::spawn(async move {
        match post(&url, &event).await {
            Ok(status) if (200..300).contains(&status) => tracing::debug!(%url, status, "update webhook delivered"),
            Ok(status) => tracing::warn!(%url, status, "update webhook answered with an error"),
            Err(e) => tracing::warn!(%url, error = %e, "update webhook failed"),
        }
    });
}
