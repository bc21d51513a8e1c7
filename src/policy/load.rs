//! Reading a policy file: YAML in, a validated [`Policy`] or every located problem out.
//!
//! Invariants:
//! - A policy file with any problem is an error, never a partial or default policy: a host
//!   whose policy is broken must not fall back to anything, least of all to "anything goes".
//! - Every problem is located `file:line:col: field: message`, with the manifest's machinery
//!   (the schema's violations, then the semantic rules, at their field paths).
//! - Defaults are applied here only, in [`convert`], from [`super::defaults`].

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::defaults;
use super::host_path::HostPath;
use super::raw::{self, PolicyDoc, PolicySpec};
use super::registry::Pattern;
use super::schema::{SCHEMA, VALIDATOR};
use super::{BindRules, HostNamespaces, Policy, PortRange};
use crate::manifest::model::Source;
use crate::manifest::problem::{FieldPath, Problem, Segment};
use crate::manifest::schema::{violations_against, Violation};

/// A policy file that cannot be used, and every reason why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the host policy {} cannot be used:\n{}", file.display(), problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
pub struct PolicyError {
    pub file: std::path::PathBuf,
    pub problems: Vec<Problem>,
}

/// Reads and validates the policy file at `path`.
pub fn load(path: &Path) -> Result<Policy, PolicyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(path, &text),
        Err(e) => Err(PolicyError {
            file: path.into(),
            problems: vec![Problem {
                file: path.into(),
                line: None,
                column: None,
                field: String::new(),
                message: format!("cannot read the policy file: {e}"),
            }],
        }),
    }
}

/// Validates a policy's text, as if read from `file`.
pub fn load_str(file: &Path, text: &str) -> Result<Policy, PolicyError> {
    let fail = |problems| Err(PolicyError { file: file.into(), problems });
    let locate_at = |document: usize, path: &FieldPath, on_key: bool, message: String| {
        let source = Source::of_text(file, document, text);
        let (line, column) = if on_key { source.locate_key(path) } else { source.locate(path) };
        Problem { file: file.into(), line, column, field: path.to_string(), message }
    };
    let locate = |document: usize, path: &FieldPath, message: String| locate_at(document, path, false, message);
    let mut documents = Vec::new();
    for (n, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        match Value::deserialize(document) {
            Ok(Value::Null) => {}
            Ok(value) => documents.push((n, value)),
            Err(e) => {
                let (line, column) = e.location().map(|l| (Some(l.line()), Some(l.column()))).unwrap_or_default();
                let message = e.to_string();
                // serde_yaml appends " at line L column C"; the location is already in front.
                let message = message.split(" at line ").next().unwrap_or(&message).to_string();
                return fail(vec![Problem { file: file.into(), line, column, field: String::new(), message }]);
            }
        }
    }
    let (n, value) = match documents.as_slice() {
        [] => {
            let message = "the policy file is empty: write apiVersion: moor/v1, kind: HostPolicy and the rules".into();
            return fail(vec![Problem { file: file.into(), line: None, column: None, field: String::new(), message }]);
        }
        [one] => one.clone(),
        [_, (second, _), ..] => {
            let message = "a policy file holds one document".to_string();
            return fail(vec![locate(*second, &FieldPath::root(), message)]);
        }
    };
    let doc = match PolicyDoc::deserialize(&value) {
        Ok(doc) => doc,
        Err(e) => {
            let violations = violations_against(&VALIDATOR, &SCHEMA, &value);
            if violations.is_empty() {
                return fail(vec![locate(n, &FieldPath::root(), format!("cannot be decoded: {e}"))]);
            }
            // A key written without a value has no position of its own: point at the key.
            let on_key = |v: &Violation| v.on_key || pointer(&value, &v.path).is_some_and(Value::is_null);
            return fail(
                violations.into_iter().map(|v| locate_at(n, &v.path, on_key(&v), v.message.clone())).collect(),
            );
        }
    };
    convert(doc.spec.as_ref().unwrap_or(&PolicySpec::default())).map_err(|found| {
        let mut problems: Vec<Problem> = found.into_iter().map(|(path, message)| locate(n, &path, message)).collect();
        problems.sort_by_key(|p| (p.line, p.column));
        PolicyError { file: file.into(), problems }
    })
}

/// The value at `path` in `value`.
fn pointer<'a>(value: &'a Value, path: &FieldPath) -> Option<&'a Value> {
    path.0.iter().try_fold(value, |node, segment| match segment {
        Segment::Key(k) => node.get(k),
        Segment::Index(i) => node.get(i),
    })
}

/// Checks a policy's rules and applies the defaults of those left out.
pub fn convert(spec: &PolicySpec) -> Result<Policy, Vec<(FieldPath, String)>> {
    let mut found = Vec::new();
    let sp = FieldPath::root().key("spec");
    let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let paths = |found: &mut Vec<(FieldPath, String)>, field: FieldPath, list: &[String]| -> Vec<HostPath> {
        let mut out = Vec::new();
        for (i, text) in list.iter().enumerate() {
            match HostPath::parse(text) {
                Ok(p) => out.push(p),
                Err(m) => found.push((field.index(i), format!("{m}: host paths here must be absolute"))),
            }
        }
        out
    };

    let binds = spec.bind_mounts.clone().unwrap_or_default();
    let bp = sp.key("bindMounts");
    let allow = paths(&mut found, bp.key("allow"), &binds.allow.unwrap_or_else(|| owned(defaults::BIND_ALLOW)));
    let deny = paths(&mut found, bp.key("deny"), &binds.deny.unwrap_or_else(|| owned(defaults::BIND_DENY)));
    let read_only =
        paths(&mut found, bp.key("readOnly"), &binds.read_only.unwrap_or_else(|| owned(defaults::BIND_READ_ONLY)));
    let sockets = defaults::DOCKER_SOCKETS.iter().map(|s| HostPath::parse(s).expect("a default socket path")).collect();

    let mut registries = Vec::new();
    for (i, text) in spec.registries.clone().unwrap_or_else(|| owned(defaults::REGISTRIES)).iter().enumerate() {
        match Pattern::parse(text) {
            Ok(p) => registries.push(p),
            Err(m) => found.push((sp.key("registries").index(i), m)),
        }
    }

    let default_ports = || defaults::HOST_PORTS.iter().map(|r| raw::PortRange::Range(r.to_string())).collect();
    let mut host_ports = Vec::new();
    for (i, range) in spec.host_ports.clone().unwrap_or_else(default_ports).iter().enumerate() {
        match PortRange::parse(range) {
            Ok(r) => host_ports.push(r),
            Err(m) => found.push((sp.key("hostPorts").index(i), m)),
        }
    }

    let mut capabilities = std::collections::BTreeSet::new();
    for (i, text) in spec.capabilities.clone().unwrap_or_else(|| owned(defaults::CAPABILITIES)).iter().enumerate() {
        let upper = text.to_ascii_uppercase();
        let name = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
            found.push((
                sp.key("capabilities").index(i),
                format!("{text:?} is not a capability name, such as NET_ADMIN"),
            ));
        } else {
            capabilities.insert(name.to_string());
        }
    }
    let devices =
        paths(&mut found, sp.key("devices"), &spec.devices.clone().unwrap_or_else(|| owned(defaults::DEVICES)));
    let mut read_paths = Vec::new();
    for (i, text) in spec.read_paths.clone().unwrap_or_else(|| owned(defaults::READ_PATHS)).iter().enumerate() {
        let field = sp.key("readPaths").index(i);
        // Refused rather than normalised away: a folder files may be read from is written as it
        // is meant, and `/etc/moor/../..` is not what anyone means.
        if text.split('/').any(|part| part == "..") {
            found.push((field, format!("{text:?} holds '..': write the folder itself")));
            continue;
        }
        match HostPath::parse(text) {
            Ok(p) => read_paths.push(std::path::PathBuf::from(p.to_string())),
            Err(m) => found.push((field, format!("{m}: readPaths must be absolute folders"))),
        }
    }
    let ns = spec.host_namespaces.clone().unwrap_or_default();

    if !found.is_empty() {
        return Err(found);
    }
    Ok(Policy {
        binds: BindRules { allow, deny, read_only, docker_socket: binds.docker_socket.unwrap_or(false), sockets },
        registries,
        host_ports,
        privileged: spec.privileged.unwrap_or(false),
        host_namespaces: HostNamespaces {
            network: ns.network.unwrap_or(false),
            pid: ns.pid.unwrap_or(false),
            ipc: ns.ipc.unwrap_or(false),
            user: ns.user.unwrap_or(false),
            cgroup: ns.cgroup.unwrap_or(false),
            uts: ns.uts.unwrap_or(false),
        },
        capabilities,
        devices,
        gpus: spec.gpus.unwrap_or(false),
        container_joins: spec.container_joins.clone().unwrap_or_default().into_iter().collect(),
        read_paths,
    })
}

impl PortRange {
    fn parse(range: &raw::PortRange) -> Result<PortRange, String> {
        let port = |n: u32| match u16::try_from(n) {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(format!("port {n} is out of range (1-65535)")),
        };
        let number = |s: &str| s.parse::<u32>().map_err(|_| format!("{s:?} is not a port number")).and_then(port);
        let (first, last) = match range {
            raw::PortRange::Port(n) => (port(*n)?, port(*n)?),
            raw::PortRange::Range(text) => match text.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => (number(text)?, number(text)?),
            },
        };
        if first > last {
            return Err(format!("the range {first}-{last} is empty: write the lower port first"));
        }
        Ok(PortRange { first, last })
    }
}
