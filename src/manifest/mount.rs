//! The validated form of a container's mounts (see [`super::model`]'s invariants): named and
//! anonymous volumes, binds with their options, and tmpfs.

use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

/// A mount. The options added with compose's forms (propagation, SELinux relabelling, host path
/// creation, `nocopy`, a tmpfs mode) are left out of the JSON when unset, so a mount without them
/// hashes as before them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase", tag = "type", deny_unknown_fields)]
pub enum Mount {
    Bind {
        source: String,
        target: String,
        read_only: bool,
        /// `private`, `rprivate`, `shared`, `rshared`, `slave` or `rslave`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        propagation: Option<String>,
        /// `z` or `Z`: sent in `Binds`, as Docker's Mounts API has no field for it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        selinux: Option<String>,
        /// Docker creates a missing source (sent in `Binds`, which does; Mounts refuses).
        #[serde(default, skip_serializing_if = "is_false")]
        create_host_path: bool,
    },
    Volume {
        source: String,
        target: String,
        read_only: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        nocopy: bool,
    },
    /// A volume Docker names: each new container (a replacement too) gets a new, empty one.
    Anonymous {
        target: String,
        read_only: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        nocopy: bool,
    },
    Tmpfs {
        target: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
        /// Permission bits, such as 0o1777.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<u32>,
    },
}

impl Mount {
    pub fn target(&self) -> &str {
        match self {
            Mount::Bind { target, .. }
            | Mount::Volume { target, .. }
            | Mount::Anonymous { target, .. }
            | Mount::Tmpfs { target, .. } => target,
        }
    }
}
