//! Translation of a service's ports, volumes, dependencies, healthcheck, secret references and
//! `deploy` (split from the parent module `translate`, whose invariants hold here: every key translated or
//! reported with its compose path).

use serde_yaml::{Mapping, Value};

use super::*;

pub(super) fn translate_ports(ctx: &mut Ctx, at: &str, v: &Value, spec: &mut Mapping) {
    let mut ports = Vec::new();
    for (i, p) in v.as_sequence().into_iter().flatten().enumerate() {
        let p_at = format!("{at}[{i}]");
        match p {
            // moor reads compose's short form, ranges included.
            Value::String(_) => ports.push(p.clone()),
            Value::Number(n) => ports.push(key(&n.to_string())),
            Value::Mapping(m) => {
                let mut long = Mapping::new();
                for (k, val) in m {
                    let k = k.as_str().unwrap_or("?");
                    let number = |val: &Value| text(val).parse::<u32>().ok().map(|n| Value::Number(n.into()));
                    match (k, number(val)) {
                        ("target", Some(n)) => {
                            long.insert(key("container"), n);
                        }
                        ("published", Some(n)) => {
                            long.insert(key("host"), n);
                        }
                        ("protocol", _) => {
                            long.insert(key("protocol"), val.clone());
                        }
                        ("host_ip", _) => {
                            long.insert(key("hostIp"), val.clone());
                        }
                        ("mode" | "name", _) => {
                            long.insert(key(k), val.clone());
                        }
                        ("app_protocol", _) => {
                            long.insert(key("appProtocol"), val.clone());
                        }
                        _ => ctx.report.left_out(format!("{p_at}.{k}"), "not translated"),
                    }
                }
                if long.contains_key("container") {
                    ports.push(Value::Mapping(long));
                } else {
                    ctx.report.left_out(p_at, "no single `target` port");
                }
            }
            _ => ctx.report.left_out(p_at, "a port is a string, a number or a mapping"),
        }
    }
    spec.insert(key("ports"), Value::Sequence(ports));
}

/// Why compose's `cached`, `delegated` and `consistent` are left out.
const CONSISTENCY: &str =
    "the consistency (cached, delegated, consistent) is left out: it is Docker Desktop's for macOS, and Docker on Linux ignores it";

/// A short volume entry without compose's consistency options, which Docker on Linux ignores
/// and moor does not take (an advice line when there was one). The options are the last
/// `:`-part when it is a list of option words (a target is an absolute path, never one).
fn without_consistency(ctx: &mut Ctx, at: &str, entry: &str) -> String {
    const WORDS: &[&str] = &[
        "ro",
        "rw",
        "z",
        "Z",
        "nocopy",
        "cached",
        "delegated",
        "consistent",
        "private",
        "rprivate",
        "shared",
        "rshared",
        "slave",
        "rslave",
    ];
    let Some((head, options)) = entry.rsplit_once(':') else { return entry.to_string() };
    if !head.contains(':') || !options.split(',').all(|o| WORDS.contains(&o)) {
        return entry.to_string();
    }
    let kept: Vec<&str> = options.split(',').filter(|o| !["cached", "delegated", "consistent"].contains(o)).collect();
    if kept.len() == options.split(',').count() {
        return entry.to_string();
    }
    ctx.report.advise(at, CONSISTENCY);
    match kept.is_empty() {
        true => head.to_string(),
        false => format!("{head}:{}", kept.join(",")),
    }
}

pub(super) fn translate_volumes(ctx: &mut Ctx, at: &str, v: &Value, spec: &mut Mapping) {
    let mut mounts = Vec::new();
    for (i, m) in v.as_sequence().into_iter().flatten().enumerate() {
        let m_at = format!("{at}[{i}]");
        match m {
            Value::String(s) => match without_consistency(ctx, &m_at, s).split_once(':') {
                // An anonymous volume, as moor writes it.
                None => mounts.push(m.clone()),
                Some((source, rest)) if !source.starts_with(['.', '/', '~']) => {
                    // `z`/`Z` on a named volume (nextcloud's examples): Docker's local volumes
                    // are labelled for containers already, and moor relabels binds only.
                    let (target, options) = rest.split_once(':').unwrap_or((rest, ""));
                    let kept: Vec<&str> =
                        options.split(',').filter(|o| !o.is_empty() && *o != "z" && *o != "Z").collect();
                    if kept.len() != options.split(',').filter(|o| !o.is_empty()).count() {
                        ctx.report.advise(&m_at, "z/Z left out: a named volume needs no SELinux relabel (Docker labels its volumes for containers)");
                    }
                    let rest =
                        if kept.is_empty() { target.to_string() } else { format!("{target}:{}", kept.join(",")) };
                    mounts.push(key(&format!("{}:{rest}", ctx.volume_name(source))));
                }
                // A relative bind source is relative to the compose file, a manifest's to its folder.
                Some((source, rest)) if source.starts_with('.') => {
                    let source = ctx.manifest_path(&m_at, source);
                    mounts.push(key(&format!("{source}:{rest}")));
                }
                Some(_) => mounts.push(m.clone()),
            },
            Value::Mapping(map) => {
                let mut long = Mapping::new();
                let kind = map.get("type").map(text).unwrap_or_default();
                for (k, val) in map {
                    let k = k.as_str().unwrap_or("?");
                    match k {
                        "type" | "target" => {
                            long.insert(key(k), val.clone());
                        }
                        "source" if kind == "volume" => {
                            long.insert(key("source"), key(&ctx.volume_name(&text(val))));
                        }
                        "source" if text(val).starts_with('.') => {
                            let source = ctx.manifest_path(&m_at, &text(val));
                            long.insert(key("source"), key(&source));
                        }
                        "source" => {
                            long.insert(key("source"), val.clone());
                        }
                        "read_only" => {
                            long.insert(key("readOnly"), val.clone());
                        }
                        "consistency" => ctx.report.advise(format!("{m_at}.{k}"), CONSISTENCY),
                        "tmpfs" | "bind" | "volume" => mount_options(ctx, &format!("{m_at}.{k}"), k, val, &mut long),
                        _ => ctx.report.left_out(format!("{m_at}.{k}"), "not translated"),
                    }
                }
                mounts.push(Value::Mapping(long));
            }
            _ => ctx.report.left_out(m_at, "a string or a mapping"),
        }
    }
    spec.insert(key("volumes"), Value::Sequence(mounts));
}

/// The `bind`, `volume` and `tmpfs` options of a long-form mount (`kind`), camelCased.
pub(super) fn mount_options(ctx: &mut Ctx, at: &str, kind: &str, options: &Value, long: &mut Mapping) {
    let mut out = Mapping::new();
    for (k, val) in options.as_mapping().into_iter().flatten() {
        let moor = match (kind, k.as_str().unwrap_or("?")) {
            ("bind", "propagation") => "propagation",
            ("bind", "create_host_path") => "createHostPath",
            ("bind", "selinux") => "selinux",
            ("volume", "nocopy") => "nocopy",
            ("tmpfs", "size") => "size",
            ("tmpfs", "mode") => "mode",
            (_, other) => {
                ctx.report.left_out(format!("{at}.{other}"), "not translated");
                continue;
            }
        };
        out.insert(key(moor), val.clone());
    }
    if !out.is_empty() {
        long.insert(key(kind), Value::Mapping(out));
    }
}

pub(super) fn translate_depends(ctx: &mut Ctx, at: &str, v: &Value, spec: &mut Mapping) {
    let mut deps = Mapping::new();
    match v {
        Value::Sequence(items) => {
            let names = items.iter().map(|n| key(&dns_name(&text(n)))).collect();
            spec.insert(key("dependsOn"), Value::Sequence(names));
            return;
        }
        Value::Mapping(m) => {
            for (n, opts) in m {
                let n = text(n);
                let d_at = format!("{at}.{n}");
                let mut condition = "started";
                let mut long = Mapping::new();
                for (k, val) in opts.as_mapping().into_iter().flatten() {
                    match (k.as_str().unwrap_or("?"), val.as_str()) {
                        ("condition", Some("service_started")) => {}
                        ("condition", Some("service_healthy")) => condition = "healthy",
                        ("condition", Some("service_completed_successfully")) => condition = "completed",
                        // Compose's defaults are moor's; the others need the long form.
                        ("required", _) if val.as_bool() == Some(true) => {}
                        ("restart", _) if val.as_bool() == Some(false) => {}
                        (flag @ ("required" | "restart"), _) if val.as_bool().is_some() => {
                            long.insert(key(flag), val.clone());
                        }
                        ("condition", _) => {
                            ctx.report.left_out(format!("{d_at}.condition"), "not translated: waits until started")
                        }
                        (other, _) => ctx.report.left_out(format!("{d_at}.{other}"), "not translated"),
                    }
                }
                if long.is_empty() {
                    deps.insert(key(&dns_name(&n)), key(condition));
                } else {
                    long.insert(key("condition"), key(condition));
                    deps.insert(key(&dns_name(&n)), Value::Mapping(long));
                }
            }
        }
        _ => ctx.report.left_out(at, "a list or a mapping"),
    }
    spec.insert(key("dependsOn"), Value::Mapping(deps));
}

pub(super) fn translate_healthcheck(ctx: &mut Ctx, at: &str, v: &Value, spec: &mut Mapping) {
    let mut check = Mapping::new();
    for (k, val) in v.as_mapping().into_iter().flatten() {
        let k = k.as_str().unwrap_or("?");
        match k {
            "test" | "interval" | "timeout" | "retries" => {
                check.insert(key(k), val.clone());
            }
            "start_period" => {
                check.insert(key("startPeriod"), val.clone());
            }
            // `disable: false` (immich writes it) changes nothing.
            "disable" if val.as_bool() == Some(false) => {}
            "start_interval" => {
                check.insert(key("startInterval"), val.clone());
            }
            "disable" if val.as_bool() == Some(true) => {
                check = Mapping::new();
                check.insert(key("test"), Value::Sequence(vec![key("NONE")]));
                break;
            }
            _ => ctx.report.left_out(format!("{at}.{k}"), "not translated"),
        }
    }
    if check.contains_key("startInterval") && check.contains_key("test") {
        // moor sends it only to a daemon that speaks API 1.44 (Docker Engine 25) and refuses
        // the service on an older one: better said now than at apply (and only when written).
        ctx.report.advise(
            format!("{at}.start_interval"),
            "needs Docker API 1.44 (Docker Engine 25 or later): an older daemon refuses the service at healthcheck.startInterval; remove it there",
        );
    }
    if check.contains_key("test") {
        spec.insert(key("healthcheck"), Value::Mapping(check));
    } else if !check.is_empty() {
        ctx.report.left_out(at, "a healthcheck without `test` (the image's) is not translated");
    }
}

pub(super) fn translate_secret_refs(ctx: &mut Ctx, at: &str, v: &Value, spec: &mut Mapping) {
    let mut refs = Vec::new();
    for (i, s) in v.as_sequence().into_iter().flatten().enumerate() {
        let s_at = format!("{at}[{i}]");
        // A reference to a secret that gets no Secret manifest (external, or of a source moor
        // does not take) is left out with it: kept, it would fail the whole import.
        let source = match s {
            Value::Mapping(m) => m.get("source").map(text),
            other => Some(text(other)),
        };
        if let Some(source) = source.filter(|n| !secret_translated(ctx, n)) {
            ctx.report.left_out(
                s_at,
                format!(
                    "secret {source} gets no Secret manifest (see secrets.{source}): the service does not mount it"
                ),
            );
            continue;
        }
        match s {
            Value::String(n) => refs.push(key(&dns_name(n))),
            Value::Mapping(m) => {
                let mut long = Mapping::new();
                for (k, val) in m {
                    let k = k.as_str().unwrap_or("?");
                    match k {
                        "source" => {
                            long.insert(key("secret"), key(&dns_name(&text(val))));
                        }
                        // Compose reads a relative target under /run/secrets.
                        "target" => {
                            let t = text(val);
                            let t = if t.starts_with('/') { t } else { format!("/run/secrets/{t}") };
                            long.insert(key("target"), key(&t));
                        }
                        "uid" | "gid" => {
                            let n = text(val).parse::<u32>().map(|n| Value::Number(n.into())).unwrap_or(val.clone());
                            long.insert(key(k), n);
                        }
                        "mode" => {
                            long.insert(key("mode"), val.clone());
                        }
                        _ => ctx.report.left_out(format!("{s_at}.{k}"), "not translated"),
                    }
                }
                refs.push(Value::Mapping(long));
            }
            _ => ctx.report.left_out(s_at, "a name or a mapping"),
        }
    }
    spec.insert(key("secrets"), Value::Sequence(refs));
}

/// Whether the top-level secret `name` becomes a Secret manifest: one from a file or from a
/// variable that is set, not an external one.
fn secret_translated(ctx: &Ctx, name: &str) -> bool {
    let Some(def) = ctx.project.secrets.get(name) else { return false };
    let external = def.get("external").is_some_and(|e| e.as_bool() != Some(false) && !e.is_null());
    let from_var = def.get("environment").is_some_and(|var| ctx.project.vars.contains_key(text(var).as_str()));
    !external && (def.get("file").is_some() || from_var)
}

/// A service's `configs`: compose's top-level configs (a file, inline `content`, a variable's
/// value) as moor config files. The short form's target is `/<name>`, and a relative one is
/// under `/`, as compose mounts them.
pub(super) fn translate_config_refs(ctx: &mut Ctx, at: &str, v: &Value, spec: &mut Mapping) {
    let mut configs = Vec::new();
    for (i, c) in v.as_sequence().into_iter().flatten().enumerate() {
        let c_at = format!("{at}[{i}]");
        let long = c.as_mapping();
        let Some(source) = long.map_or(Some(text(c)), |m| m.get("source").map(text)) else {
            ctx.report.left_out(c_at, "no `source`");
            continue;
        };
        let Some(file) = config_file(ctx, &source) else {
            ctx.report.left_out(
                c_at,
                format!("config {source} gets no file (see configs.{source}): the service does not mount it"),
            );
            continue;
        };
        let mut entry = Mapping::new();
        entry.insert(key("file"), key(&file));
        let target = long.and_then(|m| m.get("target")).map(text).unwrap_or_else(|| source.clone());
        let target = if target.starts_with('/') { target } else { format!("/{target}") };
        entry.insert(key("target"), key(&target));
        for (k, val) in long.into_iter().flatten() {
            match k.as_str().unwrap_or("?") {
                "source" | "target" => {}
                k @ ("uid" | "gid") => {
                    let n = text(val).parse::<u32>().map(|n| Value::Number(n.into())).unwrap_or(val.clone());
                    entry.insert(key(k), n);
                }
                "mode" => {
                    entry.insert(key("mode"), val.clone());
                }
                other => ctx.report.left_out(format!("{c_at}.{other}"), "not translated"),
            }
        }
        configs.push(Value::Mapping(entry));
    }
    spec.insert(key("configs"), Value::Sequence(configs));
}

/// The file, in the output folder, of the top-level config `name`: its `file` carried there,
/// or its `content` or `environment` variable's value written there (once for all services).
/// `None` for an external or unknown config, or an unset variable.
fn config_file(ctx: &mut Ctx, name: &str) -> Option<String> {
    let mut def = ctx.project.configs.get(name)?.clone();
    crate::import::compose::untag(&mut def);
    let at = format!("configs.{name}");
    if def.get("external").is_some_and(|e| e.as_bool() != Some(false) && !e.is_null()) {
        return None;
    }
    if let Some(file) = def.get("file") {
        return Some(ctx.carried_config(&format!("{at}.file"), &text(file)));
    }
    let content = match (def.get("content"), def.get("environment")) {
        (Some(content), _) => text(content),
        (None, Some(var)) => ctx.project.vars.get(&text(var))?.clone(),
        (None, None) => return None,
    };
    let file = format!("files/config-{}", dns_name(name));
    if !ctx.files.iter().any(|f| f.name == file) {
        ctx.files.push(OutFile { name: file.clone(), content, private: false });
    }
    Some(format!("./{file}"))
}

/// The `restart` compose gives a container from `deploy.restart_policy` (which wins over
/// `restart`): `any` is `always`, `none` is `no`, `on-failure` with `max_attempts` as its count.
pub(super) fn deploy_restart(service: &Mapping) -> Option<Value> {
    let policy = service.get("deploy")?.get("restart_policy")?;
    let condition = policy.get("condition").map(text).unwrap_or_else(|| "any".into());
    let attempts = policy.get("max_attempts").map(text).filter(|n| n != "0");
    let restart = match (condition.as_str(), attempts) {
        ("any", _) => "always".to_string(),
        ("none", _) => "no".to_string(),
        ("on-failure", Some(n)) => format!("on-failure:{n}"),
        (other, _) => other.to_string(),
    };
    Some(key(&restart))
}

pub(super) fn translate_deploy(ctx: &mut Ctx, at: &str, v: &Value, spec: &mut Mapping, resources: &mut Mapping) {
    for (k, val) in v.as_mapping().into_iter().flatten() {
        let k = k.as_str().unwrap_or("?");
        match k {
            "replicas" => {
                spec.insert(key("replicas"), val.clone());
            }
            "placement" => crate::import::translate_placement::translate_placement(
                &mut ctx.report,
                &format!("{at}.placement"),
                val,
                spec,
            ),
            "mode" if val.as_str() == Some("replicated") => {}
            // Its condition and attempts are the service's `restart` (see `deploy_restart`).
            "restart_policy" => {
                for (rk, _) in val.as_mapping().into_iter().flatten() {
                    let rk = rk.as_str().unwrap_or("?");
                    if !["condition", "max_attempts"].contains(&rk) {
                        ctx.report.left_out(
                            format!("{at}.restart_policy.{rk}"),
                            "not translated: Docker's restart policy has a condition and a count only",
                        );
                    }
                }
            }
            "mode" if val.as_str() == Some("replicated-job") => {
                spec.insert(key("mode"), key("job"));
            }
            "resources" => {
                for (rk, rv) in val.as_mapping().into_iter().flatten() {
                    let rk = rk.as_str().unwrap_or("?");
                    if rk == "reservations" {
                        for (dk, dv) in rv.as_mapping().into_iter().flatten() {
                            match (dk.as_str().unwrap_or("?"), dv) {
                                // Device reservations are GPU requests (HostConfig.DeviceRequests).
                                ("devices", Value::Sequence(items)) => {
                                    spec.insert(key("gpus"), Value::Sequence(items.iter().map(camel_keys).collect()));
                                }
                                // Compose sends it as the container's memory reservation.
                                ("memory", v) => {
                                    spec.entry(key("memReservation")).or_insert_with(|| v.clone());
                                }
                                (other, _) => ctx
                                    .report
                                    .left_out(format!("{at}.resources.reservations.{other}"), "not translated"),
                            }
                        }
                        continue;
                    }
                    if rk != "limits" {
                        ctx.report.left_out(format!("{at}.resources.{rk}"), "not translated");
                        continue;
                    }
                    for (lk, lv) in rv.as_mapping().into_iter().flatten() {
                        match lk.as_str().unwrap_or("?") {
                            "memory" => resources.insert(key("memory"), lv.clone()),
                            "cpus" => resources.insert(key("cpus"), cpus(lv)),
                            "pids" => resources.insert(key("pids"), lv.clone()),
                            other => {
                                ctx.report.left_out(format!("{at}.resources.limits.{other}"), "not translated");
                                None
                            }
                        };
                    }
                }
            }
            _ => ctx.report.left_out(format!("{at}.{k}"), "not translated"),
        }
    }
}
