//! `moor export`: the manifests as another platform's objects, for users moving on. One-way, no
//! runtime: nothing here talks to a cluster.
//!
//! [`kubernetes`] turns a loaded [`Desired`] into one YAML document per Kubernetes object (its
//! pod template in [`pod`], the volumes, Secrets and ConfigMaps it references in [`refs`]);
//! [`lossy`] lists what has no Kubernetes counterpart. The files are written as `moor import`
//! writes its own ([`crate::import::output::write`]: all or nothing).
//!
//! Invariants:
//! - The manifests are loaded exactly as `moor validate` loads them, and never resolved: a
//!   Secret, an env file or a config file is never read, so no secret value can reach an output.
//!   They become references (`secretKeyRef`, `secretRef`, `configMapRef`, volumes) to objects the
//!   user creates; the report says how, naming keys and paths, never values. A plain `env` value
//!   whose name looks secret ([`crate::secrets::looks_secret`]) is sealed by moor, so it is
//!   exported as a reference too, never as its value.
//! - Every field with no Kubernetes counterpart is listed in [`Report::left_out`] (exit 2), never
//!   dropped silently; a translation that is faithful but needs a step by hand is advice.
//! - The output is deterministic: objects are JSON values with sorted keys, files sorted by name.

pub mod kubernetes;
mod lossy;
mod pod;
mod refs;

use crate::import::{OutFile, Report};
use crate::manifest::Desired;

/// The files to write and what was lost on the way.
#[derive(Debug, Default)]
pub struct Exported {
    pub files: Vec<OutFile>,
    pub report: Report,
}

/// An export that cannot go on: nothing is written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the manifests have {0} problem(s) (see above; `moor validate` lists them): nothing exported")]
    Invalid(usize),
    #[error("serializing {name}: {message}")]
    Serialize { name: String, message: String },
}

/// A DNS-1123 label made of `text`: what Kubernetes names pods' volumes and ports with. Lower
/// case, other characters as `-`, at most 63, never starting or ending with `-`; empty gives
/// `x`.
pub(crate) fn dns_label(text: &str) -> String {
    let mapped: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let trimmed: String = mapped.trim_matches('-').chars().take(63).collect();
    let trimmed = trimmed.trim_end_matches('-').to_string();
    if trimmed.is_empty() {
        "x".into()
    } else {
        trimmed
    }
}

/// Translates everything `desired` declares.
pub fn to_kubernetes(desired: &Desired) -> Result<Exported, ExportError> {
    kubernetes::export(desired)
}

#[cfg(test)]
mod tests;
