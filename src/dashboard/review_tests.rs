//! Review of issue 17: defects of the rendered pages, each pinned by a test that fails until it
//! is fixed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::model::{Fleet, FleetNode, NodeView, ServiceRow};

fn web(node: &str) -> ServiceRow {
    ServiceRow {
        name: "web".to_string(),
        node: Some(node.to_string()),
        desired: "running".to_string(),
        observed: "running".to_string(),
        in_sync: true,
        ..ServiceRow::default()
    }
}

/// Every `id="…"` value of `html` that occurs more than once.
fn duplicate_ids(html: &str) -> Vec<String> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for part in html.split(" id=\"").skip(1) {
        let id = &part[..part.find('"').unwrap_or(part.len())];
        *seen.entry(id).or_default() += 1;
    }
    seen.into_iter().filter(|(_, n)| *n > 1).map(|(id, _)| id.to_string()).collect()
}

/// Defect: the fleet page makes its ids from the node's name alone (`node-NAME`,
/// `service-NAME-SERVICE`). Two agents that report one node name (the default `--node` is the
/// host name: two agents on one host, or hosts cloned from one image) give two rows, and every
/// service they share, the same id; so do node `a-b` with service `c` and node `a` with service
/// `b-c`. The page is then not valid HTML, and whatever finds a row by its id (the browser
/// test, a user's script, a fragment link) finds the wrong one.
#[test]
fn review_the_fleet_page_has_no_duplicate_ids() {
    let node = |url: &str, name: &str, services: Vec<ServiceRow>| FleetNode {
        url: url.to_string(),
        name: name.to_string(),
        answer: Ok(NodeView { ready: true, revision: None, last_error: None, services }),
    };
    let b_c = ServiceRow { name: "b-c".to_string(), ..web("a") };
    let c = ServiceRow { name: "c".to_string(), ..web("a-b") };
    let fleet = Fleet {
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        nodes: vec![
            node("http://10.0.0.1:9090", "vm", vec![web("vm")]),
            node("http://10.0.0.2:9090", "vm", vec![web("vm")]),
            node("http://10.0.0.3:9090", "a", vec![b_c]),
            node("http://10.0.0.4:9090", "a-b", vec![c]),
        ],
    };
    let html = super::fleet_page(&fleet);
    assert_eq!(duplicate_ids(&html), Vec::<String>::new(), "ids held twice on the fleet page");
}
