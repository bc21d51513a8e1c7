//! The conversion of compose's alternative forms (issue 13): the list forms of `env` and
//! `labels`, `expose` ranges, the `tmpfs` path list, `volumesFrom`, and `ipc`/`pid` joins of
//! another container's namespace.
//!
//! Invariants: a list form gives exactly the map its entries spell, and a key written twice is
//! a located error (a map cannot hold it twice either: YAML refuses duplicate keys). A bare `KEY`
//! in the `env` list (compose: "take it from the shell running compose") is refused: a reconciler
//! must not make a container depend on the environment of whoever ran `apply`.

use std::collections::BTreeMap;

use super::convert::{size_bytes, tmpfs_mode, Checker};
use super::limits;
use super::model::Mount;
use super::problem::FieldPath;
use super::raw;

/// `env` as `(name, value, where)` entries: a map's at its keys, a list's at its indexes.
pub(super) fn env_entries(
    env: &raw::Env,
    path: &FieldPath,
    c: &mut Checker,
) -> Vec<(String, raw::EnvValue, FieldPath)> {
    match env {
        raw::Env::Map(map) => map.iter().map(|(k, v)| (k.clone(), v.clone(), path.key(k))).collect(),
        raw::Env::List(items) => {
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let at = path.index(i);
                let Some((name, value)) = item.split_once('=') else {
                    // The entry is a name only: quoting it is safe.
                    c.report(
                        at,
                        format!("{item:?} has no value: moor does not pass on its own environment; write {item}=value, or take it from a Secret or an env file (envFrom)"),
                    );
                    continue;
                };
                if let Some(first) = seen.insert(name.to_string(), i) {
                    c.report(at, format!("{name} is already set by env[{first}]"));
                    continue;
                }
                out.push((name.to_string(), raw::EnvValue::String(value.to_string()), at));
            }
            out
        }
    }
}

/// `metadata.labels` as a map; a list entry is `key=value` (a bare `key` is an empty value, as
/// in compose).
pub(super) fn labels(labels: &raw::Labels, path: &FieldPath, c: &mut Checker) -> BTreeMap<String, String> {
    match labels {
        raw::Labels::Map(map) => map.clone(),
        raw::Labels::List(items) => {
            let mut out = BTreeMap::new();
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for (i, item) in items.iter().enumerate() {
                let (key, value) = item.split_once('=').unwrap_or((item, ""));
                if key.trim().is_empty() {
                    c.report(path.index(i), format!("{item:?} has no key; write key=value"));
                    continue;
                }
                if let Some(first) = seen.insert(key.to_string(), i) {
                    c.report(path.index(i), format!("label {key} is already set by labels[{first}]"));
                    continue;
                }
                out.insert(key.to_string(), value.to_string());
            }
            out
        }
    }
}

/// The largest range `expose` takes: Docker lists every port of a range in the container's
/// config, so a huge range makes a huge container.
const MAX_EXPOSE_RANGE: u32 = 1024;

/// Docker's `port/protocol` keys of one `expose` entry: a port or a range `8000-8010`,
/// optionally `/tcp`, `/udp` or `/sctp`.
pub(super) fn expose_keys(port: &raw::Scalar) -> Result<Vec<String>, String> {
    let text = port.text();
    let (numbers, protocol) = text.split_once('/').unwrap_or((&text, "tcp"));
    if !["tcp", "udp", "sctp"].contains(&protocol) {
        return Err(format!("unknown protocol {protocol:?} in {text:?}; use tcp, udp or sctp"));
    }
    let number = |s: &str| match s.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{text:?} is not a port or a range (1-65535, such as 80 or 8000-8010, optionally /udp)")),
    };
    let (low, high) = match numbers.split_once('-') {
        Some((a, b)) => (number(a)?, number(b)?),
        None => (number(numbers)?, number(numbers)?),
    };
    if low > high {
        return Err(format!("the range {text:?} runs backwards; write the lower port first"));
    }
    if u32::from(high - low) >= MAX_EXPOSE_RANGE {
        return Err(format!("the range {text:?} has more than {MAX_EXPOSE_RANGE} ports"));
    }
    Ok((low..=high).map(|n| format!("{n}/{protocol}")).collect())
}

/// One `tmpfs` entry: `/path[:size=64m,mode=1777]` (compose's options; `size` in Docker's
/// units or bytes).
pub(super) fn tmpfs_entry(text: &str) -> Result<Mount, String> {
    let (target, options) = text.split_once(':').unwrap_or((text, ""));
    if !target.starts_with('/') {
        return Err(format!("tmpfs target {target:?} must be an absolute path"));
    }
    let (mut size, mut mode) = (None, None);
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some(("size", v)) => {
                let bytes = size_bytes(&raw::Size::Text(v.to_string())).and_then(limits::tmpfs_size)?;
                size = Some(bytes);
            }
            Some(("mode", v)) => mode = Some(tmpfs_mode(&raw::FileMode::Text(v.to_string()))?),
            _ => return Err(format!("unknown tmpfs option {opt:?} in {text:?}; use size=... and mode=...")),
        }
    }
    Ok(Mount::Tmpfs { target: target.to_string(), size, mode })
}

/// The `tmpfs` field's mounts, with where each was written.
pub(super) fn tmpfs_mounts(tmpfs: &raw::OneOrMany, path: &FieldPath, c: &mut Checker) -> Vec<(Mount, FieldPath)> {
    let one = matches!(tmpfs, raw::OneOrMany::One(_));
    tmpfs
        .to_vec()
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let at = if one { path.clone() } else { path.index(i) };
            c.check(at.clone(), tmpfs_entry(t)).map(|m| (m, at))
        })
        .collect()
}

/// A join of another container's namespace or volumes: `container:NAME` or `service:NAME`.
fn join(text: &str) -> Option<(&str, &str)> {
    let (kind, name) = text.split_once(':')?;
    let ok = matches!(kind, "container" | "service")
        && !name.is_empty()
        && !name.contains(|ch: char| ch.is_whitespace() || ch == ':');
    ok.then_some((kind, name))
}

/// `pid` or `ipc` (`field`): the modes of its own the caller accepts, or a join.
pub(super) fn namespace(field: &str, text: &str, own: &[&str]) -> Result<String, String> {
    if own.contains(&text) || join(text).is_some() {
        return Ok(text.to_string());
    }
    Err(format!("{field}: {text:?} is not supported; use {}, container:NAME or service:NAME", own.join(", ")))
}

/// One `volumesFrom` entry, as Docker takes it (`container:NAME[:ro|rw]` becomes
/// `NAME[:ro|rw]`; `service:NAME` and a bare name, which compose reads as a service, stay
/// `service:NAME[:mode]` until the manifests are loaded).
pub(super) fn volumes_from(text: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "volumesFrom {text:?} is not service:NAME, container:NAME or a service name, each optionally :ro or :rw"
        )
    };
    let (kind, rest) = match text.split_once(':') {
        Some((k @ ("container" | "service"), rest)) => (k, rest),
        _ => ("service", text),
    };
    let (name, mode) = match rest.split_once(':') {
        Some((n, m @ ("ro" | "rw"))) => (n, Some(m)),
        Some(_) => return Err(bad()),
        None => (rest, None),
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(bad());
    }
    let mode = mode.map(|m| format!(":{m}")).unwrap_or_default();
    Ok(match kind {
        "container" => format!("{name}{mode}"),
        _ => format!("service:{name}{mode}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expose_ranges() {
        assert_eq!(expose_keys(&raw::Scalar::Integer(80)).unwrap(), ["80/tcp"]);
        assert_eq!(expose_keys(&raw::Scalar::String("53-54/udp".into())).unwrap(), ["53/udp", "54/udp"]);
        assert!(expose_keys(&raw::Scalar::String("9-8".into())).unwrap_err().contains("backwards"));
        assert!(expose_keys(&raw::Scalar::String("1-5000".into())).unwrap_err().contains("more than"));
        assert!(expose_keys(&raw::Scalar::String("80/icmp".into())).unwrap_err().contains("protocol"));
        assert!(expose_keys(&raw::Scalar::String("0".into())).is_err());
    }

    #[test]
    fn tmpfs_entries() {
        assert_eq!(tmpfs_entry("/run").unwrap(), Mount::Tmpfs { target: "/run".into(), size: None, mode: None });
        assert_eq!(
            tmpfs_entry("/tmp:size=64m,mode=1777").unwrap(),
            Mount::Tmpfs { target: "/tmp".into(), size: Some(64 << 20), mode: Some(0o1777) }
        );
        assert!(tmpfs_entry("run").unwrap_err().contains("absolute"));
        assert!(tmpfs_entry("/x:uid=1").unwrap_err().contains("unknown tmpfs option"));
        assert!(tmpfs_entry("/x:mode=99").unwrap_err().contains("octal"));
    }

    #[test]
    fn volumes_from_entries() {
        assert_eq!(volumes_from("db").unwrap(), "service:db");
        assert_eq!(volumes_from("service:db:ro").unwrap(), "service:db:ro");
        assert_eq!(volumes_from("container:old-data:rw").unwrap(), "old-data:rw");
        assert!(volumes_from("db:rx").is_err());
        assert!(volumes_from("container:").is_err());
    }

    #[test]
    fn namespaces() {
        assert_eq!(namespace("pid", "service:db", &["host"]).unwrap(), "service:db");
        assert_eq!(namespace("pid", "container:x", &["host"]).unwrap(), "container:x");
        assert!(namespace("pid", "private", &["host"]).unwrap_err().contains("use host, container:NAME"));
        assert!(namespace("ipc", "service:", &["host"]).is_err());
    }

    #[test]
    fn list_forms() {
        let mut c = Checker::default();
        let env = raw::Env::List(vec!["A=1".into(), "B=x=y".into(), "A=2".into(), "C".into()]);
        let got = env_entries(&env, &FieldPath::root().key("env"), &mut c);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1, raw::EnvValue::String("x=y".into()));
        let messages: Vec<String> = c.problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].starts_with("env[2]: A is already set by env[0]"), "{messages:?}");
        assert!(messages[1].starts_with("env[3]: \"C\" has no value"), "{messages:?}");

        let mut c = Checker::default();
        let l = labels(&raw::Labels::List(vec!["a=1".into(), "b".into(), "a=3".into()]), &FieldPath::root(), &mut c);
        assert_eq!(l, BTreeMap::from([("a".to_string(), "1".to_string()), ("b".to_string(), String::new())]));
        assert_eq!(c.problems.len(), 1);
    }

    fn load(text: &str) -> crate::manifest::load::Loaded {
        crate::manifest::load_str(std::path::Path::new("/m/s.yaml"), text)
    }

    fn service(name: &str, spec: &str) -> String {
        format!("apiVersion: moor/v1\nkind: Service\nmetadata: {{ name: {name} }}\nspec:\n  image: busybox\n{spec}")
    }

    /// `line:column: field: message` of every problem, in order.
    fn problems(text: &str) -> Vec<String> {
        let p = load(text).problems;
        p.iter()
            .map(|p| format!("{}:{}: {}: {}", p.line.unwrap_or(0), p.column.unwrap_or(0), p.field, p.message))
            .collect()
    }

    #[test]
    fn joins_resolve_to_the_first_container_and_start_after_it() {
        let db = service("db", "  replicas: 2\n  ipc: shareable\n");
        let app = service("app", "  ipc: service:db\n  pid: service:db\n  volumesFrom: [db, \"container:old:ro\"]\n");
        let loaded = load(&format!("{db}\n---\n{app}"));
        assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
        let app = &loaded.desired.services["app"];
        let h = &app.container.host;
        // The spec keeps `service:db` (one hash in every instance); the container it names is
        // placed per instance at create.
        assert_eq!((h.ipc.as_deref(), h.pid.as_deref()), (Some("service:db"), Some("service:db")));
        assert_eq!(h.volumes_from, ["service:db", "old:ro"]);
        assert_eq!(app.depends_on["db"], raw::DependCondition::Started);
        assert_eq!(app.canonical, app.container.canonical_json());
        for (instance, first) in [("default", "db-1"), ("shop", "shop_db-1")] {
            let placed = crate::names::placed_spec(instance, &loaded.desired, &app.container);
            let ph = &placed.host;
            let join = format!("container:{first}");
            assert_eq!((ph.ipc.as_deref(), ph.pid.as_deref()), (Some(join.as_str()), Some(join.as_str())));
            assert_eq!(ph.volumes_from, [first, "old:ro"]);
        }

        let db = service("db", "");
        let app = service("app", "  ipc: service:db\n  volumesFrom: [nothing]\n  pid: service:app\n");
        let got = problems(&format!("{db}\n---\n{app}"));
        let want = [
            "13:8: spec.ipc: service \"db\" keeps its IPC namespace private; set ipc: shareable there",
            "14:17: spec.volumesFrom[0]: volumesFrom names service \"nothing\", which no Service manifest declares",
            "15:8: spec.pid: service \"app\" cannot join its own PID namespace",
        ];
        assert_eq!(got.len(), want.len(), "{got:#?}");
        for (g, w) in got.iter().zip(want) {
            assert!(g.starts_with(w), "{g}\nwanted {w}\n{got:#?}");
        }
    }

    #[test]
    fn list_forms_are_located() {
        let text = service(
            "app",
            "  env:\n    - A=1\n    - A=2\n    - TOKEN\n  tmpfs: [/run, \"tmp:size=1m\"]\n  volumes: [\"xx:/run\"]\n",
        )
        .replace("metadata: { name: app }", "metadata: { name: app, labels: [a=1, a=2] }");
        let got = problems(&text);
        let want = [
            "3:38: metadata.labels[1]: label a is already set by labels[0]",
            "8:7: spec.env[1]: A is already set by env[0]",
            "9:7: spec.env[2]: \"TOKEN\" has no value: moor does not pass on its own environment",
            "10:17: spec.tmpfs[1]: tmpfs target \"tmp\" must be an absolute path",
            "10:11: spec.tmpfs[0]: mount target /run is already used by volumes[0]",
        ];
        assert_eq!(got.len(), want.len(), "{got:#?}");
        for w in want {
            assert!(got.iter().any(|g| g.starts_with(w)), "wanted {w}\ngot {got:#?}");
        }
        let ok = service("app", "  env: [\"A=1\", \"B=\"]\n  tmpfs: /run\n  stopTimeout: 1m30.2s\n");
        let loaded = load(&ok);
        assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
        let c = &loaded.desired.services["app"].container;
        assert_eq!(c.env, BTreeMap::from([("A".into(), "1".into()), ("B".into(), String::new())]));
        assert_eq!(c.mounts, [Mount::Tmpfs { target: "/run".into(), size: None, mode: None }]);
        assert_eq!(c.stop_timeout, std::time::Duration::from_secs(91));
    }
}
