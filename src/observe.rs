//! The observed state: what Docker runs that this instance owns.
//!
//! Invariants:
//! - An [`Observed`] snapshot comes from one container list call (filtered by the instance
//!   label), plus one list per Network or Volume kind only when manifests declare that kind.
//!   Everything the plan compares is in the labels and the list entry (its networks included);
//!   no inspect is needed. When no service joins the instance's default network, networks are
//!   listed too, so that an unused default network can be pruned.
//! - With a node (`Desired::node`), only containers of that node or of none are in the
//!   snapshot; of the others only the networks they are on are kept, as in use.
//! - A snapshot is all or nothing: when any list call fails there is no snapshot, and nothing is
//!   planned (never act on partial knowledge).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::labels;

/// Docker's container states, as the list call reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl RunState {
    pub fn parse(text: &str) -> RunState {
        match text {
            "created" => RunState::Created,
            "running" => RunState::Running,
            "paused" => RunState::Paused,
            "restarting" => RunState::Restarting,
            "removing" => RunState::Removing,
            "dead" => RunState::Dead,
            _ => RunState::Exited,
        }
    }

    /// Running in the sense of `state: running`: the process is up (or Docker is restarting it
    /// under its restart policy).
    pub fn is_up(self) -> bool {
        matches!(self, RunState::Running | RunState::Restarting)
    }

    /// The container is on its way out; it must be treated as absent.
    pub fn is_going(self) -> bool {
        matches!(self, RunState::Removing | RunState::Dead)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    None,
    Starting,
    Healthy,
    Unhealthy,
}

/// One owned container, as the list call shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub state: RunState,
    pub health: Health,
    pub image: String,
    pub image_id: String,
    /// Unix seconds.
    pub created: i64,
    /// The exit code of an exited container, as the list call's status text tells it
    /// (`Exited (3) 2 minutes ago`); `None` while it runs or when the text does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip)]
    pub labels: BTreeMap<String, String>,
    /// The networks it is attached to, from the list call's `NetworkSettings` (no inspect): how
    /// the plan tells that a container made before the default network existed must join it.
    #[serde(skip)]
    pub networks: Vec<String>,
}

impl ObservedContainer {
    pub fn service(&self) -> Option<&str> {
        self.labels.get(labels::SERVICE).map(String::as_str)
    }

    /// The replica number; a container without a readable one counts as replica 0, which no
    /// manifest asks for, so it is removed as a leftover.
    pub fn replica(&self) -> u32 {
        self.labels.get(labels::REPLICA).and_then(|r| r.parse().ok()).unwrap_or(0)
    }

    pub fn spec_hash(&self) -> Option<&str> {
        self.labels.get(labels::SPEC_HASH).map(String::as_str)
    }

    pub fn last_applied(&self) -> Option<&str> {
        self.labels.get(labels::LAST_APPLIED).map(String::as_str)
    }
}

/// An owned network or volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedResource {
    pub name: String,
    #[serde(skip)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Observed {
    /// The instance observed: what names its containers and its default network
    /// (`crate::names`).
    #[serde(skip)]
    pub instance: String,
    pub containers: Vec<ObservedContainer>,
    /// `None` when not listed (no Network manifests): nothing is known, so nothing is pruned.
    pub networks: Option<Vec<ObservedResource>>,
    /// `None` when not listed (no Volume manifests).
    pub volumes: Option<Vec<ObservedResource>>,
    /// Names held by containers this instance does not own, as learned from a 409 on create,
    /// and those of other nodes' containers of this instance (seen by the list call). The value
    /// says who holds it.
    pub conflicts: BTreeMap<String, String>,
    /// The image ID a service must run, when an update check (or a rollback) decided it. A
    /// service without a pin runs whatever image its containers were built from.
    pub pinned: BTreeMap<String, String>,
    /// The networks that containers of other nodes of this instance are on (one daemon shared
    /// by several agents): in use, so never pruned by this node. Empty without nodes.
    #[serde(skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub other_nodes_networks: std::collections::BTreeSet<String>,
    /// The last recorded run of each job (`mode: job`) that has a record in the state dir
    /// ([`crate::jobs`]): how an `autoRemove` job that Docker deleted is known to have completed.
    pub jobs: BTreeMap<String, crate::jobs::JobRecord>,
}

impl Default for Observed {
    /// Nothing observed, of the default instance.
    fn default() -> Self {
        Observed {
            instance: crate::names::DEFAULT_INSTANCE.to_string(),
            containers: Vec::new(),
            networks: None,
            volumes: None,
            conflicts: BTreeMap::new(),
            pinned: BTreeMap::new(),
            other_nodes_networks: Default::default(),
            jobs: BTreeMap::new(),
        }
    }
}

impl Observed {
    /// The owned containers of each service, grouped by the `moor.service` label.
    pub fn by_service(&self) -> BTreeMap<&str, Vec<&ObservedContainer>> {
        let mut map: BTreeMap<&str, Vec<&ObservedContainer>> = BTreeMap::new();
        for c in &self.containers {
            map.entry(c.service().unwrap_or("")).or_default().push(c);
        }
        map
    }
}

/// How a service's containers look, for status: `absent`, the one container's state, or
/// `running N/M` for replicas.
pub fn summary(containers: &[&ObservedContainer]) -> String {
    match containers {
        [] => "absent".into(),
        [one] => format!("{:?}", one.state).to_lowercase(),
        many => format!("running {}/{}", many.iter().filter(|c| c.state.is_up()).count(), many.len()),
    }
}

/// How a service's containers look, for status and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// [`summary`] (or [`job_summary`] for a job).
    pub observed: String,
    /// The worst health among its containers (unhealthy, then starting, then healthy); `None`
    /// when none has a healthcheck.
    pub health: Option<&'static str>,
    /// The image ID its first container runs.
    pub image_id: Option<String>,
}

impl Seen {
    /// `observed` is the summary the caller made (it knows whether the service is a job).
    pub fn of(containers: &[&ObservedContainer], observed: String) -> Seen {
        let rank = |h: Health| match h {
            Health::Unhealthy => 3,
            Health::Starting => 2,
            Health::Healthy => 1,
            Health::None => 0,
        };
        let health = containers.iter().map(|c| c.health).max_by_key(|h| rank(*h)).and_then(|h| match h {
            Health::Unhealthy => Some("unhealthy"),
            Health::Starting => Some("starting"),
            Health::Healthy => Some("healthy"),
            Health::None => None,
        });
        Seen { observed, health, image_id: containers.first().map(|c| c.image_id.clone()) }
    }
}

/// How a job's container looks, for status: `completed (exit 0)` or `failed (exit N)` once it
/// exited, from its container or, when Docker deleted it (`autoRemove`), from its record; else
/// what [`summary`] says (`running`, `created`, `absent`).
pub fn job_summary(containers: &[&ObservedContainer], record: Option<&crate::jobs::JobRecord>) -> String {
    let code = match containers {
        [one] if one.state == RunState::Exited => one.exit_code,
        [] => record.map(|r| r.exit_code),
        _ => None,
    };
    match code {
        Some(0) => "completed (exit 0)".into(),
        Some(n) => format!("failed (exit {n})"),
        None => summary(containers),
    }
}
