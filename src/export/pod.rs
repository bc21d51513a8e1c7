//! A Service's pod template: its one container and the pod's own fields.
//!
//! Invariants: what is translated here only partly (a user name, a `networkMode` other than
//! `host`, a published host port) is reported here, where the part left out is known; the
//! fields this module never looks at are listed by [`super::lossy`] from the keys it does not
//! claim ([`super::lossy::TRANSLATED`]). No value of a Secret, an env file or a config is read
//! (they are references, see [`super::refs`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::kubernetes::Ctx;
use super::{dns_label, refs};
use crate::manifest::model::{Healthcheck, Mount, Protocol, PullPolicy};
use crate::manifest::Service;

/// Whole seconds, rounded up, at least 1 (Kubernetes' probe and grace fields).
pub(super) fn seconds(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

/// A byte count as a Kubernetes quantity: `64Mi` when it divides evenly, else plain bytes.
pub(super) fn quantity(bytes: u64) -> String {
    for (unit, size) in [("Gi", 1u64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}

/// The container's ports, `expose` among them: (port, protocol), sorted and deduplicated.
/// Published host ports are reported: a Service of type ClusterIP publishes nothing on a node.
pub(super) fn ports(svc: &Service, ctx: &mut Ctx) -> BTreeSet<(u16, &'static str)> {
    let mut out = BTreeSet::new();
    for p in &svc.container.ports {
        out.insert((p.container, protocol(p.protocol)));
        let on = p.host_ip.as_deref().map(|ip| format!(" on {ip}")).unwrap_or_default();
        let host = p.host.map_or_else(|| "an ephemeral host port".to_string(), |h| format!("host port {h}"));
        ctx.left_out(
            svc,
            "ports",
            format!("{host}{on} (to {}) is not published: the Service is a ClusterIP one, reachable inside the cluster only; use a NodePort or LoadBalancer Service, an Ingress, or kubectl port-forward", p.container),
        );
    }
    for e in &svc.container.host.expose {
        let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        if let Ok(port) = port.parse::<u16>() {
            let proto = match proto {
                "udp" => "UDP",
                "sctp" => "SCTP",
                _ => "TCP",
            };
            out.insert((port, proto));
        } else {
            ctx.left_out(svc, "expose", format!("{e}: not a single port"));
        }
    }
    out
}

/// Docker's healthcheck as an `exec` probe (`CMD-SHELL` runs under `/bin/sh -c`, as Docker
/// runs it); `NONE` gives none.
fn probe(h: &Healthcheck) -> Option<(Value, Option<Value>)> {
    let command: Vec<String> = match h.test.first().map(String::as_str) {
        Some("CMD") => h.test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), h.test[1..].join(" ")],
        _ => return None,
    };
    // Docker's defaults (30 s, 30 s, 3 tries) where the manifest sets none: Kubernetes' own
    // (10 s, 1 s) would fail a slow check that Docker passes.
    let period = seconds(h.interval.unwrap_or(Duration::from_secs(30)));
    let retries = h.retries.unwrap_or(3).max(1);
    let p = json!({
        "exec": { "command": command },
        "periodSeconds": period,
        "timeoutSeconds": seconds(h.timeout.unwrap_or(Duration::from_secs(30))),
        "failureThreshold": retries,
    });
    // Docker's start period: failures do not count while it lasts. A startup probe holds the
    // other two back the same way, checked every start interval, then allows the usual tries.
    let startup = h.start_period.map(|start| {
        let every = seconds(h.start_interval.unwrap_or(Duration::from_secs(period)));
        let tries = seconds(start).div_ceil(every) + u64::from(retries);
        json!({ "exec": { "command": command }, "periodSeconds": every, "failureThreshold": tries })
    });
    Some((p, startup))
}

fn pull(p: PullPolicy) -> &'static str {
    match p {
        PullPolicy::Always => "Always",
        PullPolicy::Missing => "IfNotPresent",
        PullPolicy::Never => "Never",
    }
}

/// `uid[:gid]` as runAsUser/runAsGroup; a name has no counterpart (Kubernetes takes ids).
fn user(svc: &Service, ctx: &mut Ctx, security: &mut Map<String, Value>) {
    let Some(u) = &svc.container.user else { return };
    let (uid, gid) = u.split_once(':').map_or((u.as_str(), None), |(a, b)| (a, Some(b)));
    match (uid.parse::<u64>(), gid.map(str::parse::<u64>)) {
        (Ok(uid), None) => {
            security.insert("runAsUser".into(), json!(uid));
        }
        (Ok(uid), Some(Ok(gid))) => {
            security.insert("runAsUser".into(), json!(uid));
            security.insert("runAsGroup".into(), json!(gid));
        }
        _ => ctx.left_out(svc, "user", "a user or group name: Kubernetes takes numeric ids only (securityContext.runAsUser, runAsGroup); use the ids the image's /etc/passwd gives it"),
    }
}

/// The container's security context: user, privileged, read-only root, capabilities.
fn security(svc: &Service, ctx: &mut Ctx) -> Map<String, Value> {
    let host = &svc.container.host;
    let mut s = Map::new();
    user(svc, ctx, &mut s);
    if host.privileged {
        s.insert("privileged".into(), json!(true));
    }
    if host.read_only {
        s.insert("readOnlyRootFilesystem".into(), json!(true));
    }
    let mut caps = Map::new();
    if !host.cap_add.is_empty() {
        caps.insert("add".into(), json!(host.cap_add));
    }
    if !host.cap_drop.is_empty() {
        caps.insert("drop".into(), json!(host.cap_drop));
    }
    if !caps.is_empty() {
        s.insert("capabilities".into(), Value::Object(caps));
    }
    s
}

/// Mounts: named volumes as PersistentVolumeClaims, binds as hostPath, tmpfs and anonymous
/// volumes as emptyDir. Returns the pod's volumes (by name) and the container's mounts.
fn mounts(svc: &Service, ctx: &mut Ctx, volumes: &mut BTreeMap<String, Value>, out: &mut Vec<Value>) {
    for (i, m) in svc.container.mounts.iter().enumerate() {
        let (name, volume, read_only) = match m {
            Mount::Volume { source, read_only, .. } => {
                let claim = dns_label(source);
                ctx.claims.insert(claim.clone());
                (claim.clone(), json!({ "persistentVolumeClaim": { "claimName": claim } }), *read_only)
            }
            Mount::Anonymous { read_only, .. } => (format!("anonymous-{i}"), json!({ "emptyDir": {} }), *read_only),
            Mount::Tmpfs { size, mode, .. } => {
                if mode.is_some() {
                    ctx.left_out(
                        svc,
                        "tmpfs",
                        format!("the mode of tmpfs {}: an emptyDir's mode is not set by the pod", m.target()),
                    );
                }
                let dir = match size {
                    Some(s) => json!({ "medium": "Memory", "sizeLimit": quantity(*s) }),
                    None => json!({ "medium": "Memory" }),
                };
                (format!("tmpfs-{i}"), json!({ "emptyDir": dir }), false)
            }
            Mount::Bind { source, read_only, propagation, selinux, create_host_path, .. } => {
                ctx.left_out(svc, "volumes", format!("bind {source}:{} became a hostPath volume: the pod sees that path on whichever node it is scheduled to; use a PersistentVolumeClaim or a ConfigMap", m.target()));
                if selinux.is_some() {
                    ctx.left_out(
                        svc,
                        "volumes",
                        format!(
                            "the SELinux relabelling of {}: Kubernetes relabels by the pod's seLinuxOptions",
                            m.target()
                        ),
                    );
                }
                if propagation.as_deref().is_some_and(|p| !matches!(p, "rslave" | "rshared" | "private" | "rprivate")) {
                    ctx.left_out(svc, "volumes", format!("the propagation of {}: Kubernetes has None, HostToContainer (rslave) and Bidirectional (rshared) only", m.target()));
                }
                let kind = if *create_host_path { "DirectoryOrCreate" } else { "" };
                let path =
                    if kind.is_empty() { json!({ "path": source }) } else { json!({ "path": source, "type": kind }) };
                let mut mount = json!({ "name": format!("bind-{i}"), "mountPath": m.target() });
                match propagation.as_deref() {
                    Some("rslave") => mount["mountPropagation"] = json!("HostToContainer"),
                    Some("rshared") => mount["mountPropagation"] = json!("Bidirectional"),
                    _ => {}
                }
                if *read_only {
                    mount["readOnly"] = json!(true);
                }
                volumes.insert(format!("bind-{i}"), json!({ "hostPath": path }));
                out.push(mount);
                continue;
            }
        };
        let mut mount = json!({ "name": name, "mountPath": m.target() });
        if read_only {
            mount["readOnly"] = json!(true);
        }
        volumes.insert(name, volume);
        out.push(mount);
    }
    if let Some(size) = svc.container.host.shm_size {
        // Docker's `--shm-size`: Kubernetes' way is a memory-backed emptyDir over /dev/shm.
        volumes.insert("dshm".into(), json!({ "emptyDir": { "medium": "Memory", "sizeLimit": quantity(size) } }));
        out.push(json!({ "name": "dshm", "mountPath": "/dev/shm" }));
    }
}

/// Memory and CPU limits; a memory reservation as the request.
fn resources(svc: &Service) -> Map<String, Value> {
    let r = &svc.container.resources;
    let mut limits = Map::new();
    if let Some(m) = r.memory {
        limits.insert("memory".into(), json!(quantity(m)));
    }
    if let Some(c) = r.cpus {
        limits.insert("cpu".into(), json!(format!("{}m", (c * 1000.0).round() as u64)));
    }
    let mut out = Map::new();
    if !limits.is_empty() {
        out.insert("limits".into(), Value::Object(limits));
    }
    if let Some(m) = svc.container.host.mem_reservation {
        out.insert("requests".into(), json!({ "memory": quantity(m) }));
    }
    out
}

/// The one container of the pod, with the pod's volumes it needs added to `volumes`.
pub(super) fn container(svc: &Service, ctx: &mut Ctx, volumes: &mut BTreeMap<String, Value>) -> Value {
    let c = &svc.container;
    let mut out = Map::new();
    out.insert("name".into(), json!(dns_label(&svc.name)));
    out.insert("image".into(), json!(c.image));
    out.insert("imagePullPolicy".into(), json!(pull(svc.pull)));
    // Docker's entrypoint is Kubernetes' command, and Docker's command its args.
    if let Some(e) = &c.entrypoint {
        out.insert("command".into(), json!(e));
    }
    if let Some(a) = &c.command {
        out.insert("args".into(), json!(a));
    }
    if let Some(w) = &c.working_dir {
        out.insert("workingDir".into(), json!(w));
    }
    let (env, env_from) = refs::env(svc, ctx);
    if !env.is_empty() {
        out.insert("env".into(), Value::Array(env));
    }
    if !env_from.is_empty() {
        out.insert("envFrom".into(), Value::Array(env_from));
    }
    let ports: Vec<Value> =
        ports(svc, ctx).into_iter().map(|(port, proto)| json!({ "containerPort": port, "protocol": proto })).collect();
    if !ports.is_empty() {
        out.insert("ports".into(), Value::Array(ports));
    }
    if let Some((p, startup)) = c.healthcheck.as_ref().and_then(probe) {
        out.insert("livenessProbe".into(), p.clone());
        out.insert("readinessProbe".into(), p);
        if let Some(s) = startup {
            out.insert("startupProbe".into(), s);
        }
    }
    let res = resources(svc);
    if !res.is_empty() {
        out.insert("resources".into(), Value::Object(res));
    }
    let sec = security(svc, ctx);
    if !sec.is_empty() {
        out.insert("securityContext".into(), Value::Object(sec));
    }
    let mut mounted = Vec::new();
    mounts(svc, ctx, volumes, &mut mounted);
    refs::files(svc, ctx, volumes, &mut mounted);
    mounted.sort_by(|a, b| a["mountPath"].as_str().cmp(&b["mountPath"].as_str()));
    if !mounted.is_empty() {
        out.insert("volumeMounts".into(), Value::Array(mounted));
    }
    if c.host.tty {
        out.insert("tty".into(), json!(true));
    }
    if c.host.stdin_open {
        out.insert("stdin".into(), json!(true));
    }
    Value::Object(out)
}
