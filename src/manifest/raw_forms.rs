//! The raw types of compose's alternative forms of a Service's fields (issue 13): the list
//! forms of `env` and `labels`, `tmpfs` paths, and the options of bind and volume mounts. As in
//! [`super::raw`], nothing is parsed or defaulted here.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::raw::EnvValue;

/// Environment variables: a map of name to value, or compose's list of `NAME=value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Env {
    Map(BTreeMap<String, EnvValue>),
    List(Vec<String>),
}

impl Default for Env {
    fn default() -> Self {
        Env::Map(BTreeMap::new())
    }
}

impl Env {
    pub fn is_empty(&self) -> bool {
        match self {
            Env::Map(m) => m.is_empty(),
            Env::List(l) => l.is_empty(),
        }
    }
}

/// Labels: a map of key to value, or compose's list of `key=value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Labels {
    Map(BTreeMap<String, String>),
    List(Vec<String>),
}

impl Default for Labels {
    fn default() -> Self {
        Labels::Map(BTreeMap::new())
    }
}

impl Labels {
    pub fn is_empty(&self) -> bool {
        match self {
            Labels::Map(m) => m.is_empty(),
            Labels::List(l) => l.is_empty(),
        }
    }
}

/// How a bind mount's mounts propagate (mount(8)'s `--make-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    Private,
    Rprivate,
    Shared,
    Rshared,
    Slave,
    Rslave,
}

/// SELinux relabelling of a bind's source: `z` (shared among containers) or `Z` (private to
/// this one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Selinux {
    #[serde(rename = "z")]
    Shared,
    #[serde(rename = "Z")]
    Private,
}

/// The options of a bind mount (compose's `bind:`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BindOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<Propagation>,
    /// Create the host path (as a root-owned folder) when it is missing. Default false: a
    /// missing source is refused by Docker, so that a typo is not silently a new empty folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_host_path: Option<bool>,
    /// Relabel the source for SELinux: `z` or `Z`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux: Option<Selinux>,
}

/// The options of a volume mount (compose's `volume:`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeOptions {
    /// Do not copy the image's files at the target into a new, empty volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nocopy: Option<bool>,
}

/// The options of a tmpfs mount (compose's `tmpfs:` of a long-form volume).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TmpfsOptions {
    /// Size limit such as `64Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<super::raw::Size>,
    /// The mount's permission bits, such as `1777` (octal, as `mode` of secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<super::raw::FileMode>,
}
