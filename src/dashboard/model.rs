//! What a dashboard page shows, as plain owned data. The agent's page is built from its
//! [`crate::controller::status::Shared`] (`dashboard::view`), the fleet's from each agent's
//! `/status`; both are rendered by pure functions of these types (`dashboard::page`,
//! `dashboard::fleet_page`), which is what the snapshot tests pin.
//!
//! Invariant: nothing here holds a secret value. Status texts are what `/status` already serves
//! (errors are built from typed outcomes that never carry a secret's value).

use std::time::SystemTime;

/// One agent's page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The node this agent runs as (`moor run --node`), when it has one.
    pub node: Option<String>,
    pub instance: String,
    pub ready: bool,
    /// Docker answers.
    pub docker: bool,
    /// When the page was made; the timelines end here.
    pub now: SystemTime,
    pub last_resync: Option<String>,
    /// Manifest problems as last loaded (prune is suspended while any exists).
    pub problems: Vec<String>,
    pub prune_suspended: Option<String>,
    /// The git source, when moor runs from git.
    pub source: Option<SourceView>,
    pub services: Vec<ServiceRow>,
    /// The last events moor acted on, newest first, at most [`EVENTS_SHOWN`].
    pub events: Vec<EventRow>,
    pub histogram: HistogramView,
}

/// How many events a page lists.
pub const EVENTS_SHOWN: usize = 100;

/// A git source's state, as `/status` has it (no credential: the URL has no userinfo).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceView {
    pub url: String,
    pub reference: String,
    pub path: String,
    pub revision: Option<String>,
    pub subject: Option<String>,
    pub last_applied_revision: Option<String>,
    pub last_fetch: Option<String>,
    /// The signer of the current revision, with `--verify-commits`.
    pub verified_by: Option<String>,
    pub last_error: Option<String>,
}

/// One service's row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceRow {
    pub name: String,
    /// Its manifest's `metadata.labels`, sorted by key.
    pub labels: Vec<(String, String)>,
    /// The node it runs on (the agent's node; for the fleet, the node that reported it).
    pub node: Option<String>,
    /// `running`, `running x3`, `stopped`, `completed (job)`.
    pub desired: String,
    /// `running`, `absent`, `running 2/3`, `exited`…
    pub observed: String,
    pub in_sync: bool,
    /// `healthy`, `unhealthy`, `starting`; `None` without a healthcheck (or not yet seen).
    pub health: Option<String>,
    /// The image reference the manifest names.
    pub image: Option<String>,
    /// What runs: the registry digest of a watched image, else the local image ID
    /// (`sha256:…`).
    pub running_digest: Option<String>,
    /// The update state of `update.watch: digest`: `watching`, `updated to sha256:…`,
    /// `rolled back from sha256:…`; `None` when not watched.
    pub update: Option<String>,
    /// Set while in a crash loop.
    pub crash_loop: Option<String>,
    pub last_error: Option<String>,
    /// Refused by the host policy (`last_error` says why).
    pub refused: bool,
    pub last_reconcile: Option<String>,
    /// The last hour of this service, oldest first.
    pub timeline: Vec<Mark>,
}

/// One point on a service's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub at: SystemTime,
    pub kind: MarkKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MarkKind {
    /// A reconcile that found nothing to do or converged a new spec.
    Reconcile,
    /// Drift repaired (a container removed, stopped or changed outside moor).
    Repair,
    /// An image update applied (or rolled back).
    Update,
    /// A reconcile that failed.
    Failure,
}

impl MarkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MarkKind::Reconcile => "reconcile",
            MarkKind::Repair => "repair",
            MarkKind::Update => "update",
            MarkKind::Failure => "failure",
        }
    }
}

/// One event moor acted on.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub at: SystemTime,
    pub service: String,
    /// What moor did: `create, start`, `replace`, `remove`, `refused`, `failed`…
    pub action: String,
    /// Why: `drift`, `manifest change`, `image update`, `crash loop`, `prune`,
    /// `policy refusal`, `converge`, `failure`.
    pub why: String,
    /// More words (the error of a failure, the image of an update); may be empty.
    pub detail: Option<String>,
}

/// The reconcile duration histogram of `/metrics` (`moor_reconcile_duration_seconds`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramView {
    /// Each bucket's upper bound in seconds and the reconciles that fell in it (not cumulative);
    /// the last bound is `f64::INFINITY`.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum: f64,
}

/// The fleet's page: one section per agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    pub now: SystemTime,
    pub nodes: Vec<FleetNode>,
}

/// One agent as the fleet page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetNode {
    /// The agent's `--listen` URL (without userinfo).
    pub url: String,
    /// The node's name, or the URL when it did not say (or did not answer).
    pub name: String,
    /// What it answered, or why it could not be read.
    pub answer: Result<NodeView, String>,
}

/// What one agent answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeView {
    pub ready: bool,
    /// The revision applied (a git source), else `None`.
    pub revision: Option<String>,
    /// The first reason it is not converged (a problem, the prune guard, the source's error).
    pub last_error: Option<String>,
    /// Its services, each with `node` set to this node's name.
    pub services: Vec<ServiceRow>,
}
