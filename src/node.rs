//! The node a `moor run` agent runs as: a name and labels (`--node`, `--node-label`,
//! `MOOR_NODE`), shown in `/status`, `/metrics` (`moor_node_info`) and every log line of the
//! agent, so that a fleet of agents reading one repository can be told apart
//! (`moor status --fleet`).
//!
//! Invariants: a node name is a DNS-1123 subdomain (the host name, lowercased, by default: a
//! host name is one); label keys and values follow Kubernetes' label rules, so a label written
//! for one tool reads the same in the other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Node {
    pub name: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NodeError {
    #[error("node name {0:?} is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253)")]
    Name(String),
    #[error("node label {0:?} is not KEY=VALUE")]
    LabelForm(String),
    #[error("node label key {0:?} is not a label key ([prefix/]name: letters, digits, '-', '_', '.', at most 63)")]
    LabelKey(String),
    #[error("node label value {0:?} is not a label value (letters, digits, '-', '_', '.', at most 63)")]
    LabelValue(String),
    #[error("node label {0:?} is given twice")]
    Duplicate(String),
    #[error("no node name: --node or MOOR_NODE is not set and the host name cannot be read")]
    NoHostName,
    #[error("the host name {0:?} cannot be the node name (its default without --node): a node name is a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253); give --node NAME (or MOOR_NODE)")]
    HostName(String),
}

impl Node {
    /// The node of `name` (else the host name) with `labels` (`KEY=VALUE` each).
    pub fn new(name: Option<&str>, labels: &[String]) -> Result<Node, NodeError> {
        let name = match name {
            Some(n) => n.to_string(),
            None => {
                let host = host_name().ok_or(NodeError::NoHostName)?;
                let name = host.to_lowercase();
                if !is_subdomain(&name) {
                    return Err(NodeError::HostName(host));
                }
                name
            }
        };
        if !is_subdomain(&name) {
            return Err(NodeError::Name(name));
        }
        let mut out = BTreeMap::new();
        for label in labels {
            let (key, value) = label.split_once('=').ok_or_else(|| NodeError::LabelForm(label.clone()))?;
            if !is_label_key(key) {
                return Err(NodeError::LabelKey(key.to_string()));
            }
            if !is_label_value(value) {
                return Err(NodeError::LabelValue(value.to_string()));
            }
            if out.insert(key.to_string(), value.to_string()).is_some() {
                return Err(NodeError::Duplicate(key.to_string()));
            }
        }
        Ok(Node { name, labels: out })
    }
}

/// The kernel's host name (`gethostname(2)`). Inside a container it is the container's: the
/// README's container recipe sets `MOOR_NODE`.
fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..end].to_vec()).ok().filter(|s| !s.is_empty())
}

pub(crate) fn is_subdomain(name: &str) -> bool {
    name.len() <= 253
        && !name.is_empty()
        && name.split('.').all(|part| {
            !part.is_empty()
                && part.len() <= 63
                && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// Kubernetes' label name: alphanumeric at both ends, `-`, `_`, `.` inside, at most 63.
fn is_label_name(name: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    (1..=63).contains(&name.len())
        && alnum(name.chars().next())
        && alnum(name.chars().last())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub(crate) fn is_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_subdomain(prefix) && is_label_name(name),
        None => is_label_name(key),
    }
}

pub(crate) fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_label_name(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_are_checked() {
        let node =
            Node::new(Some("edge-1.lan"), &["role=edge".into(), "moor.dev/zone=eu-1".into(), "gpu=".into()]).unwrap();
        assert_eq!(node.name, "edge-1.lan");
        assert_eq!(node.labels.len(), 3);
        assert_eq!(node.labels["moor.dev/zone"], "eu-1");
        for bad in ["Edge", "-a", "a..b", "a_b", ""] {
            assert_eq!(Node::new(Some(bad), &[]), Err(NodeError::Name(bad.into())), "{bad}");
        }
        assert_eq!(Node::new(Some("a"), &["role".into()]), Err(NodeError::LabelForm("role".into())));
        assert_eq!(Node::new(Some("a"), &["-x=1".into()]), Err(NodeError::LabelKey("-x".into())));
        assert_eq!(Node::new(Some("a"), &["x=a b".into()]), Err(NodeError::LabelValue("a b".into())));
        assert_eq!(Node::new(Some("a"), &["x=1".into(), "x=2".into()]), Err(NodeError::Duplicate("x".into())));
    }

    #[test]
    fn the_default_is_the_host_name_lowercased() {
        let node = Node::new(None, &[]).unwrap();
        assert_eq!(node.name, host_name().unwrap().to_lowercase());
    }
}
