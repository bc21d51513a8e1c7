//! Setting up what resolving secrets needs on this host: the age key from sops' environment
//! variables, the digest key and the file store under the state dir, the folders the policy lets
//! moor read; and the step every command takes after loading: admit through the policy, then
//! resolve (see `crate::secrets::resolve`).

use std::path::{Path, PathBuf};

use crate::manifest::Loaded;
use crate::policy::Policy;
use crate::secrets::read::Roots;
pub use crate::secrets::resolve::KeyUse;
use crate::secrets::resolve::{resolve, IdentitySource, KeySource, Mode, Resolver};

/// A resolver for manifests read from `source` and shown under `shown`.
pub fn resolver(source: PathBuf, shown: PathBuf, policy: &Policy, state_dir: &Path, key: KeyUse) -> Resolver {
    Resolver {
        // The state dir's own secrets: its digest key and the files of every service. (The git
        // source's snapshots live there too, and are the manifest source itself.)
        roots: Roots {
            source,
            shown,
            allowed: policy.read_paths.clone(),
            denied: ["digest.key", "secrets", "configs"].iter().map(|p| state_dir.join(p)).collect(),
        },
        identities: IdentitySource::Env,
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
