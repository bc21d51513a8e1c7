//! `--policy FILE`: the host policy of `validate`, `plan`, `apply`, `status` and `run`.
//!
//! Invariant: every command that reads manifests applies the same policy, the file's or the
//! default; a policy file with any problem stops the command before anything is read or done.

use std::path::PathBuf;

use super::Global;
use crate::policy::{self, Policy};

#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// The host policy (YAML; `moor schema --policy`): what manifests may ask of this host.
    /// Without it, the default policy: no bind of /, of the Docker socket, of /proc, /sys, /dev,
    /// /boot, /root or /var/lib/docker, only read-only binds under /etc and /usr, no host
    /// network.
    #[arg(long, value_name = "FILE", env = "MOOR_POLICY")]
    pub policy: Option<PathBuf>,
}

impl PolicyArgs {
    /// The policy file's policy, or the default one; either way, a unix socket given as the
    /// Docker host (`--host`, `DOCKER_HOST`) counts as the Docker socket too.
    pub fn load(&self, global: &Global) -> anyhow::Result<Policy> {
        let policy = match &self.policy {
            Some(file) => policy::load(file)?,
            None => Policy::default(),
        };
        // The default socket is the policy's own already; a bad context is told at connect.
        let endpoint = global.endpoint().ok().filter(|e| e.origin != crate::engine::connect::Origin::Default);
        Ok(match endpoint.as_ref().and_then(|e| e.host.strip_prefix("unix://")) {
            Some(socket) => policy.with_docker_socket(socket),
            None => policy,
        })
    }
}
