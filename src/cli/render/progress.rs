//! `moor apply`'s progress on stderr: each service's current step while apply runs.
//!
//! On a terminal, one live line per service (indicatif), the health wait ticking as
//! `waiting for health 12s/60s`. Elsewhere, one plain line per change of step (`web: creating`,
//! `web: waiting for health (timeout 60s)`, `web: done in 1.2s`), which a log or CI keeps readable.
//!
//! Invariants: nothing here writes to stdout (the report is data); the plain lines carry no ANSI
//! escapes; formatting is pure ([`step_text`], [`Tracker::plain`]) and tested without a terminal.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::apply::{Progress, Step};

/// How progress is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Live lines on a terminal.
    Bars,
    /// One plain line per step change.
    Lines,
}

impl Mode {
    /// Bars when stderr is a terminal, plain lines otherwise.
    pub fn for_stderr() -> Mode {
        use std::io::IsTerminal as _;
        if std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Lines
        }
    }
}

/// A duration as `1.2s`.
pub fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// The live text of a step, as the terminal line shows it.
pub fn step_text(step: Step) -> String {
    match step {
        Step::Pulling => "pulling".into(),
        Step::Creating => "creating".into(),
        Step::Starting => "starting".into(),
        Step::Stopping => "stopping".into(),
        Step::Removing => "removing".into(),
        Step::WaitingHealth { waited, timeout } => {
            format!("waiting for health {}s/{}s", waited.as_secs(), timeout.as_secs())
        }
        Step::Done => "done".into(),
        Step::Failed => "failed".into(),
    }
}

/// When each service began and which step it is at: what the plain lines and the final timings
/// need.
#[derive(Debug, Default)]
pub struct Tracker {
    started: BTreeMap<String, Instant>,
    last: BTreeMap<String, Step>,
}

impl Tracker {
    /// The plain line for `p` seen at `now`, or `None` when the step did not change (a health
    /// wait reports every second; the plain form says it once, with its timeout).
    pub fn plain(&mut self, p: &Progress, now: Instant) -> Option<String> {
        let started = *self.started.entry(p.service.clone()).or_insert(now);
        let same = |a: &Step, b: &Step| std::mem::discriminant(a) == std::mem::discriminant(b);
        if self.last.get(&p.service).is_some_and(|last| same(last, &p.step)) {
            return None;
        }
        self.last.insert(p.service.clone(), p.step);
        let text = match p.step {
            Step::WaitingHealth { timeout, .. } => format!("waiting for health (timeout {}s)", timeout.as_secs()),
            Step::Done => format!("done in {}", seconds(now - started)),
            Step::Failed => format!("failed after {}", seconds(now - started)),
            step => step_text(step),
        };
        Some(format!("{}: {text}", p.service))
    }
}

/// Draws progress until the sender side is dropped (apply is over).
pub async fn draw(mut rx: UnboundedReceiver<Progress>, mode: Mode) {
    let mut tracker = Tracker::default();
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let mut bars: BTreeMap<String, ProgressBar> = BTreeMap::new();
    let style =
        ProgressStyle::with_template("{spinner} {prefix}: {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner());
    while let Some(p) = rx.recv().await {
        let now = Instant::now();
        match mode {
            Mode::Lines => {
                if let Some(line) = tracker.plain(&p, now) {
                    eprintln!("{line}");
                }
            }
            Mode::Bars => {
                // The tracker keeps the start times; its plain text gives the final words.
                let plain = tracker.plain(&p, now);
                let bar = bars.entry(p.service.clone()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(style.clone());
                    bar.set_prefix(p.service.clone());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                match p.step {
                    Step::Done | Step::Failed => {
                        let text = plain.unwrap_or_else(|| step_text(p.step));
                        let words = text.split_once(": ").map(|(_, w)| w.to_string()).unwrap_or(text);
                        bar.finish_with_message(words);
                    }
                    step => bar.set_message(step_text(step)),
                }
            }
        }
    }
    for bar in bars.values() {
        if !bar.is_finished() {
            bar.finish();
        }
    }
    if !bars.is_empty() {
        // indicatif leaves the cursor at the end of the last line it drew: what stderr says next
        // belongs on a line of its own.
        eprintln!();
    }
}
