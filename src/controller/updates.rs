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

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::engine::Engine;
use crate::images::{pull_unless_local, short, Check};
use crate::manifest::model::Watch as WatchMode;
use crate::manifest::Desired;

/// Service name -> (image reference, image ID it must run). Shared with the workers, which put
/// the pins whose reference still matches the manifest into `Observed::pinned`.
pub type Pins = Arc<Mutex<BTreeMap<String, (String, String)>>>;

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
    pub fn new(reference: &str, interval: Duration, signature: String) -> Self {
        Watch {
            reference: reference.to_string(),
            interval,
            next_check: Instant::now(),
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

/// Keeps `watches` in step with the manifests: new watched services are checked at once; a
/// changed manifest forgets its failed digest; a changed reference drops the pin.
pub fn sync(watches: &mut BTreeMap<String, Watch>, pins: &Pins, desired: &Desired, signature: impl Fn(&str) -> String) {
    let mut pins = pins.lock().unwrap_or_else(|e| e.into_inner());
    watches.retain(|name, _| desired.services.get(name).is_some_and(|s| s.update.watch == WatchMode::Digest));
    pins.retain(|name, (reference, _)| desired.services.get(name).is_some_and(|s| &s.container.image == reference));
    for service in desired.services.values().filter(|s| s.update.watch == WatchMode::Digest) {
        let sig = signature(&service.name);
        let watch = watches
            .entry(service.name.clone())
            .or_insert_with(|| Watch::new(&service.container.image, service.update.interval, sig.clone()));
        if watch.signature != sig || watch.reference != service.container.image {
            watch.failed = None;
            watch.pending = None;
            watch.next_check = Instant::now();
        }
        watch.reference = service.container.image.clone();
        watch.interval = service.update.interval;
        watch.signature = sig;
    }
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

/// The status line of a failed update, such as `update to sha256:… failed: unhealthy; rolled back`.
pub fn failure_text(digest: &str, error: &str) -> String {
    let reason = error.strip_prefix("replacement failed: ").unwrap_or(error);
    let reason = reason.split("; rolled back").next().unwrap_or(reason);
    let rolled_back = error.contains("rolled back to the previous container");
    format!("update to {} failed: {reason}{}", short(digest), if rolled_back { "; rolled back" } else { "" })
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
        let mut watch = Watch::new("r/app:1", Duration::from_secs(1), String::new());
        assert_eq!(watch.unless_failed(Some(check("sha256:bad"))), Some(check("sha256:bad")));
        watch.failed = Some(Failed { digest: "sha256:bad".into(), image_id: "id-sha256:bad".into() });
        assert_eq!(watch.unless_failed(Some(check("sha256:bad"))), None);
        // The same image pushed again under another manifest digest.
        assert_eq!(watch.unless_failed(Some(check_of("sha256:again", "id-sha256:bad"))), None);
        assert_eq!(watch.unless_failed(Some(check("sha256:next"))), Some(check("sha256:next")));
        assert_eq!(watch.unless_failed(None), None);
    }

    #[test]
    fn failure_text_names_digest_reason_and_rollback() {
        let text = failure_text(
            "sha256:0123456789abcdef",
            "replacement failed: container abc is unhealthy; rolled back to the previous container",
        );
        assert_eq!(text, "update to sha256:0123456789ab failed: container abc is unhealthy; rolled back");
    }
}
