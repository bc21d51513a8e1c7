//! Parsing of the human-friendly scalar formats: durations and sizes.
//!
//! Invariants: parsing is strict (no silent truncation), and formatting a parsed value then
//! parsing it again gives the same value, so canonical JSON round-trips.

use std::time::Duration;

/// Parses a humantime duration such as `10s`, `5m` or `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("invalid duration {text:?} ({e}); use a form such as 10s, 5m or 1h30m"))
}

/// `d` rounded up to whole seconds (Docker's stop timeout counts seconds).
pub fn round_up_to_seconds(d: Duration) -> Duration {
    let extra = u64::from(d.subsec_nanos() > 0);
    Duration::from_secs(d.as_secs().saturating_add(extra))
}

/// Formats a duration the way [`parse_duration`] reads it back.
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Parses a size. `Ki Mi Gi Ti` and Docker's `k m g t` (and `kb`, `mb`, ...) are all binary
/// multiples, as in `docker run --memory 1g`; a plain number is bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || format!("invalid size {text:?}; use a form such as 256Mi, 1Gi, 512k or 1g");
    let value: f64 = number.parse().map_err(|_| bad())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "ki" | "kb" | "kib" => 10,
        "m" | "mi" | "mb" | "mib" => 20,
        "g" | "gi" | "gb" | "gib" => 30,
        "t" | "ti" | "tb" | "tib" => 40,
        _ => return Err(bad()),
    };
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 || bytes.fract() != 0.0 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Serde helpers that write a [`Duration`] as humantime text, so canonical JSON (and the
/// `moor.last-applied` label) stays readable and diffs read `10s -> 20s`.
pub mod duration_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<Duration>`.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use std::time::Duration;

        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|t| super::super::parse_duration(&t).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_binary_in_both_spellings() {
        assert_eq!(parse_size("256Mi").unwrap(), 256 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("1.5Gi").unwrap(), 3 << 29);
        assert_eq!(parse_size("4096").unwrap(), 4096);
    }

    #[test]
    fn bad_sizes_are_rejected() {
        for bad in ["", "Mi", "12 parsecs", "1.0000001k", "-5m", "1e3m"] {
            assert!(parse_size(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn durations_round_trip() {
        for text in ["10s", "5m", "1h 30m", "250ms"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("ten seconds").is_err());
        assert!(parse_duration("10").is_err());
    }
}
