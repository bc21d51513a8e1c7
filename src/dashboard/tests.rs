//! The dashboard's rendering pinned: snapshots of whole pages for fixed models (a host with a git
//! source and services in every standing, an empty host, a fleet with an unreachable node), and
//! the properties a snapshot cannot say by itself: escaping, the CSP rules, the timeline's
//! window, the histogram without reconciles, the page's size.

use std::time::{Duration, SystemTime};

use insta::assert_snapshot;

use super::model::*;
use super::*;

/// The fixtures' `now`: 2027-01-15T08:00:00Z.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn ago(secs: u64) -> SystemTime {
    now() - Duration::from_secs(secs)
}

fn digest(fill: &str) -> String {
    format!("sha256:{}", fill.repeat(64 / fill.len()))
}

fn marks(list: &[(u64, MarkKind)]) -> Vec<Mark> {
    list.iter().map(|&(secs, kind)| Mark { at: ago(secs), kind }).collect()
}

fn service(name: &str) -> ServiceRow {
    ServiceRow {
        name: name.to_string(),
        node: Some("edge-1".to_string()),
        desired: "running".to_string(),
        observed: "running".to_string(),
        in_sync: true,
        image: Some(format!("registry.example/{name}:1")),
        running_digest: Some(digest("0a1b")),
        labels: vec![("team".to_string(), "shop".to_string())],
        last_reconcile: Some(format::rfc3339(ago(30))),
        timeline: marks(&[(3000, MarkKind::Reconcile), (1200, MarkKind::Reconcile)]),
        ..ServiceRow::default()
    }
}

fn event(secs: u64, service: &str, action: &str, why: &str, detail: Option<&str>) -> EventRow {
    EventRow {
        at: ago(secs),
        service: service.to_string(),
        action: action.to_string(),
        why: why.to_string(),
        detail: detail.map(str::to_string),
    }
}

fn histogram() -> HistogramView {
    let buckets =
        vec![(0.005, 2), (0.01, 5), (0.025, 9), (0.05, 4), (0.1, 1), (0.25, 0), (0.5, 0), (1.0, 1), (f64::INFINITY, 0)];
    HistogramView { count: buckets.iter().map(|b| b.1).sum(), sum: 0.62, buckets }
}

/// A host running from git with a service in each standing and an event of each kind.
fn host() -> Page {
    let web = ServiceRow {
        health: Some("healthy".to_string()),
        update: Some("watching".to_string()),
        timeline: marks(&[
            (7200, MarkKind::Failure), // older than the hour: not drawn
            (3000, MarkKind::Reconcile),
            (600, MarkKind::Repair),
            (300, MarkKind::Update),
            (10, MarkKind::Reconcile),
        ]),
        ..service("web")
    };
    let api = ServiceRow {
        observed: "absent".to_string(),
        in_sync: false,
        timeline: marks(&[(2400, MarkKind::Reconcile), (5, MarkKind::Repair)]),
        ..service("api")
    };
    let worker = ServiceRow {
        observed: "exited".to_string(),
        in_sync: false,
        crash_loop: Some("restarted 5 times in 2 min, next try in 40 s".to_string()),
        last_error: Some("exited with code 1".to_string()),
        timeline: marks(&[(240, MarkKind::Failure), (120, MarkKind::Failure), (60, MarkKind::Failure)]),
        ..service("worker")
    };
    let admin = ServiceRow {
        observed: "absent".to_string(),
        in_sync: false,
        refused: true,
        running_digest: None,
        last_error: Some("refused by the host policy: privileged is not allowed".to_string()),
        timeline: vec![],
        ..service("admin")
    };
    let db = ServiceRow {
        desired: "running x3".to_string(),
        observed: "running 2/3".to_string(),
        in_sync: false,
        health: Some("unhealthy".to_string()),
        last_error: Some("create db-3: port 5432 is already allocated".to_string()),
        timeline: marks(&[(900, MarkKind::Failure)]),
        ..service("db")
    };
    let cache = ServiceRow {
        health: Some("starting".to_string()),
        running_digest: Some(digest("9f8e")),
        update: Some(format!("updated to {}", digest("9f8e"))),
        timeline: marks(&[(45, MarkKind::Update)]),
        ..service("cache")
    };
    Page {
        node: Some("edge-1".to_string()),
        instance: "default".to_string(),
        ready: true,
        docker: true,
        now: now(),
        last_resync: Some(format::rfc3339(ago(40))),
        problems: vec![],
        prune_suspended: None,
        source: Some(SourceView {
            url: "https://git.example/ops/moor-config.git".to_string(),
            reference: "main".to_string(),
            path: "hosts/edge-1".to_string(),
            revision: Some("4f2c9e1d0b7a6c5e4d3f2a1b0c9d8e7f6a5b4c3d".to_string()),
            subject: Some("web: 1.4".to_string()),
            last_applied_revision: Some("4f2c9e1d0b7a6c5e4d3f2a1b0c9d8e7f6a5b4c3d".to_string()),
            last_fetch: Some(format::rfc3339(ago(20))),
            verified_by: Some("SHA256:Yx9ops-team".to_string()),
            last_error: None,
        }),
        services: vec![web, api, worker, admin, db, cache],
        events: vec![
            event(5, "api", "create, start", "drift", Some("container removed outside moor")),
            event(
                45,
                "cache",
                "replace",
                "image update",
                Some(&format!("registry.example/cache:1@{}", digest("9f8e"))),
            ),
            event(60, "worker", "restart", "crash loop", None),
            event(300, "web", "replace", "manifest change", Some("env changed")),
            event(420, "old-job", "remove", "prune", None),
            event(480, "admin", "refused", "policy refusal", Some("privileged is not allowed")),
            event(900, "db", "failed", "failure", Some("port 5432 is already allocated")),
            event(3000, "web", "create, start", "converge", Some("")),
        ],
        histogram: histogram(),
    }
}

/// A host whose manifest does not load: no service, no event, no reconcile yet.
fn empty_host() -> Page {
    Page {
        node: None,
        instance: "default".to_string(),
        ready: false,
        docker: false,
        now: now(),
        last_resync: None,
        problems: vec!["services/web.yaml: spec.image: missing".to_string()],
        prune_suspended: Some("the manifest has 1 problem".to_string()),
        source: None,
        services: vec![],
        events: vec![],
        histogram: HistogramView::default(),
    }
}

fn fleet() -> Fleet {
    let node = |name: &str, s: ServiceRow| ServiceRow { node: Some(name.to_string()), ..s };
    Fleet {
        now: now(),
        nodes: vec![
            FleetNode {
                url: "https://edge-1.example:9100".to_string(),
                name: "edge-1".to_string(),
                answer: Ok(NodeView {
                    ready: true,
                    revision: Some("4f2c9e1d0b7a6c5e4d3f2a1b0c9d8e7f6a5b4c3d".to_string()),
                    last_error: Some("db: port 5432 is already allocated".to_string()),
                    services: vec![
                        node("edge-1", service("web")),
                        node("edge-1", ServiceRow { in_sync: false, observed: "absent".to_string(), ..service("db") }),
                    ],
                }),
            },
            FleetNode {
                url: "http://edge-2.example:9100".to_string(),
                name: "http://edge-2.example:9100".to_string(),
                answer: Err("connection refused".to_string()),
            },
        ],
    }
}

/// One tag a line, so a snapshot reads (and diffs) by eye. Safe: maud escapes `<` and `>` in
/// text and attributes, so `><` occurs only between tags.
fn lines(html: &str) -> String {
    html.replace("><", ">\n<")
}

#[test]
fn host_page() {
    assert_snapshot!(lines(&page(&host())));
}

#[test]
fn empty_host_page() {
    assert_snapshot!(lines(&page(&empty_host())));
}

#[test]
fn fleet_with_an_unreachable_node() {
    assert_snapshot!(lines(&fleet_page(&fleet())));
}

#[test]
fn the_page_holds_exactly_the_live_fragment() {
    for p in [host(), empty_host()] {
        let whole = page(&p);
        assert!(whole.contains(&format!("<main id=\"live\">{}</main>", live(&p))), "{whole}");
    }
    let f = fleet();
    assert!(fleet_page(&f).contains(&format!("<main id=\"live\">{}</main>", fleet_live(&f))));
}

#[test]
fn rows_say_their_standing_in_words() {
    let html = live(&host());
    for (name, in_sync, word) in [
        ("web", true, "✓ in sync"),
        ("api", false, "≠ out of sync"),
        ("worker", false, "✗ crash loop"),
        ("admin", false, "✗ refused"),
        ("db", false, "✗ failing"),
    ] {
        let open = format!("<tr id=\"service-{name}\"");
        let at = html.find(&open).unwrap_or_else(|| panic!("no row for {name}"));
        let row = &html[at..at + html[at..].find("</tr>").expect("row ends")];
        assert!(row.contains(&format!("data-in-sync=\"{in_sync}\"")), "{row}");
        assert!(row.contains(word), "{name}: {row}");
    }
}

#[test]
fn the_fleet_shows_a_silent_node_as_such() {
    let html = fleet_live(&fleet());
    assert!(html.contains("<tr class=\"unreachable\" id=\"node-http://edge-2.example:9100\">"), "{html}");
    assert!(html.contains("not answering: connection refused"));
    assert!(html.contains("id=\"service-edge-1-web\"") && html.contains("id=\"service-edge-1-db\""));
    assert!(html.contains("✗ 1/2 nodes answering"));
}

const EVIL: &str = "<script>alert(1)</script>\"'&";
const EVIL_ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;'&amp;";

#[test]
fn every_value_is_escaped() {
    let mut p = host();
    p.services[0].name = EVIL.to_string();
    p.services[0].image = Some(EVIL.to_string());
    p.services[0].labels = vec![("note".to_string(), EVIL.to_string()), (EVIL.to_string(), "v".to_string())];
    p.services[1].last_error = Some(EVIL.to_string());
    p.services[2].update = Some(EVIL.to_string());
    p.events[0].detail = Some(EVIL.to_string());
    p.events[1].why = EVIL.to_string();
    p.problems.push(EVIL.to_string());
    if let Some(src) = p.source.as_mut() {
        src.subject = Some(EVIL.to_string());
        src.url = EVIL.to_string();
    }
    let html = page(&p);
    assert!(!html.contains("<script>alert"), "raw script in the page");
    assert!(!html.contains("\"'&"), "raw quote and ampersand in the page");
    // Name (row header, id and timeline label), image, error, update, detail, why, problem,
    // subject, url: each is escaped where it appears.
    assert!(html.matches(EVIL_ESCAPED).count() >= 10, "{html}");

    let mut f = fleet();
    f.nodes[1].name = EVIL.to_string();
    f.nodes[1].answer = Err(EVIL.to_string());
    let html = fleet_page(&f);
    assert!(!html.contains("<script>alert") && html.contains(EVIL_ESCAPED), "{html}");
}

#[test]
fn no_inline_script_or_style_and_relative_assets() {
    for html in [page(&host()), page(&empty_host()), fleet_page(&fleet())] {
        assert!(!html.contains("style="), "a style attribute breaks the CSP");
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains("<script src=\"ui/live.js\" defer></script>"));
        assert!(html.contains("<link rel=\"stylesheet\" href=\"ui/style.css\">"));
        assert!(html.contains("<span id=\"stream\" data-state=\"static\""));
        assert!(!html.contains("http://cdn") && !html.contains("//fonts."));
    }
    assert!(SCRIPT.contains("new EventSource('events')") && SCRIPT.contains("'live'"));
    assert!(STYLE.contains("prefers-color-scheme: dark") && STYLE.contains("max-width: 80rem"));
}

/// The `x` of every `<circle cx=...>`, `<rect x=...>` and polygon/path point in `svg`.
fn numbers_after(svg: &str, key: &str) -> Vec<f64> {
    svg.split(key).skip(1).filter_map(|s| s.split('"').next()?.parse().ok()).collect()
}

#[test]
fn the_timeline_keeps_the_last_hour_inside_its_box() {
    let list = marks(&[
        (3601, MarkKind::Failure),
        (3600, MarkKind::Reconcile),
        (1800, MarkKind::Repair),
        (0, MarkKind::Update),
    ]);
    let mut future = list.clone();
    future.push(Mark { at: now() + Duration::from_secs(30), kind: MarkKind::Failure });
    let placed = timeline::placed(now(), &future);
    assert_eq!(placed.len(), 3, "the mark older than an hour and the one to come are dropped");
    assert!(placed.iter().all(|(x, m)| *x >= 0.0 && *x <= timeline::WIDTH && m.kind != MarkKind::Failure));
    let (first, last) = (placed[0].0, placed[2].0);
    assert!(first < placed[1].0 && placed[1].0 < last, "later is further right");

    let svg = timeline::timeline(now(), "web", &future).into_string();
    assert_eq!(svg.matches("<title>").count(), 3, "{svg}");
    assert!(!svg.contains("failure"), "{svg}");
    assert!(svg.contains("<title>repair 07:30:00Z (30 min ago)</title>"), "{svg}");
    for x in numbers_after(&svg, " cx=\"").into_iter().chain(numbers_after(&svg, " x=\"")) {
        assert!((0.0..=timeline::WIDTH).contains(&x), "{x} outside the box: {svg}");
    }
    assert!(svg.contains("viewBox=\"0 0 240 20\""));
}

/// Every coordinate pair of the marks' shapes in `svg` (circle centres, polygon points, path
/// points), the axis left out.
fn mark_points(svg: &str) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for (key, skip_axis) in [("points=\"", false), (" d=\"M", true)] {
        for chunk in svg.split(key).skip(1) {
            let text = chunk.split('"').next().unwrap_or("");
            if skip_axis && text.contains('H') {
                continue;
            }
            let nums: Vec<f64> =
                text.split(|c: char| !(c.is_ascii_digit() || c == '.')).filter_map(|n| n.parse().ok()).collect();
            out.extend(nums.chunks(2).filter(|p| p.len() == 2).map(|p| (p[0], p[1])));
        }
    }
    let cx = numbers_after(svg, " cx=\"");
    let cy = numbers_after(svg, " cy=\"");
    out.extend(cx.into_iter().zip(cy));
    out
}

#[test]
fn marks_at_either_end_of_the_hour_are_drawn_whole() {
    for kind in [MarkKind::Reconcile, MarkKind::Repair, MarkKind::Update, MarkKind::Failure] {
        let list = vec![Mark { at: ago(3600), kind }, Mark { at: now(), kind }];
        let svg = timeline::timeline(now(), "web", &list).into_string();
        let points = mark_points(&svg);
        let rects: Vec<(f64, f64)> =
            numbers_after(&svg, " x=\"").into_iter().zip(numbers_after(&svg, " width=\"")).collect();
        assert!(points.len() + rects.len() >= 2, "{kind:?}: both marks drawn: {svg}");
        for (x, y) in points {
            assert!(
                (0.0..=timeline::WIDTH).contains(&x) && (0.0..=timeline::HEIGHT).contains(&y),
                "{kind:?} ({x}, {y}): {svg}"
            );
        }
        // A rect is placed by its corner: its far side must fit too.
        for (x, w) in rects {
            assert!(x >= 0.0 && x + w <= timeline::WIDTH, "{svg}");
        }
    }
}

#[test]
fn routine_reconciles_share_a_mark_and_the_rest_stand_alone() {
    // Every 30 s for an hour, with a repair and a failure among them.
    let mut list: Vec<Mark> = (0..120).rev().map(|n| Mark { at: ago(n * 30), kind: MarkKind::Reconcile }).collect();
    list.push(Mark { at: ago(95), kind: MarkKind::Repair });
    list.push(Mark { at: ago(100), kind: MarkKind::Failure });
    let drawn = timeline::drawn(now(), &list);
    let reconciles: Vec<_> = drawn.iter().filter(|d| d.kind == MarkKind::Reconcile).collect();
    assert_eq!(reconciles.len(), 20, "one per three minutes");
    assert_eq!(reconciles.iter().map(|d| d.count).sum::<usize>(), 120, "none lost");
    assert!(reconciles.windows(2).all(|w| w[0].x < w[1].x), "oldest first");
    // Each bin is drawn at its latest reconcile: the newest bin at `now`.
    assert_eq!(reconciles[19].at, now());
    let rest: Vec<_> = drawn.iter().filter(|d| d.kind != MarkKind::Reconcile).collect();
    assert_eq!(rest.len(), 2);
    assert!(rest.iter().all(|d| d.count == 1));
    assert_eq!(drawn.len(), 22, "the repair and the failure are drawn after (above) the reconciles");
    let svg = timeline::timeline(now(), "web", &list).into_string();
    assert!(svg.contains("<title>6 reconciles, last 08:00:00Z (just now)</title>"), "{svg}");
    assert!(svg.contains("122 marks in the last hour"));
}

#[test]
fn a_histogram_without_reconciles_has_no_nan() {
    let empty = HistogramView::default();
    let zeros = HistogramView { buckets: vec![(0.1, 0), (1.0, 0), (f64::INFINITY, 0)], count: 0, sum: 0.0 };
    for h in [empty, zeros] {
        let svg = histogram::histogram(&h).into_string();
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert!(svg.contains("no reconcile yet"));
        assert_eq!(histogram::mean(&h), None);
    }
    let h = histogram();
    let svg = histogram::histogram(&h).into_string();
    assert_eq!(svg.matches("class=\"bar\"").count(), 9);
    assert!(svg.contains("22 reconciles, mean 28 ms"), "{svg}");
    assert!(svg.contains(">&gt;1 s</text>"), "the last bucket is past the one before: {svg}");
    // The fullest bucket's bar is the tallest, the empty ones have no height.
    let heights = numbers_after(&svg, " height=\"");
    assert_eq!(heights.iter().cloned().fold(0.0, f64::max), heights[2]);
    assert_eq!(heights[5], 0.0);
}

#[test]
fn a_page_of_ten_services_and_a_hundred_events_is_small() {
    let mut p = host();
    let base = p.services[0].clone();
    p.services = (0..10)
        .map(|i| ServiceRow {
            name: format!("service-{i}"),
            // A resync every 30 s (the default) and a few repairs, updates and failures.
            timeline: (0..120)
                .rev()
                .map(|n| Mark {
                    at: ago(n * 30),
                    kind: match n % 40 {
                        7 => MarkKind::Repair,
                        17 => MarkKind::Update,
                        27 => MarkKind::Failure,
                        _ => MarkKind::Reconcile,
                    },
                })
                .collect(),
            ..base.clone()
        })
        .collect();
    p.events = (0..EVENTS_SHOWN as u64)
        .map(|i| {
            event(i * 30, &format!("service-{}", i % 10), "replace", "drift", Some("container changed outside moor"))
        })
        .collect();
    let bytes = page(&p).len();
    eprintln!("page of 10 services (120 marks each) and 100 events: {bytes} bytes");
    // The brief: well under 100 KB. 75 KB when this was written; the margin is for growth.
    assert!(bytes < 85 * 1024, "{bytes} bytes");
}
