//! The conversion of the compose-parity fields of a Service (issue 13) into
//! [`HostOptions`], and of the string forms of `command`/`entrypoint`. Each rule here is one
//! Docker would enforce at create time (with a 400 and a Go error), moved to load time so that it
//! is located and explained.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::convert::{size_bytes, Checker};
use super::convert_forms;
use super::limits::MAX_MEMORY;
use super::model::{Device, HostOptions, Logging, Ulimit};
use super::problem::FieldPath;
use super::raw;

/// The resource limits Docker knows (`docker/go-units` ulimit names).
const ULIMIT_NAMES: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// The Linux capabilities (capability.h, up to CAP_CHECKPOINT_RESTORE), without `CAP_`.
pub const CAPABILITIES: &[&str] = &[
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYSLOG",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "WAKE_ALARM",
];

/// The capabilities Docker gives every container (moby's `caps.DefaultCapabilities`): adding
/// one of them gives nothing more.
pub const DOCKER_DEFAULT_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// A capability as Docker takes it: upper case, without `CAP_`; `ALL` for every one.
fn capability(text: &str) -> Result<String, String> {
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if name == "ALL" || CAPABILITIES.contains(&name) {
        Ok(name.to_string())
    } else {
        Err(format!(
            "{text:?} is not a Linux capability, such as NET_ADMIN or SYS_PTRACE (CAP_ may lead; ALL for every one)"
        ))
    }
}

/// Sorted, deduplicated capabilities, with the written index of each.
fn capabilities(list: &[String], path: &FieldPath, c: &mut Checker) -> (Vec<String>, Vec<usize>) {
    let mut named: Vec<(String, usize)> =
        list.iter().enumerate().filter_map(|(i, t)| c.check(path.index(i), capability(t)).map(|n| (n, i))).collect();
    named.sort();
    named.dedup_by(|a, b| a.0 == b.0);
    named.into_iter().unzip()
}

/// Parses `/dev/x[:/dev/y[:rwm]]`, as `docker run --device` does.
fn device(text: &str) -> Result<Device, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let is_permissions = |p: &str| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| "rwm".contains(c));
    let (host, container, permissions) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if is_permissions(p) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] => (*h, *c, *p),
        _ => return Err(format!("invalid device {text:?}; write /dev/host[:/dev/container[:rwm]]")),
    };
    if !host.starts_with('/') || !container.starts_with('/') {
        return Err(format!("device paths in {text:?} must be absolute"));
    }
    if !is_permissions(permissions) {
        return Err(format!("invalid device permissions {permissions:?} in {text:?}; use some of r, w and m"));
    }
    Ok(Device { host: host.to_string(), container: container.to_string(), permissions: permissions.to_string() })
}

/// A device in either of compose's forms; the long one is checked as the short one it stands for.
fn device_entry(entry: &raw::DeviceEntry) -> Result<Device, String> {
    match entry {
        raw::DeviceEntry::Short(text) => device(text),
        raw::DeviceEntry::Long(long) => {
            if [Some(&long.source), long.target.as_ref(), long.permissions.as_ref()]
                .into_iter()
                .flatten()
                .any(|part| part.contains(':') || part.is_empty())
            {
                return Err("a device's source, target and permissions are not empty and hold no ':'".into());
            }
            let target = long.target.as_deref().unwrap_or(&long.source);
            let permissions = long.permissions.as_deref().unwrap_or("rwm");
            device(&format!("{}:{target}:{permissions}", long.source))
        }
    }
}

const HASH_STAND_IN: char = '\u{E000}';
const HASH_STAND_IN_STR: &str = "\u{E000}";

/// Splits a string command into words as compose does (shell quoting; no expansion).
pub(super) fn command_words(line: &raw::CommandLine) -> Result<Vec<String>, String> {
    match line {
        raw::CommandLine::List(words) => Ok(words.clone()),
        // shlex starts a comment at a word that begins with `#`; compose's splitter (go-shellwords)
        // has no comments, so `echo #1` keeps its `#1`: `#` is hidden behind a private-use
        // character while splitting and put back after.
        raw::CommandLine::Text(text) if text.contains(HASH_STAND_IN) => {
            Err("the command string holds U+E000, which moor uses while splitting; use the list form".into())
        }
        raw::CommandLine::Text(text) => match shlex::split(&text.replace('#', HASH_STAND_IN_STR)) {
            Some(words) if !words.is_empty() => Ok(words.into_iter().map(|w| w.replace(HASH_STAND_IN, "#")).collect()),
            Some(_) => Err("an empty command string has no words to run; leave the field out".into()),
            // The text is not quoted back: a command line may carry a password.
            None => Err("the command string has an unclosed quote or a trailing backslash".into()),
        },
    }
}

fn extra_host(host: &str, ip: &str) -> Result<String, String> {
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == ':') {
        return Err(format!("invalid host name {host:?} in extraHosts; write host:ip"));
    }
    let bare = ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')).unwrap_or(ip);
    if bare != "host-gateway" && bare.parse::<IpAddr>().is_err() {
        return Err(format!("{ip:?} is not an IP address (or host-gateway) for host {host:?}"));
    }
    Ok(format!("{host}:{bare}"))
}

fn extra_hosts(hosts: &raw::ExtraHosts, path: &FieldPath, c: &mut Checker) -> Vec<String> {
    match hosts {
        raw::ExtraHosts::List(entries) => entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                // The host name has no ':' and no '=', so the first of either ends it (an IPv6
                // address has colons of its own).
                let parsed = match e.find([':', '=']) {
                    Some(at) => extra_host(&e[..at], &e[at + 1..]),
                    None => Err(format!("{e:?} has no address; write host:ip")),
                };
                c.check(path.index(i), parsed)
            })
            .collect(),
        raw::ExtraHosts::Map(map) => map
            .iter()
            .flat_map(|(host, ips)| {
                let one = matches!(ips, raw::OneOrMany::One(_));
                ips.to_vec().into_iter().enumerate().map(move |(i, ip)| (host, one, i, ip))
            })
            .filter_map(|(host, one, i, ip)| {
                let at = if one { path.key(host) } else { path.key(host).index(i) };
                c.check(at, extra_host(host, &ip))
            })
            .collect(),
    }
}

/// The IPC namespace's sysctls, which runc sets besides `fs.mqueue.*` (its validator's list).
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Which of the host's namespaces a service shares (`networks: [host]` or `networkMode: host`,
/// `ipc: host`, `uts: host`): runc refuses a sysctl of a namespace the container shares with
/// the host.
struct HostNamespaces {
    net: bool,
    ipc: bool,
    uts: bool,
}

/// A sysctl as runc takes it (libcontainer's validator): only the parameters of a namespace the
/// container has of its own; any other would change the host, and runc refuses it at start.
fn sysctl(name: &str, value: String, host: &HostNamespaces) -> Result<(String, String), String> {
    if name.trim().is_empty() || name.contains(char::is_whitespace) {
        return Err(format!("invalid sysctl name {name:?}: write a kernel parameter such as net.core.somaxconn"));
    }
    let shared = |ns: &str, field: &str| {
        format!("sysctl {name} is of the {ns} namespace, which this service shares with the host ({field}): runc refuses to set it")
    };
    if IPC_SYSCTLS.contains(&name) || name.starts_with("fs.mqueue.") {
        if host.ipc {
            return Err(shared("IPC", "ipc: host"));
        }
    } else if name.starts_with("net.") {
        if host.net {
            return Err(shared("network", "the host network"));
        }
    } else if name == "kernel.hostname" {
        return Err("sysctl kernel.hostname is refused by runc: set hostname instead".into());
    } else if name == "kernel.domainname" {
        if host.uts {
            return Err(shared("UTS", "uts: host"));
        }
    } else {
        return Err(format!(
            "sysctl {name} is not of a namespace the container has of its own, so runc refuses it: only net.*, fs.mqueue.*, kernel.domainname and the IPC ones ({}) are",
            IPC_SYSCTLS.join(", ")
        ));
    }
    Ok((name.to_string(), value))
}

/// The signal names Docker's `signal.ParseSignal` knows on Linux, without `SIG`.
const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL",
    "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1",
    "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
];

/// A stop signal as Docker parses it at create: a number other than 0, or a name with or
/// without `SIG`, in any case (`RTMIN+1`..`RTMIN+15`, `RTMAX-14`..`RTMAX-1` too).
fn stop_signal(text: &str) -> Result<(), String> {
    if let Ok(n) = text.parse::<i32>() {
        return if n == 0 { Err("0 is not a signal".into()) } else { Ok(()) };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let offset = |base: &str, max: u32| {
        name.strip_prefix(base).and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| (1..=max).contains(&n))
    };
    if SIGNALS.contains(&name) || offset("RTMIN+", 15) || offset("RTMAX-", 14) {
        return Ok(());
    }
    Err(format!("{text:?} is not a signal Docker knows: write a name such as SIGTERM, SIGINT or SIGQUIT, or a number"))
}

fn ulimit(name: &str, limit: &raw::Ulimit) -> Result<Ulimit, String> {
    if !ULIMIT_NAMES.contains(&name) {
        return Err(format!("unknown ulimit {name:?}; Docker knows {}", ULIMIT_NAMES.join(", ")));
    }
    let (soft, hard) = match limit {
        raw::Ulimit::Single(n) => (*n, *n),
        raw::Ulimit::Limits(l) => (l.soft, l.hard),
    };
    if soft < -1 || hard < -1 {
        return Err(format!("{name} limits are numbers from 0 up, or -1 for unlimited"));
    }
    // -1 is unlimited, so it is the largest value of all.
    let rank = |n: i64| if n == -1 { i64::MAX } else { n };
    if rank(soft) > rank(hard) {
        return Err(format!(
            "soft limit {soft} is above hard limit {hard}: the kernel refuses it, so the container would fail to start (setrlimit: invalid argument)"
        ));
    }
    Ok(Ulimit { soft, hard })
}

fn security_opt(opt: &str) -> Result<String, String> {
    let (key, value) = match opt.find(['=', ':']) {
        Some(at) => (&opt[..at], Some(&opt[at + 1..])),
        None => (opt, None),
    };
    match (key, value) {
        ("no-new-privileges", None | Some("true" | "false")) => Ok(opt.to_string()),
        ("label", Some(v)) if !v.is_empty() => Ok(opt.to_string()),
        ("apparmor", Some(v)) if !v.is_empty() => Ok(opt.to_string()),
        ("systempaths", Some("unconfined")) | ("seccomp", Some("unconfined")) => Ok(opt.to_string()),
        ("seccomp", Some(_)) => Err(format!(
            "{opt:?}: a seccomp profile file is read by the docker CLI, not the daemon, so moor cannot send it; use seccomp=unconfined or leave it out for Docker's default profile"
        )),
        _ => Err(format!(
            "unknown security option {opt:?}; use no-new-privileges, label=..., apparmor=PROFILE, seccomp=unconfined or systempaths=unconfined"
        )),
    }
}

/// `path` is the field; `one` says it holds a single word rather than a list.
fn non_empty_words(words: Vec<String>, one: bool, what: &str, path: &FieldPath, c: &mut Checker) -> Vec<String> {
    for (i, w) in words.iter().enumerate() {
        if w.trim().is_empty() {
            let at = if one { path.clone() } else { path.index(i) };
            c.report(at, format!("an empty {what} means nothing to Docker; remove it"));
        }
    }
    words
}

/// Where the sorted `capAdd`, `devices` and `securityOpt` entries were written (see
/// `model::Written`).
pub(super) struct HostWritten {
    pub cap_add: Vec<usize>,
    pub devices: Vec<usize>,
    pub security_opt: Vec<usize>,
}

/// Converts the compose-parity fields of `spec` (at `sp`), recording problems in `c`.
pub(super) fn convert_host(spec: &raw::ServiceSpec, sp: &FieldPath, c: &mut Checker) -> (HostOptions, HostWritten) {
    let mut host =
        HostOptions { hostname: spec.hostname.clone(), domainname: spec.domainname.clone(), ..Default::default() };
    for (field, value) in [("hostname", &spec.hostname), ("domainname", &spec.domainname)] {
        // Only what the kernel refuses (sethostname(2), setdomainname(2): at most 64 bytes):
        // Docker sends the name as written, so `my_host` works and stays allowed.
        let Some(name) = value else { continue };
        if name.is_empty() || name.len() > 64 || name.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
            c.report(
                sp.key(field),
                format!("{name:?} cannot be a {field}: the kernel takes 1 to 64 bytes without spaces"),
            );
        }
    }
    if let Some(hosts) = &spec.extra_hosts {
        host.extra_hosts = extra_hosts(hosts, &sp.key("extraHosts"), c);
    }
    if let Some(dns) = &spec.dns {
        let path = sp.key("dns");
        for (i, server) in dns.to_vec().into_iter().enumerate() {
            if server.parse::<IpAddr>().is_err() {
                let at = if matches!(dns, raw::OneOrMany::One(_)) { path.clone() } else { path.index(i) };
                c.report(
                    at,
                    format!("{server:?} is not an IP address: Docker's resolver takes name server addresses only"),
                );
            }
            host.dns.push(server);
        }
    }
    if let Some(search) = &spec.dns_search {
        host.dns_search = non_empty_words(
            search.to_vec(),
            matches!(search, raw::OneOrMany::One(_)),
            "search domain",
            &sp.key("dnsSearch"),
            c,
        );
    }
    host.dns_opt = non_empty_words(spec.dns_opt.clone(), false, "resolver option", &sp.key("dnsOpt"), c);
    host.init = spec.init;
    host.read_only = spec.read_only.unwrap_or(false);
    host.tty = spec.tty.unwrap_or(false);
    host.stdin_open = spec.stdin_open.unwrap_or(false);
    host.shm_size = spec.shm_size.as_ref().and_then(|s| {
        let bytes = size_bytes(s).and_then(|b| match b {
            0 => Err("a shmSize of 0 would mean Docker's default (64Mi); leave it out for that".into()),
            b if b > MAX_MEMORY => Err(format!("{b} bytes is more than Docker accepts (at most {MAX_MEMORY})")),
            b => Ok(b),
        });
        c.check(sp.key("shmSize"), bytes)
    });
    let mut expose: Vec<String> = spec
        .expose
        .iter()
        .enumerate()
        .filter_map(|(i, p)| c.check(sp.key("expose").index(i), convert_forms::expose_keys(p)))
        .flatten()
        .collect();
    expose.sort();
    expose.dedup();
    host.expose = expose;
    if let Some(dir) = spec.working_dir.as_deref().filter(|d| !d.starts_with('/')) {
        c.report(
            sp.key("workingDir"),
            format!("{dir:?} is not an absolute path, which Docker requires of a working directory"),
        );
    }
    if let Some(signal) = &spec.stop_signal {
        c.check(sp.key("stopSignal"), stop_signal(signal));
    }
    let shared = HostNamespaces {
        net: spec.network_mode.as_deref() == Some("host") || spec.networks.names().iter().any(|n| n == "host"),
        ipc: spec.ipc.as_deref() == Some("host"),
        uts: spec.uts.as_deref() == Some("host"),
    };
    match &spec.sysctls {
        None => {}
        Some(raw::Sysctls::Map(map)) => {
            host.sysctls = map
                .iter()
                .filter_map(|(k, v)| c.check(sp.key("sysctls").key(k), sysctl(k, v.text(), &shared)))
                .collect();
        }
        Some(raw::Sysctls::List(entries)) => {
            let mut seen = BTreeMap::new();
            for (i, e) in entries.iter().enumerate() {
                let path = sp.key("sysctls").index(i);
                let Some((k, v)) = e.split_once('=') else {
                    c.report(path, format!("{e:?} has no value; write name=value"));
                    continue;
                };
                if let Some((k, v)) = c.check(path.clone(), sysctl(k.trim(), v.trim().to_string(), &shared)) {
                    if let Some(first) = seen.insert(k.clone(), i) {
                        c.report(path, format!("sysctl {k} is already set by sysctls[{first}]"));
                    }
                    host.sysctls.insert(k, v);
                }
            }
        }
    }
    for (name, limit) in &spec.ulimits {
        if let Some(u) = c.check(sp.key("ulimits").key(name), ulimit(name, limit)) {
            host.ulimits.insert(name.clone(), u);
        }
    }
    if let Some(l) = &spec.logging {
        if let Some(driver) = &l.driver {
            if driver.trim().is_empty() {
                c.report(
                    sp.key("logging").key("driver"),
                    "an empty driver name; leave it out for the daemon's default",
                );
            }
        }
        // Option values are not checked or quoted: some drivers take tokens (splunk-token).
        let options = l.options.iter().map(|(k, v)| (k.clone(), v.text())).collect();
        host.logging = Some(Logging { driver: l.driver.clone(), options });
    }
    let mut groups: Vec<String> = spec.group_add.iter().map(raw::Scalar::text).collect();
    for (i, g) in groups.iter().enumerate() {
        if g.is_empty() || g.contains(char::is_whitespace) || g.contains(':') {
            c.report(sp.key("groupAdd").index(i), format!("{g:?} is not a group name or ID"));
        }
    }
    groups.sort();
    groups.dedup();
    host.group_add = groups;
    let mut opts: Vec<String> = spec
        .security_opt
        .iter()
        .enumerate()
        .filter_map(|(i, o)| c.check(sp.key("securityOpt").index(i), security_opt(o)))
        .collect();
    opts.sort();
    opts.dedup();
    // The host policy refuses some options: its message points at the entry written.
    let security_opt_written =
        opts.iter().map(|o| spec.security_opt.iter().position(|w| w == o).unwrap_or_default()).collect();
    host.security_opt = opts;

    host.privileged = spec.privileged.unwrap_or(false);
    let (cap_add, cap_add_written) = capabilities(&spec.cap_add, &sp.key("capAdd"), c);
    let (cap_drop, _) = capabilities(&spec.cap_drop, &sp.key("capDrop"), c);
    for (name, i) in cap_add.iter().zip(&cap_add_written) {
        if name != "ALL" && cap_drop.contains(name) {
            c.report(
                sp.key("capAdd").index(*i),
                format!("{name} is also in capDrop: say once whether the container has it"),
            );
        }
    }
    (host.cap_add, host.cap_drop) = (cap_add, cap_drop);
    let mut devices: Vec<(Device, usize)> = spec
        .devices
        .iter()
        .enumerate()
        .filter_map(|(i, d)| c.check(sp.key("devices").index(i), device_entry(d)).map(|d| (d, i)))
        .collect();
    devices.sort_by(|a, b| a.0.container.cmp(&b.0.container));
    for pair in devices.windows(2) {
        if pair[0].0.container == pair[1].0.container {
            let (first, second) = (pair[0].1.min(pair[1].1), pair[0].1.max(pair[1].1));
            c.report(
                sp.key("devices").index(second),
                format!("device path {} in the container is already used by devices[{first}]", pair[1].0.container),
            );
        }
    }
    let (devices, devices_written): (Vec<Device>, Vec<usize>) = devices.into_iter().unzip();
    host.devices = devices;
    host.pid = spec.pid.as_ref().and_then(|p| c.check(sp.key("pid"), convert_forms::namespace("pid", p, &["host"])));
    host.ipc = spec.ipc.as_ref().and_then(|i| {
        let own = ["host", "shareable", "private", "none"];
        c.check(sp.key("ipc"), convert_forms::namespace("ipc", i, &own))
    });
    host.volumes_from = spec
        .volumes_from
        .iter()
        .enumerate()
        .filter_map(|(i, v)| c.check(sp.key("volumesFrom").index(i), convert_forms::volumes_from(v)))
        .collect();
    (host, HostWritten { cap_add: cap_add_written, devices: devices_written, security_opt: security_opt_written })
}

#[cfg(test)]
mod tests;
