//! What apply is doing right now, per service, for a watcher such as `moor apply`'s progress lines.
//!
//! Invariants:
//! - Progress is an optional side channel: with no sender ([`Reporter::none`]) nothing is built
//!   or sent, and with one, apply does exactly the same Docker calls in the same order.
//! - Sending never blocks and never fails apply: a receiver that went away is ignored.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

/// One step of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub service: String,
    pub step: Step,
}

/// The steps a service goes through, in the order apply takes them (a replacement shows
/// creating, stopping, starting, waiting for health, removing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Pulling,
    Creating,
    Starting,
    Stopping,
    Removing,
    /// Waiting for a new container's healthcheck; sent when the wait begins and then about once
    /// a second, with the time waited so far.
    WaitingHealth {
        waited: Duration,
        timeout: Duration,
    },
    Done,
    Failed,
}

/// Where a service's steps go: a sender and the service's name, or nowhere.
#[derive(Debug, Clone, Copy)]
pub struct Reporter<'a> {
    tx: Option<&'a UnboundedSender<Progress>>,
    service: &'a str,
}

impl<'a> Reporter<'a> {
    pub fn new(tx: Option<&'a UnboundedSender<Progress>>, service: &'a str) -> Self {
        Reporter { tx, service }
    }

    pub fn none() -> Reporter<'static> {
        Reporter { tx: None, service: "" }
    }

    pub fn step(&self, step: Step) {
        if let Some(tx) = self.tx {
            // A watcher that stopped listening must not fail the apply.
            let _ = tx.send(Progress { service: self.service.to_string(), step });
        }
    }

    pub fn is_active(&self) -> bool {
        self.tx.is_some()
    }
}
