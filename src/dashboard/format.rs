//! How the dashboard writes times, durations and digests: pure functions of their inputs (the
//! page's `now` included), so a page is a pure function of its model and a snapshot is stable.
//!
//! Invariants: nothing here reads the clock; a digest is shortened only for display (the pages
//! put the full value in a `title`); a text that is not a time is shown as it is, never dropped.

use std::time::{Duration, SystemTime};

use maud::{html, Markup};

/// How far `at` lies before `now`, in words: `just now`, `12 s ago`, `3 min ago`, `2 h ago`,
/// `4 d ago`; a time after `now` (a clock step between two hosts) reads `in 5 s`.
pub fn ago(now: SystemTime, at: SystemTime) -> String {
    match now.duration_since(at) {
        Ok(d) if d < Duration::from_secs(1) => "just now".to_string(),
        Ok(d) => format!("{} ago", span(d)),
        Err(e) if e.duration() < Duration::from_secs(1) => "just now".to_string(),
        Err(e) => format!("in {}", span(e.duration())),
    }
}

/// A whole number of the largest unit that fits (a dashboard is read at a glance: `3 min`, not
/// `3 min 12 s`).
fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// RFC 3339 in UTC to the second, for `<time datetime>` and hover titles.
pub fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A `<time>` for a moment: relative text, the absolute time in `datetime` and `title`.
pub fn time(now: SystemTime, at: SystemTime) -> Markup {
    let abs = rfc3339(at);
    html! { time datetime=(abs) title=(abs) { (ago(now, at)) } }
}

/// A time the model holds as text (`/status` serves RFC 3339): shown relative to `now` when it
/// parses, else the text as it is.
pub fn time_text(now: SystemTime, text: &str) -> Markup {
    match humantime::parse_rfc3339_weak(text) {
        Ok(at) => time(now, at),
        Err(_) => html! { (text) },
    }
}

/// The hex digits shown of a digest: enough to tell two images apart at a glance.
const SHORT_HEX: usize = 12;

/// `sha256:<64 hex>` shortened to its first [`SHORT_HEX`] hex digits (`sha256:0123456789ab`); any
/// other text (a tag, an empty string) is returned whole.
pub fn short_digest(digest: &str) -> String {
    shorten_digests(digest)
}

/// Every `sha256:<hex>` inside `text` shortened (update states read `updated to sha256:…`).
pub fn shorten_digests(text: &str) -> String {
    const PREFIX: &str = "sha256:";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(PREFIX) {
        let (before, from) = rest.split_at(i);
        out.push_str(before);
        let hex = &from[PREFIX.len()..];
        let n = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
        out.push_str(PREFIX);
        // Only a long run is a digest worth cutting; a short one is already short.
        let keep = if n > SHORT_HEX { SHORT_HEX } else { n };
        out.push_str(&hex[..keep]);
        if keep < n {
            out.push('…');
        }
        rest = &hex[n..];
    }
    out.push_str(rest);
    out
}

/// A git revision as Flux writes it, `main@sha1:<40 hex>`, cut to `main@sha1:0123abcd` (the
/// full one goes in a `title`); another text to its first 12 characters.
pub fn short_revision(rev: &str) -> String {
    let cut = |text: &str, n: usize| text.char_indices().nth(n).map_or(text, |(i, _)| &text[..i]).to_string();
    match rev.split_once("@sha1:") {
        Some((reference, hex)) => format!("{reference}@sha1:{}", cut(hex, 8)),
        None => cut(rev, 12),
    }
}

/// A duration in seconds as a short label: `5 ms`, `250 ms`, `1 s`, `2.5 s`, `1 min`; `∞` for
/// the histogram's last bound.
pub fn seconds(s: f64) -> String {
    if s.is_infinite() {
        return "∞".to_string();
    }
    if !s.is_finite() || s < 0.0 {
        return "–".to_string();
    }
    if s < 1.0 {
        let ms = s * 1000.0;
        if ms < 10.0 && ms.fract() != 0.0 {
            format!("{ms:.1} ms")
        } else {
            format!("{ms:.0} ms")
        }
    } else if s < 60.0 {
        if s.fract() == 0.0 {
            format!("{s:.0} s")
        } else {
            format!("{s:.1} s")
        }
    } else {
        format!("{:.0} min", s / 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn at(secs_before: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(NOW - secs_before)
    }

    #[test]
    fn a_revision_keeps_its_ref_and_eight_hex_digits() {
        let rev = "main@sha1:0123456789abcdef0123456789abcdef01234567";
        assert_eq!(short_revision(rev), "main@sha1:01234567");
        assert_eq!(short_revision("release/v2@sha1:abc"), "release/v2@sha1:abc");
        assert_eq!(short_revision("0123456789abcdefXYZ"), "0123456789ab");
    }

    #[test]
    fn ago_picks_the_largest_unit() {
        let now = at(0);
        assert_eq!(ago(now, at(0)), "just now");
        assert_eq!(ago(now, at(12)), "12 s ago");
        assert_eq!(ago(now, at(59)), "59 s ago");
        assert_eq!(ago(now, at(60)), "1 min ago");
        assert_eq!(ago(now, at(3 * 60 + 50)), "3 min ago");
        assert_eq!(ago(now, at(2 * 3600 + 5)), "2 h ago");
        assert_eq!(ago(now, at(4 * 86_400)), "4 d ago");
        assert_eq!(ago(at(5), at(0)), "in 5 s");
    }

    #[test]
    fn rfc3339_is_utc_to_the_second() {
        assert_eq!(rfc3339(at(0)), "2027-01-15T08:00:00Z");
    }

    #[test]
    fn a_time_text_that_does_not_parse_is_kept() {
        let now = at(0);
        assert_eq!(time_text(now, "soon").into_string(), "soon");
        let t = time_text(now, "2027-01-15T07:59:30Z").into_string();
        assert!(t.contains("30 s ago") && t.contains("datetime=\"2027-01-15T07:59:30Z\""), "{t}");
    }

    #[test]
    fn digests_are_shortened_and_other_text_kept() {
        let d = format!("sha256:{}", "ab12".repeat(16));
        assert_eq!(short_digest(&d), "sha256:ab12ab12ab12…");
        assert_eq!(shorten_digests(&format!("updated to {d} (x)")), "updated to sha256:ab12ab12ab12… (x)");
        assert_eq!(short_digest("app:1"), "app:1");
        assert_eq!(short_digest("sha256:abc"), "sha256:abc");
        assert_eq!(short_digest("sha256:"), "sha256:");
    }

    #[test]
    fn seconds_labels() {
        assert_eq!(seconds(0.005), "5 ms");
        assert_eq!(seconds(0.0025), "2.5 ms");
        assert_eq!(seconds(0.25), "250 ms");
        assert_eq!(seconds(1.0), "1 s");
        assert_eq!(seconds(2.5), "2.5 s");
        assert_eq!(seconds(120.0), "2 min");
        assert_eq!(seconds(f64::INFINITY), "∞");
        assert_eq!(seconds(f64::NAN), "–");
    }
}
