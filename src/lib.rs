//! moor: a Kubernetes-style declarative reconciler for Docker.
//!
//! # Layout
//!
//! Data flows one way (see `../shared/design.md`, "Layers"):
//!
//! ```text
//! manifests/*.yaml --manifest--> Desired --\
//!                                            plan (pure) --> Plan --apply--> Docker Engine
//! Docker Engine --observe------> Observed -/
//! ```
//!
//! - [`manifest`]: raw serde types (the JSON schema's source), the validated model with defaults,
//!   loading with `file:line:col` problems.
//! - [`cli`]: the `moor` command line; the binary's `main` only calls [`cli::main`].
//!
//! Errors are typed in the library (`thiserror`); `anyhow` appears only in [`cli`] and `main`.

pub mod apply;
pub mod cli;
pub mod controller;
pub mod digest;
pub mod engine;
pub mod http;
pub mod http_client;
pub mod images;
pub mod labels;
pub mod manifest;
pub mod notify;
pub mod observe;
pub mod plan;
pub mod reconcile;
pub mod spec_hash;
