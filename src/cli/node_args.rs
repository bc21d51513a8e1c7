//! `--node` and `--node-label`: one definition for every command that works as a node (`plan`,
//! `apply`, `status`, `down`, `run`), so that `moor plan --node a --node-label role=edge` shows
//! exactly what the agent of node `a` would do.
//!
//! The default node is the host's name where the daemon runs: this host's for a local socket;
//! for a daemon on another host (`tcp://`, `ssh://`, a context naming one) the daemon's own
//! name (`docker info`), so that a laptop or a CI runner acting on it is that host's node, not
//! one of its own. `moor run` needs its node before Docker answers: against another host's
//! daemon it wants `--node`.

use crate::engine::DockerEngine;
use crate::node::Node;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct NodeArgs {
    /// The node this runs as: placement (`spec.placement`) picks its services, and its
    /// containers carry `moor.node` (default: the host name of the daemon's host; inside a
    /// container, set it: the host name there is the container's).
    #[arg(long, env = "MOOR_NODE", value_name = "NAME")]
    pub node: Option<String>,
    /// A label of this node, KEY=VALUE (repeatable), matched by `placement.nodeSelector`.
    #[arg(long = "node-label", value_name = "KEY=VALUE")]
    pub node_labels: Vec<String>,
}

impl NodeArgs {
    /// The node, checked (a DNS-1123 name, Kubernetes-style labels); the default is this
    /// host's name.
    pub fn node(&self) -> anyhow::Result<Node> {
        Ok(Node::new(self.node.as_deref(), &self.node_labels)?)
    }

    /// Checks what was given before anything is asked of Docker: a bad name or label is told
    /// first, and changes nothing.
    pub fn check(&self) -> anyhow::Result<()> {
        Node::new(Some(self.node.as_deref().unwrap_or("checked")), &self.node_labels)?;
        Ok(())
    }

    /// The node for a command talking to `engine` at `endpoint` (module docs).
    pub async fn resolve(&self, engine: &DockerEngine, endpoint: &str) -> anyhow::Result<Node> {
        if self.node.is_some() || endpoint.starts_with("unix://") {
            return self.node();
        }
        let name = engine.daemon_name().await.map_err(|e| {
            anyhow::anyhow!("reading the name of the daemon at {endpoint} (the default node of a daemon on another host; or give --node): {e}")
        })?;
        let name = name.to_lowercase();
        Node::new(Some(&name), &self.node_labels).map_err(|e| {
            anyhow::anyhow!(
                "the daemon at {endpoint} is named {name:?}, which cannot be the default node: give --node ({e})"
            )
        })
    }

    /// `moor run`'s node: against another host's daemon, only a given one (a local socket, or
    /// a loopback address, is this host's daemon).
    pub fn for_agent(&self, endpoint: &str) -> anyhow::Result<Node> {
        anyhow::ensure!(
            self.node.is_some() || endpoint.starts_with("unix://") || is_loopback(endpoint),
            "moor run against a daemon on another host ({endpoint}) needs --node (or MOOR_NODE): its node is that host, whose name this host does not know before Docker answers"
        );
        self.node()
    }
}

/// `tcp://127.0.0.1:2375`, `tcp://localhost:2375`, `tcp://[::1]:2375` (the same for https://).
fn is_loopback(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("tcp://").or_else(|| endpoint.strip_prefix("https://")) else {
        return false;
    };
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => rest.split(':').next().unwrap_or(""),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_against_another_hosts_daemon_needs_its_node() {
        let none = NodeArgs::default();
        for local in ["unix:///var/run/docker.sock", "tcp://127.0.0.1:2375", "tcp://localhost:2376", "tcp://[::1]:2375"]
        {
            assert!(none.for_agent(local).is_ok(), "{local}");
        }
        for remote in
            ["tcp://10.0.0.5:2376", "ssh://me@box:22", "tcp://box.example:2376", "tcp://127.0.0.1.example:2375"]
        {
            let e = none.for_agent(remote).unwrap_err().to_string();
            assert!(e.contains("--node") && e.contains(remote), "{e}");
        }
        let named = NodeArgs { node: Some("edge-1".into()), node_labels: vec![] };
        assert_eq!(named.for_agent("ssh://me@box:22").unwrap().name, "edge-1");
    }
}
