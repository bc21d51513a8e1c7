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
#[path = "translate_fields.rs"]
mod fields;
use super::{ImportError, Imported, Options, OutFile, MODELINE};
use fields::{
    translate_depends, translate_deploy, translate_healthcheck, translate_ports, translate_secret_refs,
    translate_volumes,
};

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

impl Ctx<'_> {
    /// The manifest name of compose volume `compose_name`: its `name:` when it has one moor can
    /// use as it is (a DNS-1123 name: then it is the very volume compose uses, so its data is
    /// taken over), else the compose key made DNS-1123. Every reference goes through here.
    fn volume_name(&self, compose_name: &str) -> String {
        let def = self.project.volumes.get(compose_name);
        let given = def.and_then(|d| d.get("name")).and_then(Value::as_str);
        // An external volume is the daemon's, named as it is (compose prefixes nothing, and a
        // mount may name any Docker volume): its `name:`, else its key.
        if def.and_then(|d| d.get("external")).and_then(Value::as_bool) == Some(true) {
            return given.unwrap_or(compose_name).to_string();
        }
        match given {
            Some(name) if dns_name(name) == name => name.to_string(),
            _ => dns_name(compose_name),
        }
    }
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
        self.carried(at, path, true)
    }

    /// A config's file, as [`Ctx::carried_path`] carries it, but readable by all and without
    /// the advice to encrypt it: a config is no secret.
    fn carried_config(&mut self, at: &str, path: &str) -> String {
        self.carried(at, path, false)
    }

    fn carried(&mut self, at: &str, path: &str, secret: bool) -> String {
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
        self.files.push(OutFile { name: name.clone(), content, private: secret });
        let advice = match secret {
            true => format!(
                "{path} copied into the output folder as {name} (mode 0600): encrypt it before committing it (`sops --encrypt --age <recipient> --in-place {name}`)"
            ),
            false => format!("{path} copied into the output folder as {name}"),
        };
        self.report.advise(at, advice);
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
    let name = if kind == "Volume" { ctx.volume_name(compose_name) } else { dns_name(compose_name) };
    let given = def.get("name").and_then(Value::as_str).filter(|_| kind == "Volume");
    if name != compose_name && given != Some(name.as_str()) {
        ctx.report.advise(&at, format!("named {name} (DNS-1123)"));
    }
    if def.get("external").and_then(Value::as_bool) == Some(true) {
        ctx.report.left_out(&at, "external: not created by moor, no manifest written");
        return;
    }
    let file = format!("{}-{name}.yaml", kind.to_lowercase());
    if kind == "Volume" && ctx.files.iter().any(|f| f.name == file) {
        // Compose volumes with one `name:` are one Docker volume: one manifest, the first's. A
        // key made DNS-1123 that meets another's name is two volumes to compose: told.
        let named = |d: Option<&Value>| d.and_then(|d| d.get("name")).and_then(Value::as_str) == Some(name.as_str());
        let earlier = ctx.project.volumes.iter().map(|(k, d)| (text(k), d)).find(|(k, d)| {
            k != compose_name && ctx.volume_name(k) == name && d.get("external").and_then(Value::as_bool) != Some(true)
        });
        match earlier {
            Some((k, d)) if named(Some(d)) && given == Some(name.as_str()) => ctx.report.advise(
                &at,
                format!("the same volume {name} as volumes.{k} (one name:): one Volume manifest, with its settings"),
            ),
            Some((k, _)) => ctx.report.left_out(
                &at,
                format!(
                    "named {name} as volumes.{k} is, which compose keeps apart: rename one (both mount {name} here)"
                ),
            ),
            None => {}
        }
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
            // Compose's secret from a variable of `.env` or the environment: its value goes to a
            // private file beside the manifests (never into one), read whole as compose mounts it.
            ("Secret", "environment") => {
                let var = text(v);
                let Some(value) = ctx.project.vars.get(&var).cloned() else {
                    ctx.report.left_out(path, format!("variable {var} is not set in .env or the environment"));
                    continue;
                };
                let file = format!("files/secret-{name}");
                ctx.files.push(OutFile { name: file.clone(), content: value, private: true });
                ctx.report.advise(
                    &path,
                    format!(
                        "the value of {var} written to {file} (mode 0600), not to a manifest; encrypt it before committing it (`sops --encrypt --age <recipient> --input-type binary --output-type binary --in-place {file}`)"
                    ),
                );
                spec.insert(key("file"), key(&format!("./{file}")));
                spec.insert(key("format"), key("binary"));
            }
            ("Network" | "Volume" | "Secret", "external") => {}
            ("Volume", "name") if given == Some(name.as_str()) => {}
            ("Volume", "name") => ctx.report.left_out(
                path,
                format!(
                    "{:?} is not a DNS-1123 name, which a Volume manifest needs: the volume is named {name}",
                    text(v)
                ),
            ),
            _ => ctx.report.left_out(path, "no moor counterpart"),
        }
    }
    if kind == "Volume" && given.is_none() {
        // Compose's volume is `<project>_<name>` on the daemon: a running compose stack's data
        // is there, not in the volume moor makes.
        ctx.report.advise(
            &at,
            format!(
                "compose keeps this volume's data in {}_{compose_name}; to take over a running stack's data, mount that name instead of {name} (or copy it over)",
                ctx.project.name
            ),
        );
    }
    if kind == "Secret" {
        if !spec.contains_key("file") {
            ctx.report.left_out(&at, "only file and environment secrets are translated; no manifest written");
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
    // The env file of `environment`'s hidden values: after the `env_file`s, since in compose
    // `environment` wins over `env_file` and in `envFrom` a later entry wins.
    let mut hidden_env = Vec::new();
    // Environment first: it still carries the interpolation marks.
    if let Some(environment) = service.remove("environment") {
        translate_env(ctx, &at, &name, environment, &mut env_spec, &mut hidden_env);
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
            // Compose's name for the image it builds: the project and the service as compose
            // names it (not the DNS-1123 manifest name).
            let image = format!("{}-{}", ctx.project.name, compose_name.to_lowercase());
            ctx.report.left_out(
                format!("{at}.build"),
                format!("not translated (moor runs images): build and tag it, `{}`", build_command(&image, build)),
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
            "configs" => fields::translate_config_refs(ctx, &path, v, &mut spec),
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
    env_from.extend(hidden_env);
    if let Some(restart) = fields::deploy_restart(&service) {
        spec.insert(key("restart"), restart);
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

/// The `docker build` that makes what compose's `build` makes, run from the project folder:
/// its context, and its Dockerfile (relative to the context in compose, to the folder for
/// `-f`) and target when it names them.
fn build_command(image: &str, build: &Value) -> String {
    let Value::Mapping(m) = build else { return format!("docker build -t {image} {}", text(build)) };
    let context = m.get("context").map(text).unwrap_or_else(|| ".".into());
    let mut command = format!("docker build -t {image}");
    if let Some(file) = m.get("dockerfile").map(text) {
        let remote = context.contains("://") || context.starts_with("git@");
        let file = match file.starts_with('/') || remote {
            true => file,
            false => format!("{}/{file}", context.trim_end_matches('/')),
        };
        command.push_str(&format!(" -f {file}"));
    }
    if let Some(target) = m.get("target").map(text) {
        command.push_str(&format!(" --target {target}"));
    }
    format!("{command} {context}")
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
        // A value built from a secret-looking variable, or a bare name whose `.env` value was.
        let secret_var = holds_secret(&value) || ctx.project.secret_vars.contains(&k);
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
