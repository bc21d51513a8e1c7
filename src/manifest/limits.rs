//! The bounds a manifest must keep, in one place: Docker's, so that a value Docker would reject
//! at create time or silently drop is a located problem when the manifest is validated; and
//! moor's own, so that a manifest cannot make moor itself misbehave (a file that fills memory,
//! a hot loop of registry checks).
//!
//! Invariants: every check returns the value it accepts or a message in the manifest's terms
//! (`6Mi`, `1s`) that never quotes a free-text value such as an environment value; a warning is
//! never a problem (the load stays complete).

use std::time::Duration;

use super::problem::FieldPath;
use super::units::format_duration;

/// The largest manifest file read. A manifest is kilobytes; this bounds what a file (or
/// `/dev/zero` named as one) can make moor allocate.
pub const MAX_FILE_BYTES: u64 = 4 << 20;
/// The most ports one `ports` entry may publish (a range), as `expose` allows: a typo such as
/// `1-65535` would otherwise make Docker set up 65,535 proxies.
pub const MAX_PORT_RANGE: usize = 1024;

/// Docker refuses a smaller memory limit ("Minimum memory limit allowed is 6MB").
pub const MIN_MEMORY: u64 = 6 << 20;
/// Docker's API carries the limit as a signed 64-bit number; a larger one would be dropped.
pub const MAX_MEMORY: u64 = i64::MAX as u64;
/// Docker refuses fewer CPUs ("Range of CPUs is from 0.01 to …").
pub const MIN_CPUS: f64 = 0.01;
/// No host has more; Docker refuses more CPUs than the host has anyway.
pub const MAX_CPUS: f64 = 1024.0;
/// `update.interval`: a check a second per watched service is already a lot to ask of a
/// registry; faster would be a hot loop.
pub const MIN_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// `update.interval` below this is allowed, with a warning.
pub const WARN_CHECK_INTERVAL: Duration = Duration::from_secs(10);
/// How many registry checks the controller starts per second, for all watched services
/// together (`controller::checks` keeps the pace; the warning about short intervals names it).
pub const CHECKS_PER_SECOND: u32 = 4;
/// `stopTimeout`: Docker counts whole seconds; an hour is longer than any graceful stop, and
/// moor waits this long for a stop.
pub const MAX_STOP_TIMEOUT: Duration = Duration::from_secs(3600);
/// Docker refuses a healthcheck interval, timeout or start period under a millisecond, and
/// reads 0 as "the image's or Docker's default".
pub const MIN_HEALTH_DURATION: Duration = Duration::from_millis(1);

/// A memory limit in bytes.
pub fn memory(bytes: u64) -> Result<u64, String> {
    if bytes < MIN_MEMORY {
        Err(format!("{bytes} bytes is less than Docker's minimum memory limit, 6Mi"))
    } else if bytes > MAX_MEMORY {
        Err(format!("{bytes} bytes is more than Docker accepts (at most {MAX_MEMORY}); leave it out for no limit"))
    } else {
        Ok(bytes)
    }
}

/// A tmpfs size in bytes: 0 would read as Docker's default (half the host's memory).
pub fn tmpfs_size(bytes: u64) -> Result<u64, String> {
    match bytes {
        0 => Err("a tmpfs size of 0 would mean Docker's default; leave it out for that".into()),
        b if b > MAX_MEMORY => Err(format!("{b} bytes is more than Docker accepts (at most {MAX_MEMORY})")),
        b => Ok(b),
    }
}

/// A CPU limit in cores.
pub fn cpus(cpus: f64) -> Result<f64, String> {
    if (MIN_CPUS..=MAX_CPUS).contains(&cpus) {
        Ok(cpus)
    } else {
        Err(format!("cpus must be between {MIN_CPUS} and {MAX_CPUS}, got {cpus}"))
    }
}

/// A process limit: Docker reads 0 and -1 as no limit, which leaving it out already says.
pub fn pids(pids: i64) -> Result<i64, String> {
    if pids >= 1 {
        Ok(pids)
    } else {
        Err(format!("pids must be at least 1, got {pids}; leave it out for no limit"))
    }
}

/// An environment variable's name. Docker passes `NAME=value` strings: a name with `=` would
/// set another variable (`A=B: c` sets `A` to `B=c`), an empty one is refused at start.
pub fn env_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("an environment variable needs a name".into())
    } else if name.contains('=') {
        Err(format!("environment variable name {name:?} must not contain '='"))
    } else if name.contains('\0') {
        Err("an environment variable name must not contain a NUL character".into())
    } else {
        Ok(())
    }
}

/// An environment variable's value; the message never quotes it (it may be a password).
pub fn env_value(value: &str) -> Result<(), String> {
    if value.contains('\0') {
        Err("the value must not contain a NUL character".into())
    } else {
        Ok(())
    }
}

/// `update.interval`.
pub fn check_interval(d: Duration) -> Result<Duration, String> {
    if d < MIN_CHECK_INTERVAL {
        Err(format!("an interval of {} would be a hot loop of registry checks; use at least 1s", format_duration(d)))
    } else {
        Ok(d)
    }
}

/// `stopTimeout`.
pub fn stop_timeout(d: Duration) -> Result<Duration, String> {
    if d.subsec_nanos() != 0 {
        Err(format!("{} is not a whole number of seconds, which Docker counts in", format_duration(d)))
    } else if d > MAX_STOP_TIMEOUT {
        Err(format!("{} is longer than 1h", format_duration(d)))
    } else {
        Ok(d)
    }
}

/// A healthcheck's interval, timeout or start period.
pub fn health_duration(d: Duration) -> Result<Duration, String> {
    if d < MIN_HEALTH_DURATION {
        Err(format!("{} is less than 1ms: Docker refuses it, or reads 0 as its default", format_duration(d)))
    } else {
        Ok(d)
    }
}

/// What is allowed but probably not meant, for a valid `update` of a service.
pub fn update_warnings(watched: bool, interval: Duration, path: &FieldPath) -> Vec<(FieldPath, String)> {
    let mut warnings = Vec::new();
    if watched && interval < WARN_CHECK_INTERVAL {
        warnings.push((
            path.key("interval"),
            format!(
                "registry checks every {} are many requests; registries rate-limit them, and moor starts at most {} a second for all services",
                format_duration(interval),
                CHECKS_PER_SECOND
            ),
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_within_what_docker_takes() {
        assert!(memory(1).unwrap_err().contains("6Mi"));
        assert!(memory(MIN_MEMORY - 1).is_err());
        assert_eq!(memory(MIN_MEMORY), Ok(MIN_MEMORY));
        assert_eq!(memory(MAX_MEMORY), Ok(MAX_MEMORY));
        assert!(memory(u64::MAX).is_err());
    }

    #[test]
    fn cpus_are_finite_and_positive() {
        for bad in [0.0, -1.0, 0.001, f64::INFINITY, f64::NAN, 1025.0] {
            assert!(cpus(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(cpus(0.5), Ok(0.5));
    }

    #[test]
    fn env_names_are_names() {
        assert!(env_name("").is_err());
        assert!(env_name("A=B").unwrap_err().contains('='));
        assert!(env_name("A\0").is_err());
        assert!(env_name("LOG_LEVEL").is_ok());
        let e = env_value("pass\0word").unwrap_err();
        assert!(!e.contains("pass"), "{e}");
    }

    #[test]
    fn durations_are_bounded() {
        assert!(check_interval(Duration::ZERO).is_err());
        assert!(check_interval(Duration::from_millis(999)).is_err());
        assert!(check_interval(Duration::from_secs(1)).is_ok());
        assert!(stop_timeout(Duration::from_millis(500)).is_err());
        assert!(stop_timeout(Duration::from_secs(3601)).is_err());
        assert!(stop_timeout(Duration::ZERO).is_ok());
        assert!(health_duration(Duration::ZERO).is_err());
        assert!(health_duration(Duration::from_millis(1)).is_ok());
    }

    #[test]
    fn a_short_interval_warns_only_when_watched() {
        let p = FieldPath::parse("spec.update");
        assert_eq!(update_warnings(true, Duration::from_secs(5), &p).len(), 1);
        assert!(update_warnings(false, Duration::from_secs(5), &p).is_empty());
        assert!(update_warnings(true, Duration::from_secs(10), &p).is_empty());
    }
}
