//! A swarm of three managers on a private network, for the multi-node Swarm tests (design doc
//! 2.7): a hub network namespace holding a Linux bridge ([`Hub`]), and three [`Daemon`]s
//! ([`Managers`]), each in its own network and UTS namespace with the hostname `n1`, `n2` or
//! `n3`, joined to the hub's bridge by a veth pair.
//!
//! Invariants:
//! - Nothing is made in the machine's own network namespace: each veth pair is created inside the
//!   hub's namespace and one end is then moved into the node's. The addresses, `10.213.S.N/24`
//!   for node `nN`, exist only in namespaces made for the test. `S` comes from the pid and a
//!   counter, so that parallel tests use different subnets (they could not meet anyway: no
//!   namespace has a route to another test's hub). `10.213.0.0/16` stays clear of the overlay
//!   subnets Swarm hands out from `10.0.0.0/8` in order (`10.0.0.0/24` first).
//! - `n1` made the swarm (`--dispatcher-heartbeat 1s`, so that a stopped node reads `Down` within
//!   seconds, not 15 s) and is its leader; `n2` and `n3` joined as managers, so that the swarm
//!   keeps its quorum when one of them stops.
//! - Dropping a [`Managers`] (also after a failed assertion) drops its daemons (each: SIGTERM,
//!   its namespace deleted, its folder unmounted and removed, trap T8), in parallel since each
//!   takes seconds, and then its hub: deleting the hub's namespace takes the bridge and the
//!   hub's veth ends with it, and a veth pair dies with either of its ends.
//!
//! Needs root, `ip`, `nsenter`, `unshare` and `dockerd`, as [`Daemon`] does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::daemon::{must, Daemon};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// How long the joined nodes may take to all read `Ready`: under a second here.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A network namespace holding the bridge `br0`, the nodes' switch.
pub struct Hub {
    netns: String,
    /// `10.213.S`: node `N` is `10.213.S.N`.
    prefix: String,
}

impl Hub {
    /// A hub named after `test`, its bridge up.
    pub fn new(test: &str) -> Hub {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id() as usize;
        let netns = format!("moor-hub-{test}-{pid}-{n}");
        let prefix = format!("10.213.{}", (pid + n) % 256);
        must("ip", &["netns", "add", &netns]);
        // From here on, Drop deletes the namespace.
        let hub = Hub { netns, prefix };
        must("ip", &["-n", &hub.netns, "link", "add", "br0", "type", "bridge"]);
        must("ip", &["-n", &hub.netns, "link", "set", "br0", "up"]);
        hub
    }

    /// Node `n`'s address on the hub.
    pub fn addr(&self, n: u8) -> String {
        format!("{}.{n}", self.prefix)
    }

    /// Joins the namespace `node_netns` to the hub as node `n`: a veth pair made in the hub,
    /// `eth0` moved into the node with [`Hub::addr`]`(n)/24`, `v<n>` on the bridge.
    pub fn attach(&self, node_netns: &str, n: u8) {
        let hub_end = format!("v{n}");
        must("ip", &["-n", &self.netns, "link", "add", &hub_end, "type", "veth", "peer", "name", "eth0"]);
        must("ip", &["-n", &self.netns, "link", "set", "eth0", "netns", node_netns]);
        must("ip", &["-n", &self.netns, "link", "set", &hub_end, "master", "br0", "up"]);
        must("ip", &["-n", node_netns, "addr", "add", &format!("{}/24", self.addr(n)), "dev", "eth0"]);
        must("ip", &["-n", node_netns, "link", "set", "eth0", "up"]);
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.netns]).output();
    }
}

/// Three swarm managers `n1`, `n2`, `n3` on one [`Hub`], the test image loaded into each.
pub struct Managers {
    /// `nodes[i]` is `n{i+1}`. Declared before the hub: dropped first (see `Drop`).
    nodes: Vec<Daemon>,
    hub: Hub,
}

impl Managers {
    pub const NAMES: [&'static str; 3] = ["n1", "n2", "n3"];

    /// The hub, the three daemons, `swarm init` on `n1`, `swarm join` as managers on `n2` and
    /// `n3`; returns once all three nodes read `Ready`.
    pub async fn start(test: &str) -> Managers {
        let hub = Hub::new(test);
        let mut managers = Managers { nodes: Vec::new(), hub };
        for (i, name) in Self::NAMES.iter().enumerate() {
            let n = i as u8 + 1;
            let hub = &managers.hub;
            let daemon = Daemon::start_as(&format!("{test}{n}"), Some(name), |netns, _| {
                hub.attach(netns, n);
                Vec::new()
            });
            managers.nodes.push(daemon);
        }
        let leader = managers.hub.addr(1);
        let init = ["swarm", "init", "--advertise-addr", &leader, "--dispatcher-heartbeat", "1s"];
        managers.docker(1, &init);
        let token = managers.docker(1, &["swarm", "join-token", "-q", "manager"]);
        for n in [2, 3] {
            let addr = managers.hub.addr(n);
            managers
                .docker(n, &["swarm", "join", "--token", &token, "--advertise-addr", &addr, &format!("{leader}:2377")]);
        }
        let started = Instant::now();
        loop {
            let nodes = managers.docker(1, &["node", "ls", "--format", "{{.Hostname}} {{.Status}}"]);
            let ready = Self::NAMES.iter().all(|name| nodes.lines().any(|l| l == format!("{name} Ready")));
            if ready {
                break;
            }
            assert!(started.elapsed() < READY_TIMEOUT, "the nodes did not all read Ready:\n{nodes}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for node in &managers.nodes {
            node.load_test_image().await;
        }
        managers
    }

    /// Node `n` (1 to 3).
    pub fn node(&self, n: u8) -> &Daemon {
        &self.nodes[usize::from(n) - 1]
    }

    /// The number of the node whose hostname is `name`.
    pub fn number(name: &str) -> Option<u8> {
        Self::NAMES.iter().position(|n| *n == name).map(|i| i as u8 + 1)
    }

    /// `docker -H <node n> ARGS…`, which must succeed; its stdout, trimmed.
    #[track_caller]
    pub fn docker(&self, n: u8, args: &[&str]) -> String {
        let out = self.node(n).docker(args);
        assert!(out.status.success(), "n{n}: docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Stops node `n`'s dockerd (SIGTERM) and waits until it has exited; the rest stays.
    pub fn stop(&mut self, n: u8) {
        self.nodes[usize::from(n) - 1].stop();
    }
}

impl Drop for Managers {
    fn drop(&mut self) {
        // Each daemon's drop waits for its dockerd to exit: in parallel, not one after another.
        std::thread::scope(|scope| {
            for node in self.nodes.drain(..) {
                scope.spawn(move || drop(node));
            }
        });
        // The hub goes after the daemons (field order), once nothing is attached to it.
    }
}
