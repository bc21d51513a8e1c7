//! Compose services, networks, volumes and file secrets as moor manifests.
//!
//! Invariants:
//! - Every key of a service is either translated, deliberately ignored (`profiles`, `extends`,
//!   already applied) or reported in `left_out` with its compose path.
//! - Names become DNS-1123 (`_` and `.` as `-`, lowercase) everywhere they are referenced, with
//!   an advice line when one changes.
//! - An env value marked as interpolated ([`super::compose::INTERPOLATED`]) or taken from the
//!   environment (`KEY` without a value) for a key that looks secret, or built from a variable
//!   whose name looks secret (`DATABASE_URL=postgres://u:${DB_PASSWORD}@db`), goes to
//!   `<service>.env`; such a variable's value anywhere else in a service gets an advice line.

use std::path::{Component, Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::compose::{holds_secret, is_interpolated, secret_paths, untag, Project};
use super::report::Report;
use super::translate_net::{translate_ipam, translate_networks};
use super::{ImportError, Imported, Options, OutFile, MODELINE};

/// Keys copied as they are, under their moor name: moor reads the same forms as compose.
const RENAMED: &[(&str, &str)] = &[
    ("command", "command"),
    ("entrypoint", "entrypoint"),
    ("working_dir", "workingDir"),
    ("user", "user"),
    ("hostname", "hostname"),
    ("domainname", "domainname"),
    ("extra_hosts", "extraHosts"),
    ("dns", "dns"),
    ("dns_search", "dnsSearch"),
    ("dns_opt", "dnsOpt"),
    ("init", "init"),
    ("read_only", "readOnly"),
    ("tty", "tty"),
    ("stdin_open", "stdinOpen"),
    ("shm_size", "shmSize"),
    ("expose", "expose"),
    ("sysctls", "sysctls"),
    ("ulimits", "ulimits"),
    ("logging", "logging"),
    ("group_add", "groupAdd"),
    ("security_opt", "securityOpt"),
    ("privileged", "privileged"),
    ("cap_add", "capAdd"),
    ("cap_drop", "capDrop"),
    ("pid", "pid"),
    ("ipc", "ipc"),
    ("stop_signal", "stopSignal"),
    ("stop_grace_period", "stopTimeout"),
    ("tmpfs", "tmpfs"),
    ("volumes_from", "volumesFrom"),
    ("restart", "restart"),
    ("runtime", "runtime"),
    ("platform", "platform"),
    ("cgroup", "cgroup"),
    ("cgroup_parent", "cgroupParent"),
    ("cpu_shares", "cpuShares"),
    ("cpuset", "cpusetCpus"),
    ("mem_reservation", "memReservation"),
    ("oom_kill_disable", "oomKillDisable"),
    ("oom_score_adj", "oomScoreAdj"),
    ("userns_mode", "userns"),
    ("cpu_quota", "cpuQuota"),
    ("cpu_period", "cpuPeriod"),
    ("cpu_rt_period", "cpuRtPeriod"),
    ("cpu_rt_runtime", "cpuRtRuntime"),
    ("mem_swappiness", "memSwappiness"),
    ("memswap_limit", "memswapLimit"),
    ("storage_opt", "storageOpt"),
    ("device_cgroup_rules", "deviceCgroupRules"),
    ("uts", "uts"),
    ("mac_address", "macAddress"),
    ("container_name", "containerName"),
];

/// What the import writes in place of a secret-looking variable's value outside `environment`.
const REDACTED: &str = "REDACTED-SECRET";

/// Keys already applied while reading (`extends`, `profiles`).
const APPLIED: &[&str] = &["extends", "profiles"];

struct Ctx<'a> {
    project: &'a Project,
    out_dir: PathBuf,
    report: Report,
    files: Vec<OutFile>,
}

/// Translates a merged project.
pub fn project(mut project: Project, options: &Options) -> Result<Imported, ImportError> {
    let out_dir = normalize(
        &std::path::absolute(&options.out_dir)
            .map_err(|e| ImportError::Other(format!("{}: {e}", options.out_dir.display())))?,
    );
    let report = std::mem::take(&mut project.report);
    let mut ctx = Ctx { project: &project, out_dir, report, files: Vec::new() };
    for (name, service) in &project.services {
        let name = name.as_str().unwrap_or("?").to_string();
        let service = match service {
            Value::Mapping(m) => m.clone(),
            Value::Null => Mapping::new(),
            _ => return Err(ImportError::Other(format!("services.{name}: a service must be a mapping"))),
        };
        translate_service(&mut ctx, &name, service)?;
    }
    for (kind, defs) in [("Network", &project.networks), ("Volume", &project.volumes), ("Secret", &project.secrets)] {
        for (name, def) in defs {
            let name = name.as_str().unwrap_or("?").to_string();
            let mut def = match def {
                Value::Mapping(m) => m.clone(),
                _ => Mapping::new(),
            };
            let mut value = Value::Mapping(std::mem::take(&mut def));
            untag(&mut value);
            let Value::Mapping(def) = value else { unreachable!() };
            translate_object(&mut ctx, kind, &name, def);
        }
    }
    Ok(Imported { files: ctx.files, report: ctx.report })
}

/// Service names in `ipc`, `pid` (`service:NAME`) and `volumesFrom` (`NAME`, `service:NAME`,
/// each with an optional `:ro`/`:rw`) as the manifests name the services (DNS-1123), as
/// `depends_on` and `network_mode` are.
fn rename_joins(spec: &mut Mapping) {
    for field in ["ipc", "pid"] {
        if let Some(Value::String(v)) = spec.get_mut(field) {
            if let Some(name) = v.strip_prefix("service:") {
                *v = format!("service:{}", dns_name(name));
            }
        }
    }
    for entry in spec.get_mut("volumesFrom").and_then(Value::as_sequence_mut).into_iter().flatten() {
        let Value::String(v) = entry else { continue };
        if v.starts_with("container:") {
            continue;
        }
        let rest = v.strip_prefix("service:").unwrap_or(v);
        let (name, mode) = rest.split_once(':').map_or((rest, None), |(n, m)| (n, Some(m)));
        *v = match mode {
            Some(m) => format!("service:{}:{m}", dns_name(name)),
            None => format!("service:{}", dns_name(name)),
        };
    }
}

/// A compose name as a DNS-1123 label.
pub(super) fn dns_name(name: &str) -> String {
    name.to_lowercase().chars().map(|c| if c == '_' || c == '.' { '-' } else { c }).collect()
}

pub(super) fn key(k: &str) -> Value {
    Value::String(k.to_string())
}

pub(super) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
    }
}

/// A mapping with compose's snake_case keys (`device_read_bps`, `device_ids`) in moor's
/// camelCase; values are kept (`options` keys are the driver's own).
fn camel_keys(v: &Value) -> Value {
    let Value::Mapping(m) = v else { return v.clone() };
    let camel = |k: &str| {
        let mut parts = k.split('_');
        let first = parts.next().unwrap_or_default().to_string();
        parts.fold(first, |mut out, p| {
            let mut chars = p.chars();
            out.extend(chars.next().map(|c| c.to_ascii_uppercase()));
            out.push_str(chars.as_str());
            out
        })
    };
    Value::Mapping(
        m.iter().map(|(k, v)| (k.as_str().map(|k| key(&camel(k))).unwrap_or_else(|| k.clone()), v.clone())).collect(),
    )
}

/// Compose writes `cpus` as a number or as text (`"0.5"`); moor reads a number.
fn cpus(v: &Value) -> Value {
    match v.as_str().and_then(|t| t.parse::<f64>().ok()) {
        Some(n) => Value::Number(n.into()),
        None => v.clone(),
    }
}

/// `.` and `..` removed lexically (the output folder may not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

impl Ctx<'_> {
    /// A path of the compose files as a manifest reads it: relative to the output folder when
    /// the file is inside it, else absolute (with an advice line: the folder is not portable).
    fn manifest_path(&mut self, at: &str, path: &str) -> String {
        let abs = normalize(&self.project.dir.join(path));
        match abs.strip_prefix(&self.out_dir) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
            Ok(rel) => format!("./{}", rel.display()),
            Err(_) => {
                self.report.advise(at, format!("{} is outside the output folder: written as an absolute path", path));
                abs.display().to_string()
            }
        }
    }

    /// A file moor reads (an env file, a secret's file) as a manifest names it: one outside the
    /// output folder is copied into its `files/` subfolder (mode 0600; a folder's subfolders are
    /// not read as manifests), so that the folder is whole: it goes into git, and `moor validate`
    /// reads such files only inside the manifest source. A note says to encrypt it. A file that
    /// cannot be read as text is named by its absolute path instead.
    fn carried_path(&mut self, at: &str, path: &str) -> String {
        let abs = normalize(&self.project.dir.join(path));
        if abs.starts_with(&self.out_dir) {
            return self.manifest_path(at, path);
        }
        let Ok(content) = std::fs::read_to_string(&abs) else {
            return self.manifest_path(at, path);
        };
        let base = abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
        // The same file named twice is copied once; another file of the same name gets a number.
        let mut name = format!("files/{base}");
        let mut n = 1;
        while let Some(other) = self.files.iter().find(|f| f.name == name) {
            if other.content == content {
                return format!("./{name}");
            }
            n += 1;
            name = format!("files/{n}-{base}");
        }
        self.files.push(OutFile { name: name.clone(), content, private: true });
        self.report.advise(
            at,
            format!(
                "{path} copied into the output folder as {name} (mode 0600): encrypt it before committing it (`sops --encrypt --age <recipient> --in-place {name}`)"
            ),
        );
        format!("./{name}")
    }

    fn emit(&mut self, kind: &str, file: String, name: &str, labels: Mapping, spec: Option<Mapping>, from: &str) {
        let mut metadata = Mapping::new();
        metadata.insert(key("name"), key(name));
        if !labels.is_empty() {
            metadata.insert(key("labels"), Value::Mapping(labels));
        }
        let mut doc = Mapping::new();
        doc.insert(key("apiVersion"), key("moor/v1"));
        doc.insert(key("kind"), key(kind));
        doc.insert(key("metadata"), Value::Mapping(metadata));
        if let Some(spec) = spec {
            doc.insert(key("spec"), Value::Mapping(spec));
        }
        let body = serde_yaml::to_string(&doc).expect("a mapping of plain values serializes");
        let content = format!("{MODELINE}\n# Imported from compose: {from}\n{body}");
        self.files.push(OutFile { name: file, content, private: false });
    }
}

fn labels_of(ctx: &mut Ctx, at: &str, value: Option<&Value>) -> Mapping {
    let mut labels = Mapping::new();
    match value {
        Some(Value::Mapping(m)) => {
            for (k, v) in m {
                labels.insert(key(&text(k)), key(&text(v)));
            }
        }
        Some(_) => ctx.report.left_out(at, "labels must be a mapping or a list"),
        None => {}
    }
    labels
}

fn translate_object(ctx: &mut Ctx, kind: &str, compose_name: &str, def: Mapping) {
    let section = match kind {
        "Network" => "networks",
        "Volume" => "volumes",
        _ => "secrets",
    };
    let at = format!("{section}.{compose_name}");
    if kind == "Network" && compose_name == "default" {
        // Services that list no network, or `default`, are on the instance's default network,
        // which moor makes itself (`<instance>_default`, a bridge).
        ctx.report.left_out(
            &at,
            "the default network is moor's own (<instance>_default, a bridge): its settings are not translated; for an existing network, list it in each service's networks",
        );
        return;
    }
    let name = dns_name(compose_name);
    if name != compose_name {
        ctx.report.advise(&at, format!("named {name} (DNS-1123)"));
    }
    if def.get("external").and_then(Value::as_bool) == Some(true) {
        ctx.report.left_out(&at, "external: not created by moor, no manifest written");
        return;
    }
    let mut spec = Mapping::new();
    let mut labels = Mapping::new();
    for (k, v) in &def {
        let k = k.as_str().unwrap_or("?");
        let path = format!("{at}.{k}");
        match (kind, k) {
            ("Network" | "Volume", "driver") => {
                spec.insert(key("driver"), v.clone());
            }
            ("Network" | "Volume", "driver_opts") => {
                let mut opts = Mapping::new();
                if let Value::Mapping(m) = v {
                    for (ok, ov) in m {
                        opts.insert(key(&text(ok)), key(&text(ov)));
                    }
                }
                spec.insert(key("options"), Value::Mapping(opts));
            }
            ("Network", "internal" | "attachable") => {
                spec.insert(key(k), v.clone());
            }
            ("Network", "enable_ipv6") => {
                spec.insert(key("enableIpv6"), v.clone());
            }
            ("Network", "ipam") => {
                if let Some(ipam) = translate_ipam(&mut ctx.report, &path, v) {
                    spec.insert(key("ipam"), ipam);
                }
            }
            ("Network" | "Volume", "labels") => labels = labels_of(ctx, &path, Some(v)),
            ("Secret", "file") => {
                let file = ctx.carried_path(&path, &text(v));
                spec.insert(key("file"), key(&file));
                // Compose mounts a secret file whole, whatever its name.
                spec.insert(key("format"), key("binary"));
            }
            ("Network" | "Volume" | "Secret", "external") => {}
            _ => ctx.report.left_out(path, "no moor counterpart"),
        }
    }
    let file = format!("{}-{name}.yaml", kind.to_lowercase());
    if kind == "Secret" {
        if !spec.contains_key("file") {
            ctx.report.left_out(&at, "only file secrets are translated; no manifest written");
            return;
        }
        // A Secret has no labels: it creates nothing in Docker.
        ctx.emit(kind, file, &name, Mapping::new(), Some(spec), &at);
    } else {
        let spec = if spec.is_empty() { None } else { Some(spec) };
        ctx.emit(kind, file, &name, labels, spec, &at);
    }
}

fn translate_service(ctx: &mut Ctx, compose_name: &str, mut service: Mapping) -> Result<(), ImportError> {
    let at = format!("services.{compose_name}");
    let name = dns_name(compose_name);
    if name != compose_name {
        ctx.report.advise(&at, format!("named {name} (DNS-1123)"));
    }
    let mut spec = Mapping::new();
    let mut env_spec = Mapping::new();
    let mut env_from = Vec::new();
    // Environment first: it still carries the interpolation marks.
    if let Some(environment) = service.remove("environment") {
        translate_env(ctx, &at, &name, environment, &mut env_spec, &mut env_from);
    }
    let mut value = Value::Mapping(service);
    // A secret-looking variable's value anywhere but `environment` (a command argument, a label,
    // a healthcheck): never written; the manifest holds a placeholder and the report says where.
    let mut exposed = Vec::new();
    secret_paths(&value, &at, &mut exposed);
    super::compose::redact_secrets(&mut value, REDACTED);
    for path in exposed {
        ctx.report.left_out(
            path,
            format!(
                "holds the value of a secret-looking variable from .env or the environment: written as {REDACTED:?}; pass it through envFrom or a Secret instead"
            ),
        );
    }
    untag(&mut value);
    let Value::Mapping(service) = value else { unreachable!() };
    let mut labels = Mapping::new();
    let mut resources = Mapping::new();
    let image = service.get("image").map(text);
    match (service.get("build"), &image) {
        (Some(_), Some(image)) => {
            ctx.report.left_out(format!("{at}.build"), "not translated (moor runs images): the image is kept");
            spec.insert(key("image"), key(image));
        }
        (Some(build), None) => {
            let image = format!("{}-{name}", ctx.project.name);
            let context = match build {
                Value::Mapping(m) => m.get("context").map(text).unwrap_or_else(|| ".".into()),
                other => text(other),
            };
            ctx.report.left_out(
                format!("{at}.build"),
                format!("not translated (moor runs images): build and tag it, `docker build -t {image} {context}`"),
            );
            spec.insert(key("image"), key(&image));
            spec.insert(key("pull"), key("never"));
        }
        (None, Some(image)) => {
            spec.insert(key("image"), key(image));
        }
        (None, None) => return Err(ImportError::Other(format!("{at}: neither `image` nor `build`"))),
    }
    for (k, v) in env_spec {
        spec.insert(k, v);
    }
    for (k, v) in &service {
        let k = k.as_str().unwrap_or("?");
        let path = format!("{at}.{k}");
        if let Some((_, moor)) = RENAMED.iter().find(|(c, _)| *c == k) {
            spec.insert(key(moor), v.clone());
            continue;
        }
        match k {
            "image" | "build" => {}
            _ if APPLIED.contains(&k) => {}
            "labels" => labels = labels_of(ctx, &path, Some(v)),
            "env_file" => translate_env_file(ctx, &path, v, &mut env_from),
            "label_file" => translate_label_file(ctx, &path, v, &mut spec),
            "ports" => translate_ports(ctx, &path, v, &mut spec),
            "volumes" => translate_volumes(ctx, &path, v, &mut spec),
            "networks" => translate_networks(&mut ctx.report, &path, v, &mut spec),
            "network_mode" => match v.as_str() {
                Some("host") => {
                    spec.insert(key("networks"), Value::Sequence(vec![key("host")]));
                }
                Some("none") => {
                    spec.insert(key("networkMode"), key("none"));
                }
                Some("bridge") => {
                    spec.insert(key("networks"), Value::Sequence(vec![key("bridge")]));
                }
                Some(mode) if mode.starts_with("service:") => {
                    spec.insert(key("networkMode"), key(&format!("service:{}", dns_name(&mode[8..]))));
                }
                Some(mode) if mode.starts_with("container:") => {
                    spec.insert(key("networkMode"), key(mode));
                }
                _ => {
                    ctx.report.left_out(path, "only host, none, bridge, service:NAME and container:NAME are translated")
                }
            },
            "depends_on" => translate_depends(ctx, &path, v, &mut spec),
            "healthcheck" => translate_healthcheck(ctx, &path, v, &mut spec),
            // Compose takes a list of `key=value` too; moor a map.
            "annotations" => {
                let map: Mapping = match v {
                    Value::Sequence(items) => items
                        .iter()
                        .map(|i| {
                            let t = text(i);
                            let (k, v) = t.split_once('=').unwrap_or((&t, ""));
                            (key(k), key(v))
                        })
                        .collect(),
                    Value::Mapping(m) => m.iter().map(|(k, v)| (k.clone(), key(&text(v)))).collect(),
                    _ => Mapping::new(),
                };
                spec.insert(key("annotations"), Value::Mapping(map));
            }
            "blkio_config" => {
                spec.insert(key("blkioConfig"), camel_keys(v));
            }
            "gpus" => {
                let gpus = match v {
                    Value::Sequence(items) => Value::Sequence(items.iter().map(camel_keys).collect()),
                    other => other.clone(),
                };
                spec.insert(key("gpus"), gpus);
            }
            "secrets" => translate_secret_refs(ctx, &path, v, &mut spec),
            "devices" => {
                let mut devices = Vec::new();
                for (i, d) in v.as_sequence().into_iter().flatten().enumerate() {
                    match d {
                        // The long form's keys (source, target, permissions) are moor's.
                        Value::String(_) | Value::Mapping(_) => devices.push(d.clone()),
                        _ => ctx.report.left_out(format!("{path}[{i}]"), "not a device"),
                    }
                }
                spec.insert(key("devices"), Value::Sequence(devices));
            }
            "pull_policy" => match v.as_str() {
                Some(p @ ("always" | "missing" | "never")) => {
                    spec.insert(key("pull"), key(p));
                }
                Some("if_not_present") => {
                    spec.insert(key("pull"), key("missing"));
                }
                _ => ctx.report.left_out(path, "only always, missing and never are translated"),
            },
            "mem_limit" => {
                resources.insert(key("memory"), v.clone());
            }
            "cpus" => {
                resources.insert(key("cpus"), cpus(v));
            }
            "pids_limit" => {
                resources.insert(key("pids"), v.clone());
            }
            "deploy" => translate_deploy(ctx, &path, v, &mut spec, &mut resources),
            _ if k.starts_with("x-") => ctx.report.left_out(path, "extension not translated"),
            _ => ctx.report.left_out(path, "no moor counterpart"),
        }
    }
    if !env_from.is_empty() {
        spec.insert(key("envFrom"), Value::Sequence(env_from));
    }
    if !resources.is_empty() {
        spec.insert(key("resources"), Value::Mapping(resources));
    }
    rename_joins(&mut spec);
    job_fields(ctx, compose_name, &at, &mut spec);
    super::translate_net::coerce_scalars(&mut spec);
    ctx.emit("Service", format!("{name}.yaml"), &name, labels, Some(spec), &at);
    Ok(())
}

/// A service another waits for with `service_completed_successfully`, or one that
/// `deploy.mode: replicated-job` made a job, becomes `mode: job`; what a job cannot hold (a
/// restart policy, a healthcheck) is left out and reported, so that the manifest validates.
fn job_fields(ctx: &mut Ctx, compose_name: &str, at: &str, spec: &mut Mapping) {
    let awaited = ctx.project.services.values().any(|s| {
        let condition = s.get("depends_on").and_then(|d| d.get(compose_name)).and_then(|d| d.get("condition"));
        condition.and_then(Value::as_str) == Some("service_completed_successfully")
    });
    if !awaited && spec.get("mode").and_then(Value::as_str) != Some("job") {
        return;
    }
    spec.insert(key("mode"), key("job"));
    if spec.get("restart").is_some_and(|r| r.as_str() != Some("no")) {
        spec.remove("restart");
        ctx.report
            .left_out(format!("{at}.restart"), "a job is not restarted by Docker: moor runs a failed job again itself");
    }
    if spec.remove("healthcheck").is_some() {
        ctx.report.left_out(format!("{at}.healthcheck"), "a job is judged by its exit code, not a healthcheck");
    }
}

fn translate_env(
    ctx: &mut Ctx,
    at: &str,
    name: &str,
    environment: Value,
    spec: &mut Mapping,
    env_from: &mut Vec<Value>,
) {
    let Value::Mapping(environment) = environment else {
        ctx.report.left_out(format!("{at}.environment"), "must be a mapping or a list");
        return;
    };
    let mut env = Mapping::new();
    let mut hidden = Vec::new();
    for (k, v) in environment {
        let k = text(&k);
        let (mut value, from_env) = match v {
            Value::Null => match ctx.project.vars.get(&k) {
                Some(value) => (key(value), true),
                None => {
                    ctx.report.advise(
                        format!("{at}.environment.{k}"),
                        "not set in .env or the environment: left out, as compose does",
                    );
                    continue;
                }
            },
            v => {
                let marked = is_interpolated(&v);
                (v, marked)
            }
        };
        let secret_var = holds_secret(&value);
        untag(&mut value);
        if from_env && (crate::secrets::looks_secret(&k) || secret_var) {
            hidden.push((k, text(&value)));
        } else {
            env.insert(key(&k), value);
        }
    }
    if !env.is_empty() {
        spec.insert(key("env"), Value::Mapping(env));
    }
    if !hidden.is_empty() {
        let file = format!("{name}.env");
        let content: String = hidden.iter().map(|(k, v)| format!("{k}={}\n", dotenv_value(v))).collect();
        let keys: Vec<&str> = hidden.iter().map(|(k, _)| k.as_str()).collect();
        ctx.report.advise(
            format!("{at}.environment"),
            format!(
                "{} from .env or the environment written to {file} (mode 0600), not to the manifest; encrypt it: \
                 `sops --encrypt --age <recipient> {file} > {name}.sops.env`, point envFrom at {name}.sops.env and delete {file}",
                keys.join(", ")
            ),
        );
        ctx.files.push(OutFile { name: file.clone(), content, private: true });
        let mut entry = Mapping::new();
        entry.insert(key("file"), key(&format!("./{file}")));
        env_from.push(Value::Mapping(entry));
    }
}

/// A value as an env file line reads it back: as it is when it reads back unchanged (so that
/// `sops --encrypt`, which knows no quoting, keeps it), else double-quoted with escapes.
fn dotenv_value(value: &str) -> String {
    let plain = !value.contains(['\n', '\r', '\\'])
        && !value.starts_with(['"', '\'', ' ', '\t'])
        && !value.ends_with([' ', '\t'])
        && !value.contains(" #")
        && !value.contains("\t#");
    if plain {
        return value.to_string();
    }
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' | '\\' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn translate_env_file(ctx: &mut Ctx, at: &str, v: &Value, env_from: &mut Vec<Value>) {
    let items: Vec<Value> = match v {
        Value::Sequence(items) => items.clone(),
        other => vec![other.clone()],
    };
    for (i, item) in items.iter().enumerate() {
        let item_at = format!("{at}[{i}]");
        let required = item.get("required").cloned();
        let path = match item {
            Value::String(p) => p.clone(),
            Value::Mapping(m) => {
                for k in m.keys().filter_map(Value::as_str).filter(|k| !["path", "required"].contains(k)) {
                    ctx.report.left_out(
                        format!("{item_at}.{k}"),
                        "not translated: moor reads the file as required, by its name",
                    );
                }
                match m.get("path") {
                    Some(p) => text(p),
                    None => {
                        ctx.report.left_out(item_at, "no `path`");
                        continue;
                    }
                }
            }
            _ => {
                ctx.report.left_out(item_at, "a path or a mapping with `path`");
                continue;
            }
        };
        let file = ctx.carried_path(&item_at, &path);
        let mut entry = Mapping::new();
        entry.insert(key("file"), key(&file));
        // Compose env files are dotenv whatever their name.
        entry.insert(key("format"), key("dotenv"));
        if let Some(required) = required {
            entry.insert(key("required"), required);
        }
        env_from.push(Value::Mapping(entry));
    }
}

/// `label_file`: one path or a list, each relative to the manifests as env files are.
fn translate_label_file(ctx: &mut Ctx, at: &str, v: &Value, spec: &mut Mapping) {
    let items: Vec<Value> = match v {
        Value::Sequence(items) => items.clone(),
        other => vec![other.clone()],
    };
    let files = items.iter().enumerate().map(|(i, f)| key(&ctx.manifest_path(&format!("{at}[{i}]"), &text(f))));
    spec.insert(key("labelFile"), Value::Sequence(files.collect()));
}

fn translate_ports(ctx: &mut Ctx, at: &str, v: &Value, spec: &mut Mapping) {
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

fn translate_volumes(ctx: &mut Ctx, at: &str, v: &Value, spec: &mut Mapping) {
    let mut mounts = Vec::new();
    for (i, m) in v.as_sequence().into_iter().flatten().enumerate() {
        let m_at = format!("{at}[{i}]");
        match m {
            Value::String(s) => match s.split_once(':') {
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
                    mounts.push(key(&format!("{}:{rest}", dns_name(source))));
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
                            long.insert(key("source"), key(&dns_name(&text(val))));
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
fn mount_options(ctx: &mut Ctx, at: &str, kind: &str, options: &Value, long: &mut Mapping) {
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

fn translate_depends(ctx: &mut Ctx, at: &str, v: &Value, spec: &mut Mapping) {
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

fn translate_healthcheck(ctx: &mut Ctx, at: &str, v: &Value, spec: &mut Mapping) {
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
    if check.contains_key("test") {
        spec.insert(key("healthcheck"), Value::Mapping(check));
    } else if !check.is_empty() {
        ctx.report.left_out(at, "a healthcheck without `test` (the image's) is not translated");
    }
}

fn translate_secret_refs(ctx: &mut Ctx, at: &str, v: &Value, spec: &mut Mapping) {
    let mut refs = Vec::new();
    for (i, s) in v.as_sequence().into_iter().flatten().enumerate() {
        let s_at = format!("{at}[{i}]");
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

fn translate_deploy(ctx: &mut Ctx, at: &str, v: &Value, spec: &mut Mapping, resources: &mut Mapping) {
    for (k, val) in v.as_mapping().into_iter().flatten() {
        let k = k.as_str().unwrap_or("?");
        match k {
            "replicas" => {
                spec.insert(key("replicas"), val.clone());
            }
            "placement" => {
                super::translate_placement::translate_placement(&mut ctx.report, &format!("{at}.placement"), val, spec)
            }
            "mode" if val.as_str() == Some("replicated") => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_values_read_back() {
        assert_eq!(dotenv_value("abc$x#1"), "abc$x#1");
        assert_eq!(dotenv_value("a #b"), "\"a #b\"");
        assert_eq!(dotenv_value("l1\nl2\\ \"q\" $v"), "\"l1\\nl2\\\\ \\\"q\\\" \\$v\"");
        assert_eq!(dotenv_value(" lead"), "\" lead\"");
    }

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(dns_name("My_App.v2"), "my-app-v2");
    }
}
