//! Per-key exponential backoff with jitter, in kube-runtime's style, over `backon`.
//!
//! Invariants: delays grow from `min` by `factor` up to `max` and never exceed `max` (backon's
//! jitter can overshoot it, so every delay is clamped); `reset` starts again from `min`
//! (backon has no reset, so the iterator is rebuilt); there is no limit on the number of tries.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub min: Duration,
    pub max: Duration,
    pub factor: f32,
    /// A fixed jitter seed makes the sequence reproducible (tests); `None` is random.
    pub seed: Option<u64>,
}

/// The per-service policy, as Kubernetes' CrashLoopBackOff: about 1 s, doubling, capped at 5 min.
pub const SERVICE: Policy =
    Policy { min: Duration::from_secs(1), max: Duration::from_secs(300), factor: 2.0, seed: None };
/// Reconnecting to the daemon: kube's defaults, 800 ms to 30 s.
pub const DAEMON: Policy =
    Policy { min: Duration::from_millis(800), max: Duration::from_secs(30), factor: 2.0, seed: None };

#[derive(Debug)]
pub struct Backoff {
    policy: Policy,
    current: Option<ExponentialBackoff>,
    attempts: u32,
}

impl Backoff {
    pub fn new(policy: Policy) -> Self {
        Backoff { policy, current: None, attempts: 0 }
    }

    fn build(&self) -> ExponentialBackoff {
        let b = ExponentialBuilder::default()
            .with_min_delay(self.policy.min)
            .with_max_delay(self.policy.max)
            .with_factor(self.policy.factor)
            .without_max_times();
        match self.policy.seed {
            Some(seed) => b.with_jitter_seed(seed).with_jitter().build(),
            None => b.with_jitter().build(),
        }
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        if self.current.is_none() {
            self.current = Some(self.build());
        }
        self.attempts += 1;
        let next = self.current.as_mut().and_then(Iterator::next).unwrap_or(self.policy.max);
        next.min(self.policy.max)
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub fn reset(&mut self) {
        self.current = None;
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_is_capped_and_resets() {
        let policy = Policy { seed: Some(7), ..SERVICE };
        let mut b = Backoff::new(policy);
        let delays: Vec<Duration> = (0..12).map(|_| b.next_delay()).collect();
        for (n, d) in delays.iter().enumerate() {
            let floor = (policy.min * 2u32.pow(n as u32)).min(policy.max);
            assert!(*d >= floor.min(policy.max) && *d <= policy.max, "delay {n} = {d:?}, floor {floor:?}");
        }
        assert!(delays[3] > delays[0] * 4, "{delays:?}");
        assert_eq!(*delays.last().unwrap(), policy.max, "{delays:?}");
        assert_eq!(b.attempts(), 12);
        b.reset();
        assert_eq!(b.attempts(), 0);
        let again = b.next_delay();
        assert!(again >= policy.min && again <= policy.min * 2, "{again:?}");
    }
}
