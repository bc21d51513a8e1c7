//! `moor export kubernetes`: a Deployment (or a Job) per Service, a ClusterIP Service per
//! Service with ports, a PersistentVolumeClaim per named volume; one YAML file per object.
//!
//! Invariants: each object carries `app.kubernetes.io/name: <service>` (its pods' selector) and
//! the manifest's labels that are valid Kubernetes labels (the others become annotations);
//! objects are `serde_json` values, whose maps are sorted, so the output is deterministic; file
//! names are `<name>-<kind>.yaml`, sorted.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::refs::ConfigUse;
use super::{dns_label, lossy, pod, refs, ExportError, Exported};
use crate::import::{OutFile, Report};
use crate::manifest::model::{Restart, State, Strategy};
use crate::manifest::{Desired, Service};
use crate::node::{is_label_key, is_label_value};

/// The label every exported object of a service carries, and its pods' selector.
pub const NAME_LABEL: &str = "app.kubernetes.io/name";

/// What the translation gathers across services.
#[derive(Debug, Default)]
pub(super) struct Ctx {
    pub(super) report: Report,
    /// PersistentVolumeClaims to write, by name.
    pub(super) claims: BTreeSet<String>,
    /// Secrets referenced: name to the keys used (empty when only used whole, by `envFrom`).
    pub(super) secrets: BTreeMap<String, BTreeSet<String>>,
    /// ConfigMaps referenced, by name.
    pub(super) config_maps: BTreeMap<String, ConfigUse>,
}

impl Ctx {
    /// `spec.<field>` of `svc` has no (or only a partial) Kubernetes counterpart.
    pub(super) fn left_out(&mut self, svc: &Service, field: &str, message: impl Into<String>) {
        self.report.left_out(format!("Service/{}: spec.{field}", svc.name), message);
    }

    /// Translated, with something to do by hand or to know.
    pub(super) fn advise(&mut self, svc: &Service, field: &str, message: impl Into<String>) {
        self.report.advise(format!("Service/{}: spec.{field}", svc.name), message);
    }
}

/// The labels and annotations of a service's objects and pods: a label whose value Kubernetes
/// refuses is an annotation; one whose key it refuses is neither (`workload` reports it).
fn labels(svc: &Service) -> (Map<String, Value>, Map<String, Value>) {
    let mut labels = Map::new();
    let mut annotations = Map::new();
    for (k, v) in svc.container.labels.iter().filter(|(k, _)| is_label_key(k)) {
        if is_label_value(v) && v.len() <= 63 {
            labels.insert(k.clone(), json!(v));
        } else {
            annotations.insert(k.clone(), json!(v));
        }
    }
    labels.insert(NAME_LABEL.into(), json!(svc.name));
    (labels, annotations)
}

fn metadata(name: &str, labels: &Map<String, Value>, annotations: &Map<String, Value>) -> Value {
    let mut m = json!({ "name": name, "labels": labels });
    if !annotations.is_empty() {
        m["annotations"] = Value::Object(annotations.clone());
    }
    m
}

/// The pod template's spec: the container, volumes, and the pod-level fields.
fn pod_spec(svc: &Service, ctx: &mut Ctx) -> Value {
    let mut volumes = BTreeMap::new();
    let container = pod::container(svc, ctx, &mut volumes);
    let mut spec = Map::new();
    spec.insert("containers".into(), json!([container]));
    if !volumes.is_empty() {
        let list: Vec<Value> = volumes
            .into_iter()
            .map(|(name, mut v)| {
                v["name"] = json!(name);
                v
            })
            .collect();
        spec.insert("volumes".into(), Value::Array(list));
    }
    spec.insert("terminationGracePeriodSeconds".into(), json!(svc.container.stop_timeout.as_secs()));
    let restart = if svc.is_job() {
        "Never"
    } else {
        if matches!(svc.container.restart, Restart::No | Restart::OnFailure(_)) {
            ctx.advise(svc, "restart", format!("{}: a Deployment's pods are always restarted (restartPolicy: Always); use mode: job for a run to completion", svc.container.restart));
        }
        "Always"
    };
    spec.insert("restartPolicy".into(), json!(restart));
    lossy::pod_fields(svc, ctx, &mut spec);
    Value::Object(spec)
}

/// The Deployment or Job of a service.
fn workload(svc: &Service, ctx: &mut Ctx) -> (String, Value) {
    for key in svc.container.labels.keys().filter(|k| !is_label_key(k)) {
        ctx.report.left_out(
            format!("Service/{}: metadata.labels.{key}", svc.name),
            "not a Kubernetes label or annotation key ([prefix/]name: letters, digits, '-', '_', '.', at most 63)",
        );
    }
    let (labels, annotations) = labels(svc);
    let mut pod_meta = json!({ "labels": labels });
    if !annotations.is_empty() {
        pod_meta["annotations"] = Value::Object(annotations.clone());
    }
    let template = json!({ "metadata": pod_meta, "spec": pod_spec(svc, ctx) });
    let meta = metadata(&svc.name, &labels, &annotations);
    if svc.is_job() {
        let spec = json!({ "template": template, "parallelism": svc.replicas, "completions": svc.replicas });
        return ("job".into(), json!({ "apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec }));
    }
    let replicas = if svc.state == State::Stopped { 0 } else { svc.replicas };
    let strategy = match svc.update.strategy {
        Strategy::StartFirst => {
            json!({ "type": "RollingUpdate", "rollingUpdate": { "maxSurge": 1, "maxUnavailable": 0 } })
        }
        Strategy::StopFirst => {
            json!({ "type": "RollingUpdate", "rollingUpdate": { "maxSurge": 0, "maxUnavailable": 1 } })
        }
    };
    if svc.update.rollback {
        ctx.advise(svc, "update.rollback", "Kubernetes halts a rollout whose pods do not become ready in progressDeadlineSeconds (the healthTimeout) but does not roll back: kubectl rollout undo");
    }
    let spec = json!({
        "replicas": replicas,
        "selector": { "matchLabels": { NAME_LABEL: svc.name } },
        "strategy": strategy,
        "progressDeadlineSeconds": pod::seconds(svc.update.health_timeout),
        "template": template,
    });
    ("deployment".into(), json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec }))
}

/// The ClusterIP Service of a service with ports (`None` without).
fn cluster_service(svc: &Service) -> Option<Value> {
    // The published ports were reported with the container: this scratch report is dropped.
    let ports = pod::ports(svc, &mut Ctx::default());
    if ports.is_empty() {
        return None;
    }
    let list: Vec<Value> = ports
        .into_iter()
        .map(|(port, proto)| {
            let name = format!("{}-{port}", proto.to_ascii_lowercase());
            json!({ "name": name, "port": port, "targetPort": port, "protocol": proto })
        })
        .collect();
    let (labels, annotations) = labels(svc);
    Some(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(&svc.name, &labels, &annotations),
        "spec": { "type": "ClusterIP", "selector": { NAME_LABEL: svc.name }, "ports": list },
    }))
}

fn claim(name: &str, desired: &Desired) -> Value {
    let mut labels = Map::new();
    if let Some(v) = desired.volumes.values().find(|v| dns_label(&v.name) == name) {
        for (k, val) in &v.labels {
            if is_label_key(k) && is_label_value(val) && val.len() <= 63 {
                labels.insert(k.clone(), json!(val));
            }
        }
    }
    let mut metadata = json!({ "name": name });
    if !labels.is_empty() {
        metadata["labels"] = Value::Object(labels);
    }
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata,
        "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } } },
    })
}

fn file(name: &str, kind: &str, object: &Value) -> Result<OutFile, ExportError> {
    let text = serde_yaml::to_string(object)
        .map_err(|e| ExportError::Serialize { name: format!("{kind} {name}"), message: e.to_string() })?;
    Ok(OutFile {
        name: format!("{name}-{kind}.yaml"),
        content: format!("# Exported by `moor export kubernetes` (one-way: moor does not manage it).\n{text}"),
        private: false,
    })
}

/// Translates `desired`: every Service (but `state: absent` ones), every named volume; Secrets,
/// configs and networks are reported.
pub fn export(desired: &Desired) -> Result<Exported, ExportError> {
    let mut ctx = Ctx::default();
    let mut files = Vec::new();
    for svc in desired.services.values() {
        if svc.state == State::Absent {
            ctx.advise(svc, "state", "absent: nothing exported");
            continue;
        }
        lossy::service_fields(svc, desired, &mut ctx);
        let (kind, object) = workload(svc, &mut ctx);
        files.push(file(&svc.name, &kind, &object)?);
        if let Some(s) = cluster_service(svc) {
            files.push(file(&svc.name, "service", &s)?);
        }
    }
    for v in desired.volumes.values() {
        ctx.claims.insert(dns_label(&v.name));
        lossy::volume(v, &mut ctx);
    }
    if !ctx.claims.is_empty() {
        ctx.report.advise(
            "PersistentVolumeClaims",
            "each asks for 1Gi, ReadWriteOnce, of the default StorageClass: set the size and class your data needs",
        );
    }
    for name in &ctx.claims {
        files.push(file(name, "pvc", &claim(name, desired))?);
    }
    lossy::networks(desired, &mut ctx);
    refs::advise(desired, &mut ctx);
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Exported { files, report: ctx.report })
}
