//! A service's last hour as a small inline SVG: a mark per [`Mark`] (routine reconciles merged, see
//! below), placed by time on
//! `[now - 1 h, now]`, its shape and class telling the kind (so kinds differ by more than colour).
//!
//! Invariants: every mark drawn lies inside the `viewBox` (marks older than [`WINDOW`] or later
//! than `now` are dropped, not clamped, so the picture never lies about when); each mark carries
//! a `<title>` (kind, count and time) for hover; colours come from classes in `style.css`, never
//! from a `style=` attribute (the page's Content-Security-Policy has no `'unsafe-inline'`).
//!
//! Routine reconciles (every resync, 120 an hour at the default 30 s) are drawn one mark per
//! [`BIN`], at the latest one's time, its title saying how many: a mark each would cost a page of
//! ten services over 100 KB and be too dense to hover anyway. Repairs, updates and failures are
//! rare and each matters, so each is drawn on its own, above the reconciles.

use std::time::{Duration, SystemTime};

use maud::{html, Markup};

use super::format;
use super::model::{Mark, MarkKind};

/// The span a timeline shows.
pub const WINDOW: Duration = Duration::from_secs(3600);

/// The `viewBox` size: wide and low; the SVG scales to its box by CSS.
pub const WIDTH: f64 = 240.0;
pub const HEIGHT: f64 = 20.0;
/// Room at each end so a mark at the very edge is drawn whole.
const PAD: f64 = 4.0;

/// Where `at` falls on the x axis, or `None` when it is outside the last hour.
pub fn x_of(now: SystemTime, at: SystemTime) -> Option<f64> {
    let before = now.duration_since(at).ok()?;
    if before > WINDOW {
        return None;
    }
    let frac = 1.0 - before.as_secs_f64() / WINDOW.as_secs_f64();
    Some(PAD + frac * (WIDTH - 2.0 * PAD))
}

/// The marks of the last hour, in the order given, with their x.
pub fn placed(now: SystemTime, marks: &[Mark]) -> Vec<(f64, Mark)> {
    marks.iter().filter_map(|m| x_of(now, m.at).map(|x| (x, *m))).collect()
}

/// The span over which reconciles share one mark (20 bins an hour, 11.6 units apart).
pub const BIN: Duration = Duration::from_secs(180);

/// One mark as drawn: `count` marks of `kind`, the latest at `at` (and `x`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drawn {
    pub x: f64,
    pub at: SystemTime,
    pub kind: MarkKind,
    pub count: usize,
}

/// What [`timeline`] draws: reconciles merged per [`BIN`] (oldest first), then every other mark
/// in the order given (so the rarer kinds are painted on top).
pub fn drawn(now: SystemTime, marks: &[Mark]) -> Vec<Drawn> {
    let mut bins: Vec<(u64, Drawn)> = Vec::new();
    let mut rest = Vec::new();
    for (x, m) in placed(now, marks) {
        let one = Drawn { x, at: m.at, kind: m.kind, count: 1 };
        if m.kind != MarkKind::Reconcile {
            rest.push(one);
            continue;
        }
        // `placed` kept only marks at or before `now`.
        let bin = now.duration_since(m.at).map_or(0, |d| d.as_secs() / BIN.as_secs());
        match bins.iter_mut().find(|(b, _)| *b == bin) {
            Some((_, d)) => {
                d.count += 1;
                if m.at > d.at {
                    (d.x, d.at) = (x, m.at);
                }
            }
            None => bins.push((bin, one)),
        }
    }
    bins.sort_by_key(|b| std::cmp::Reverse(b.0));
    bins.into_iter().map(|(_, d)| d).chain(rest).collect()
}

/// The SVG of `marks` relative to `now`. `label` names the service for screen readers.
pub fn timeline(now: SystemTime, label: &str, marks: &[Mark]) -> Markup {
    let shown = drawn(now, marks);
    let mid = HEIGHT / 2.0;
    let total: usize = shown.iter().map(|d| d.count).sum();
    let aria = format!("{label}: {total} mark{} in the last hour", if total == 1 { "" } else { "s" });
    html! {
        svg.timeline viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(aria) {
            // The hour's axis, and a tick each quarter so a mark's age can be read by eye: one
            // path, since every row of the table repeats it.
            path.axis d=(axis()) {}
            @for d in &shown {
                (mark(now, mid, d))
            }
        }
    }
}

/// The axis and its quarter-hour ticks as path data.
fn axis() -> String {
    let mid = HEIGHT / 2.0;
    let mut d = format!("M{PAD} {mid}H{}", WIDTH - PAD);
    for q in 0..=4u8 {
        let x = PAD + f64::from(q) * (WIDTH - 2.0 * PAD) / 4.0;
        d.push_str(&format!("M{x} {}v6", mid - 3.0));
    }
    d
}

/// One mark: a dot (reconcile), a diamond (repair), a square (update) or a cross (failure).
fn mark(now: SystemTime, y: f64, d: &Drawn) -> Markup {
    let (x, kind) = (d.x, d.kind);
    // The date is left out: a mark is within the hour before `now`, whose date the page shows.
    let clock = format::rfc3339(d.at).get(11..).map(str::to_string).unwrap_or_default();
    let title = match d.count {
        1 => format!("{} {clock} ({})", kind.as_str(), format::ago(now, d.at)),
        n => format!("{n} {}s, last {clock} ({})", kind.as_str(), format::ago(now, d.at)),
    };
    let class = kind.as_str();
    // Coordinates to a tenth: enough for a 240-wide box, and fewer bytes per mark.
    let r = |v: f64| (v * 10.0).round() / 10.0;
    match kind {
        MarkKind::Reconcile => html! {
            circle class=(class) cx=(r(x)) cy=(y) r="2.5" { title { (title) } }
        },
        MarkKind::Repair => html! {
            polygon class=(class)
                points=(format!("{},{} {},{} {},{} {},{}", r(x), y - 5.0, r(x + 4.0), y, r(x), y + 5.0, r(x - 4.0), y))
                { title { (title) } }
        },
        MarkKind::Update => html! {
            rect class=(class) x=(r(x - 3.5)) y=(y - 3.5) width="7" height="7" { title { (title) } }
        },
        MarkKind::Failure => html! {
            path class=(class)
                d=(format!("M{} {}L{} {}M{} {}L{} {}", r(x - 4.0), y - 4.0, r(x + 4.0), y + 4.0, r(x - 4.0), y + 4.0, r(x + 4.0), y - 4.0))
                { title { (title) } }
        },
    }
}
