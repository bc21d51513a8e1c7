//! Setting up what resolving secrets needs on this host: the age key from sops' environment
//! variables, the digest key and the file store under the state dir, the folders the policy lets
//! moor read; and the step every command takes after loading: admit through the policy, then
//! resolve (see `crate::secrets::resolve`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::manifest::Loaded;
use crate::policy::Policy;
use crate::secrets::age_key::Identities;
use crate::secrets::read::Roots;
pub use crate::secrets::resolve::KeyUse;
use crate::secrets::resolve::{resolve, KeySource, Mode, Resolver};

/// The host's age identities: `Ok(None)` without one; an error names why it cannot be read.
pub fn identities() -> Result<Option<Arc<Identities>>, String> {
    Identities::from_env().map(|ids| ids.map(Arc::new)).map_err(|e| e.to_string())
}

/// A resolver for manifests read from `source` and shown under `shown`.
pub fn resolver(source: PathBuf, shown: PathBuf, policy: &Policy, state_dir: &Path, key: KeyUse) -> Resolver {
    Resolver {
        roots: Roots { source, shown, allowed: policy.read_paths.clone() },
        identities: identities(),
        key: KeySource::state_dir(state_dir.to_path_buf(), key),
        mode: Mode::Apply,
    }
}

/// `loaded` admitted through `policy` and resolved; the problems and warnings that resolving
/// adds are printed on stderr, as loading's were.
pub fn prepare(mut loaded: Loaded, policy: &Policy, resolver: &Resolver) -> Loaded {
    loaded.desired = crate::policy::admit(policy, std::mem::take(&mut loaded.desired));
    let (problems, warnings) = (loaded.problems.clone(), loaded.warnings.len());
    resolve(&mut loaded, resolver);
    for p in loaded.problems.iter().filter(|p| !problems.contains(p)) {
        eprintln!("{p}");
    }
    for w in &loaded.warnings[warnings..] {
        eprintln!("warning: {w}");
    }
    loaded
}
