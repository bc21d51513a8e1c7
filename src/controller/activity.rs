//! What the controller did lately, for the dashboard: the last events it acted on (newest
//! first) and each service's marks of the last hour (reconciles, repairs, updates, failures).
//!
//! Invariants: bounded memory whatever happens: at most [`EVENTS_KEPT`] events, and per
//! service only the marks of the last [`TIMELINE_SPAN`], at most [`MARKS_KEPT`] of them; a
//! service that is forgotten (pruned) loses its marks, its events stay until pushed out. Only
//! texts built from typed outcomes go in (never a secret value: outcomes never carry one).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use crate::dashboard::model::{EventRow, Mark, MarkKind};

/// The events kept (and shown).
pub const EVENTS_KEPT: usize = crate::dashboard::model::EVENTS_SHOWN;
/// How far back a timeline reaches.
pub const TIMELINE_SPAN: Duration = Duration::from_secs(3600);
/// The most marks kept per service: a crash loop slowed to one repair every few seconds still
/// fits an hour; past it the oldest go first.
pub const MARKS_KEPT: usize = 2000;

/// Why moor acted, as the dashboard says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Converge,
    ManifestChange,
    ImageUpdate,
    Drift,
    CrashLoop,
    Prune,
    PolicyRefusal,
    Failure,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Converge => "converge",
            Reason::ManifestChange => "manifest change",
            Reason::ImageUpdate => "image update",
            Reason::Drift => "drift",
            Reason::CrashLoop => "crash loop",
            Reason::Prune => "prune",
            Reason::PolicyRefusal => "policy refusal",
            Reason::Failure => "failure",
        }
    }
}

impl From<super::decide::Why> for Reason {
    fn from(why: super::decide::Why) -> Self {
        use super::decide::Why;
        match why {
            Why::Converge => Reason::Converge,
            Why::ManifestChange => Reason::ManifestChange,
            Why::ImageUpdate => Reason::ImageUpdate,
            Why::Drift => Reason::Drift,
            Why::CrashLoop => Reason::CrashLoop,
            Why::Prune => Reason::Prune,
        }
    }
}

#[derive(Debug, Default)]
pub struct Activity {
    events: VecDeque<EventRow>,
    marks: BTreeMap<String, VecDeque<Mark>>,
}

impl Activity {
    /// Records an event at `at`; the oldest goes when more than [`EVENTS_KEPT`] are kept.
    pub fn event(&mut self, at: SystemTime, service: &str, action: &str, reason: Reason, detail: Option<String>) {
        self.events.push_front(EventRow {
            at,
            service: service.to_string(),
            action: action.to_string(),
            why: reason.as_str().to_string(),
            detail,
        });
        self.events.truncate(EVENTS_KEPT);
    }

    /// Records a mark on `service`'s timeline, dropping what is older than the span.
    pub fn mark(&mut self, at: SystemTime, service: &str, kind: MarkKind) {
        let marks = self.marks.entry(service.to_string()).or_default();
        marks.push_back(Mark { at, kind });
        Self::trim(marks, at);
        while marks.len() > MARKS_KEPT {
            marks.pop_front();
        }
    }

    /// A service that is gone: its timeline goes with it.
    pub fn forget(&mut self, service: &str) {
        self.marks.remove(service);
    }

    /// The events, newest first.
    pub fn events(&self) -> Vec<EventRow> {
        self.events.iter().cloned().collect()
    }

    /// `service`'s marks within the span before `now`, oldest first.
    pub fn timeline(&self, service: &str, now: SystemTime) -> Vec<Mark> {
        let from = now.checked_sub(TIMELINE_SPAN).unwrap_or(SystemTime::UNIX_EPOCH);
        self.marks.get(service).map(|m| m.iter().filter(|m| m.at >= from).copied().collect()).unwrap_or_default()
    }

    fn trim(marks: &mut VecDeque<Mark>, now: SystemTime) {
        let from = now.checked_sub(TIMELINE_SPAN).unwrap_or(SystemTime::UNIX_EPOCH);
        while marks.front().is_some_and(|m| m.at < from) {
            marks.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
    }

    #[test]
    fn events_are_newest_first_and_bounded() {
        let mut a = Activity::default();
        for i in 0..(EVENTS_KEPT as u64 + 20) {
            a.event(at(i), &format!("s{i}"), "create", Reason::Drift, None);
        }
        let events = a.events();
        assert_eq!(events.len(), EVENTS_KEPT);
        assert_eq!(events[0].service, format!("s{}", EVENTS_KEPT + 19));
        assert_eq!(events.last().unwrap().service, "s20", "the 20 oldest were pushed out");
        assert_eq!(events[0].why, "drift");
    }

    #[test]
    fn a_timeline_holds_the_last_hour_only_and_is_bounded() {
        let mut a = Activity::default();
        a.mark(at(0), "web", MarkKind::Repair);
        a.mark(at(10), "web", MarkKind::Failure);
        a.mark(at(3605), "web", MarkKind::Reconcile);
        let marks = a.timeline("web", at(3605));
        assert_eq!(marks.iter().map(|m| m.kind).collect::<Vec<_>>(), [MarkKind::Failure, MarkKind::Reconcile]);
        // Read later without a new mark: the old ones are not shown either.
        assert_eq!(a.timeline("web", at(3611)).len(), 1);
        for i in 0..(MARKS_KEPT as u64 + 5) {
            a.mark(at(3606), "db", if i % 2 == 0 { MarkKind::Repair } else { MarkKind::Reconcile });
        }
        assert_eq!(a.timeline("db", at(3606)).len(), MARKS_KEPT);
        a.forget("db");
        assert!(a.timeline("db", at(3606)).is_empty());
    }
}
