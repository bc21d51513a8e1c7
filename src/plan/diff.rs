//! Field-by-field changes between the spec a container was built from (its `moor.last-applied`
//! label) and the desired one, as `moor plan` shows them: `env.LOG_LEVEL: info -> debug`.
//!
//! Invariants:
//! - No secret value, and no keyed digest of one, is ever in a [`Change`] or in [`fields`]: a
//!   secret field is compared but only marked ([`Secret`], [`Shown::Secret`]). Secret fields
//!   are every `sealedEnv` entry (named `env.NAME`, as the user wrote it), every `env` entry
//!   whose name [`looks_secret`] (labels of the release before secrets hold such values in plain
//!   text) or that is sealed on the other side, and the content of every file that is not a
//!   config (a secret file's digest is keyed, so meaningless to a reader).
//! - Files are named by their target (`secret file /run/secrets/tls.key`), not by their index.
//! - The old label is read slim or full ([`expand_last_applied`]), so a label that leaves out a
//!   default never reads as a change.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::manifest::ContainerSpec;
use crate::secrets::looks_secret;
use crate::spec_hash::expand_last_applied;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Set when the field is secret: `from` and `to` are then `None`, and this says what
    /// happened to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
}

/// What happened to a secret field, the only thing a plan says about one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Secret {
    Changed,
    Added,
    Removed,
    /// A plain value before (a label of the release before secrets), a sealed one now. Whether
    /// the value changed cannot be told without the host's key, which the plan does not have.
    NowSealed,
    /// A sealed value before, a plain one now.
    NowPlain,
}

impl Secret {
    /// `(secret changed)` and so on: what the plan text shows in place of the values.
    pub fn text(self) -> &'static str {
        match self {
            Secret::Changed => "(secret changed)",
            Secret::Added => "(secret added)",
            Secret::Removed => "(secret removed)",
            Secret::NowSealed => "(secret, now sealed)",
            Secret::NowPlain => "(secret, now plain)",
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(secret) = self.secret {
            return write!(f, "{}: {}", self.field, secret.text());
        }
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        write!(f, "{}: {} -> {}", self.field, show(&self.from), show(&self.to))
    }
}

/// A field's value as a plan shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    Text(String),
    /// A secret is set here; its value is never shown.
    Secret,
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shown::Text(text) => f.write_str(text),
            Shown::Secret => f.write_str("(secret)"),
        }
    }
}

/// One flattened field: what is compared, and what may be shown. No `Debug`: `value` may be a
/// secret (a plain one from an old label).
#[derive(Clone, PartialEq, Eq)]
struct Entry {
    value: String,
    kind: EntryKind,
    /// For a file's owner or mode: the field of the file's content (`secret file /x`). A file
    /// added or removed is one change, not one per attribute.
    part_of: Option<String>,
}

#[derive(Clone, PartialEq, Eq)]
enum EntryKind {
    /// Shown as this text (the value, or a shortened digest).
    Text(String),
    /// A secret in plain text (an `env` value).
    PlainSecret,
    /// A secret's digest (a `sealedEnv` value, a secret file's content).
    SealedSecret,
}

impl Entry {
    fn text(value: String) -> Entry {
        Entry { kind: EntryKind::Text(value.clone()), value, part_of: None }
    }

    fn sealed(digest: String) -> Entry {
        Entry { value: digest, kind: EntryKind::SealedSecret, part_of: None }
    }

    fn is_secret(&self) -> bool {
        !matches!(self.kind, EntryKind::Text(_))
    }

    fn shown(&self) -> Shown {
        match &self.kind {
            EntryKind::Text(text) => Shown::Text(text.clone()),
            EntryKind::PlainSecret | EntryKind::SealedSecret => Shown::Secret,
        }
    }
}

/// Flattens a JSON value into `path -> text`. Lists of scalars stay whole (`command`), lists of
/// objects are indexed (`ports[0].host`).
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Entry>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&join(k), v, out);
            }
        }
        Value::Array(items) if items.iter().any(|v| v.is_object()) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), Entry::text(scalar_text(other)));
        }
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The env names sealed in a spec's JSON.
fn sealed_names(spec: &Value) -> impl Iterator<Item = &String> {
    spec.get("sealedEnv").and_then(Value::as_object).into_iter().flat_map(|m| m.keys())
}

/// Flattens a spec's JSON (a desired spec's, or an old label's with its defaults put back) as
/// the plan compares it. `sealed` holds the env names sealed on either side: such a name is
/// secret on both.
fn flatten_spec(spec: &Value, sealed: &BTreeSet<&String>) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let Some(map) = spec.as_object() else {
        flatten("", spec, &mut out);
        return out;
    };
    for (key, value) in map {
        match (key.as_str(), value) {
            ("env", Value::Object(env)) => {
                for (name, v) in env {
                    let value = scalar_text(v);
                    let entry = if looks_secret(name) || sealed.contains(name) {
                        Entry { value, kind: EntryKind::PlainSecret, part_of: None }
                    } else {
                        Entry::text(value)
                    };
                    out.insert(format!("env.{name}"), entry);
                }
            }
            // Shown under the name the container sees; a name both plain and sealed (no release
            // writes that) is taken as sealed.
            ("sealedEnv", Value::Object(env)) => {
                for (name, v) in env {
                    out.insert(format!("env.{name}"), Entry::sealed(scalar_text(v)));
                }
            }
            ("files", Value::Array(files)) => {
                for (i, file) in files.iter().enumerate() {
                    flatten_file(i, file, &mut out);
                }
            }
            _ => flatten(key, value, &mut out),
        }
    }
    // Maps of free-form options hold credentials as often as env does (a log driver's
    // `splunk-token`, a `loki-url` with user:password): shown as secret by the same rules.
    for (key, entry) in out.iter_mut() {
        let Some(name) = ["logging.options.", "labels.", "annotations.", "resource.annotations."]
            .iter()
            .find_map(|prefix| key.strip_prefix(prefix))
        else {
            continue;
        };
        if looks_secret(name) || has_userinfo(&entry.value) {
            entry.kind = EntryKind::PlainSecret;
        }
    }
    out
}

/// A URL with a password in it (`https://user:pass@host`), also inside a longer value
/// (`jdbc:postgresql://u:p@h/db`, `--db=http://u:p@h`) or with a password a URL parser refuses
/// (one holding `/`). Errs on the side of hiding: a value is only kept out of the diff.
fn has_userinfo(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|u| u.password().is_some())
        || text.match_indices("://").any(|(i, _)| {
            let word = text[i + 3..].split(char::is_whitespace).next().unwrap_or("");
            word.rfind('@').is_some_and(|at| word[..at].contains(':'))
        })
}

/// One entry of `files`: its content under `secret file TARGET` or `config file TARGET`, its
/// owner and mode under `... mode` and so on. Anything but a config is taken as secret.
fn flatten_file(index: usize, file: &Value, out: &mut BTreeMap<String, Entry>) {
    let config = file.get("kind").and_then(Value::as_str) == Some("config");
    let name = match file.get("target").and_then(Value::as_str) {
        Some(target) if config => format!("config file {target}"),
        Some(target) => format!("secret file {target}"),
        None => format!("files[{index}]"),
    };
    let Some(map) = file.as_object() else {
        out.insert(name, Entry::sealed(file.to_string()));
        return;
    };
    for (key, value) in map {
        match key.as_str() {
            "target" | "kind" => {}
            "digest" => {
                let digest = scalar_text(value);
                let entry = if config {
                    Entry { kind: EntryKind::Text(short_digest(&digest)), value: digest, part_of: None }
                } else {
                    Entry::sealed(digest)
                };
                out.insert(name.clone(), entry);
            }
            _ => {
                let mut parts = BTreeMap::new();
                flatten(&format!("{name} {key}"), value, &mut parts);
                out.extend(parts.into_iter().map(|(k, e)| (k, Entry { part_of: Some(name.clone()), ..e })));
            }
        }
    }
}

/// A config's content digest as shown: `sha256:0123456789ab` (compared whole).
fn short_digest(digest: &str) -> String {
    if digest.is_ascii() {
        crate::digest::short(digest)
    } else {
        "(content)".into()
    }
}

/// The changes from `last_applied` (the label's text, slim or full) to `desired`. An unreadable
/// label gives one change that says so; equal specs give none (the hash label alone was off).
pub fn changes(last_applied: Option<&str>, desired: &ContainerSpec) -> Vec<Change> {
    let Some(old) = last_applied.and_then(expand_last_applied) else {
        return vec![Change::unreadable_label()];
    };
    let new = serde_json::to_value(desired).expect("a ContainerSpec serializes");
    let sealed: BTreeSet<&String> = sealed_names(&old).chain(sealed_names(&new)).collect();
    let (a, b) = (flatten_spec(&old, &sealed), flatten_spec(&new, &sealed));
    let mut out = Vec::new();
    for key in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
        let (from, to) = (a.get(key), b.get(key));
        if from == to {
            continue;
        }
        // The attribute of a file only one side has: the file's own change says it all.
        let whole = |side: &BTreeMap<String, Entry>, e: Option<&Entry>| {
            e.and_then(|e| e.part_of.as_ref()).is_some_and(|file| !side.contains_key(file))
        };
        if whole(&a, to) || whole(&b, from) {
            continue;
        }
        let field = key.clone();
        if from.is_some_and(Entry::is_secret) || to.is_some_and(Entry::is_secret) {
            let secret = match (from.map(|e| &e.kind), to.map(|e| &e.kind)) {
                (None, _) => Secret::Added,
                (_, None) => Secret::Removed,
                (Some(EntryKind::PlainSecret | EntryKind::Text(_)), Some(EntryKind::SealedSecret)) => Secret::NowSealed,
                (Some(EntryKind::SealedSecret), Some(EntryKind::PlainSecret | EntryKind::Text(_))) => Secret::NowPlain,
                _ => Secret::Changed,
            };
            out.push(Change { field, from: None, to: None, secret: Some(secret) });
        } else {
            let text = |e: Option<&Entry>| e.map(|e| e.shown().to_string());
            out.push(Change { field, from: text(from), to: text(to), secret: None });
        }
    }
    out
}

/// Every field of `spec`, flattened and named as [`changes`] names them (`env.LOG_LEVEL ->
/// info`, `env.DB_PASSWORD -> (secret)`): what a new container is created with.
pub fn fields(spec: &ContainerSpec) -> BTreeMap<String, Shown> {
    let value = serde_json::to_value(spec).expect("a ContainerSpec serializes");
    let sealed: BTreeSet<&String> = sealed_names(&value).collect();
    flatten_spec(&value, &sealed).into_iter().map(|(k, e)| (k, e.shown())).collect()
}

impl Change {
    /// What a replacement names when the old container's `moor.last-applied` label cannot be read.
    pub fn unreadable_label() -> Change {
        Change {
            field: "moor.last-applied".into(),
            from: None,
            to: Some("(unreadable: replacing)".into()),
            secret: None,
        }
    }

    /// Is this one of the notes above, which say why a container is replaced rather than name a
    /// field of the spec?
    pub fn is_note(&self) -> bool {
        *self == Change::unreadable_label() || *self == Change::spec_hash_only()
    }

    /// What a replacement names when no field differs: only the hash does (say the image ID
    /// behind an unchanged spec).
    pub fn spec_hash_only() -> Change {
        Change {
            field: "moor.spec-hash".into(),
            from: None,
            to: Some("(does not match: replacing)".into()),
            secret: None,
        }
    }
}

#[cfg(test)]
mod userinfo_tests {
    use super::has_userinfo;

    #[test]
    fn a_password_in_a_url_is_found_wherever_it_sits() {
        assert!(has_userinfo("https://user:pass@host/db"));
        assert!(has_userinfo("jdbc:postgresql://u:p@db:5432/app"), "a URL inside a scheme");
        assert!(has_userinfo("--db=http://u:p@h"), "a URL inside a flag");
        assert!(has_userinfo("http://moor:s3cr/et@127.0.0.1:1"), "a password holding /");
        assert!(!has_userinfo("https://host/path"));
        assert!(!has_userinfo("https://token@host"), "a user without a password");
        assert!(!has_userinfo("plain text with @ and : in it"));
    }
}
