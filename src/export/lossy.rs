//! The pod-level fields that map to Kubernetes (host names, DNS, sysctls, host namespaces,
//! placement), and the report of every field that does not.
//!
//! Invariants: the compose-parity fields are walked as the keys of their JSON (the spec's own
//! serialization, which leaves unset fields out), so a field added to the model later is
//! reported as not translated until someone translates it: it can never be dropped silently.
//! [`TRANSLATED`] lists the keys translated here or in [`super::pod`].

use serde_json::{json, Map, Value};

use super::kubernetes::Ctx;
use crate::manifest::model::{Volume, Watch};
use crate::manifest::{Desired, Service};

/// The keys of `ContainerSpec`'s `host` and `resource` that have a Kubernetes counterpart.
pub(super) const TRANSLATED: &[&str] = &[
    "capAdd",
    "capDrop",
    "dns",
    "dnsOpt",
    "dnsSearch",
    "expose",
    "extraHosts",
    "groupAdd",
    "hostname",
    "ipc",
    "memReservation",
    "networkMode",
    "pid",
    "platform",
    "privileged",
    "readOnly",
    "runtime",
    "shmSize",
    "stdinOpen",
    "sysctls",
    "tty",
];

/// Why a field is left out, where there is more to say than "no counterpart".
fn why(key: &str) -> &'static str {
    match key {
        "devices" => "Kubernetes gives host devices through device plugins, or to a privileged container",
        "gpus" => "request GPUs as extended resources (nvidia.com/gpu) of a device plugin",
        "init" => {
            "Kubernetes runs no init process for a container; put tini in the image, or set shareProcessNamespace"
        }
        "logging" => "the node's container runtime keeps the logs; collect them with a cluster log agent",
        "ulimits" => "Kubernetes takes the runtime's limits; it has no per-container ulimits",
        "securityOpt" => "use the securityContext's seccompProfile, appArmorProfile and seLinuxOptions",
        "networkEndpoints" => {
            "a pod has one address on the one cluster network: no aliases or fixed addresses (a Service names it)"
        }
        "domainname" => "a pod's domain follows its Service and subdomain",
        "volumesFrom" => "share volumes between containers of one pod instead",
        _ => "no Kubernetes counterpart",
    }
}

fn ids(list: &[String]) -> Option<Vec<u64>> {
    list.iter().map(|g| g.parse().ok()).collect()
}

/// Host names, DNS, sysctls, groups, host namespaces, runtime, placement: into the pod's spec.
pub(super) fn pod_fields(svc: &Service, ctx: &mut Ctx, spec: &mut Map<String, Value>) {
    let host = &svc.container.host;
    if let Some(h) = &host.hostname {
        if crate::manifest::model::check_dns1123(h).is_ok() {
            spec.insert("hostname".into(), json!(h));
        } else {
            ctx.left_out(svc, "hostname", "a pod's hostname must be a DNS-1123 label");
        }
    }
    // `host:ip` entries, grouped by address as hostAliases are.
    let mut aliases: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for e in &host.extra_hosts {
        if let Some((name, ip)) = e.split_once(':') {
            aliases.entry(ip).or_default().push(name);
        }
    }
    if !aliases.is_empty() {
        let list: Vec<Value> = aliases.into_iter().map(|(ip, names)| json!({ "ip": ip, "hostnames": names })).collect();
        spec.insert("hostAliases".into(), Value::Array(list));
    }
    let mut dns = Map::new();
    if !host.dns.is_empty() {
        dns.insert("nameservers".into(), json!(host.dns));
        // Only `None` lets the pod's own nameservers replace the cluster's.
        spec.insert("dnsPolicy".into(), json!("None"));
    }
    if !host.dns_search.is_empty() {
        dns.insert("searches".into(), json!(host.dns_search));
    }
    if !host.dns_opt.is_empty() {
        let opts: Vec<Value> = host
            .dns_opt
            .iter()
            .map(|o| match o.split_once(':') {
                Some((name, value)) => json!({ "name": name, "value": value }),
                None => json!({ "name": o }),
            })
            .collect();
        dns.insert("options".into(), Value::Array(opts));
    }
    if !dns.is_empty() {
        spec.insert("dnsConfig".into(), Value::Object(dns));
    }
    let mut security = Map::new();
    if !host.sysctls.is_empty() {
        let list: Vec<Value> = host.sysctls.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect();
        security.insert("sysctls".into(), Value::Array(list));
        ctx.advise(
            svc,
            "sysctls",
            "a kubelet allows only its safe sysctls unless started with --allowed-unsafe-sysctls",
        );
    }
    match ids(&host.group_add) {
        Some(groups) if !groups.is_empty() => {
            security.insert("supplementalGroups".into(), json!(groups));
        }
        Some(_) => {}
        None => ctx.left_out(svc, "groupAdd", "a group name: Kubernetes takes numeric ids only (supplementalGroups)"),
    }
    if !security.is_empty() {
        spec.insert("securityContext".into(), Value::Object(security));
    }
    for (key, value, field) in [
        ("hostPID", &host.pid, "pid"),
        ("hostIPC", &host.ipc, "ipc"),
        ("hostNetwork", &host.network_mode, "networkMode"),
    ] {
        match value.as_deref() {
            None => {}
            Some("host") => {
                spec.insert(key.into(), json!(true));
            }
            Some(other) => ctx.left_out(
                svc,
                field,
                format!("{other}: only host has a counterpart ({key}); containers of one pod share their namespaces"),
            ),
        }
    }
    if let Some(r) = &host.runtime {
        spec.insert("runtimeClassName".into(), json!(r));
        ctx.advise(svc, "runtime", format!("a RuntimeClass named {r} must exist in the cluster"));
    }
    placement(svc, ctx, spec);
}

/// `placement` and `platform` as a nodeSelector (or, for several nodes, a node affinity).
fn placement(svc: &Service, ctx: &mut Ctx, spec: &mut Map<String, Value>) {
    let mut selector = Map::new();
    if let Some(p) = &svc.container.host.platform {
        let mut parts = p.split('/');
        if let Some(os) = parts.next() {
            selector.insert("kubernetes.io/os".into(), json!(os));
        }
        if let Some(arch) = parts.next() {
            selector.insert("kubernetes.io/arch".into(), json!(arch));
        }
        if parts.next().is_some() {
            ctx.left_out(
                svc,
                "platform",
                "the variant: nodes are selected by kubernetes.io/os and kubernetes.io/arch only",
            );
        }
    }
    if let Some(p) = &svc.placement {
        for (k, v) in &p.node_selector {
            selector.insert(k.clone(), json!(v));
        }
        match p.nodes.as_ref().map(|n| n.iter().collect::<Vec<_>>()) {
            Some(nodes) if nodes.len() == 1 => {
                selector.insert("kubernetes.io/hostname".into(), json!(nodes[0]));
            }
            Some(nodes) if !nodes.is_empty() => {
                let term = json!({ "matchExpressions": [{ "key": "kubernetes.io/hostname", "operator": "In", "values": nodes }] });
                spec.insert(
                    "affinity".into(),
                    json!({ "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": { "nodeSelectorTerms": [term] } } }),
                );
            }
            _ => {}
        }
        if p.nodes.is_some() {
            ctx.advise(svc, "placement.nodes", "moor's node names (--node) became kubernetes.io/hostname values: check they are the nodes' hostname labels");
        }
        if !p.node_selector.is_empty() {
            ctx.advise(
                svc,
                "placement.nodeSelector",
                "label the nodes with kubectl label node NODE KEY=VALUE, as moor run --node-label did",
            );
        }
    }
    if !selector.is_empty() {
        spec.insert("nodeSelector".into(), Value::Object(selector));
    }
}

/// The service's fields outside the pod template, and every compose-parity field not in
/// [`TRANSLATED`].
pub(super) fn service_fields(svc: &Service, desired: &Desired, ctx: &mut Ctx) {
    let c = &svc.container;
    // Declared networks are reported once (see [`networks`]); an existing one only here.
    for n in c.networks.iter().filter(|n| !desired.networks.contains_key(*n)) {
        ctx.left_out(
            svc,
            "networks",
            format!("{n} (a network outside the manifests): every pod is on the one cluster network"),
        );
    }
    if c.auto_remove {
        ctx.left_out(
            svc,
            "autoRemove",
            "Kubernetes removes pods as their controller decides; a Job's ttlSecondsAfterFinished is the nearest",
        );
    }
    if !svc.depends_on.is_empty() {
        let names: Vec<&str> = svc.depends_on.keys().map(String::as_str).collect();
        ctx.left_out(
            svc,
            "dependsOn",
            format!(
                "{}: Kubernetes starts pods in no order; use init containers that wait for them, or readiness probes",
                names.join(", ")
            ),
        );
    }
    if let Some(n) = &svc.container_name {
        ctx.left_out(
            svc,
            "containerName",
            format!("{n}: a pod's name is generated by its Deployment; the Service name is the stable one"),
        );
    }
    if svc.update.watch == Watch::Digest {
        ctx.left_out(svc, "update.watch", "Kubernetes does not follow a tag's digest; use an image updater (Flux image automation, Keel) or pin digests");
    }
    if let Some(s) = &c.stop_signal {
        ctx.left_out(svc, "stopSignal", format!("{s}: Kubernetes sends SIGTERM; set STOPSIGNAL in the image"));
    }
    if c.resources.pids.is_some() {
        ctx.left_out(
            svc,
            "resources.pids",
            "Kubernetes limits pids per pod on the kubelet (podPidsLimit), not per container",
        );
    }
    let mut keys = Vec::new();
    for part in [serde_json::to_value(&c.host), serde_json::to_value(&c.resource)] {
        if let Ok(Value::Object(map)) = part {
            keys.extend(map.into_iter().map(|(k, _)| k));
        }
    }
    keys.sort();
    for key in keys.iter().filter(|k| !TRANSLATED.contains(&k.as_str())) {
        ctx.left_out(svc, key, why(key));
    }
}

/// A volume with a driver or options: a claim of the default StorageClass stands for it.
pub(super) fn volume(v: &Volume, ctx: &mut Ctx) {
    if v.driver != crate::manifest::model::DEFAULTS.volume_driver || !v.options.is_empty() {
        ctx.report.left_out(
            format!("Volume/{}: spec", v.name),
            format!("driver {} and its options: a PersistentVolumeClaim takes a StorageClass instead", v.driver),
        );
    }
}

/// Networks: Kubernetes has one network; Services and DNS do what moor's networks did.
pub(super) fn networks(desired: &Desired, ctx: &mut Ctx) {
    for name in desired.networks.keys() {
        ctx.report.left_out(
            format!("Network/{name}"),
            "not exported: every pod is on the one cluster network and reaches the others by their Service names; isolate with NetworkPolicies",
        );
    }
}
