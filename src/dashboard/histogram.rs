//! The reconcile duration histogram (`moor_reconcile_duration_seconds`) as an inline SVG: one bar
//! per bucket, its height proportional to the bucket's count, labelled with the bucket's upper
//! bound and its count; the total and the mean are written beside it.
//!
//! Invariants: no value is divided by zero (a host that has not reconciled yet shows empty bars
//! and "no reconcile yet", never `NaN`); every coordinate is finite and inside the `viewBox`.

use maud::{html, Markup};

use super::format;
use super::model::HistogramView;

const BAR: f64 = 36.0;
const GAP: f64 = 4.0;
/// Room above the bars for their counts, below for their bounds.
const TOP: f64 = 14.0;
const PLOT: f64 = 60.0;
const BOTTOM: f64 = 16.0;

/// The mean reconcile duration, `None` before the first reconcile (or if `sum` is not a number).
pub fn mean(h: &HistogramView) -> Option<f64> {
    if h.count == 0 {
        return None;
    }
    let m = h.sum / h.count as f64;
    m.is_finite().then_some(m)
}

/// The viewBox's width for `n` buckets: never narrower than [`MIN_WIDTH`], since the SVG is
/// scaled to the page's width and a narrow box (no buckets yet) would become a tall one.
pub fn width(n: usize) -> f64 {
    (GAP + n as f64 * (BAR + GAP)).max(MIN_WIDTH)
}

const MIN_WIDTH: f64 = 200.0;

/// A bucket's label: `≤5 ms`; the last (infinite) one is `>` the bound before it.
fn bound_label(h: &HistogramView, i: usize) -> String {
    match h.buckets.get(i) {
        Some((b, _)) if b.is_finite() => format!("≤{}", format::seconds(*b)),
        _ => match i.checked_sub(1).and_then(|j| h.buckets.get(j)) {
            Some((prev, _)) => format!(">{}", format::seconds(*prev)),
            None => "all".to_string(),
        },
    }
}

/// The histogram section's figure: the SVG and its summary line.
pub fn histogram(h: &HistogramView) -> Markup {
    let w = width(h.buckets.len());
    let total_h = TOP + PLOT + BOTTOM;
    let max = h.buckets.iter().map(|(_, c)| *c).max().unwrap_or(0);
    let summary = match mean(h) {
        Some(m) => format!("{} reconciles, mean {}", h.count, format::seconds(m)),
        None => "no reconcile yet".to_string(),
    };
    html! {
        figure.histogram {
            svg #histogram viewBox=(format!("0 0 {w} {total_h}")) role="img"
                aria-label=(format!("reconcile durations: {summary}")) {
                line.axis x1="0" y1=(TOP + PLOT) x2=(w) y2=(TOP + PLOT) {}
                @for (i, (_, count)) in h.buckets.iter().enumerate() {
                    @let x = GAP + i as f64 * (BAR + GAP);
                    // `max` is 0 only when every count is 0; then every bar is empty.
                    @let bh = if max == 0 { 0.0 } else { (*count as f64 / max as f64 * PLOT).round() };
                    @let label = bound_label(h, i);
                    g.bucket {
                        title { (format!("{label}: {count}")) }
                        rect.bar x=(x) y=(TOP + PLOT - bh) width=(BAR) height=(bh) {}
                        text.count x=(x + BAR / 2.0) y=(TOP + PLOT - bh - 3.0) text-anchor="middle" { (count) }
                        text.bound x=(x + BAR / 2.0) y=(TOP + PLOT + BOTTOM - 4.0) text-anchor="middle" { (label) }
                    }
                }
            }
            figcaption { (summary) }
        }
    }
}
