//! Env values, env files, Secrets and configs as references to Secrets and ConfigMaps the user
//! creates, and the report that says how to create them.
//!
//! Invariants: nothing here reads a file or holds a value of a Secret, an env file or a config;
//! a plain `env` value whose name looks secret becomes a `secretKeyRef` (to a Secret named
//! `<service>-env-secrets`), never a `value`. Messages name Secrets, keys and paths only.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::dns_label;
use super::kubernetes::Ctx;
use crate::manifest::refs::{DataFile, DataFormat, EnvFrom};
use crate::manifest::{Desired, Service};
use crate::secrets::looks_secret;

/// A ConfigMap the exported objects reference: the file it is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ConfigUse {
    /// The path as the manifest wrote it (relative to its folder, or absolute).
    pub written: String,
    /// `None`: an env file (`envFrom`); else the key the file is mounted from.
    pub key: Option<String>,
}

/// A ConfigMap key (`[-._a-zA-Z0-9]+`) for a file: its name, other characters as `_`.
fn file_key(file: &DataFile) -> String {
    let name = file.path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') { c } else { '_' }).collect()
}

/// The ConfigMap of `file`: named after the file, a second file of the same name suffixed.
fn config_map(ctx: &mut Ctx, file: &DataFile, key: Option<String>) -> String {
    let base = dns_label(&file_key(file));
    let use_ = ConfigUse { written: file.written.clone(), key };
    let mut n = 1;
    loop {
        let name = if n == 1 { base.clone() } else { format!("{base}-{n}") };
        match ctx.config_maps.get(&name) {
            Some(u) if u.written != use_.written => n += 1,
            _ => {
                ctx.config_maps.insert(name.clone(), use_);
                return name;
            }
        }
    }
}

/// The container's `env` (sorted by name) and `envFrom` (in the written order: later entries
/// win, as in moor).
pub(super) fn env(svc: &Service, ctx: &mut Ctx) -> (Vec<Value>, Vec<Value>) {
    let mut env = BTreeMap::new();
    let sealed = format!("{}-env-secrets", svc.name);
    for (name, value) in &svc.container.env {
        if looks_secret(name) {
            ctx.secrets.entry(sealed.clone()).or_default().insert(name.clone());
            env.insert(name, json!({ "name": name, "valueFrom": { "secretKeyRef": { "name": sealed, "key": name } } }));
        } else {
            env.insert(name, json!({ "name": name, "value": value }));
        }
    }
    for (name, r) in &svc.refs.env {
        ctx.secrets.entry(r.secret.clone()).or_default().insert(r.key.clone());
        env.insert(name, json!({ "name": name, "valueFrom": { "secretKeyRef": { "name": r.secret, "key": r.key } } }));
    }
    let mut from = Vec::new();
    for e in &svc.refs.env_from {
        match e {
            EnvFrom::Secret { secret, .. } => {
                ctx.secrets.entry(secret.clone()).or_default();
                from.push(json!({ "secretRef": { "name": secret } }));
            }
            EnvFrom::File { file, required, .. } => {
                let name = config_map(ctx, file, None);
                let mut r = json!({ "name": name });
                if !required {
                    r["optional"] = json!(true);
                }
                from.push(json!({ "configMapRef": r }));
            }
        }
    }
    for (file, _) in &svc.refs.label_files {
        ctx.left_out(
            svc,
            "labelFile",
            format!(
                "{}: its labels are not read (moor reads it at apply); copy them into metadata.labels",
                file.written
            ),
        );
    }
    (env.into_values().collect(), from)
}

/// Secret and config files, each mounted by `subPath` from a volume of its one key.
pub(super) fn files(svc: &Service, ctx: &mut Ctx, volumes: &mut BTreeMap<String, Value>, mounts: &mut Vec<Value>) {
    for (i, s) in svc.refs.secrets.iter().enumerate() {
        // A binary Secret is one value: its key in Kubernetes is the Secret's name.
        let key = s.key.clone().unwrap_or_else(|| s.secret.clone());
        ctx.secrets.entry(s.secret.clone()).or_default().insert(key.clone());
        let name = format!("secret-{i}");
        let item = json!({ "key": key, "path": key, "mode": s.owner.mode });
        volumes.insert(name.clone(), json!({ "secret": { "secretName": s.secret, "items": [item] } }));
        mounts.push(json!({ "name": name, "mountPath": s.target, "subPath": key, "readOnly": true }));
        if s.owner.uid.is_some() || s.owner.gid.is_some() {
            ctx.left_out(
                svc,
                "secrets",
                format!("the owner of {}: Kubernetes sets a pod-wide fsGroup, not a file's uid and gid", s.target),
            );
        }
    }
    for (i, c) in svc.refs.configs.iter().enumerate() {
        let key = file_key(&c.file);
        let map = config_map(ctx, &c.file, Some(key.clone()));
        let name = format!("config-{i}");
        let item = json!({ "key": key, "path": key, "mode": c.owner.mode });
        volumes.insert(name.clone(), json!({ "configMap": { "name": map, "items": [item] } }));
        mounts.push(json!({ "name": name, "mountPath": c.target, "subPath": key, "readOnly": true }));
        if c.owner.uid.is_some() || c.owner.gid.is_some() {
            ctx.left_out(
                svc,
                "configs",
                format!("the owner of {}: Kubernetes sets a pod-wide fsGroup, not a file's uid and gid", c.target),
            );
        }
    }
}

/// How to create a Secret, by the format of its file and the keys the objects use.
fn create_secret(name: &str, file: Option<&DataFile>, keys: &BTreeSet<String>) -> String {
    let literals = || {
        if keys.is_empty() {
            "--from-literal=KEY=... (one per key)".to_string()
        } else {
            keys.iter().map(|k| format!("--from-literal={k}=...")).collect::<Vec<_>>().join(" ")
        }
    };
    match file {
        Some(f) if f.format == DataFormat::Binary => {
            format!("kubectl create secret generic {name} --from-file={name}={} (decrypted)", f.written)
        }
        Some(f) if f.format == DataFormat::Dotenv => {
            format!("kubectl create secret generic {name} --from-env-file={} (decrypted)", f.written)
        }
        Some(f) => format!("kubectl create secret generic {name} {} (the values of {})", literals(), f.written),
        None => format!("kubectl create secret generic {name} {} (the values the manifest holds)", literals()),
    }
}

/// The report of every Secret and ConfigMap the objects reference: not exported, how to create.
pub(super) fn advise(desired: &Desired, ctx: &mut Ctx) {
    let mut names: BTreeSet<&String> = desired.secrets.keys().collect();
    let used = std::mem::take(&mut ctx.secrets);
    names.extend(used.keys());
    let none = BTreeSet::new();
    for name in names {
        let declared = desired.secrets.get(name).map(|s| &s.file);
        let keys = used.get(name).unwrap_or(&none);
        let why = if declared.is_some() {
            "a moor Secret: no value is exported"
        } else {
            "plain env values whose names look secret, referenced instead of written"
        };
        ctx.report
            .advise(format!("Secret/{name}"), format!("{why}; create it with {}", create_secret(name, declared, keys)));
    }
    for (name, u) in std::mem::take(&mut ctx.config_maps) {
        let how = match &u.key {
            Some(key) => format!("kubectl create configmap {name} --from-file={key}={}", u.written),
            None => format!("kubectl create configmap {name} --from-env-file={} (moor treats an env file's values as secret: if they are, create a Secret of that name instead and change configMapRef to secretRef)", u.written),
        };
        ctx.report.advise(format!("ConfigMap/{name}"), format!("referenced, not exported; create it with {how}"));
    }
    ctx.secrets = used;
}
