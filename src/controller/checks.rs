//! Registry checks for `update.watch: digest`, as the controller schedules and books them. The
//! checks themselves and the pure booking live in [`super::updates`].
//!
//! Invariant: at most [`CHECKS_PER_SECOND`] checks start per second, for all watched services
//! together, evenly spaced ([`Pace`]); the service that has waited longest goes first. A hundred
//! services with `interval: 1s` therefore wait their turn instead of making a hundred requests a
//! second, and no interval, however short, makes a hot loop.

use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{info, warn, Instrument as _};

use super::source::Source;
use super::updates::{self, CheckOutcome};
use super::{status, Controller};
use crate::engine::Engine;
use crate::manifest::limits::CHECKS_PER_SECOND;

/// When the next registry check may start: one every `1 s / CHECKS_PER_SECOND`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pace {
    next: Instant,
}

impl Pace {
    const SPACING: Duration = Duration::from_nanos(1_000_000_000 / CHECKS_PER_SECOND as u64);

    pub(super) fn new(now: Instant) -> Self {
        Pace { next: now }
    }

    /// Takes the slot due at `now`, if it is free.
    fn take(&mut self, now: Instant) -> bool {
        if self.next > now {
            return false;
        }
        self.next = now + Self::SPACING;
        true
    }
}

impl<E: Engine, S: Source> Controller<E, S> {
    pub(super) fn has_idle_watch(&self) -> bool {
        self.services.values().filter_map(|s| s.watch.as_ref()).any(|w| !w.checking)
    }

    pub(super) fn next_check_at(&self) -> Instant {
        let watches = self.services.values().filter_map(|s| s.watch.as_ref());
        let next = watches.filter(|w| !w.checking).map(|w| w.next_check).min();
        next.map_or_else(|| Instant::now() + Duration::from_secs(3600), |due| due.max(self.check_pace.next))
    }

    /// Starts the registry checks that are due, as far as the pace allows; the longest-waiting
    /// first.
    pub(super) fn start_checks(&mut self, checks: &mut JoinSet<CheckOutcome>) {
        let now = Instant::now();
        let mut due: Vec<(Instant, String)> = self
            .services
            .iter()
            .filter_map(|(name, s)| s.watch.as_ref().map(|w| (name, w)))
            .filter(|(_, w)| !w.checking && w.next_check <= now)
            .map(|(name, w)| (w.next_check, name.clone()))
            .collect();
        due.sort();
        for (_, name) in due {
            if !self.check_pace.take(now) {
                break;
            }
            let Some(watch) = self.services.get_mut(&name).and_then(|s| s.watch.as_mut()) else { continue };
            watch.checking = true;
            watch.next_check = now + watch.interval;
            let failed = watch.failed.as_ref().map(|f| f.digest.clone());
            let instance = self.config.instance.clone();
            checks.spawn(
                updates::check(self.engine.clone(), instance, name, watch.reference.clone(), failed).in_current_span(),
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_spaces_checks_evenly() {
        let start = Instant::now();
        let mut pace = Pace::new(start);
        assert!(pace.take(start));
        assert!(!pace.take(start), "a second check in the same instant");
        assert!(!pace.take(start + Pace::SPACING - Duration::from_millis(1)));
        assert!(pace.take(start + Pace::SPACING));
        // After a quiet while, one check at once, not the ones the quiet while would have allowed.
        let later = start + Duration::from_secs(60);
        assert!(pace.take(later));
        assert!(!pace.take(later));
        assert_eq!(Pace::SPACING * CHECKS_PER_SECOND, Duration::from_secs(1));
    }
}
