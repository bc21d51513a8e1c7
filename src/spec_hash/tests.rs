//! The canonical JSON and the hash pinned as the release before the slim label made them, and
//! the label read back exactly from both its forms.

use std::path::Path;

use super::*;
use crate::manifest::load_str;
use crate::manifest::model::{FileKind, FileMount};

fn spec_of(yaml: &str) -> ContainerSpec {
    let loaded = load_str(Path::new("/m/s.yaml"), yaml);
    assert!(loaded.problems.is_empty(), "{yaml}\n{:#?}", loaded.problems);
    loaded.desired.services.into_values().next().unwrap().container
}

const FULL: &str = "\
apiVersion: moor/v1
kind: Service
metadata: { name: web, labels: { team: shop } }
spec:
  image: app:1
  command: [serve]
  entrypoint: [/app]
  workingDir: /srv
  user: \"1000\"
  env: { A: \"1\", B: two }
  ports: [\"8080:80\", \"9090:90/udp\", \"127.0.0.1:7070:70\"]
  volumes: [\"data:/data\", \"/etc/app:/etc/app:ro\", { type: tmpfs, target: /tmp, size: 1Mi }]
  networks: [front, back]
  restart: on-failure:3
  healthcheck: { test: [CMD, /app, health], interval: 10s, timeout: 2s, retries: 3, startPeriod: 1s }
  resources: { memory: 64Mi, cpus: 0.5, pids: 100 }
  stopSignal: SIGINT
  stopTimeout: 7s
";

const JOB: &str = "\
apiVersion: moor/v1
kind: Service
metadata: { name: job }
spec:
  image: app:1
  autoRemove: true
  env: { LOG_LEVEL: info }
";

const PLAIN_SECRET: &str = "\
apiVersion: moor/v1
kind: Service
metadata: { name: db }
spec:
  image: app:1
  restart: unless-stopped
  env: { DB_PASSWORD: hunter2, LOG_LEVEL: debug }
";

/// [`PLAIN_SECRET`] as this release resolves it: the password sealed, a secret file and a config.
fn sealed() -> ContainerSpec {
    let mut spec = spec_of(PLAIN_SECRET);
    spec.env.remove("DB_PASSWORD");
    spec.sealed_env.insert("DB_PASSWORD".into(), format!("hmac-sha256:{}", "ab".repeat(32)));
    spec.files = vec![
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
            gid: Some(1000),
            mode: 0o400,
        },
    ];
    spec
}

/// The representative specs, each with its canonical JSON and its hash over `sha256:img`, as
/// computed before the slim label (commit de8a7b8): the hash of every container already running
/// depends on these bytes, so they must never change.
fn pinned() -> Vec<(ContainerSpec, &'static str, &'static str)> {
    vec![
        (
            ContainerSpec::bare("app:1"),
            r#"{"autoRemove":false,"env":{},"image":"app:1","labels":{},"mounts":[],"networks":[],"ports":[],"resources":{},"restart":"no","stopTimeout":"10s"}"#,
            "sha256:b4786ae419d39ef32a79347ba07704e48f86355b760719164416bb189df0b63a",
        ),
        (
            spec_of(FULL),
            r#"{"autoRemove":false,"command":["serve"],"entrypoint":["/app"],"env":{"A":"1","B":"two"},"healthcheck":{"interval":"10s","retries":3,"startPeriod":"1s","test":["CMD","/app","health"],"timeout":"2s"},"image":"app:1","labels":{"team":"shop"},"mounts":[{"readOnly":false,"source":"data","target":"/data","type":"volume"},{"readOnly":true,"source":"/etc/app","target":"/etc/app","type":"bind"},{"size":1048576,"target":"/tmp","type":"tmpfs"}],"networks":["back","front"],"ports":[{"container":70,"host":7070,"hostIp":"127.0.0.1","protocol":"tcp"},{"container":80,"host":8080,"protocol":"tcp"},{"container":90,"host":9090,"protocol":"udp"}],"resources":{"cpus":0.5,"memory":67108864,"pids":100},"restart":"on-failure:3","stopSignal":"SIGINT","stopTimeout":"7s","user":"1000","workingDir":"/srv"}"#,
            "sha256:3873eaf4a52e1226dff610a9245dc0716fdfb975b813e37e9162d4fcb19952b4",
        ),
        (
            spec_of(JOB),
            r#"{"autoRemove":true,"env":{"LOG_LEVEL":"info"},"image":"app:1","labels":{},"mounts":[],"networks":[],"ports":[],"resources":{},"restart":"no","stopTimeout":"10s"}"#,
            "sha256:07a59a1d2bccc02cf8cac69a744fb26c287a9a44c91f777b4690f12e80f976b1",
        ),
        (
            spec_of(PLAIN_SECRET),
            r#"{"autoRemove":false,"env":{"DB_PASSWORD":"hunter2","LOG_LEVEL":"debug"},"image":"app:1","labels":{},"mounts":[],"networks":[],"ports":[],"resources":{},"restart":"unless-stopped","stopTimeout":"10s"}"#,
            "sha256:7d88e535997b453817c9b0388b2791441daf89f47a99d09ff9bf86fecd4120eb",
        ),
        (
            sealed(),
            r#"{"autoRemove":false,"env":{"LOG_LEVEL":"debug"},"files":[{"digest":"sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","kind":"config","mode":"0444","target":"/etc/app/app.yaml"},{"digest":"hmac-sha256:efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef","gid":1000,"kind":"secret","mode":"0400","target":"/run/secrets/tls.key","uid":1000}],"image":"app:1","labels":{},"mounts":[],"networks":[],"ports":[],"resources":{},"restart":"unless-stopped","sealedEnv":{"DB_PASSWORD":"hmac-sha256:abababababababababababababababababababababababababababababababab"},"stopTimeout":"10s"}"#,
            "sha256:5fd28fc4725d12bcc9c4cc287a62c79761ebf624507b449f5ee52bd64c40788e",
        ),
    ]
}

#[test]
fn canonical_json_and_hash_are_pinned() {
    for (spec, canonical, hash) in pinned() {
        assert_eq!(spec.canonical_json(), canonical);
        assert_eq!(spec_hash(&spec, "sha256:img"), hash, "{canonical}");
        assert_eq!(hash_canonical(canonical, "sha256:img"), hash);
    }
}

#[test]
fn the_slim_label_leaves_out_the_defaults() {
    assert_eq!(last_applied_label(&ContainerSpec::bare("app:1")), r#"{"image":"app:1"}"#);
    assert_eq!(last_applied_label(&spec_of(JOB)), r#"{"autoRemove":true,"env":{"LOG_LEVEL":"info"},"image":"app:1"}"#);
    // Nothing of the full spec is a default but `autoRemove`.
    let full = spec_of(FULL);
    let slim = last_applied_label(&full);
    assert_eq!(slim, full.canonical_json().replace(r#""autoRemove":false,"#, ""));
    // A non-default stop timeout and restart policy stay.
    let mut spec = ContainerSpec::bare("app:1");
    spec.stop_timeout = std::time::Duration::from_secs(5);
    spec.restart = crate::manifest::model::Restart::Always;
    assert_eq!(last_applied_label(&spec), r#"{"image":"app:1","restart":"always","stopTimeout":"5s"}"#);
}

#[test]
fn both_label_forms_read_back_to_the_same_spec() {
    for (spec, canonical, _) in pinned() {
        let slim = last_applied_label(&spec);
        assert!(slim.len() <= canonical.len());
        // The slim form (this release) and the full form (the release before).
        assert_eq!(parse_last_applied(&slim).as_ref(), Some(&spec), "{slim}");
        assert_eq!(parse_last_applied(canonical).as_ref(), Some(&spec), "{canonical}");
        // Expanded, the slim label is the canonical JSON itself.
        let expanded = expand_last_applied(&slim).unwrap();
        assert_eq!(expanded, serde_json::from_str::<serde_json::Value>(canonical).unwrap());
    }
}

#[test]
fn an_unreadable_label_reads_as_none() {
    for text in ["not json", "[1]", "\"x\"", "{}", r#"{"image":"a","restart":"sometimes"}"#] {
        assert_eq!(parse_last_applied(text), None, "{text}");
    }
    assert!(expand_last_applied("{}").is_some(), "an object is expanded; only parsing needs the image");
}
