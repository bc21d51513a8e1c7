//! moor: a Kubernetes-style declarative reconciler for Docker.
//!
//! Data flows one way: manifests become what is desired, Docker's list calls become what is observed, a pure
//! function turns the two into a plan, and apply carries the plan out through the one door to Docker:
//!
//! ```text
//! manifests/*.yaml --manifest, policy--> Desired --\      (a folder, or git's `current` revision)
//!                                                   plan (pure) --> Plan --apply--> Engine --> Docker
//! Docker --reconcile::observe--> Observed ---------/
//! ```
//!
//! `moor apply` runs this once ([`reconcile::reconcile_once`]); `moor run` runs it per service whenever a
//! trigger fires ([`controller`]).
//!
//! # Layout
//!
//! - [`apply`]: runs a [`plan::Plan`] through an [`engine::Engine`]: replacement, health gate, rollback.
//! - [`cli`]: the `moor` command line; the binary's `main` only calls [`cli::main`]; `anyhow` lives here.
//! - [`controller`]: `moor run`: triggers, work queue, per-service state, the pure decision, image updates,
//!   the liveness ping behind readiness, the activity log of the dashboard.
//! - [`dashboard`]: the read-only web page: a plain view model, built from the controller's status and
//!   activity or from many agents' `/status`, rendered by pure maud functions (SVG timelines, histogram).
//! - [`digest`]: short forms of digests and image IDs for messages (pure).
//! - [`engine`]: the [`engine::Engine`] trait (and [`engine::swarm::SwarmEngine`] for Swarm), the bollard implementation that reads Docker's answers, the
//!   deadline of each call, the negotiated API version and the fields that need a newer one, a fake;
//!   which daemon to reach as the Docker CLI picks it (`--host`, contexts, TLS: `engine::connect`),
//!   TLS over one pooled connection (`engine::tls_transport`) and `ssh://` through the system's ssh
//!   (`engine::ssh_bridge`).
//! - [`export`]: `moor export kubernetes`: the manifests as Deployments, Jobs, Services and claims, one-way;
//!   Secrets and configs as references only; what has no counterpart reported as `moor import` does.
//! - [`git`]: the git source of `moor run --git`: asking a remote for a ref's commit, shallow fetches with
//!   gix, revision snapshots and the `current` link, SSH commit signatures, the sync and its poll task,
//!   the push webhook's signatures.
//! - [`http`]: the `--listen` endpoints of `moor run`: the dashboard (`/`, `/ui`, `/events`), `/healthz`,
//!   `/readyz`, `/metrics`, `/status`, `POST /hooks/git`.
//! - [`http_client`]: outgoing HTTP (reqwest with rustls) for the webhook and `moor status --controller`.
//! - [`images`]: the registry digest check; a pull only when the registry has a digest the local image lacks.
//! - [`jobs`]: the record of a job's last run in the state dir, so an `autoRemove` job that completed is not run
//!   again.
//! - [`labels`]: the label keys moor writes; ownership is the [`labels::INSTANCE`] label, scoped by [`labels::NODE`].
//! - [`manifest`]: `moor/v1` YAML to a validated [`manifest::Desired`], problems located as `file:line:col`.
//! - [`names`]: the naming rule: container names per instance, `containerName`, the default network.
//! - [`node`]: the node a `moor run` agent runs as (`--node`, `--node-label`): in `/status`, `/metrics`, logs.
//! - [`notify`]: the webhook: a JSON POST per image update or kept failed replacement, with retries.
//! - [`observe`]: the observed state of what this instance owns, as Docker's list calls report it.
//! - [`plan`]: the pure [`plan::plan`]`(&Desired, &Observed) -> Plan`, where every convergence rule lives.
//! - [`policy`]: the host policy (`--policy FILE`): what manifests may ask of the host; a service it refuses is
//!   left as it is.
//! - [`reconcile`]: observing through the engine, and the one-pass observe, plan and apply of `moor apply`.
//! - [`spec_hash`]: the `moor.spec-hash` label: canonical JSON of the spec plus the image ID.
//! - [`swarm`]: `--backend swarm`: the manifests as Swarm services; the projection, validation, pure plan,
//!   apply (Swarm rolls and rolls back), status of tasks. Docker calls through [`engine::swarm::SwarmEngine`].
//! - [`systemd`]: `moor run`'s notify protocol: `READY=1` when first ready, `STOPPING=1`, watchdog pings.
//!
//! The design (layers, invariants, Docker's answers, the label contract, the controller's state machine,
//! testing) is described in `docs/architecture.md` at the root of the repository.

pub mod apply;
pub mod cli;
pub mod controller;
pub mod dashboard;
pub mod digest;
pub mod engine;
pub mod export;
pub mod git;
pub mod http;
pub mod http_client;
pub mod images;
pub mod import;
pub mod jobs;
pub mod labels;
pub mod manifest;
pub mod names;
pub mod node;
pub mod notify;
pub mod observe;
pub mod plan;
pub mod policy;
pub mod reconcile;
pub mod secrets;
pub mod sensitive;
pub mod spec_hash;
pub mod swarm;
pub mod systemd;
