//! Image updates for `update.watch: digest`: a registry check every `update.interval`, a pin to
//! the new image, and the booking of how the replacement went.
//!
//! Invariants:
//! - A check asks the registry through the daemon and pulls only a digest the local image does
//!   not have.
//! - A digest whose update failed and was rolled back is not tried again until the registry's
//!   digest changes or the service's manifest changes; the service stays pinned to the image it
//!   rolled back to. A new digest of the very image that failed (the same image pushed again, as
//!   another manifest) is not tried either: the same content would fail the same way.
//! - The replacement itself is an ordinary reconcile: the pin makes the plan replace, with the
//!   health gate and rollback of `apply::replace`.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::outcome::{ReconcileOutcome, Reconciled};
use super::state::{Pin, ServiceState};
use crate::digest::short;
use crate::engine::Engine;
use crate::images::{pull_unless_local, Check};
use crate::manifest::model::Watch as WatchMode;
use crate::manifest::Service;

/// What `/status` and `moor status` show of a watched service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_check: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_result: Option<String>,
}

/// An update on its way: the pin is set, the reconcile has not reported yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub digest: String,
    pub image_id: String,
    pub from: Option<String>,
}

/// An update that failed and was rolled back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub digest: String,
    pub image_id: String,
}

/// One watched service.
#[derive(Debug)]
pub struct Watch {
    pub reference: String,
    pub interval: Duration,
    pub next_check: Instant,
    pub checking: bool,
    pub failed: Option<Failed>,
    pub pending: Option<Pending>,
    pub status: UpdateStatus,
    /// The manifest signature the failed digest belongs to.
    pub signature: String,
}

impl Watch {
    /// A watch that has failed nothing yet and is due for a check now.
    pub fn new(reference: &str, interval: Duration, signature: String, now: Instant) -> Self {
        Watch {
            reference: reference.to_string(),
            interval,
            next_check: now,
            checking: false,
            failed: None,
            pending: None,
            status: UpdateStatus::default(),
            signature,
        }
    }

    /// The check's image, unless it is the digest or the image that failed and was rolled back.
    /// A check spawned before the rollback was booked was not told about it, and would start the
    /// same update again.
    pub fn unless_failed(&self, check: Option<Check>) -> Option<Check> {
        check.filter(|c| self.failed.as_ref().is_none_or(|f| f.digest != c.registry_digest && f.image_id != c.image_id))
    }
}

/// Keeps one service's watch and pin in step with its manifest: a newly watched service is
/// checked at once; a changed manifest forgets its failed digest; a changed reference drops the
/// pin; an unwatched service has no watch.
pub fn sync(state: &mut ServiceState, service: &Service, signature: String, now: Instant) {
    if state.pin.as_ref().is_some_and(|p| p.reference != service.container.image) {
        state.pin = None;
    }
    if service.update.watch != WatchMode::Digest {
        state.watch = None;
        return;
    }
    let watch = state
        .watch
        .get_or_insert_with(|| Watch::new(&service.container.image, service.update.interval, signature.clone(), now));
    if watch.signature != signature || watch.reference != service.container.image {
        watch.failed = None;
        watch.pending = None;
        watch.next_check = now;
    }
    watch.reference = service.container.image.clone();
    watch.interval = service.update.interval;
    watch.signature = signature;
}

/// The result of an update that a reconcile carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateResult {
    Success,
    RolledBack,
    /// Failed and not rolled back: `update.rollback: false` kept the new container. (A reconcile
    /// that failed before the health gate is [`Booked::Retrying`], counted as `failed` too.)
    Failed,
}

impl UpdateResult {
    /// The `moor_updates_total{result}` label and the webhook's `result`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateResult::Success => "success",
            UpdateResult::RolledBack => "rolled_back",
            UpdateResult::Failed => "failed",
        }
    }
}

/// An update that ended, as the webhook and the log tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateEnded {
    pub result: UpdateResult,
    pub reference: String,
    pub from: Option<String>,
    pub to: String,
    pub message: String,
}

/// What booking a reconcile did to the watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Booked {
    /// The update ended (success, rolled back, or kept with `rollback: false`).
    Ended(UpdateEnded),
    /// The update's reconcile failed before its outcome was known; it is retried.
    Retrying,
}

/// Books the end of a reconcile that carried an update. Success moves the running digest; a
/// rollback marks the digest failed (not tried again) and pins the service to the image it
/// rolled back to; `rollback: false` marks it failed and keeps the pin. Other failures keep the
/// update pending: the backoff retries it.
pub fn book(state: &mut ServiceState, r: &Reconciled) -> Option<Booked> {
    let watch = state.watch.as_mut()?;
    let pending = watch.pending.clone()?;
    let failed = || Failed { digest: pending.digest.clone(), image_id: pending.image_id.clone() };
    let (result, message) = match &r.outcome {
        ReconcileOutcome::UpdateApplied => {
            watch.status.running_digest = Some(pending.digest.clone());
            (UpdateResult::Success, format!("updated to {}", short(&pending.digest)))
        }
        ReconcileOutcome::Converged => {
            // It already ran that image (or nothing ran): nothing to tell.
            watch.pending = None;
            return None;
        }
        ReconcileOutcome::RolledBack { reason } => {
            watch.failed = Some(failed());
            if let Some(before) = &r.image_before {
                state.pin = Some(Pin { reference: watch.reference.clone(), image_id: before.clone() });
            }
            (UpdateResult::RolledBack, format!("update to {} failed: {reason}; rolled back", short(&pending.digest)))
        }
        ReconcileOutcome::ReplacementKept { reason } => {
            watch.failed = Some(failed());
            let text = format!("update to {} failed: {reason}; kept (update.rollback: false)", short(&pending.digest));
            (UpdateResult::Failed, text)
        }
        other => {
            watch.status.last_result = Some(format!("update to {} failed: {other}", short(&pending.digest)));
            return Some(Booked::Retrying);
        }
    };
    watch.pending = None;
    watch.status.last_result = Some(message.clone());
    Some(Booked::Ended(UpdateEnded {
        result,
        reference: watch.reference.clone(),
        from: pending.from,
        to: pending.digest,
        message,
    }))
}

/// What a finished registry check asks of the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckBooked {
    /// A new image to run: reconcile the service now.
    pub update_now: Option<Check>,
    pub error: Option<String>,
}

/// Books a registry check: status, the pin, and whether a new image makes an update.
pub fn on_check(state: &mut ServiceState, outcome: CheckOutcome, now_text: String) -> CheckBooked {
    let mut booked = CheckBooked { update_now: None, error: outcome.error.clone() };
    let Some(watch) = state.watch.as_mut() else { return booked };
    watch.checking = false;
    watch.status.last_check = Some(now_text);
    watch.status.registry_digest = outcome.registry_digest.clone().or(watch.status.registry_digest.take());
    if outcome.running_digest.is_some() {
        watch.status.running_digest = outcome.running_digest.clone();
    }
    if let Some(error) = &outcome.error {
        watch.status.last_result = Some(error.clone());
    }
    let Some(check) = watch.unless_failed(outcome.check) else { return booked };
    // Only a container that runs another image makes an update; with none running, the pin
    // just decides what the next create uses.
    let running = outcome.running_image.as_ref().filter(|id| **id != check.image_id);
    if let (Some(running), None) = (running, &watch.pending) {
        watch.pending = Some(Pending {
            digest: check.registry_digest.clone(),
            image_id: check.image_id.clone(),
            from: watch.status.running_digest.clone().or_else(|| Some(running.clone())),
        });
        booked.update_now = Some(check.clone());
    }
    state.pin = Some(Pin { reference: check.reference, image_id: check.image_id });
    booked
}

/// The result of one check task.
#[derive(Debug)]
pub struct CheckOutcome {
    pub service: String,
    /// The image ID the service's first container runs, when one exists.
    pub running_image: Option<String>,
    pub registry_digest: Option<String>,
    pub running_digest: Option<String>,
    /// `None` when nothing was pulled or compared because the digest failed before.
    pub check: Option<Check>,
    pub error: Option<String>,
}

/// Looks at what the service runs, asks the registry for the digest of `reference`, and pulls
/// a new one unless it is `failed`.
pub async fn check<E: Engine>(
    engine: Arc<E>,
    instance: String,
    service: String,
    reference: String,
    failed: Option<String>,
) -> CheckOutcome {
    let mut out = CheckOutcome {
        service,
        running_image: None,
        registry_digest: None,
        running_digest: None,
        check: None,
        error: None,
    };
    match engine.list_containers(&instance).await {
        Ok(list) => {
            out.running_image = list.into_iter().find(|c| c.service() == Some(&out.service)).map(|c| c.image_id)
        }
        Err(e) => {
            out.error = Some(format!("observing Docker: {e}"));
            return out;
        }
    }
    if let Some(id) = &out.running_image {
        if let Ok(Some(image)) = engine.image(id).await {
            out.running_digest = image.digest().map(str::to_string);
        }
    }
    let digest = match engine.registry_digest(&reference).await {
        Ok(d) => d,
        Err(e) => {
            out.error = Some(format!("registry check failed: {e}"));
            return out;
        }
    };
    out.registry_digest = Some(digest.clone());
    if failed.as_deref() == Some(digest.as_str()) {
        return out; // rolled back before: wait for another digest or a manifest change
    }
    match pull_unless_local(engine.as_ref(), &reference, digest).await {
        Ok(check) => out.check = Some(check),
        Err(e) => out.error = Some(format!("pull failed: {e}")),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_of_the_failed_digest_or_image_starts_nothing_even_if_it_began_before_the_rollback() {
        let check_of = |digest: &str, image: &str| Check {
            reference: "r/app:1".into(),
            registry_digest: digest.into(),
            image_id: image.into(),
            pulled: true,
        };
        let check = |digest: &str| check_of(digest, &format!("id-{digest}"));
        let mut watch = Watch::new("r/app:1", Duration::from_secs(1), String::new(), Instant::now());
        assert_eq!(watch.unless_failed(Some(check("sha256:bad"))), Some(check("sha256:bad")));
        watch.failed = Some(Failed { digest: "sha256:bad".into(), image_id: "id-sha256:bad".into() });
        assert_eq!(watch.unless_failed(Some(check("sha256:bad"))), None);
        // The same image pushed again under another manifest digest.
        assert_eq!(watch.unless_failed(Some(check_of("sha256:again", "id-sha256:bad"))), None);
        assert_eq!(watch.unless_failed(Some(check("sha256:next"))), Some(check("sha256:next")));
        assert_eq!(watch.unless_failed(None), None);
    }
}
