//! `--backend swarm` on three managers (`common::hub`): when the daemon of the node that runs a
//! service's task stops, Swarm runs the task on another node, `moor status` counts it once (1/1,
//! where `docker service ls` may still count the task on the down node: trap T6), and `moor plan`
//! has nothing to do, since the rescheduling was Swarm's.

mod common;

use std::time::{Duration, Instant};

use common::hub::Managers;
use common::{expect_code, service_yaml, TestEnv};

/// A create to its task running, and a stopped node to its task running elsewhere: about 10 s
/// here (the node reads `Down` ~3.5 s after the stop with a 1 s heartbeat, then Swarm's default
/// 5 s restart delay). Generous for a loaded machine.
const CONVERGE: Duration = Duration::from_secs(60);

/// The node label that makes `n2` and `n3`, never `n1`, eligible when needed.
const LABEL: &str = "roam";

struct Cluster {
    // Dropped in order: moor's test env (it cleans the machine's daemon only), then the nodes.
    env: TestEnv,
    managers: Managers,
}

impl Cluster {
    /// `moor ARGS --backend swarm --host <n1>`: moor always talks to n1, which is never stopped.
    fn moor(&self, args: &[&str]) -> std::process::Output {
        let host = self.managers.node(1).host.clone();
        self.env.moor(&[args, &["--backend", "swarm", "--host", &host]].concat())
    }

    fn dir(&self) -> String {
        self.env.manifests().to_str().unwrap().to_string()
    }

    /// The hostnames of the nodes running a task of `service` that is meant to run, as n1 sees
    /// them (a task on a down node keeps reading `Running`).
    fn running_on(&self, service: &str) -> Vec<String> {
        let ps = self.managers.docker(
            1,
            &["service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}", service],
        );
        ps.lines().filter(|l| l.split_whitespace().nth(1) == Some("Running")).map(|l| node_of(l).to_string()).collect()
    }

    /// Whether n1 reads the node named `name` as `Ready`.
    fn ready(&self, name: &str) -> bool {
        self.managers.docker(1, &["node", "inspect", "-f", "{{.Status.State}}", name]) == "ready"
    }

    /// `moor status -o json`'s row for `service`: (running, desired), and the exit code.
    fn status(&self, service: &str) -> ((u64, u64), Option<i32>) {
        let out = self.moor(&["status", "-o", "json"]);
        let rows: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("moor status -o json: {e}\n{}", text(&out)));
        let row = rows.as_array().and_then(|rows| rows.iter().find(|r| r["service"] == service));
        let row = row.unwrap_or_else(|| panic!("no status row for {service}: {rows}"));
        let count = |field: &str| row[field].as_u64().unwrap_or_else(|| panic!("{field} in {row}"));
        ((count("running"), count("desired")), out.status.code())
    }

    /// `docker service ps --no-trunc` through n1, for a failure's message.
    fn tasks(&self, service: &str) -> String {
        let format = "{{.Name}} {{.Node}} desired={{.DesiredState}} {{.CurrentState}} {{.Error}}";
        text(&self.managers.node(1).docker(&["service", "ps", "--no-trunc", "--format", format, service]))
    }

    /// `docker service ls`'s replicas column for `service`, such as `2/1`.
    fn docker_replicas(&self, service: &str) -> String {
        self.managers.docker(1, &["service", "ls", "--filter", &format!("name={service}"), "--format", "{{.Replicas}}"])
    }
}

fn node_of(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or_default()
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Polls `check` every 250 ms (each poll runs the CLI) until it returns `Some`, or panics with
/// `what` and the last value seen after [`CONVERGE`].
async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + CONVERGE;
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) => assert!(Instant::now() < deadline, "timed out after {CONVERGE:?} waiting for {what}: {last}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_on_a_stopped_node_runs_on_another_and_is_counted_once() {
    let started = Instant::now();
    let mut c = Cluster { env: TestEnv::new("swresched"), managers: Managers::start("swresched").await };
    eprintln!("three managers up in {:?}", started.elapsed());
    let dir = c.dir();
    let service = c.env.container("roam");
    // No placement, and no `restart`: on Swarm that is Swarm's `any` (`swarm::project`), since
    // Swarm does not replace a `none` task lost with its node (moby/moby#32979; seen here: the
    // task went desired `Shutdown` and no other came). Manifests have no restart delay, so
    // Swarm's default 5 s applies.
    const SPEC: &str = "  update: { healthTimeout: 1s }\n";
    c.env.write("roam.yaml", &service_yaml("roam", SPEC));
    expect_code(c.moor(&["apply", &dir, "--wait-timeout", "60s"]), 0);
    let mut on = wait_for("the task to run", || match c.running_on(&service).as_slice() {
        [one] => Ok(one.clone()),
        other => Err(format!("{other:?}")),
    })
    .await;

    // moor talks to n1, so n1 must stay up: a task there is moved to the labelled n2 or n3.
    if on == "n1" {
        for n in [2, 3] {
            c.managers.docker(1, &["node", "update", "--label-add", &format!("{LABEL}=yes"), Managers::NAMES[n - 1]]);
        }
        let placed = format!("{SPEC}  placement: {{ nodeSelector: {{ {LABEL}: 'yes' }} }}\n");
        c.env.write("roam.yaml", &service_yaml("roam", &placed));
        expect_code(c.moor(&["apply", &dir, "--wait-timeout", "60s"]), 0);
        on = wait_for("the task to move off n1", || match c.running_on(&service).as_slice() {
            [one] if one != "n1" => Ok(one.clone()),
            other => Err(format!("{other:?}")),
        })
        .await;
    }
    assert_eq!(c.status(&service), ((1, 1), Some(0)));
    let before = c.managers.docker(1, &["service", "ps", "-q", &service]).lines().count();

    eprintln!("task on {on}; stopping its daemon at {:?}", started.elapsed());
    let stopped_at = Instant::now();
    c.managers.stop(Managers::number(&on).expect("a node of the swarm"));
    eprintln!("{on}'s dockerd exited after {:?}", stopped_at.elapsed());

    // Through n1: one task running on another node that is ready, and moor counts just that one.
    let moved_to = wait_for("the task to run on another ready node, and moor to say 1/1", || {
        let nodes = c.running_on(&service);
        let elsewhere: Vec<&String> = nodes.iter().filter(|n| **n != on && c.ready(n)).collect();
        let status = c.status(&service);
        match elsewhere.as_slice() {
            [one] if status == ((1, 1), Some(0)) => Ok((*one).clone()),
            _ => Err(format!("tasks running on {nodes:?}, moor status {status:?}\n{}", c.tasks(&service))),
        }
    })
    .await;
    eprintln!(
        "task on {moved_to} {:?} after the stop; docker service ls says {}, moor says 1/1",
        stopped_at.elapsed(),
        c.docker_replicas(&service)
    );
    assert!(!c.ready(&on), "{on} still reads ready");
    // A new task was made, by Swarm: since the stop, moor has only been asked for its status.
    let after = c.managers.docker(1, &["service", "ps", "-q", &service]).lines().count();
    assert!(after > before, "no new task: {before} before, {after} after");

    // Nothing to do: the rescheduling was Swarm's, and the spec is as the manifest says. An
    // apply writes nothing either (an identical update would bump the version: trap T9).
    expect_code(c.moor(&["plan", &dir]), 0);
    let version = c.managers.docker(1, &["service", "inspect", "-f", "{{.Version.Index}}", &service]);
    expect_code(c.moor(&["apply", &dir]), 0);
    assert_eq!(c.managers.docker(1, &["service", "inspect", "-f", "{{.Version.Index}}", &service]), version);
    eprintln!("done in {:?}", started.elapsed());
}
