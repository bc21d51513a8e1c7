//! `--node` and `--node-label`: one definition for every command that works as a node (`plan`,
//! `apply`, `status`, `down`, `run`), so that `moor plan --node a --node-label role=edge` shows
//! exactly what the agent of node `a` would do.

use crate::node::Node;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct NodeArgs {
    /// The node this runs as: placement (`spec.placement`) picks its services, and its
    /// containers carry `moor.node` (default: the host name; inside a container, set it: the
    /// host name there is the container's).
    #[arg(long, env = "MOOR_NODE", value_name = "NAME")]
    pub node: Option<String>,
    /// A label of this node, KEY=VALUE (repeatable), matched by `placement.nodeSelector`.
    #[arg(long = "node-label", value_name = "KEY=VALUE")]
    pub node_labels: Vec<String>,
}

impl NodeArgs {
    /// The node, checked (a DNS-1123 name, Kubernetes-style labels).
    pub fn node(&self) -> anyhow::Result<Node> {
        Ok(Node::new(self.node.as_deref(), &self.node_labels)?)
    }
}
