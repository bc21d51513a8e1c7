//! `moor import`: compose files in, moor manifests out.
//!
//! The pipeline is pure until the last step: [`compose`] reads the files and the `.env`,
//! [`interpolate`] substitutes variables, [`merge`] merges the files in order and resolves
//! `extends`, [`translate`] turns each service, network, volume and file secret into a manifest,
//! and [`output`] writes them. [`report`] holds what could not be translated.
//!
//! Invariants:
//! - Nothing is written unless the whole import succeeded: every manifest is first checked by the
//!   manifest loader (the one `moor validate` runs), then written to a temporary folder beside
//!   the target and moved in file by file. An existing file with other content is never replaced
//!   without `force`.
//! - Every compose key that has no moor counterpart is reported with its compose path
//!   (`services.web.build`), never silently dropped.
//! - A value interpolated from `.env` or the environment for a key that looks secret
//!   ([`crate::secrets::looks_secret`]) is never written into a manifest: it goes to an env file
//!   (mode 0600) referenced by `envFrom`. Messages never quote a variable's value.
//!
//! Parsing uses our own walk over `serde_yaml::Value`, not a typed compose crate: the import must
//! report every key it does not translate, with its path. `docker-compose-types` 0.24 (MIT or
//! Apache-2.0) keeps `x-` keys but fails the whole file on any other key it does not model (a
//! newer compose property such as `models` or `provider`), and has no interpolation or merging,
//! which compose applies before any typing anyway.

pub mod compose;
pub mod interpolate;
pub mod merge;
pub mod output;
pub mod report;
pub mod translate;
mod translate_net;
mod translate_placement;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use report::{Note, Report};

/// The schema modeline that starts every written manifest, as in the examples of `manifests/`.
pub const MODELINE: &str = "# yaml-language-server: $schema=../schema/moor.schema.json";

/// An import that cannot go on: nothing is written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{file}: {at}: {message}")]
    At { file: PathBuf, at: String, message: String },
    #[error("{0}")]
    Other(String),
}

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Compose files, merged in this order.
    pub files: Vec<PathBuf>,
    /// Where the manifests go.
    pub out_dir: PathBuf,
    /// Active profiles (services with `profiles` are imported only when one of theirs is active).
    pub profiles: Vec<String>,
    /// The process environment; it overrides `.env`, as in compose.
    pub environment: BTreeMap<String, String>,
}

/// One file to write, by name inside the output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    pub name: String,
    pub content: String,
    /// Only readable by the owner (env files with secret values).
    pub private: bool,
}

/// The translation: the files to write and what was left out.
#[derive(Debug, Default)]
pub struct Imported {
    pub files: Vec<OutFile>,
    pub report: Report,
}

/// Reads, merges and translates; writes nothing.
pub fn translate(options: &Options) -> Result<Imported, ImportError> {
    let project = compose::read(options)?;
    let mut imported = translate::project(project, options)?;
    check(&mut imported, &options.out_dir)?;
    Ok(imported)
}

/// The manifests as `moor validate` would load them from `out_dir`: a translation that does not
/// load is an error, never a written folder.
///
/// What the default host policy refuses (a privileged service, a GPU, a bind of `/`) is reported
/// like a key left out, so the exit code says that `moor validate` refuses it until a host
/// policy allows it.
fn check(imported: &mut Imported, out_dir: &std::path::Path) -> Result<(), ImportError> {
    let texts: Vec<(PathBuf, String)> = imported
        .files
        .iter()
        .filter(|f| f.name.ends_with(".yaml"))
        .map(|f| (out_dir.join(&f.name), f.content.clone()))
        .collect();
    let loaded = crate::manifest::load::load_texts(&texts);
    if loaded.problems.is_empty() {
        let refused = crate::policy::refusals(&crate::policy::Policy::default(), &loaded.desired);
        for (name, problems) in refused {
            for problem in problems {
                imported.report.left_out(
                    format!("services.{name}"),
                    format!(
                        "the default host policy refuses {}: {}; apply it under a host policy that allows it (--policy)",
                        problem.field, problem.message
                    ),
                );
            }
        }
        return Ok(());
    }
    let problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    Err(ImportError::Other(format!("the translated manifests do not validate:\n  {}", problems.join("\n  "))))
}
