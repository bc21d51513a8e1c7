//! The conversions of the written forms of ports, mounts, sizes and healthchecks into the
//! model, and the [`Checker`] that collects a document's problems. Split from [`super::model`]
//! to keep that file readable; behaviour is the model's (see its invariants).

use std::path::{Path, PathBuf};

use super::limits;
use super::model::{FieldProblem, Healthcheck, Mount, PortBinding, Protocol};
use super::problem::FieldPath;
use super::raw;
use super::units;

/// Collects problems while converting, so that every problem of a document is reported.
#[derive(Default)]
pub(super) struct Checker {
    pub(super) problems: Vec<FieldProblem>,
}

impl Checker {
    pub(super) fn report(&mut self, path: FieldPath, message: impl Into<String>) {
        self.problems.push(FieldProblem { path, on_key: false, message: message.into() });
    }

    pub(super) fn report_key(&mut self, path: FieldPath, message: impl Into<String>) {
        self.problems.push(FieldProblem { path, on_key: true, message: message.into() });
    }

    /// Keeps `Ok` values and records `Err` messages at `path`.
    pub(super) fn check<T>(&mut self, path: FieldPath, result: Result<T, String>) -> Option<T> {
        result.map_err(|m| self.report(path, m)).ok()
    }
}

pub(super) fn check_port_number(n: u32, what: &str) -> Result<u16, String> {
    match u16::try_from(n) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{what} port {n} is out of range (1-65535)")),
    }
}

/// Parses `[hostIp:][hostPort:]containerPort[/protocol]`; `hostIp` may be `[v6]`.
pub fn parse_port(text: &str) -> Result<PortBinding, String> {
    let (addr, protocol) = match text.rsplit_once('/') {
        Some((a, p)) => (
            a,
            serde_json::from_value(serde_json::Value::String(p.to_string()))
                .map_err(|_| format!("unknown protocol {p:?} in port {text:?}; use tcp, udp or sctp"))?,
        ),
        None => (text, Protocol::Tcp),
    };
    let (host_ip, rest) = if let Some(v6) = addr.strip_prefix('[') {
        let (ip, rest) = v6.split_once("]:").ok_or_else(|| format!("invalid port {text:?}"))?;
        (Some(ip.to_string()), rest)
    } else {
        match addr.matches(':').count() {
            0 | 1 => (None, addr),
            2 => {
                let (ip, rest) = addr.split_once(':').expect("two colons");
                (Some(ip.to_string()).filter(|s| !s.is_empty()), rest)
            }
            _ => return Err(format!("invalid port {text:?}; write an IPv6 host address in brackets")),
        }
    };
    let number = |s: &str, what: &str| -> Result<u16, String> {
        if s.contains('-') {
            return Err(format!("port ranges such as {text:?} are not supported; list each port"));
        }
        let n: u32 = s.parse().map_err(|_| format!("invalid {what} port {s:?} in {text:?}"))?;
        check_port_number(n, what)
    };
    let (host, container) = match rest.split_once(':') {
        Some(("", c)) => (None, number(c, "container")?),
        Some((h, c)) => (Some(number(h, "host")?), number(c, "container")?),
        None => (None, number(rest, "container")?),
    };
    Ok(PortBinding { container, protocol, host, host_ip })
}

pub(super) fn convert_port(port: &raw::Port) -> Result<PortBinding, String> {
    match port {
        raw::Port::Short(text) => parse_port(text),
        raw::Port::Long(p) => Ok(PortBinding {
            container: check_port_number(p.container, "container")?,
            host: p.host.map(|h| check_port_number(h, "host")).transpose()?,
            protocol: p.protocol.unwrap_or(Protocol::Tcp),
            host_ip: p.host_ip.clone(),
        }),
    }
}

pub(super) fn is_host_path(source: &str) -> bool {
    source.starts_with('/') || source.starts_with('.')
}

pub(super) fn check_volume_name(name: &str) -> Result<(), String> {
    let ok = name.len() >= 2
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid volume name {name:?}: use letters, digits, '_', '.' and '-'"))
    }
}

pub(super) fn resolve_bind(source: &str, base: &Path) -> String {
    let path = Path::new(source);
    let joined = if path.is_absolute() { path.to_path_buf() } else { base.join(path) };
    // Normalise `.` and `..` lexically: the path may not exist yet, so no canonicalize().
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.to_string_lossy().into_owned()
}

pub(super) fn convert_mount(mount: &raw::Mount, base: &Path) -> Result<Mount, String> {
    let absolute_target = |t: &str| {
        if t.starts_with('/') {
            Ok(t.to_string())
        } else {
            Err(format!("mount target {t:?} must be an absolute path"))
        }
    };
    match mount {
        raw::Mount::Short(text) => {
            let parts: Vec<&str> = text.split(':').collect();
            let (source, target, read_only) = match parts.as_slice() {
                [s, t] => (*s, *t, false),
                [s, t, "ro"] => (*s, *t, true),
                [s, t, "rw"] => (*s, *t, false),
                [s, t, mode] if !s.is_empty() && !t.is_empty() => {
                    return Err(format!("unknown mount mode {mode:?} in {text:?}; use ro or rw"))
                }
                [_] => {
                    return Err(format!(
                        "anonymous volume {text:?} is not supported: it would be lost on every replacement; name it, as in data:{text}"
                    ))
                }
                _ => return Err(format!("invalid mount {text:?}; use source:target[:ro]")),
            };
            let target = absolute_target(target)?;
            if is_host_path(source) {
                Ok(Mount::Bind { source: resolve_bind(source, base), target, read_only })
            } else {
                check_volume_name(source)?;
                Ok(Mount::Volume { source: source.to_string(), target, read_only })
            }
        }
        raw::Mount::Long(m) => {
            let target = absolute_target(&m.target)?;
            let read_only = m.read_only.unwrap_or(false);
            let source = || m.source.clone().ok_or_else(|| format!("a {:?} mount needs a source", m.kind));
            if m.size.is_some() && m.kind != raw::MountKind::Tmpfs {
                return Err("size applies to tmpfs mounts only".into());
            }
            match m.kind {
                raw::MountKind::Bind => Ok(Mount::Bind { source: resolve_bind(&source()?, base), target, read_only }),
                raw::MountKind::Volume => {
                    let source = source()?;
                    check_volume_name(&source)?;
                    Ok(Mount::Volume { source, target, read_only })
                }
                raw::MountKind::Tmpfs => {
                    if m.source.is_some() {
                        return Err("a tmpfs mount has no source".into());
                    }
                    let size = m.size.as_ref().map(|s| size_bytes(s).and_then(limits::tmpfs_size)).transpose()?;
                    Ok(Mount::Tmpfs { target, size })
                }
            }
        }
    }
}

pub(super) fn size_bytes(size: &raw::Size) -> Result<u64, String> {
    match size {
        raw::Size::Bytes(n) => Ok(*n),
        raw::Size::Text(t) => units::parse_size(t),
    }
}

pub(super) fn convert_healthcheck(h: &raw::Healthcheck, path: &FieldPath, c: &mut Checker) -> Option<Healthcheck> {
    let test = match (&h.test, h.disable.unwrap_or(false)) {
        (None, true) => vec!["NONE".to_string()],
        (Some(_), true) => {
            c.report(
                path.key("disable"),
                "disable: true and a test contradict each other; keep one (test: [NONE] is the same as disable: true)",
            );
            return None;
        }
        (None, false) => {
            c.report(path.clone(), "a healthcheck needs a test, or disable: true to turn off the image's");
            return None;
        }
        (Some(raw::HealthTest::Shell(cmd)), false) => vec!["CMD-SHELL".to_string(), cmd.clone()],
        (Some(raw::HealthTest::Exec(v)), false) => v.clone(),
    };
    let ok_test = match test.first().map(String::as_str) {
        Some("NONE") => test.len() == 1,
        Some("CMD") | Some("CMD-SHELL") => test.len() >= 2,
        _ => false,
    };
    if !ok_test {
        c.report(
            path.key("test"),
            "healthcheck test must be a string, [\"CMD\", args...], [\"CMD-SHELL\", \"command\"] or [\"NONE\"]",
        );
    }
    let mut duration = |name: &str, d: &Option<raw::Duration>| {
        d.as_ref().and_then(|d| c.check(path.key(name), units::parse_duration(&d.0).and_then(limits::health_duration)))
    };
    let interval = duration("interval", &h.interval);
    let timeout = duration("timeout", &h.timeout);
    let start_period = duration("startPeriod", &h.start_period);
    // Docker API 1.44; a daemon that negotiated less refuses the service (`engine::api_version`).
    let start_interval = duration("startInterval", &h.start_interval);
    ok_test.then_some(Healthcheck { test, interval, timeout, retries: h.retries, start_period, start_interval })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ports() {
        let p = parse_port("127.0.0.1:9000:9000/udp").unwrap();
        assert_eq!(
            p,
            PortBinding {
                container: 9000,
                protocol: Protocol::Udp,
                host: Some(9000),
                host_ip: Some("127.0.0.1".into())
            }
        );
        assert_eq!(parse_port("8080").unwrap().host, None);
        assert_eq!(parse_port("8080:80").unwrap().host, Some(8080));
        assert_eq!(parse_port("[::1]:53:53/udp").unwrap().host_ip.as_deref(), Some("::1"));
        assert_eq!(parse_port("127.0.0.1::80").unwrap().host, None);
        assert!(parse_port("70000:80").unwrap_err().contains("out of range"));
        assert!(parse_port("80:0").unwrap_err().contains("out of range"));
        assert!(parse_port("80/icmp").unwrap_err().contains("protocol"));
        assert!(parse_port("8000-8010:8000-8010").unwrap_err().contains("ranges"));
    }

    #[test]
    fn short_mounts() {
        let base = Path::new("/srv/manifests");
        let m = convert_mount(&raw::Mount::Short("./conf:/etc/web:ro".into()), base).unwrap();
        assert_eq!(m, Mount::Bind { source: "/srv/manifests/conf".into(), target: "/etc/web".into(), read_only: true });
        let m = convert_mount(&raw::Mount::Short("../shared:/x".into()), base).unwrap();
        assert_eq!(m, Mount::Bind { source: "/srv/shared".into(), target: "/x".into(), read_only: false });
        let m = convert_mount(&raw::Mount::Short("data:/var/lib/web".into()), base).unwrap();
        assert_eq!(m, Mount::Volume { source: "data".into(), target: "/var/lib/web".into(), read_only: false });
        assert!(convert_mount(&raw::Mount::Short("data:relative".into()), base).unwrap_err().contains("absolute"));
        assert!(convert_mount(&raw::Mount::Short("/data".into()), base).unwrap_err().contains("anonymous"));
        assert!(convert_mount(&raw::Mount::Short("a:/b:zz".into()), base).unwrap_err().contains("mode"));
    }
}
