//! The manifest layer: `moor/v1` YAML in, a validated [`Desired`] set out.
//!
//! Two stages, as in ripgrep's config: [`raw`] holds the serde types a user writes (and the
//! schema is generated from them); [`model`] holds the validated types with defaults applied and
//! every scalar parsed, within the bounds of [`limits`]. [`load`] takes the files `read` finds,
//! reads each document through `value` (YAML to JSON, without JSON's silent misreadings) and
//! `locate` (duplicate keys, tags, positions), checks it against the schema and the semantic
//! rules, and locates every problem as `file:line:col`. [`guard`] holds prune back when a source
//! that loaded declares no Service at all.
//!
//! Secrets, env files and configs: a `kind: Secret` document and a Service's `envFrom`,
//! `{ secret, key }` env values, `secrets` and `configs` become the references of [`refs`]
//! ([`convert_refs`]), checked against every declared Secret once all files are read. The files
//! they name are never read here: `crate::secrets` resolves them after loading. A folder scan
//! skips SOPS files (`*.sops.yaml`, `*.sops.yml`, `*.sops.json`): they are data, not manifests.
//!
//! Invariants: no I/O beyond reading the manifest files (regular files only, at most
//! [`limits::MAX_FILE_BYTES`] each); `serde_yaml` is used only inside this module (and in
//! `policy::load`, for the host policy file), so switching to a maintained fork touches this
//! folder and that file; no problem message quotes a value that may be a secret.

use std::collections::BTreeMap;

use serde::Serialize;

mod convert;
mod convert_forms;
pub mod convert_host;
mod convert_job;
pub mod convert_refs;
mod convert_resources;
mod convert_tuning;
pub mod guard;
pub mod limits;
pub mod load;
mod locate;
pub mod model;
pub mod model_resources;
mod mount;
pub mod network;
pub mod placement;
pub mod problem;
pub mod raw;
mod raw_forms;
mod raw_host;
mod read;
pub mod refs;
pub mod schema;
pub mod units;
mod value;

pub use guard::{guard_empty, PruneGuard};
pub use load::{load_dir_as, load_paths, load_str, load_texts, Loaded};
pub use model::{ContainerSpec, Network, Service, Volume};
pub use problem::Problem;

/// Everything the manifests ask for.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Desired {
    pub services: BTreeMap<String, Service>,
    pub networks: BTreeMap<String, Network>,
    pub volumes: BTreeMap<String, Volume>,
    /// The `kind: Secret` objects, by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, refs::Secret>,
    /// True only when every manifest loaded without a problem. Prune is suspended otherwise:
    /// a service whose manifest failed to load is missing here, and must not be taken for
    /// deleted.
    pub complete: bool,
    /// Set when prune must wait although every manifest loaded: the source declares no Service
    /// and `--allow-empty` was not given (see [`guard`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune_guard: Option<PruneGuard>,
    /// Services the host policy refuses (`crate::policy::admit` moves them here from
    /// `services`): declared, so never pruned, but never created, replaced or started either.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub refused: BTreeMap<String, Refused>,
    /// Services declared but taken out because their secrets, env files or configs could not be
    /// read (`crate::secrets::resolve`): what a dependant's failure names.
    #[serde(skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub unresolved: std::collections::BTreeSet<String>,
    /// The node this desired state was narrowed to ([`placement::place`]); `None` before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<placement::NodeScope>,
}

impl Desired {
    /// Does a manifest declare the service, admitted or refused? What is declared is never
    /// pruned.
    pub fn declares(&self, service: &str) -> bool {
        self.services.contains_key(service) || self.refused.contains_key(service) || self.unresolved.contains(service)
    }
}

/// A service the host policy refuses, and why: one located problem per violation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refused {
    pub service: Service,
    pub problems: Vec<Problem>,
    /// Who refuses it: the host policy, or the daemon's API (`engine::api_version`).
    pub cause: RefusalCause,
}

/// Who refuses a service; either way it is left as it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RefusalCause {
    /// The host policy.
    Policy,
    /// A field needs a newer Docker API than the one negotiated with the daemon.
    DockerApi,
    /// `--backend swarm`: a field Swarm cannot express (`crate::swarm::validate`).
    Swarm,
}

impl RefusalCause {
    /// `refused by policy`, `refused for the daemon's Docker API`.
    pub fn words(self) -> &'static str {
        match self {
            RefusalCause::Policy => "refused by policy",
            RefusalCause::DockerApi => "refused for the daemon's Docker API",
            RefusalCause::Swarm => "refused: Swarm cannot express it",
        }
    }
}
