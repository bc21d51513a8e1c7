//! Compose's `deploy.placement` (swarm's) to `spec.placement`: `node.hostname == NAME` becomes
//! `nodes: [name]` (lowercased: a moor node name defaults to the lowercased host name) and
//! `node.labels.KEY == VALUE` a `nodeSelector` entry. What has no moor counterpart (`!=`, other
//! node attributes, `preferences`, `max_replicas_per_node`) is reported as left out, never
//! silently dropped.

use serde_yaml::{Mapping, Value};

use super::report::Report;
use super::translate::key;

/// Adds `placement` to `spec` from `deploy.placement` at `at`.
pub(super) fn translate_placement(report: &mut Report, at: &str, v: &Value, spec: &mut Mapping) {
    let mut nodes: Vec<String> = Vec::new();
    let mut selector = Mapping::new();
    for (k, val) in v.as_mapping().into_iter().flatten() {
        let k = k.as_str().unwrap_or("?");
        if k != "constraints" {
            report.left_out(format!("{at}.{k}"), "not translated: moor places by node name and labels only");
            continue;
        }
        for (i, c) in val.as_sequence().into_iter().flatten().enumerate() {
            let text = c.as_str().unwrap_or("");
            let parsed = text.split_once("==").map(|(l, r)| (l.trim(), r.trim()));
            match parsed {
                Some(("node.hostname", name)) if nodes.is_empty() => nodes.push(name.to_lowercase()),
                Some((label, value)) if label.starts_with("node.labels.") => {
                    selector.insert(key(&label["node.labels.".len()..]), key(value));
                }
                _ => report.left_out(
                    format!("{at}.constraints[{i}]"),
                    format!(
                        "{text:?} not translated: moor takes node.hostname == NAME (one) and node.labels.KEY == VALUE"
                    ),
                ),
            }
        }
    }
    let mut placement = Mapping::new();
    if !nodes.is_empty() {
        placement.insert(key("nodes"), Value::Sequence(nodes.into_iter().map(Value::String).collect()));
    }
    if !selector.is_empty() {
        placement.insert(key("nodeSelector"), Value::Mapping(selector));
    }
    if !placement.is_empty() {
        spec.insert(key("placement"), Value::Mapping(placement));
    }
}
