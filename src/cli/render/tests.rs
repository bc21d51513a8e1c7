//! Snapshots of the plan and report text (colour off), and the pure parts of apply's progress.
//! Plans are made by the real `plan()` from YAML and hand-built observed containers, as in
//! `src/plan/tests.rs`, so the text follows what the planner really produces.

use std::time::{Duration, Instant};

use insta::assert_snapshot;

use super::plan::{paint, Mark};
use super::progress::{step_text, Tracker};
use super::*;
use crate::apply::{ActionError, Progress, ResourceKind, ResourceResult, ServiceFailure, ServiceResult, Step};
use crate::engine::EngineError;
use crate::labels;
use crate::manifest::model::{FileKind, FileMount};
use crate::observe::{Observed, ObservedContainer, RunState};
use crate::plan::fixtures::{built_from, desired, observed, resource, FRONT_AND_DATA};
use crate::plan::{plan, Action, ActionKind};

const PLAIN: Style = Style { colour: false, verbose: false };
const VERBOSE: Style = Style { colour: false, verbose: true };

fn service(name: &str, extra: &str) -> String {
    format!("---\napiVersion: moor/v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  image: app:1\n{extra}\n")
}

/// A container of `svc` built from its desired spec.
fn current(d: &Desired, svc: &str, name: &str, state: RunState) -> ObservedContainer {
    built_from(&d.services[svc].container, svc, name, 1, state)
}

fn text(d: &Desired, o: &Observed) -> String {
    plan_text(&plan(d, o), d, PLAIN)
}

#[test]
fn create() {
    let d = desired(
        &[
            service("web", "  command: [serve, --port, \"8080\"]\n  env: {LOG_LEVEL: info}\n  ports: [\"8080:80\"]"),
            service("idle", "  state: stopped"),
        ]
        .concat(),
    );
    assert_snapshot!(text(&d, &observed(vec![])));
}

#[test]
fn create_verbose_lists_the_new_fields() {
    let d = desired(&service(
        "web",
        "  command: [serve, --port, \"8080\"]\n  env: {LOG_LEVEL: info}\n  ports: [\"8080:80\"]\n  healthcheck: {test: [CMD, /app, health]}",
    ));
    assert_snapshot!(plan_text(&plan(&d, &observed(vec![])), &d, VERBOSE));
}

#[test]
fn replace_names_changed_added_and_removed_fields() {
    let d = desired(&service("web", "  env: {LOG_LEVEL: debug, NEW: x}"));
    let mut old = d.services["web"].container.clone();
    old.image = "app:0".into();
    old.env.insert("LOG_LEVEL".into(), "info".into());
    old.env.remove("NEW");
    old.env.insert("OLD".into(), "y".into());
    let o = observed(vec![built_from(&old, "web", "web", 1, RunState::Running)]);
    let out = text(&d, &o);
    // The issue's own example, byte for byte.
    assert!(out.contains("    ~ env.LOG_LEVEL: \"info\" → \"debug\"\n"), "{out}");
    assert_snapshot!(out);
}

#[test]
fn replace_for_a_new_image_or_an_unreadable_label_says_why() {
    let d = desired(&[service("web", ""), service("api", "")].concat());
    let mut o =
        observed(vec![current(&d, "web", "web", RunState::Running), current(&d, "api", "api", RunState::Running)]);
    o.pinned.insert("web".into(), "sha256:2222".into());
    let api = o.containers.iter_mut().find(|c| c.name == "api").unwrap();
    api.labels.insert(labels::SPEC_HASH.into(), "sha256:other".into());
    api.labels.insert(labels::LAST_APPLIED.into(), "not json".into());
    assert_snapshot!(text(&d, &o));
}

#[test]
fn start_and_stop() {
    let d = desired(&[service("web", ""), service("idle", "  state: stopped")].concat());
    let o = observed(vec![current(&d, "web", "web", RunState::Exited), current(&d, "idle", "idle", RunState::Running)]);
    assert_snapshot!(text(&d, &o));
}

#[test]
fn remove_with_its_reason() {
    let d = desired(&[service("web", "  state: absent"), service("api", "")].concat());
    let mut orphan = current(&d, "api", "old", RunState::Running);
    orphan.labels.insert(labels::SERVICE.into(), "old".into());
    let o = observed(vec![
        current(&d, "web", "web", RunState::Running),
        current(&d, "api", "api", RunState::Running),
        orphan,
    ]);
    assert_snapshot!(text(&d, &o));
}

#[test]
fn rename_of_a_crash_leftover() {
    let d = desired(&service("web", ""));
    let o = observed(vec![current(&d, "web", "web-moor-next", RunState::Running)]);
    assert_snapshot!(text(&d, &o));
}

#[test]
fn wait_removed() {
    let d = desired(&service("job", "  autoRemove: true"));
    let o = observed(vec![current(&d, "job", "job", RunState::Removing)]);
    assert_snapshot!(text(&d, &o));
}

#[test]
fn networks_and_volumes() {
    let d = desired(
        &[service("web", "  networks: [front]\n  volumes: [\"data:/data\"]"), FRONT_AND_DATA.to_string()].concat(),
    );
    let o = Observed {
        containers: vec![current(&d, "web", "web", RunState::Running)],
        networks: Some(vec![resource("old-net")]),
        volumes: Some(vec![resource("old-vol")]),
        ..Observed::default()
    };
    assert_snapshot!(text(&d, &o));
}

#[test]
fn conflict() {
    let d = desired(&[service("web", ""), service("api", "")].concat());
    let mut o = observed(vec![]);
    o.conflicts.insert("web".into(), "container 0123456789ab, which moor does not own".into());
    assert_snapshot!(text(&d, &o));
}

#[test]
fn prune_suspended() {
    let mut d = desired(&service("web", ""));
    d.complete = false;
    let mut orphan = current(&d, "web", "old", RunState::Running);
    orphan.labels.insert(labels::SERVICE.into(), "old".into());
    let o = observed(vec![orphan]);
    assert_snapshot!(text(&d, &o));
}

#[test]
fn prune_held_by_the_no_service_guard() {
    let was = desired(&service("web", ""));
    let o = observed(vec![current(&was, "web", "web", RunState::Running)]);
    let mut d = Desired { complete: true, ..Desired::default() };
    d.prune_guard = Some(crate::manifest::PruneGuard::NoService { source: "m".into() });
    let out = text(&d, &o);
    assert_snapshot!(out);
    assert!(!out.contains("in sync"), "{out}");
}

#[test]
fn in_sync() {
    let d = desired(&service("web", ""));
    let out = text(&d, &observed(vec![current(&d, "web", "web", RunState::Running)]));
    assert_eq!(out, "in sync: nothing to do\n");
}

#[test]
fn apply_report_in_the_plans_style() {
    let d = desired(&[service("web", ""), service("api", "  env: {V: \"2\"}"), service("db", "")].concat());
    let mut old = d.services["api"].container.clone();
    old.env.insert("V".into(), "1".into());
    let o = observed(vec![built_from(&old, "api", "api", 1, RunState::Running)]);
    let p = plan(&d, &o);
    let mut report = ApplyReport::default();
    report.services.insert("web".into(), ServiceResult { done: vec![ActionKind::Create], failure: None });
    report.services.insert("api".into(), ServiceResult { done: vec![ActionKind::Replace], failure: None });
    let failure = ServiceFailure::Action {
        kind: ActionKind::Create,
        error: ActionError::Engine(EngineError::Api { status: 500, message: "boom".into() }),
    };
    report.services.insert("db".into(), ServiceResult { done: vec![], failure: Some(failure) });
    report.resources.push(ResourceResult {
        kind: ResourceKind::Network,
        name: "front".into(),
        done: crate::apply::ResourceDone::Created,
    });
    assert_snapshot!(apply_text(&p, &report, &d, PLAIN));

    // Without the failure: the network and web were created, api replaced (db was not reached).
    report.services.remove("db");
    let out = apply_text(&p, &report, &d, PLAIN);
    assert!(out.ends_with("converged: 2 created, 1 replaced, 0 changed, 0 removed\n"), "{out}");
}

#[test]
fn colour_only_when_asked() {
    let d = desired(&[service("web", ""), service("api", "  state: absent")].concat());
    let o = observed(vec![current(&d, "api", "api", RunState::Running)]);
    let p = plan(&d, &o);
    let plain = plan_text(&p, &d, PLAIN);
    let coloured = plan_text(&p, &d, Style { colour: true, verbose: false });
    assert!(!plain.contains('\x1b'), "{plain:?}");
    assert!(coloured.contains("\x1b[32m+ create web\x1b[0m"), "{coloured:?}");
    assert!(coloured.contains("\x1b[31m- remove api\x1b[0m"), "{coloured:?}");
    // The same words once the escapes are taken out.
    let stripped = coloured.replace("\x1b[32m", "").replace("\x1b[31m", "").replace("\x1b[0m", "");
    assert_eq!(stripped, plain);
    assert_eq!(paint(Mark::Change, "x", false), "~ x");
}

#[test]
fn yaml_and_json_carry_the_same_data() {
    let d = desired(&service("web", ""));
    let p = plan(&d, &observed(vec![]));
    let from_yaml: serde_json::Value = serde_yaml::from_str(&serde_yaml::to_string(&p).unwrap()).unwrap();
    assert_eq!(from_yaml, serde_json::to_value(&p).unwrap());
}

#[test]
fn step_texts() {
    let health = Step::WaitingHealth { waited: Duration::from_secs(12), timeout: Duration::from_secs(60) };
    assert_eq!(step_text(health), "waiting for health 12s/60s");
    assert_eq!(step_text(Step::Pulling), "pulling");
    assert_eq!(step_text(Step::Done), "done");
}

#[test]
fn plain_progress_says_each_step_once_and_times_the_service() {
    let mut tracker = Tracker::default();
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let p = |service: &str, step: Step| Progress { service: service.into(), step };
    let health = |waited| Step::WaitingHealth { waited: Duration::from_secs(waited), timeout: Duration::from_secs(60) };
    let lines: Vec<Option<String>> = vec![
        tracker.plain(&p("web", Step::Creating), at(0)),
        tracker.plain(&p("db", Step::Creating), at(100)),
        tracker.plain(&p("web", Step::Starting), at(200)),
        tracker.plain(&p("web", health(0)), at(300)),
        tracker.plain(&p("web", health(1)), at(1300)),
        tracker.plain(&p("web", Step::Removing), at(1400)),
        tracker.plain(&p("web", Step::Done), at(1500)),
        tracker.plain(&p("db", Step::Failed), at(2100)),
    ];
    let lines: Vec<&str> = lines.iter().flatten().map(String::as_str).collect();
    assert_eq!(
        lines,
        [
            "web: creating",
            "db: creating",
            "web: starting",
            "web: waiting for health (timeout 60s)",
            "web: removing",
            "web: done in 1.5s",
            "db: failed after 2.0s",
        ]
    );
}

#[test]
fn refused_by_policy() {
    let d = desired(&[service("web", "  volumes: [\"/:/host\"]"), service("api", "")].concat());
    let d = crate::policy::admit(&crate::policy::Policy::default(), d);
    let p = plan(&d, &observed(vec![]));
    assert_snapshot!(plan_text(&p, &d, PLAIN));

    // Alone, a refusal is not "in sync"; apply says it refused.
    let only =
        crate::policy::admit(&crate::policy::Policy::default(), desired(&service("web", "  volumes: [\"/:/host\"]")));
    let p = plan(&only, &observed(vec![]));
    assert!(plan_text(&p, &only, PLAIN)
        .ends_with("0 to create, 0 to replace, 0 to change, 0 to remove, 1 refused by policy\n"));
    let out = apply_text(&p, &ApplyReport::default(), &only, PLAIN);
    assert!(out.ends_with("0 service(s) failed, 1 refused by policy\n"), "{out}");
}

/// The values and digests of [`secrets_spec`] and its older version: none may be printed.
const NEVER_SHOWN: [&str; 7] = ["hunter2", "s3cret-old", "s3cret-new", "abababab", "efefefef", "12121212", "99999999"];

/// `web` as the resolver makes it: a sealed env var, a secret-looking plain key (as a desired spec
/// before resolving holds it), a secret file and a config file.
fn secrets_spec() -> Desired {
    let mut d = desired(&service("web", "  env: {LOG_LEVEL: debug, API_TOKEN: s3cret-new}"));
    let web = d.services.get_mut("web").unwrap();
    web.container.sealed_env.insert("DB_PASSWORD".into(), format!("hmac-sha256:{}", "ab".repeat(32)));
    web.container.files = vec![
        FileMount {
            target: "/etc/app/app.yaml".into(),
            kind: FileKind::Config,
            digest: format!("sha256:{}", "cd".repeat(32)),
            uid: None,
            gid: None,
            mode: 0o444,
        },
        FileMount {
            target: "/run/secrets/tls.key".into(),
            kind: FileKind::Secret,
            digest: format!("hmac-sha256:{}", "ef".repeat(32)),
            uid: Some(1000),
            gid: None,
            mode: 0o400,
        },
    ];
    web.canonical = web.container.canonical_json();
    d
}

/// A container of [`secrets_spec`] built by the release before secrets: everything in plain `env`,
/// no files.
fn built_before_secrets(d: &Desired) -> ObservedContainer {
    let mut old = d.services["web"].container.clone();
    old.sealed_env.clear();
    old.files.clear();
    old.env.insert("DB_PASSWORD".into(), "hunter2".into());
    old.env.insert("API_TOKEN".into(), "s3cret-old".into());
    old.env.insert("LOG_LEVEL".into(), "info".into());
    let mut c = built_from(&old, "web", "web", 1, RunState::Running);
    c.labels.insert(labels::LAST_APPLIED.into(), old.canonical_json());
    c
}

/// A container of [`secrets_spec`] built by this release, with other secret values, another config
/// and a secret file since removed.
fn built_with_other_secrets(d: &Desired) -> ObservedContainer {
    let mut old = d.services["web"].container.clone();
    old.sealed_env.insert("DB_PASSWORD".into(), format!("hmac-sha256:{}", "12".repeat(32)));
    old.env.insert("API_TOKEN".into(), "s3cret-old".into());
    old.files[0].digest = format!("sha256:{}", "00".repeat(32));
    old.files[1].digest = format!("hmac-sha256:{}", "99".repeat(32));
    old.files.push(FileMount {
        target: "/run/secrets/old.pem".into(),
        kind: FileKind::Secret,
        digest: format!("hmac-sha256:{}", "99".repeat(32)),
        uid: None,
        gid: None,
        mode: 0o400,
    });
    built_from(&old, "web", "web", 1, RunState::Running)
}

#[track_caller]
fn assert_redacted(out: &str) {
    for value in NEVER_SHOWN {
        assert!(!out.contains(value), "{value} shown:\n{out}");
    }
}

#[test]
fn secrets_in_a_replace_are_named_not_shown() {
    let d = secrets_spec();
    for (snapshot, old) in [
        ("secrets_since_the_previous_release", built_before_secrets(&d)),
        ("secrets_changed", built_with_other_secrets(&d)),
    ] {
        let p = plan(&d, &observed(vec![old]));
        let out = plan_text(&p, &d, VERBOSE);
        assert_redacted(&out);
        assert_snapshot!(snapshot, out);
        let json = serde_json::to_string_pretty(&p).unwrap();
        assert_redacted(&json);
        assert_snapshot!(format!("{snapshot}_json"), json);
        let yaml = serde_yaml::to_string(&p).unwrap();
        assert_redacted(&yaml);
    }
}

#[test]
fn secrets_in_a_create_are_marked() {
    let d = secrets_spec();
    let out = plan_text(&plan(&d, &observed(vec![])), &d, VERBOSE);
    assert_redacted(&out);
    assert!(out.contains("    + env.DB_PASSWORD: (secret)\n"), "{out}");
    assert_snapshot!(out);
}

#[test]
fn apply_reports_secret_changes_without_values() {
    let d = secrets_spec();
    let p = plan(&d, &observed(vec![built_with_other_secrets(&d)]));
    let mut report = ApplyReport::default();
    report.services.insert("web".into(), ServiceResult { done: vec![ActionKind::Replace], failure: None });
    let out = apply_text(&p, &report, &d, PLAIN);
    assert_redacted(&out);
    assert!(out.contains("    ~ env.DB_PASSWORD: (secret changed)\n"), "{out}");
    // The log line of a replacement uses `Change`'s Display.
    let Action::Replace { changes, .. } = &p.services["web"].actions[0] else { panic!("{p:#?}") };
    let logged: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_redacted(&logged.join(", "));
    assert!(logged.contains(&"env.API_TOKEN: (secret changed)".to_string()), "{logged:?}");
}
