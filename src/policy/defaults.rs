//! The default host policy, rule by rule: what `moor validate`, `plan`, `apply` and `run` apply
//! without `--policy`, and what a policy file's omitted rules keep. The schema shows these as
//! each rule's `default`; `super::load::convert` is the one place that applies them.
//!
//! The bind rules refuse what hands over the host outright (its root, the Docker socket, the
//! kernel's and Docker's own files, root's home, credentials) and keep system folders
//! read-only. They cannot list every path whose write access leads to root (a user's
//! `~/.ssh`, say): on a host where pushes are not trusted, name the folders services may bind
//! with `bindMounts.allow`.

/// Any host path, subject to the deny and read-only lists.
pub const BIND_ALLOW: &[&str] = &["/"];

/// Refused at, under and above (so `/`, `/var` and `/var/lib` are refused too):
/// - `/proc`, `/sys`, `/dev`, `/boot`: the kernel's interfaces, devices and boot files;
/// - `/root`: root's home (its shell profile and SSH keys);
/// - `/etc/shadow`, `/etc/gshadow`, `/etc/ssh`: password hashes and the host's SSH keys,
///   which read-only access already gives away;
/// - `/var/lib/docker`, `/var/lib/containerd`, `/run/containerd`, `/var/run/containerd`: the
///   container engines' data and containerd's socket, each as good as the Docker socket.
pub const BIND_DENY: &[&str] = &[
    "/boot",
    "/dev",
    "/etc/gshadow",
    "/etc/shadow",
    "/etc/ssh",
    "/proc",
    "/root",
    "/run/containerd",
    "/sys",
    "/var/lib/containerd",
    "/var/lib/docker",
    "/var/run/containerd",
];

/// Read-only only: writing to the host's configuration, programs, libraries or cron jobs is
/// root on the host. Read-only binds under them (`/etc/localtime`, `/etc/ssl/certs`) are fine.
pub const BIND_READ_ONLY: &[&str] = &["/bin", "/etc", "/lib", "/lib32", "/lib64", "/sbin", "/usr", "/var/spool/cron"];

/// The Docker socket's usual paths; a file named [`DOCKER_SOCKET_NAME`] anywhere, and the socket
/// moor itself talks to, count too.
pub const DOCKER_SOCKETS: &[&str] = &["/run/docker.sock", "/var/run/docker.sock"];

/// The Docker socket's file name, wherever it is (rootless Docker: `/run/user/1000/docker.sock`).
pub const DOCKER_SOCKET_NAME: &str = "docker.sock";

/// Any registry.
pub const REGISTRIES: &[&str] = &["*"];

/// Any host port.
pub const HOST_PORTS: &[&str] = &["1-65535"];

/// No capability beyond Docker's default set.
pub const CAPABILITIES: &[&str] = &[];

/// No host device.
pub const DEVICES: &[&str] = &[];

/// Where Secrets, env files and configs may be read from outside the manifest source: moor's own
/// configuration folder, where a host keeps what is not in git (an age key, a local env file).
pub const READ_PATHS: &[&str] = &["/etc/moor/secrets"];
