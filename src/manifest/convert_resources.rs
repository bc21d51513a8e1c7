//! The conversion of a Service's resource, device and namespace fields (issue 13: CPU quotas and
//! real-time periods, swap, block IO, storage options, device cgroup rules, the UTS namespace,
//! GPUs) into [`ResourceOptions`]. As in [`super::convert_host`], each rule is one Docker would
//! enforce at create time (a 400 with a Go error), moved to load time so that it is located and
//! explained; what only the host can tell (a real-time scheduler in the kernel, a storage driver
//! that takes `size`, a GPU driver) is left to the daemon.

use super::convert::{size_bytes, Checker};
use super::model_resources::{Blkio, DeviceRate, GpuRequest, ResourceOptions};
use super::problem::FieldPath;
use super::raw;
use super::units;

/// Microseconds: a whole number, or a duration such as `50ms` (compose takes both).
fn micros(value: &raw::Scalar) -> Result<i64, String> {
    match value {
        raw::Scalar::Integer(n) => Ok(*n),
        raw::Scalar::String(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
            t.parse().map_err(|_| format!("{t:?} is too many microseconds"))
        }
        raw::Scalar::String(t) => {
            let d = units::parse_duration(t)?;
            i64::try_from(d.as_micros()).map_err(|_| format!("{t:?} is too long"))
        }
    }
}

fn in_range(n: i64, range: std::ops::RangeInclusive<i64>, why: &str) -> Result<i64, String> {
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} is outside {} to {}: {why}", range.start(), range.end()))
    }
}

/// Docker's device cgroup rule, `type major:minor permissions` (its `deviceCgroupRuleRegex`).
fn device_cgroup_rule(text: &str) -> Result<String, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let number = |s: &str| s == "*" || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    let ok = match words.as_slice() {
        [kind, numbers, perms] => {
            ["a", "b", "c"].contains(kind)
                && numbers.split_once(':').is_some_and(|(major, minor)| number(major) && number(minor))
                && !perms.is_empty()
                && perms.len() <= 3
                && perms.chars().all(|c| "rwm".contains(c))
        }
        _ => false,
    };
    if ok {
        Ok(words.join(" "))
    } else {
        Err(format!(
            "{text:?} is not a device cgroup rule: write `type major:minor permissions`, a type of a, b or c, numbers or *, some of rwm (c 1:3 mr, a *:* rwm)"
        ))
    }
}

fn block_device(path: &str) -> Result<(), String> {
    if path.starts_with('/') && !path.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err(format!("{path:?} is not a block device path such as /dev/sda"))
    }
}

/// Reads a rate: bytes (a size) or operations a second.
type RateParser<'a> = &'a dyn Fn(&raw::Scalar) -> Result<u64, String>;

fn blkio(b: &raw::BlkioConfig, path: &FieldPath, c: &mut Checker) -> Blkio {
    const WEIGHT: &str = "Docker takes block IO weights from 10 to 1000";
    let weight = |n: i64| in_range(n, 10..=1000, WEIGHT).map(|n| n as u16);
    let mut out = Blkio { weight: b.weight.and_then(|n| c.check(path.key("weight"), weight(n))), ..Blkio::default() };
    for (i, d) in b.weight_device.iter().enumerate() {
        let at = path.key("weightDevice").index(i);
        let ok = c.check(at.key("path"), block_device(&d.path)).is_some();
        if let (Some(w), true) = (c.check(at.key("weight"), weight(d.weight)), ok) {
            out.weight_device.push(DeviceRate { path: d.path.clone(), rate: i64::from(w) });
        }
    }
    let bytes = |s: &raw::Scalar| match s {
        raw::Scalar::Integer(n) => u64::try_from(*n).map_err(|_| format!("{n} is not a rate")),
        raw::Scalar::String(t) => size_bytes(&raw::Size::Text(t.clone())),
    };
    let ops = |s: &raw::Scalar| match s {
        raw::Scalar::Integer(n) if *n >= 0 => Ok(*n as u64),
        other => Err(format!("{:?} is not a number of operations a second", other.text())),
    };
    let lists: [(&str, &[raw::BlkioRate], RateParser, &mut Vec<DeviceRate>); 4] = [
        ("deviceReadBps", &b.device_read_bps, &bytes, &mut out.device_read_bps),
        ("deviceWriteBps", &b.device_write_bps, &bytes, &mut out.device_write_bps),
        ("deviceReadIops", &b.device_read_iops, &ops, &mut out.device_read_iops),
        ("deviceWriteIops", &b.device_write_iops, &ops, &mut out.device_write_iops),
    ];
    for (field, list, parse, into) in lists {
        for (i, d) in list.iter().enumerate() {
            let at = path.key(field).index(i);
            let ok = c.check(at.key("path"), block_device(&d.path)).is_some();
            let rate = parse(&d.rate).and_then(|r| i64::try_from(r).map_err(|_| format!("{r} is too large")));
            if let (Some(rate), true) = (c.check(at.key("rate"), rate), ok) {
                into.push(DeviceRate { path: d.path.clone(), rate });
            }
        }
    }
    out
}

fn gpu_request(g: &raw::GpuRequest) -> Result<GpuRequest, String> {
    let count = match &g.count {
        None if g.device_ids.is_empty() => Some(-1),
        None => None,
        Some(raw::Scalar::String(all)) if all == "all" => Some(-1),
        Some(raw::Scalar::Integer(n)) if *n >= 1 => Some(*n),
        Some(other) => return Err(format!("count {:?} is not a number of devices from 1, or all", other.text())),
    };
    if g.count.is_some() && !g.device_ids.is_empty() {
        return Err("count and deviceIds cannot both be set (Docker refuses it): name the devices or count them".into());
    }
    if g.device_ids.iter().chain(&g.capabilities).any(|w| w.trim().is_empty()) {
        return Err("an empty device ID or capability means nothing to Docker; remove it".into());
    }
    let capabilities = if g.capabilities.is_empty() { vec!["gpu".to_string()] } else { g.capabilities.clone() };
    Ok(GpuRequest {
        driver: g.driver.clone().filter(|d| !d.is_empty()),
        count,
        device_ids: g.device_ids.clone(),
        capabilities,
        options: g.options.clone(),
    })
}

/// Converts the resource fields of `spec` (at `sp`); `memory` and `cpus` are the converted
/// `resources.memory` and `resources.cpus`, which some of them need or exclude.
pub(super) fn convert_resources(
    spec: &raw::ServiceSpec,
    sp: &FieldPath,
    memory: Option<u64>,
    cpus: Option<f64>,
    c: &mut Checker,
) -> ResourceOptions {
    let mut out = ResourceOptions::default();
    let mut cpu = |field: &str, value: &Option<raw::Scalar>, check: &dyn Fn(i64) -> Result<i64, String>| {
        value.as_ref().and_then(|v| c.check(sp.key(field), micros(v).and_then(check)))
    };
    let beside_cpus = |field: &'static str| {
        move |n: i64| {
            match cpus {
            Some(_) => Err(format!(
                "{field} and resources.cpus cannot both be set: Docker makes resources.cpus from a quota and period of its own (and refuses both); keep one"
            )),
            None => Ok(n),
        }
        }
    };
    out.cpu_quota = cpu("cpuQuota", &spec.cpu_quota, &|n| {
        let quota = match n {
            n if n < 1000 => Err(format!("{n} is below 1000: Docker's CFS quota is at least 1ms (in microseconds)")),
            n => Ok(n),
        };
        quota.and_then(beside_cpus("cpuQuota"))
    });
    out.cpu_period = cpu("cpuPeriod", &spec.cpu_period, &|n| {
        in_range(n, 1000..=1_000_000, "Docker's CFS period is 1ms to 1s (in microseconds)")
            .and_then(beside_cpus("cpuPeriod"))
    });
    out.cpu_rt_period =
        cpu("cpuRtPeriod", &spec.cpu_rt_period, &|n| in_range(n, 1..=1_000_000, "the real-time period is 1µs to 1s"));
    out.cpu_rt_runtime = cpu("cpuRtRuntime", &spec.cpu_rt_runtime, &|n| {
        in_range(n, 0..=1_000_000, "the real-time runtime is 0 to 1s (microseconds)")
    });
    if let (Some(runtime), Some(period)) = (out.cpu_rt_runtime, out.cpu_rt_period) {
        if runtime > period {
            c.report(
                sp.key("cpuRtRuntime"),
                format!("a real-time runtime of {runtime}µs is above its period of {period}µs (Docker refuses it)"),
            );
        }
    }
    out.mem_swappiness = spec.mem_swappiness.and_then(|n| {
        c.check(sp.key("memSwappiness"), in_range(n, 0..=100, "the kernel's swappiness is 0 (no swap) to 100"))
    });
    out.memswap_limit = spec.memswap_limit.as_ref().and_then(|v| {
        let bytes: Result<i64, String> = match v {
            raw::Scalar::Integer(-1) => Ok(-1),
            raw::Scalar::String(t) if t == "-1" => Ok(-1),
            raw::Scalar::Integer(n) if *n >= 0 => Ok(*n),
            raw::Scalar::Integer(n) => Err(format!("{n} is not a size, or -1 for unlimited swap")),
            raw::Scalar::String(t) => size_bytes(&raw::Size::Text(t.clone()))
                .and_then(|b| i64::try_from(b).map_err(|_| format!("{t:?} is too large"))),
        };
        let bytes = bytes.and_then(|b| match memory {
            None => Err("memswapLimit needs resources.memory: Docker refuses a swap limit without a memory limit".into()),
            Some(_) if b == -1 => Ok(-1),
            Some(_) if b == 0 => Err("0 means no swap limit to Docker; leave it out for that".into()),
            Some(m) if (b as u64) < m => Err(format!(
                "{b} bytes is below resources.memory ({m} bytes): the limit is memory plus swap, so at least the memory (Docker refuses less)"
            )),
            Some(_) => Ok(b),
        });
        c.check(sp.key("memswapLimit"), bytes)
    });
    if let Some(b) = &spec.blkio_config {
        out.blkio = blkio(b, &sp.key("blkioConfig"), c);
    }
    for (k, v) in &spec.storage_opt {
        if k.trim().is_empty() || k.contains(char::is_whitespace) {
            c.report_key(sp.key("storageOpt").key(k), format!("{k:?} is not a storage option name such as size"));
        } else {
            out.storage_opt.insert(k.clone(), v.text());
        }
    }
    out.device_cgroup_rules = spec
        .device_cgroup_rules
        .iter()
        .enumerate()
        .filter_map(|(i, r)| c.check(sp.key("deviceCgroupRules").index(i), device_cgroup_rule(r)))
        .collect();
    if let Some(uts) = &spec.uts {
        match uts.as_str() {
            "host" if spec.hostname.is_some() || spec.domainname.is_some() => c.report(
                sp.key("uts"),
                "uts: host takes the host's hostname, so hostname and domainname cannot be set (Docker refuses both)",
            ),
            "host" => out.uts = Some(uts.clone()),
            _ => c.report(
                sp.key("uts"),
                format!(
                    "uts: {uts:?} is not supported; Docker takes only host, or leave it out for the container's own"
                ),
            ),
        }
    }
    match &spec.gpus {
        None => {}
        Some(raw::Gpus::All(all)) if all == "all" => {
            out.gpus = vec![GpuRequest { count: Some(-1), capabilities: vec!["gpu".into()], ..GpuRequest::default() }];
        }
        Some(raw::Gpus::All(other)) => {
            c.report(sp.key("gpus"), format!("gpus: {other:?} is not supported; write all, or a list of requests"))
        }
        Some(raw::Gpus::List(list)) => {
            out.gpus =
                list.iter().enumerate().filter_map(|(i, g)| c.check(sp.key("gpus").index(i), gpu_request(g))).collect();
        }
    }
    for k in spec.annotations.keys() {
        if k.trim().is_empty() {
            c.report_key(sp.key("annotations").key(k), "an annotation needs a name");
        }
    }
    out.annotations = spec.annotations.iter().map(|(k, v)| (k.clone(), v.text())).collect();
    out.mac_address = spec.mac_address.as_ref().and_then(|m| {
        let mac = match &spec.network_mode {
            Some(mode) => Err(format!(
                "networkMode {mode} has no network of its own to give a MAC address on (Docker refuses it)"
            )),
            None => mac_address(m),
        };
        c.check(sp.key("macAddress"), mac)
    });
    out
}

/// An Ethernet address as Go's `net.ParseMAC` takes it for Docker: six hex pairs separated by
/// `:` or `-`; lower-cased, with colons. A multicast address cannot be a container's own.
fn mac_address(text: &str) -> Result<String, String> {
    let pairs: Vec<&str> = text.split([':', '-']).collect();
    let ok = pairs.len() == 6 && pairs.iter().all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(format!("{text:?} is not a MAC address such as 02:42:ac:11:00:02"));
    }
    let first = u8::from_str_radix(pairs[0], 16).unwrap_or_default();
    if first & 1 == 1 {
        return Err(format!("{text:?} is a multicast address; a container's address is unicast (an even first byte)"));
    }
    Ok(pairs.join(":").to_ascii_lowercase())
}

#[cfg(test)]
mod tests;
