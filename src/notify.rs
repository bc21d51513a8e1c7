//! The webhook (`moor run --notify-url`): one JSON POST per image update ([`UpdateEvent`]), per
//! failed replacement kept by `update.rollback: false` ([`ServiceEvent`]), and per git revision
//! applied or refused ([`RevisionEvent`]).
//!
//! `http://` or `https://` (see [`crate::http_client`] for the trusted CAs). A delivery runs in its
//! own task, so a slow or dead receiver never holds up the controller; a failed one (no answer,
//! or a non-2xx status) is retried 3 times with backoff, then given up: the webhook informs, it
//! does not drive. Each outcome is handed to the [`Notifier`]'s callback, which counts it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::Serialize;

use crate::http_client::{redact_url, HttpClient, HttpError};

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

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

/// The payload of a failed replacement that `update.rollback: false` kept, when no image update
/// was under way (an update's failure is an [`UpdateEvent`] with `result: failed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceEvent {
    pub service: String,
    pub image: String,
    /// `failed`.
    pub result: String,
    pub message: String,
    /// RFC 3339.
    pub time: String,
}

/// The payload of a git revision that became `current` (`result: applied`) or was refused
/// (`result: refused`, with the `reason`: signature, invalid, empty, no_path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevisionEvent {
    /// `revision`, so that a receiver can tell it from the service notes.
    pub event: String,
    /// The repository URL, without credentials.
    pub source: String,
    /// `main@sha1:<40 hex>`.
    pub revision: String,
    pub subject: String,
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub message: String,
    /// RFC 3339.
    pub time: String,
}

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the receiver answered {0}")]
    Status(u16),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("serializing the payload: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// The outcome of one [`Notifier::send`], after its retries.
#[derive(Debug)]
pub enum Delivery {
    Delivered { status: u16, attempts: usize },
    Failed { attempts: usize, error: DeliveryError },
}

impl Delivery {
    /// `delivered` or `failed`, the `result` label of `moor_notifications_total`.
    pub fn result(&self) -> &'static str {
        match self {
            Delivery::Delivered { .. } => "delivered",
            Delivery::Failed { .. } => "failed",
        }
    }
}

/// Told the outcome of every delivery (from the delivery's task).
pub type OnDelivery = Arc<dyn Fn(Delivery) + Send + Sync>;

/// Delivers payloads to one webhook URL. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    client: HttpClient,
    url: Arc<str>,
    retry: ExponentialBuilder,
    on_delivery: OnDelivery,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier").field("url", &redact_url(&self.url)).finish_non_exhaustive()
    }
}

/// Retries 3 times, after 0.5 s, 1 s and 2 s: a receiver restarting gets a few seconds.
pub fn default_retry() -> ExponentialBuilder {
    ExponentialBuilder::default().with_min_delay(Duration::from_millis(500)).with_factor(2.0).with_max_times(3)
}

impl Notifier {
    pub fn new(client: HttpClient, url: impl Into<String>, on_delivery: OnDelivery) -> Self {
        Notifier { client, url: Arc::from(url.into()), retry: default_retry(), on_delivery }
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn with_retry(self, retry: ExponentialBuilder) -> Self {
        Notifier { retry, ..self }
    }

    /// Serializes `payload` now and delivers it in a spawned task; returns at once. Must be called
    /// within a tokio runtime.
    pub fn send<T: Serialize + ?Sized>(&self, payload: &T) {
        let body = match serde_json::to_string(payload) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(url = %redact_url(&self.url), error = %e, "update webhook payload not serializable");
                (self.on_delivery)(Delivery::Failed { attempts: 0, error: DeliveryError::Serialize(e) });
                return;
            }
        };
        let this = self.clone();
        tokio::spawn(tracing::Instrument::in_current_span(async move {
            let delivery = this.deliver(body).await;
            (this.on_delivery)(delivery);
        }));
    }

    async fn deliver(&self, body: String) -> Delivery {
        let url = redact_url(&self.url);
        let mut delays = self.retry.build();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let error = match self.client.post_json_text(&self.url, body.clone(), ATTEMPT_TIMEOUT).await {
                Ok(status) if (200..300).contains(&status) => {
                    tracing::debug!(%url, status, attempts, "update webhook delivered");
                    return Delivery::Delivered { status, attempts };
                }
                Ok(status) => DeliveryError::Status(status),
                Err(e) => DeliveryError::Http(e),
            };
            match delays.next() {
                Some(delay) => {
                    tracing::debug!(%url, attempt = attempts, error = %error, retry_in = ?delay, "update webhook attempt failed");
                    tokio::time::sleep(delay).await;
                }
                None => {
                    tracing::warn!(%url, attempts, error = %error, "update webhook not delivered");
                    return Delivery::Failed { attempts, error };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::sync::mpsc;

    use super::*;
    use crate::http_client::tests::serve;

    fn notifier(url: String) -> (Notifier, mpsc::UnboundedReceiver<Delivery>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let on_delivery: OnDelivery = Arc::new(move |d| {
            let _ = tx.send(d);
        });
        let fast = ExponentialBuilder::default().with_min_delay(Duration::from_millis(10)).with_max_times(3);
        (Notifier::new(HttpClient::new().unwrap(), url, on_delivery).with_retry(fast), rx)
    }

    const FAILURE: &str = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";

    #[tokio::test]
    async fn a_failing_receiver_is_retried_until_it_answers() {
        let (url, seen) = serve(vec![FAILURE, FAILURE, "HTTP/1.1 204 No Content\r\n\r\n"]).await;
        let (notifier, mut outcomes) = notifier(format!("{url}/hook"));
        let started = Instant::now();
        notifier.send(&serde_json::json!({"service": "web"}));
        // `send` returns before the first attempt is made.
        assert!(seen.lock().unwrap().is_empty());
        match outcomes.recv().await.unwrap() {
            Delivery::Delivered { status: 204, attempts: 3 } => {}
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(2));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert!(seen.iter().all(|r| r.ends_with("{\"service\":\"web\"}")), "{seen:?}");
    }

    #[tokio::test]
    async fn a_receiver_that_always_fails_is_given_up_after_3_retries() {
        let (url, seen) = serve(vec![FAILURE]).await;
        let (notifier, mut outcomes) = notifier(url);
        notifier.send(&UpdateEvent {
            service: "web".into(),
            image: "nginx:1".into(),
            from: None,
            to: "sha256:1".into(),
            result: "success".into(),
            message: "updated".into(),
            time: "2025-01-01T00:00:00Z".into(),
        });
        match outcomes.recv().await.unwrap() {
            d @ Delivery::Failed { attempts: 4, error: DeliveryError::Status(500) } => assert_eq!(d.result(), "failed"),
            other => panic!("{other:?}"),
        }
        assert_eq!(seen.lock().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn an_unreachable_receiver_fails_with_the_connection_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (notifier, mut outcomes) = notifier(format!("http://user:pw@127.0.0.1:{port}/"));
        notifier.send("x");
        match outcomes.recv().await.unwrap() {
            Delivery::Failed { attempts: 4, error: DeliveryError::Http(HttpError::Connect { url, .. }) } => {
                assert_eq!(url, format!("http://127.0.0.1:{port}/"))
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{notifier:?}").contains("pw"));
    }

    #[tokio::test]
    async fn the_callback_counts_deliveries_in_the_metrics() {
        let (url, _) = serve(vec!["HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]).await;
        let metrics = Arc::new(crate::controller::metrics::Metrics::new());
        let (tx, mut done) = mpsc::unbounded_channel();
        let counted = metrics.clone();
        let notifier = Notifier::new(
            HttpClient::new().unwrap(),
            url,
            Arc::new(move |d: Delivery| {
                counted.notification(d.result());
                let _ = tx.send(());
            }),
        );
        notifier.send(&1);
        done.recv().await.unwrap();
        assert!(metrics.text().contains("moor_notifications_total{result=\"delivered\"} 1\n"), "{}", metrics.text());
    }

    #[test]
    fn the_default_policy_retries_3_times_from_half_a_second() {
        let delays: Vec<_> = default_retry().build().collect();
        assert_eq!(delays, [500, 1000, 2000].map(Duration::from_millis));
    }
}
