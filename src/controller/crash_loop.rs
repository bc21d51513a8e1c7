//! Kubernetes' CrashLoopBackOff in spirit: a drift repair that is needed again soon after the
//! last one is delayed, more each time, until the service goes [`CRASH_WINDOW`] without one.
//!
//! Invariants:
//! - The first repair after a quiet window runs at once; each further repair within the window
//!   waits the next delay of the per-service backoff.
//! - The status note lasts as long as the loop does: from the first slowed-down repair until a
//!   window passes without a repair. It does not flicker off when the freshly started container
//!   is seen running between two crashes, since that is exactly what a crash loop looks like.

use std::time::Duration;

use tokio::time::Instant;

use super::backoff::{self, Backoff, Policy};

/// A service that runs this long without a drift repair is out of its crash loop.
pub const CRASH_WINDOW: Duration = Duration::from_secs(600);

#[derive(Debug)]
pub struct CrashLoop {
    backoff: Backoff,
    last_repair: Option<Instant>,
    /// The delay booked at the last repair; `None` when it ran at once.
    last_delay: Option<Duration>,
}

impl Default for CrashLoop {
    fn default() -> Self {
        CrashLoop::with_policy(backoff::SERVICE)
    }
}

impl CrashLoop {
    pub fn with_policy(policy: Policy) -> Self {
        CrashLoop { backoff: Backoff::new(policy), last_repair: None, last_delay: None }
    }

    /// Records a repair; returns the delay before the next one may run, if any.
    pub fn repaired(&mut self, now: Instant) -> Option<Duration> {
        let again_soon = self.in_window(now);
        self.last_repair = Some(now);
        if again_soon {
            self.last_delay = Some(self.backoff.next_delay());
        } else {
            self.backoff.reset();
            self.last_delay = None;
        }
        self.last_delay
    }

    /// When the next repair may run, while that is still ahead.
    pub fn not_before(&self, now: Instant) -> Option<Instant> {
        let (repaired, delay) = self.last_repair.zip(self.last_delay)?;
        Some(repaired + delay).filter(|t| *t > now)
    }

    pub fn restarts(&self) -> u32 {
        self.backoff.attempts()
    }

    /// What `/status` shows while the service is in a crash loop.
    pub fn note(&self, now: Instant) -> Option<String> {
        let delay = self.last_delay.filter(|_| self.in_window(now))?;
        let restarts = self.restarts();
        Some(format!("back-off {delay:?} restarting failed container ({restarts} restarts)"))
    }

    /// True while the last repair is less than [`CRASH_WINDOW`] ago.
    pub fn in_window(&self, now: Instant) -> bool {
        self.last_repair.is_some_and(|t| now.duration_since(t) < CRASH_WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy { seed: Some(3), ..backoff::SERVICE }
    }

    #[test]
    fn first_repair_is_free_then_each_one_waits_longer() {
        let mut c = CrashLoop::with_policy(policy());
        let t0 = Instant::now();
        assert_eq!(c.repaired(t0), None);
        assert_eq!(c.note(t0), None);
        let d1 = c.repaired(t0 + Duration::from_secs(1)).expect("second repair in the window is slowed");
        let d2 = c.repaired(t0 + Duration::from_secs(2)).expect("third too");
        assert!(d2 > d1, "{d1:?} then {d2:?}");
        assert_eq!(c.restarts(), 2);
        assert_eq!(c.not_before(t0 + Duration::from_secs(2)), Some(t0 + Duration::from_secs(2) + d2));
        assert_eq!(c.not_before(t0 + Duration::from_secs(2) + d2), None, "a past deadline holds nothing back");
    }

    #[test]
    fn the_note_stays_for_the_window_then_a_quiet_service_starts_over() {
        let mut c = CrashLoop::with_policy(policy());
        let t0 = Instant::now();
        c.repaired(t0);
        let delay = c.repaired(t0 + Duration::from_secs(1)).unwrap();
        let note = c.note(t0 + Duration::from_secs(5)).expect("still in the loop after the container came back");
        assert_eq!(note, format!("back-off {delay:?} restarting failed container (1 restarts)"));
        let later = t0 + Duration::from_secs(1) + CRASH_WINDOW;
        assert_eq!(c.note(later), None, "a window without repairs ends the loop");
        assert_eq!(c.repaired(later), None, "and the next repair runs at once");
        assert_eq!(c.restarts(), 0);
        assert_eq!(c.note(later), None);
    }
}
