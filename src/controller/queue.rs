//! The work queue: one entry per key, deduplicated, never two of one key in flight.
//!
//! Invariants:
//! - A key is at most once in the queue.
//! - A key handed out by [`WorkQueue::next`] is not handed out again before [`WorkQueue::done`];
//!   adding it meanwhile marks it dirty, and `done` queues it once more.
//! - A delayed key (backoff) becomes ready at its time; [`WorkQueue::add`] and
//!   [`WorkQueue::add_settled`] do not cut a backoff short, [`WorkQueue::add_now`] does (for a
//!   manifest change).
//! - A settling key (a Docker event's short wait) is kept apart from backoffs: a later event may
//!   shorten its settle time, never a backoff.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Default)]
struct State {
    ready: VecDeque<String>,
    queued: HashSet<String>,
    running: HashSet<String>,
    dirty: HashSet<String>,
    delayed: BTreeMap<String, Instant>,
    settling: BTreeMap<String, Instant>,
}

#[derive(Default)]
pub struct WorkQueue {
    state: Mutex<State>,
    notify: Notify,
}

impl WorkQueue {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `key` unless it is queued, delayed or (then marked dirty) in flight.
    pub fn add(&self, key: &str) {
        let mut s = self.lock();
        if s.running.contains(key) {
            s.dirty.insert(key.to_string());
        } else if !s.queued.contains(key) && !s.delayed.contains_key(key) && !s.settling.contains_key(key) {
            s.queued.insert(key.to_string());
            s.ready.push_back(key.to_string());
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Like [`add`](Self::add), but cancels a pending delay.
    pub fn add_now(&self, key: &str) {
        let mut s = self.lock();
        s.delayed.remove(key);
        s.settling.remove(key);
        drop(s);
        self.add(key);
    }

    /// Queues `key` after a short `settle` time, for a Docker event: Docker emits `die` a moment
    /// before its container list shows the container stopped, and `rm -f` sends kill, die and
    /// destroy in a burst that one reconcile should answer. An earlier settle time wins (a
    /// `destroy` needs none); a pending backoff is kept as it is.
    pub fn add_settled(&self, key: &str, settle: Duration) {
        let mut s = self.lock();
        if s.running.contains(key) {
            s.dirty.insert(key.to_string());
        } else if !s.queued.contains(key) && !s.delayed.contains_key(key) {
            let at = Instant::now() + settle;
            let entry = s.settling.entry(key.to_string()).or_insert(at);
            *entry = (*entry).min(at);
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Queues `key` after `delay` (a backoff). An earlier pending time wins.
    pub fn add_after(&self, key: &str, delay: Duration) {
        let at = Instant::now() + delay;
        let mut s = self.lock();
        let entry = s.delayed.entry(key.to_string()).or_insert(at);
        *entry = (*entry).min(at);
        drop(s);
        self.notify.notify_one();
    }

    /// Waits for the next ready key and marks it in flight.
    pub async fn next(&self) -> String {
        loop {
            let wake_at = {
                let mut s = self.lock();
                let now = Instant::now();
                let due: Vec<String> = s
                    .delayed
                    .iter()
                    .chain(s.settling.iter())
                    .filter(|(_, at)| **at <= now)
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in due {
                    s.delayed.remove(&key);
                    s.settling.remove(&key);
                    if s.running.contains(&key) {
                        s.dirty.insert(key);
                    } else if s.queued.insert(key.clone()) {
                        s.ready.push_back(key);
                    }
                }
                if let Some(key) = s.ready.pop_front() {
                    s.queued.remove(&key);
                    s.running.insert(key.clone());
                    return key;
                }
                s.delayed.values().chain(s.settling.values()).min().copied()
            };
            match wake_at {
                Some(at) => tokio::select! {
                    _ = self.notify.notified() => {}
                    _ = tokio::time::sleep_until(at) => {}
                },
                None => self.notify.notified().await,
            }
        }
    }

    /// Marks `key` finished; a key added while in flight is queued again.
    pub fn done(&self, key: &str) {
        let mut s = self.lock();
        s.running.remove(key);
        if s.dirty.remove(key) {
            drop(s);
            self.add(key);
        }
    }

    /// Keys waiting: ready or delayed (the `moor_queue_depth` gauge).
    pub fn depth(&self) -> usize {
        let s = self.lock();
        s.ready.len() + s.delayed.len() + s.settling.len()
    }

    /// When `key` is delayed until, if it is.
    #[cfg(test)]
    pub fn delayed_until(&self, key: &str) -> Option<Instant> {
        self.lock().delayed.get(key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn adds_are_deduplicated() {
        let q = WorkQueue::new();
        for _ in 0..5 {
            q.add("a");
        }
        q.add("b");
        assert_eq!(q.depth(), 2);
        assert_eq!(q.next().await, "a");
        assert_eq!(q.next().await, "b");
        assert_eq!(q.depth(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_is_never_twice_in_flight() {
        let q = WorkQueue::new();
        q.add("a");
        assert_eq!(q.next().await, "a");
        // Events for "a" while it runs: it must not come out again until done.
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.next().await, "b");
        let waiting = tokio::time::timeout(Duration::from_secs(60), q.next()).await;
        assert!(waiting.is_err(), "a key in flight was handed out again");
        q.done("a");
        assert_eq!(q.next().await, "a", "the dirty key runs once more after done");
        q.done("a");
        assert_eq!(q.depth(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_keys_wait_for_their_time_and_add_now_cuts_it_short() {
        let q = WorkQueue::new();
        let start = Instant::now();
        q.add_after("a", Duration::from_secs(4));
        q.add("a"); // an event does not cut a backoff short
        assert_eq!(q.depth(), 1);
        assert_eq!(q.next().await, "a");
        assert!(start.elapsed() >= Duration::from_secs(4), "{:?}", start.elapsed());
        q.done("a");

        // An event settles briefly, but never cuts a backoff short.
        q.add_after("c", Duration::from_secs(60));
        q.add_settled("c", Duration::from_millis(50));
        assert!(q.delayed_until("c").unwrap() >= Instant::now() + Duration::from_secs(59));
        q.add_settled("d", Duration::from_millis(50));
        let t = Instant::now();
        assert_eq!(q.next().await, "d");
        assert_eq!(t.elapsed(), Duration::from_millis(50));
        q.done("d");
        // A later event with no settle time (a destroy) shortens a settle.
        q.add_settled("e", Duration::from_millis(50));
        q.add_settled("e", Duration::ZERO);
        let t = Instant::now();
        assert_eq!(q.next().await, "e");
        assert_eq!(t.elapsed(), Duration::ZERO);
        q.done("e");

        q.add_after("b", Duration::from_secs(300));
        q.add_now("b");
        let t = Instant::now();
        assert_eq!(q.next().await, "b");
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
