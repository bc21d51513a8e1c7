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

/// Parses `[hostIp:][hostPort:]containerPort[/protocol]`; `hostIp` may be `[v6]`. One port:
/// a range is an error here (see [`parse_ports`]).
pub fn parse_port(text: &str) -> Result<PortBinding, String> {
    let mut ports = parse_ports(text)?;
    match ports.len() {
        1 => Ok(ports.remove(0)),
        _ => Err(format!("{text:?} is a range of ports, not one")),
    }
}

/// Parses `[hostIp:][hostPorts:]containerPorts[/protocol]`, where the ports may be ranges
/// (`8000-8010:8000-8010`, `9000-9002`), as compose writes them: each container port of a range
/// gets the host port at the same place in the host range. A host range for a single container
/// port (Docker picks a free one) is refused: the plan could not tell which port it holds.
pub fn parse_ports(text: &str) -> Result<Vec<PortBinding>, String> {
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
    let range = |s: &str, what: &str| -> Result<(u16, u16), String> {
        let number = |n: &str| -> Result<u16, String> {
            let n: u32 = n.parse().map_err(|_| format!("invalid {what} port {s:?} in {text:?}"))?;
            check_port_number(n, what)
        };
        match s.split_once('-') {
            None => number(s).map(|n| (n, n)),
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    return Err(format!("{what} port range {s:?} in {text:?} runs backwards"));
                }
                Ok((a, b))
            }
        }
    };
    let (host, container) = match rest.split_once(':') {
        Some(("", c)) => (None, range(c, "container")?),
        Some((h, c)) => (Some(range(h, "host")?), range(c, "container")?),
        None => (None, range(rest, "container")?),
    };
    let count = usize::from(container.1 - container.0) + 1;
    if count > limits::MAX_PORT_RANGE {
        return Err(format!("{text:?} publishes {count} ports; at most {} in one entry", limits::MAX_PORT_RANGE));
    }
    if let Some((first, last)) = host {
        let hosts = usize::from(last - first) + 1;
        if hosts != count {
            return Err(format!(
                "{text:?} maps {hosts} host port(s) to {count} container port(s): give ranges of the same length (a host range for one container port, where Docker picks a free one, is not supported)"
            ));
        }
    }
    Ok((0..count)
        .map(|i| {
            let offset = u16::try_from(i).expect("at most MAX_PORT_RANGE");
            PortBinding {
                container: container.0 + offset,
                protocol,
                host: host.map(|(first, _)| first + offset),
                host_ip: host_ip.clone(),
            }
        })
        .collect())
}

pub(super) fn convert_port(port: &raw::Port) -> Result<Vec<PortBinding>, String> {
    match port {
        raw::Port::Short(text) => parse_ports(text),
        raw::Port::Long(p) => {
            if p.mode.as_deref().is_some_and(|m| m != "host" && m != "ingress") {
                return Err(format!("port mode {:?} is not host or ingress", p.mode.as_deref().unwrap_or("")));
            }
            Ok(vec![PortBinding {
                container: check_port_number(p.container, "container")?,
                host: p.host.map(|h| check_port_number(h, "host")).transpose()?,
                protocol: p.protocol.unwrap_or(Protocol::Tcp),
                host_ip: p.host_ip.clone(),
            }])
        }
    }
}

pub(super) fn is_host_path(source: &str) -> bool {
    source.starts_with('/') || source.starts_with('.') || source.starts_with('~')
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

/// A bind source as written, made absolute: `~/` is moor's HOME (at load, so the spec, and
/// the host policy's checks, see the real path), a relative path is the manifest folder's.
fn bind_source(source: &str, base: &Path, home: Option<&Path>) -> Result<String, String> {
    match source.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            let home = home.ok_or_else(|| format!("{source:?} starts with ~ but HOME is not set for moor"))?;
            Ok(resolve_bind(&format!("{}{rest}", home.display()), base))
        }
        Some(_) => Err(format!("{source:?}: only ~/ (moor's HOME) is expanded, not another user's ~name")),
        None => Ok(resolve_bind(source, base)),
    }
}

/// The options of a short mount, `ro,z,rslave`: what each applies to is checked by the caller.
#[derive(Default)]
struct ShortOptions {
    read_only: bool,
    selinux: Option<String>,
    propagation: Option<String>,
    nocopy: bool,
}

const PROPAGATIONS: &[&str] = &["private", "rprivate", "shared", "rshared", "slave", "rslave"];

fn short_options(text: &str, options: &str) -> Result<ShortOptions, String> {
    let mut o = ShortOptions::default();
    let (mut mode, mut relabel, mut propagation) = (None, None, None);
    for opt in options.split(',') {
        let slot = match opt {
            "ro" | "rw" => &mut mode,
            "z" | "Z" => &mut relabel,
            "nocopy" => {
                o.nocopy = true;
                continue;
            }
            p if PROPAGATIONS.contains(&p) => &mut propagation,
            _ => {
                return Err(format!(
                    "unknown mount option {opt:?} in {text:?}; use ro or rw, z or Z, nocopy, or a propagation ({})",
                    PROPAGATIONS.join(", ")
                ))
            }
        };
        if let Some(first) = slot.replace(opt) {
            return Err(format!("{first:?} and {opt:?} in {text:?} contradict each other or repeat; keep one"));
        }
    }
    o.read_only = mode == Some("ro");
    o.selinux = relabel.map(str::to_string);
    o.propagation = propagation.map(str::to_string);
    Ok(o)
}

pub(super) fn convert_mount(mount: &raw::Mount, base: &Path) -> Result<Mount, String> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    convert_mount_with(mount, base, home.as_deref())
}

fn absolute_target(t: &str) -> Result<String, String> {
    if t.starts_with('/') {
        Ok(t.to_string())
    } else {
        Err(format!("mount target {t:?} must be an absolute path"))
    }
}

fn convert_mount_with(mount: &raw::Mount, base: &Path, home: Option<&Path>) -> Result<Mount, String> {
    match mount {
        raw::Mount::Short(text) => {
            let parts: Vec<&str> = text.split(':').collect();
            let (source, target, options) = match parts.as_slice() {
                [t] => (None, *t, ""),
                [s, t] => (Some(*s), *t, ""),
                [s, t, o] if !s.is_empty() && !t.is_empty() => (Some(*s), *t, *o),
                _ => return Err(format!("invalid mount {text:?}; use [source:]target[:options]")),
            };
            let o = if options.is_empty() { ShortOptions::default() } else { short_options(text, options)? };
            let target = absolute_target(target)?;
            let bind_only = |o: &ShortOptions| match (&o.selinux, &o.propagation) {
                (Some(x), _) | (None, Some(x)) => {
                    Err(format!("{x} in {text:?} applies to bind mounts (a host path) only"))
                }
                (None, None) => Ok(()),
            };
            match source {
                None => {
                    bind_only(&o)?;
                    Ok(Mount::Anonymous { target, read_only: o.read_only, nocopy: o.nocopy })
                }
                Some(source) if is_host_path(source) => {
                    if o.nocopy {
                        return Err(format!("nocopy in {text:?} applies to volumes only, not to a host path"));
                    }
                    Ok(Mount::Bind {
                        source: bind_source(source, base, home)?,
                        target,
                        read_only: o.read_only,
                        propagation: o.propagation,
                        selinux: o.selinux,
                        create_host_path: false,
                    })
                }
                Some(source) => {
                    bind_only(&o)?;
                    check_volume_name(source)?;
                    Ok(Mount::Volume { source: source.to_string(), target, read_only: o.read_only, nocopy: o.nocopy })
                }
            }
        }
        raw::Mount::Long(m) => {
            let target = absolute_target(&m.target)?;
            let read_only = m.read_only.unwrap_or(false);
            let kind = m.kind;
            let only = |set: bool, what: &str, applies: raw::MountKind| {
                if set && kind != applies {
                    Err(format!("{what} applies to {applies:?} mounts only").to_lowercase())
                } else {
                    Ok(())
                }
            };
            only(m.size.is_some(), "size", raw::MountKind::Tmpfs)?;
            only(m.tmpfs.is_some(), "tmpfs options", raw::MountKind::Tmpfs)?;
            only(m.bind.is_some(), "bind options", raw::MountKind::Bind)?;
            only(m.volume.is_some(), "volume options", raw::MountKind::Volume)?;
            match m.kind {
                raw::MountKind::Bind => {
                    let source = m.source.clone().ok_or("a bind mount needs a source (a host path)")?;
                    let b = m.bind.clone().unwrap_or_default();
                    let word = |v: serde_json::Value| v.as_str().unwrap_or_default().to_string();
                    Ok(Mount::Bind {
                        source: bind_source(&source, base, home)?,
                        target,
                        read_only,
                        propagation: b.propagation.map(|p| word(serde_json::json!(p))),
                        selinux: b.selinux.map(|x| word(serde_json::json!(x))),
                        create_host_path: b.create_host_path.unwrap_or(false),
                    })
                }
                raw::MountKind::Volume => {
                    let nocopy = m.volume.as_ref().and_then(|v| v.nocopy).unwrap_or(false);
                    match &m.source {
                        None => Ok(Mount::Anonymous { target, read_only, nocopy }),
                        Some(source) => {
                            check_volume_name(source)?;
                            Ok(Mount::Volume { source: source.clone(), target, read_only, nocopy })
                        }
                    }
                }
                raw::MountKind::Tmpfs => {
                    if m.source.is_some() {
                        return Err("a tmpfs mount has no source".into());
                    }
                    let options = m.tmpfs.clone().unwrap_or_default();
                    if m.size.is_some() && options.size.is_some() {
                        return Err("size is set twice, beside tmpfs and in it; keep one".into());
                    }
                    let size = m
                        .size
                        .as_ref()
                        .or(options.size.as_ref())
                        .map(|s| size_bytes(s).and_then(limits::tmpfs_size))
                        .transpose()?;
                    let mode = options.mode.as_ref().map(tmpfs_mode).transpose()?;
                    Ok(Mount::Tmpfs { target, size, mode })
                }
            }
        }
    }
}

/// A tmpfs mode: octal digits up to `7777` (the sticky bit of `/tmp`'s `1777` included).
pub(super) fn tmpfs_mode(mode: &raw::FileMode) -> Result<u32, String> {
    let text = match mode {
        raw::FileMode::Number(n) => n.to_string(),
        raw::FileMode::Text(t) => t.trim_start_matches("0o").to_string(),
    };
    match u32::from_str_radix(&text, 8) {
        Ok(m) if m <= 0o7777 && !text.is_empty() => Ok(m),
        _ => Err(format!("tmpfs mode {text:?} is not octal permission bits such as 1777")),
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

    fn short(text: &str) -> Result<Mount, String> {
        convert_mount_with(&raw::Mount::Short(text.into()), Path::new("/srv/m"), Some(Path::new("/home/op")))
    }

    #[test]
    fn short_mount_options() {
        assert_eq!(
            short("/data").unwrap(),
            Mount::Anonymous { target: "/data".into(), read_only: false, nocopy: false }
        );
        assert_eq!(short("/data:ro").unwrap_err(), "mount target \"ro\" must be an absolute path");
        match short("~/conf:/etc/x:ro,Z,rslave").unwrap() {
            Mount::Bind { source, read_only, selinux, propagation, .. } => {
                assert_eq!(source, "/home/op/conf");
                assert!(read_only);
                assert_eq!(selinux.as_deref(), Some("Z"));
                assert_eq!(propagation.as_deref(), Some("rslave"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            short("data:/d:nocopy").unwrap(),
            Mount::Volume { source: "data".into(), target: "/d".into(), read_only: false, nocopy: true }
        );
        assert!(short("data:/d:z").unwrap_err().contains("bind mounts"));
        assert!(short("./x:/d:nocopy").unwrap_err().contains("volumes only"));
        assert!(short("./x:/d:ro,rw").unwrap_err().contains("contradict"));
        assert!(short("~op/x:/d").unwrap_err().contains("~name"));
        let no_home = convert_mount_with(&raw::Mount::Short("~/x:/d".into()), Path::new("/"), None);
        assert!(no_home.unwrap_err().contains("HOME"));
    }

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
        assert!(parse_port("8000-8010:8000-8010").unwrap_err().contains("range"));
        let ranged = parse_ports("127.0.0.1:8000-8002:9000-9002/udp").unwrap();
        let pairs: Vec<_> = ranged.iter().map(|p| (p.host, p.container, p.protocol)).collect();
        assert_eq!(
            pairs,
            [(Some(8000), 9000, Protocol::Udp), (Some(8001), 9001, Protocol::Udp), (Some(8002), 9002, Protocol::Udp)]
        );
        assert!(ranged.iter().all(|p| p.host_ip.as_deref() == Some("127.0.0.1")));
        let exposed: Vec<_> = parse_ports("7000-7001").unwrap().iter().map(|p| (p.host, p.container)).collect();
        assert_eq!(exposed, [(None, 7000), (None, 7001)]);
        assert!(parse_ports("8000-8010:80").unwrap_err().contains("same length"));
        assert!(parse_ports("90-80").unwrap_err().contains("backwards"));
        assert!(parse_ports("1-2000").unwrap_err().contains("at most"));
    }

    #[test]
    fn short_mounts() {
        let base = Path::new("/srv/manifests");
        let m = convert_mount(&raw::Mount::Short("./conf:/etc/web:ro".into()), base).unwrap();
        let bind = |source: &str, target: &str, read_only| Mount::Bind {
            source: source.into(),
            target: target.into(),
            read_only,
            propagation: None,
            selinux: None,
            create_host_path: false,
        };
        assert_eq!(m, bind("/srv/manifests/conf", "/etc/web", true));
        let m = convert_mount(&raw::Mount::Short("../shared:/x".into()), base).unwrap();
        assert_eq!(m, bind("/srv/shared", "/x", false));
        let m = convert_mount(&raw::Mount::Short("data:/var/lib/web".into()), base).unwrap();
        assert_eq!(
            m,
            Mount::Volume { source: "data".into(), target: "/var/lib/web".into(), read_only: false, nocopy: false }
        );
        assert!(convert_mount(&raw::Mount::Short("data:relative".into()), base).unwrap_err().contains("absolute"));
        assert!(convert_mount(&raw::Mount::Short("a:/b:zz".into()), base).unwrap_err().contains("option"));
    }
}
