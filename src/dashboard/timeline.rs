//! A service's last hour as a small inline SVG: one mark per [`Mark`], placed by time on
//! `[now - 1 h, now]`, its shape and class telling the kind (so kinds differ by more than colour).
//!
//! Invariants: every mark drawn lies inside the `viewBox` (marks older than [`WINDOW`] or later
//! than `now` are dropped, not clamped, so the picture never lies about when); each mark carries
//! a `<title>` (kind and time) for hover; colours come from classes in `style.css`, never from a
//! `style=` attribute (the page's Content-Security-Policy has no `'unsafe-inline'`).

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

/// The SVG of `marks` relative to `now`. `label` names the service for screen readers.
pub fn timeline(now: SystemTime, label: &str, marks: &[Mark]) -> Markup {
    let shown = placed(now, marks);
    let mid = HEIGHT / 2.0;
    let aria = format!("{label}: {} events in the last hour", shown.len());
    html! {
        svg.timeline viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(aria) {
            // The hour's axis, and a tick each quarter so a mark's age can be read by eye.
            line.axis x1=(PAD) y1=(mid) x2=(WIDTH - PAD) y2=(mid) {}
            @for q in 0..=4u8 {
                @let x = PAD + f64::from(q) * (WIDTH - 2.0 * PAD) / 4.0;
                line.tick x1=(x) y1=(mid - 3.0) x2=(x) y2=(mid + 3.0) {}
            }
            @for (x, m) in &shown {
                (mark(now, *x, mid, *m))
            }
        }
    }
}

/// One mark: a dot (reconcile), a diamond (repair), a square (update) or a cross (failure).
fn mark(now: SystemTime, x: f64, y: f64, m: Mark) -> Markup {
    let title = format!("{} · {} · {}", m.kind.as_str(), format::ago(now, m.at), format::rfc3339(m.at));
    let class = format!("mark {}", m.kind.as_str());
    // Coordinates to a tenth: enough for a 240-wide box, and fewer bytes per mark.
    let r = |v: f64| (v * 10.0).round() / 10.0;
    match m.kind {
        MarkKind::Reconcile => html! {
            circle class=(class) cx=(r(x)) cy=(y) r="2" { title { (title) } }
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
