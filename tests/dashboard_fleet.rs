//! The dashboard without a browser (tests/dashboard_browser.rs drives a real one): an agent's
//! page shows a container removed by hand as drift and repaired, and `moor dashboard --fleet`
//! serves one page over two real agents and one that does not answer, pushing a change to an
//! open stream.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{docker_cli, eventually, http_get, image, moor_bin, Controller, TestEnv, SLEEPER};

fn service(name: &str, image: &str) -> String {
    format!(
        "apiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  image: {image}\n  pull: never\n  command: sh -c \"{SLEEPER}\"\n  stopTimeout: 5s\n"
    )
}

/// Whether the page's row of `service` says it is in sync (`None`: no row).
fn in_sync(page: &str, service: &str) -> Option<bool> {
    let start = page.find(&format!(r#"<tr id="service-{service}""#))?;
    let tag = &page[start..start + page[start..].find('>')?];
    Some(tag.contains(r#"data-in-sync="true""#))
}

/// `moor dashboard`, killed when dropped.
struct Dashboard {
    child: Child,
    port: u16,
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn an_agents_page_shows_a_removed_container_as_drift_then_repaired() {
    image().await;
    let env = TestEnv::new("dash-agent");
    // A label that tries to be a script: the page shows it, escaped.
    let labelled = service("web", common::IMAGE)
        .replace("  name: web\n", "  name: web\n  labels: {note: \"<script>alert(1)</script>\"}\n");
    env.write("web.yaml", &labelled);
    let agent = Controller::start(&env, &["--node", "dash-1"]).await;
    let page = |agent: &Controller| agent.get("/").1;
    eventually(Duration::from_secs(30), "web in sync on the page", || async {
        (in_sync(&page(&agent), "web") == Some(true)).then_some(())
    })
    .await;
    let first = page(&agent);
    assert!(first.contains("dash-1") && first.contains(&env.instance), "node and instance named");
    assert!(!first.contains(r#"data-why="drift""#));
    assert!(first.contains("note=&lt;script&gt;alert(1)&lt;/script&gt;"), "the label, escaped: {first}");
    assert!(!first.contains("<script>alert"), "a raw script in the page");
    docker_cli(&["rm", "-f", &format!("{}_web", env.instance)]);
    let repaired = eventually(Duration::from_secs(30), "the repair on the page", || async {
        let p = page(&agent);
        (p.contains(r#"data-why="drift""#) && in_sync(&p, "web") == Some(true)).then_some(p)
    })
    .await;
    let events = &repaired[repaired.find(r#"<ol id="events""#).expect("an events list")..];
    let drift = &events[events.find(r#"data-why="drift""#).unwrap()..];
    let drift = &drift[..drift.find("</li>").unwrap()];
    assert!(
        drift.contains("web") && drift.contains("create"),
        "the event names the service and what moor did: {drift}"
    );
    assert!(repaired.contains(r#"class="timeline""#), "a timeline per service");
}

#[tokio::test]
async fn the_fleet_page_shows_every_node_and_a_change_reaches_an_open_stream() {
    image().await;
    let (a, b) = (TestEnv::new("dash-fa"), TestEnv::new("dash-fb"));
    a.write("web.yaml", &service("web", common::IMAGE));
    b.write("web.yaml", &service("web", common::IMAGE));
    let agent_a = Controller::start(&a, &["--node", "edge-1"]).await;
    let agent_b = Controller::start(&b, &["--node", "edge-2"]).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let urls = format!("http://127.0.0.1:{},http://127.0.0.1:{},http://127.0.0.1:{dead}", agent_a.port, agent_b.port);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(moor_bin())
        .args(["dashboard", "--fleet", &urls, "--listen", &listen, "--interval", "1s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dashboard = Dashboard { child, port };
    let page = eventually(Duration::from_secs(30), "both agents in sync on the fleet page", || async {
        let (code, body) = http_get(dashboard.port, "/");
        let both = body.contains(r#"id="service-edge-1-web""#) && body.contains(r#"id="service-edge-2-web""#);
        (code == 200 && both && !body.contains("≠")).then_some(body)
    })
    .await;
    assert!(page.contains("not answering") && page.contains(&format!("127.0.0.1:{dead}")), "the dead agent is shown");
    assert!(page.contains(r#"id="node-edge-1""#) && page.contains(r#"id="node-edge-2""#));

    // An open page: its stream sends the first fragment, then edge-2's new failing service.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", dashboard.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
    write!(stream, "GET /events HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n").unwrap();
    let mut lines = BufReader::new(stream).lines();
    let mut read_until = |what: &str| -> Vec<String> {
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            let line = line.expect("the stream stalled");
            let done = line.contains(what);
            seen.push(line);
            if done {
                return seen;
            }
        }
        panic!("the stream ended before {what}: {seen:?}");
    };
    read_until("event: live");
    b.write("broken.yaml", &service("broken", "moor-test-missing-image:1"));
    let seen = read_until(r#"id="service-edge-2-broken""#);
    assert!(seen.iter().any(|l| l == "event: live"), "{seen:?}");
    drop(agent_a);
    drop(agent_b);
}
