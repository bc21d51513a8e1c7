//! A service's `networks` (list or map with per-network options) and a network's `ipam`.
//!
//! Invariant: every option is translated or reported with its compose path.

use serde_yaml::{Mapping, Value};

use super::report::Report;
use super::translate::{dns_name, key, text};

/// `networks:` as a list of names, or a map of name to `aliases`, `ipv4_address`,
/// `ipv6_address` (the rest is reported).
pub(super) fn translate_networks(report: &mut Report, path: &str, v: &Value, spec: &mut Mapping) {
    match v {
        Value::Sequence(items) => {
            let names = items.iter().map(|n| key(&dns_name(&text(n)))).collect();
            spec.insert(key("networks"), Value::Sequence(names));
        }
        Value::Mapping(m) => {
            let mut out = Mapping::new();
            for (n, opts) in m {
                let name = dns_name(&text(n));
                let mut endpoint = Mapping::new();
                for (ok, ov) in opts.as_mapping().into_iter().flatten() {
                    let ok = text(ok);
                    match ok.as_str() {
                        "aliases" => {
                            endpoint.insert(key("aliases"), ov.clone());
                        }
                        "ipv4_address" => {
                            endpoint.insert(key("ipv4Address"), ov.clone());
                        }
                        "ipv6_address" => {
                            endpoint.insert(key("ipv6Address"), ov.clone());
                        }
                        _ => report.left_out(format!("{path}.{}.{ok}", text(n)), "no moor counterpart"),
                    }
                }
                let endpoint = if endpoint.is_empty() { Value::Null } else { Value::Mapping(endpoint) };
                out.insert(key(&name), endpoint);
            }
            spec.insert(key("networks"), Value::Mapping(out));
        }
        _ => report.left_out(path, "must be a list or a mapping"),
    }
}

/// A network's `ipam`: `driver`, `options`, `config: [{subnet, ip_range, gateway,
/// aux_addresses}]`.
pub(super) fn translate_ipam(report: &mut Report, path: &str, v: &Value) -> Option<Value> {
    let Some(m) = v.as_mapping() else {
        report.left_out(path, "must be a mapping");
        return None;
    };
    let mut ipam = Mapping::new();
    for (k, v) in m {
        let k = text(k);
        match k.as_str() {
            "driver" => {
                ipam.insert(key("driver"), key(&text(v)));
            }
            "options" => {
                let opts = v.as_mapping().into_iter().flatten().map(|(a, b)| (key(&text(a)), key(&text(b))));
                ipam.insert(key("options"), Value::Mapping(opts.collect()));
            }
            "config" => {
                let mut pools = Vec::new();
                for (i, pool) in v.as_sequence().into_iter().flatten().enumerate() {
                    let mut out = Mapping::new();
                    for (pk, pv) in pool.as_mapping().into_iter().flatten() {
                        let pk = text(pk);
                        let name = match pk.as_str() {
                            "subnet" => "subnet",
                            "ip_range" => "ipRange",
                            "gateway" => "gateway",
                            "aux_addresses" => "auxAddresses",
                            _ => {
                                report.left_out(format!("{path}.config[{i}].{pk}"), "no moor counterpart");
                                continue;
                            }
                        };
                        out.insert(key(name), pv.clone());
                    }
                    pools.push(Value::Mapping(out));
                }
                ipam.insert(key("config"), Value::Sequence(pools));
            }
            _ => report.left_out(format!("{path}.{k}"), "no moor counterpart"),
        }
    }
    Some(Value::Mapping(ipam))
}

/// Service fields moor reads as numbers.
const NUMBERS: &[&[&str]] = &[
    &["replicas"],
    &["cpuShares"],
    &["oomScoreAdj"],
    &["cpuQuota"],
    &["cpuPeriod"],
    &["cpuRtPeriod"],
    &["cpuRtRuntime"],
    &["memSwappiness"],
    &["resources", "cpus"],
    &["resources", "pids"],
    &["healthcheck", "retries"],
];

/// Service fields moor reads as booleans.
const BOOLEANS: &[&str] = &["init", "readOnly", "tty", "stdinOpen", "privileged", "oomKillDisable", "autoRemove"];

/// A value interpolated from `.env` or the environment is text (`replicas: ${N}` gives `"3"`);
/// compose converts it to the type its schema wants, so the import does too for the fields moor
/// reads as numbers and booleans. Text that is not a number (or a boolean) is left for
/// validation to report where it is.
pub(super) fn coerce_scalars(spec: &mut Mapping) {
    for path in NUMBERS {
        let (first, rest) = path.split_first().expect("paths are not empty");
        let mut at = spec.get_mut(*first);
        for p in rest {
            at = at.and_then(|v| v.as_mapping_mut()).and_then(|m| m.get_mut(*p));
        }
        let Some(value) = at else { continue };
        let Value::String(t) = &*value else { continue };
        let t = t.trim();
        let number = match t.parse::<i64>() {
            Ok(i) => Some(Value::Number(i.into())),
            Err(_) => t.parse::<f64>().ok().filter(|f| f.is_finite()).map(|f| Value::Number(f.into())),
        };
        if let Some(n) = number {
            *value = n;
        }
    }
    for field in BOOLEANS {
        if let Some(Value::String(t)) = spec.get(*field) {
            // compose-spec's boolean forms (YAML 1.1's yes/no included, as compose reads them).
            let b = match t.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "on" => Some(true),
                "false" | "no" | "n" | "off" => Some(false),
                _ => None,
            };
            if let Some(b) = b {
                spec.insert(key(field), Value::Bool(b));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolated_text_becomes_the_type_the_field_reads() {
        let mut spec: Mapping = serde_yaml::from_str(
            "replicas: '3'\ncpuShares: ' 512 '\nresources: { cpus: '0.5', pids: '100' }\nhealthcheck: { retries: '4' }\ninit: 'true'\ntty: 'no'\nreadOnly: maybe\noomScoreAdj: lots\ncommand: '42'\n",
        )
        .unwrap();
        coerce_scalars(&mut spec);
        let want: Mapping = serde_yaml::from_str(
            "replicas: 3\ncpuShares: 512\nresources: { cpus: 0.5, pids: 100 }\nhealthcheck: { retries: 4 }\ninit: true\ntty: false\nreadOnly: maybe\noomScoreAdj: lots\ncommand: '42'\n",
        )
        .unwrap();
        assert_eq!(spec, want);
    }
}
