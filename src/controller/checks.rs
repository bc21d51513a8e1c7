//! Registry checks for `update.watch: digest`, as the controller schedules and books them. The
//! checks themselves and the pure booking live in [`super::updates`].

use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{info, warn};

use super::source::Source;
use super::updates::{self, CheckOutcome};
use super::{status, Controller};
use crate::engine::Engine;

impl<E: Engine, S: Source> Controller<E, S> {
    pub(super) fn has_idle_watch(&self) -> bool {
        self.services.values().filter_map(|s| s.watch.as_ref()).any(|w| !w.checking)
    }

    pub(super) fn next_check_at(&self) -> Instant {
        let watches = self.services.values().filter_map(|s| s.watch.as_ref());
        let next = watches.filter(|w| !w.checking).map(|w| w.next_check).min();
        next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
    }

    /// Starts the registry checks that are due.
    pub(super) fn start_checks(&mut self, checks: &mut JoinSet<CheckOutcome>) {
        let now = Instant::now();
        for (name, state) in self.services.iter_mut() {
            let Some(watch) = state.watch.as_mut().filter(|w| !w.checking && w.next_check <= now) else { continue };
            watch.checking = true;
            watch.next_check = now + watch.interval;
            let failed = watch.failed.as_ref().map(|f| f.digest.clone());
            let instance = self.config.instance.clone();
            checks.spawn(updates::check(self.engine.clone(), instance, name.clone(), watch.reference.clone(), failed));
        }
    }

    /// Books a registry check: status, the pin, and a reconcile now when the image is new.
    pub(super) fn checked(&mut self, outcome: CheckOutcome) {
        let service = outcome.service.clone();
        let booked = updates::on_check(self.state(&service), outcome, status::timestamp(Duration::ZERO));
        if let Some(error) = &booked.error {
            warn!(%service, %error, "update check failed");
        }
        if let Some(check) = &booked.update_now {
            info!(%service, image = %check.reference, digest = %check.registry_digest, pulled = check.pulled, "new image; updating");
            self.queue.add_now(&service);
        }
        let update = self.services.get(&service).and_then(|s| s.watch.as_ref()).map(|w| w.status.clone());
        self.shared.service(&service, |s| s.update = update);
    }
}
