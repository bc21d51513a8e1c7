//! Reading compose files: YAML, `.env`, interpolation, merging in order, `extends`, profiles.
//!
//! Invariants:
//! - The project folder is the first file's folder; `.env` is read from there; the process
//!   environment overrides `.env`, as in compose.
//! - A string whose interpolation used a variable's value is wrapped in a YAML tag
//!   ([`INTERPOLATED`]) so that the mark survives merging and `extends`; translation strips it.
//!   That is how a secret-looking value from `.env` never reaches a manifest. A value that used a
//!   variable whose own name looks secret has its own tag ([`INTERPOLATED_SECRET`]).
//! - The list forms of `environment` and `labels` become mappings before merging.
//! - Every error names its file and, where there is one, the compose path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml::value::{Tag, TaggedValue};
use serde_yaml::{Mapping, Value};

use super::report::Report;
use super::{interpolate, merge, ImportError, Options};

/// The tag on a string that holds an interpolated value.
pub const INTERPOLATED: &str = "moor-interpolated";
/// The tag on a string that holds the value of a variable whose name looks secret.
pub const INTERPOLATED_SECRET: &str = "moor-interpolated-secret";

/// Top-level keys that are translated (or harmless: `version` is obsolete in compose-spec).
const TOP_KEYS: &[&str] = &["version", "name", "services", "networks", "volumes", "secrets", "configs"];

/// The compose project after merging, before translation.
#[derive(Debug, Default)]
pub struct Project {
    pub name: String,
    /// The first file's folder: relative paths in the files resolve against it.
    pub dir: PathBuf,
    pub services: Mapping,
    pub networks: Mapping,
    pub volumes: Mapping,
    pub secrets: Mapping,
    /// Top-level `configs`, read where a service mounts one.
    pub configs: Mapping,
    /// `.env` and the environment, the latter winning.
    pub vars: BTreeMap<String, String>,
    /// Variables of `.env` whose value was built from a secret-looking one
    /// (`DB_URL=postgres://u:${DB_PASSWORD}@db`): their values are secret too.
    pub secret_vars: BTreeSet<String>,
    pub report: Report,
}

/// Reads and merges `options.files`.
pub fn read(options: &Options) -> Result<Project, ImportError> {
    let first = options.files.first().ok_or_else(|| ImportError::Other("no compose file given".into()))?;
    let dir = std::path::absolute(first)
        .map_err(|e| ImportError::File { path: first.clone(), message: e.to_string() })?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let (mut vars, secret_vars) = read_dotenv(&dir.join(".env"), &options.environment)?;
    vars.extend(options.environment.clone());
    let mut report = Report::default();
    let mut merged = Value::Mapping(Mapping::new());
    for file in &options.files {
        let mut doc = read_doc(file, &vars, &secret_vars, &mut report)?;
        if let Some(Value::Mapping(services)) = doc.get_mut("services") {
            let path = std::path::absolute(file).unwrap_or_else(|_| file.clone());
            // `extends: {file}` reads the other file as any compose file (interpolated with the
            // same variables); its problems are reported against it.
            let mut load = |other: &Path| -> Result<Mapping, String> {
                let doc = read_doc(other, &vars, &secret_vars, &mut report).map_err(|e| e.to_string())?;
                match doc.get("services") {
                    Some(Value::Mapping(m)) => Ok(m.clone()),
                    _ => Ok(Mapping::new()),
                }
            };
            merge::resolve_extends(services, &path, &mut load)
                .map_err(|message| ImportError::File { path: file.clone(), message })?;
        }
        merged = merge::merge(merged, doc, "");
    }
    let Value::Mapping(mut top) = merged else { unreachable!("a merge of mappings") };
    for key in top.keys() {
        let key = key.as_str().unwrap_or("?");
        if key.starts_with("x-") {
            report.left_out(key, "extension not translated");
        } else if !TOP_KEYS.contains(&key) {
            report.left_out(key, "no moor counterpart");
        }
    }
    // Compose's order: COMPOSE_PROJECT_NAME, then `name:`, then the folder's name.
    let name = match (vars.get("COMPOSE_PROJECT_NAME"), top.get("name").and_then(Value::as_str)) {
        (Some(name), _) if !name.is_empty() => name.clone(),
        (_, Some(name)) => name.to_string(),
        _ => dir.file_name().and_then(|n| n.to_str()).unwrap_or("project").to_string(),
    };
    let mut take = |key: &str| match top.remove(key) {
        Some(Value::Mapping(m)) => Ok(m),
        None | Some(Value::Null) => Ok(Mapping::new()),
        Some(_) => Err(ImportError::At { file: first.clone(), at: key.into(), message: "must be a mapping".into() }),
    };
    let mut services = take("services")?;
    let (networks, volumes, secrets) = (take("networks")?, take("volumes")?, take("secrets")?);
    let configs = take("configs")?;
    apply_profiles(&mut services, &options.profiles, &vars, &mut report);
    Ok(Project {
        name: normalize_project(&name),
        dir,
        services,
        networks,
        volumes,
        secrets,
        configs,
        vars,
        secret_vars,
        report,
    })
}

/// One compose file as a mapping: YAML merge keys applied, list forms normalized, variables
/// interpolated (an unset one reported).
fn read_doc(
    file: &Path,
    vars: &BTreeMap<String, String>,
    secret_vars: &BTreeSet<String>,
    report: &mut Report,
) -> Result<Value, ImportError> {
    let at_file = |message: String| ImportError::File { path: file.to_path_buf(), message };
    let text = std::fs::read_to_string(file).map_err(|e| at_file(e.to_string()))?;
    let mut doc: Value = serde_yaml::from_str(&text).map_err(|e| at_file(e.to_string()))?;
    // YAML merge keys (`<<: *anchor`), which compose files use with `x-` anchors.
    doc.apply_merge().map_err(|e| at_file(e.to_string()))?;
    if !doc.is_mapping() {
        return Err(at_file("a compose file is a mapping".into()));
    }
    normalize_lists(&mut doc);
    let mut unset = Vec::new();
    interpolate_value(&mut doc, vars, secret_vars, "", &mut unset).map_err(|(at, message)| ImportError::At {
        file: file.to_path_buf(),
        at,
        message,
    })?;
    for (at, name) in unset {
        report.advise(at, format!("variable {name} is not set: the empty string is used"));
    }
    Ok(doc)
}

/// Compose lowercases the project name, keeps only `[a-z0-9_-]` and trims a leading `_` or `-`.
fn normalize_project(name: &str) -> String {
    let kept: String =
        name.to_lowercase().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

/// Drops the services none of whose profiles is active (from `profiles` and
/// `COMPOSE_PROFILES`), as `docker compose up` would not start them.
fn apply_profiles(services: &mut Mapping, active: &[String], vars: &BTreeMap<String, String>, report: &mut Report) {
    let mut active: Vec<String> = active.to_vec();
    if let Some(env) = vars.get("COMPOSE_PROFILES") {
        active.extend(env.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from));
    }
    let names: Vec<Value> = services.keys().cloned().collect();
    for name in names {
        let Some(Value::Sequence(profiles)) = services.get(&name).and_then(|s| s.get("profiles")) else { continue };
        let theirs: Vec<&str> = profiles.iter().filter_map(Value::as_str).collect();
        if !theirs.is_empty() && !theirs.iter().any(|p| active.iter().any(|a| a == p || a == "*")) {
            let label = name.as_str().unwrap_or("?");
            report.advise(
                format!("services.{label}"),
                format!("skipped: none of its profiles ({}) is active (--profile)", theirs.join(", ")),
            );
            services.remove(&name);
        }
    }
}

/// `environment` and `labels` lists (`KEY=VALUE`, or `KEY` alone for environment) as mappings.
fn normalize_lists(doc: &mut Value) {
    let Some(Value::Mapping(services)) = doc.get_mut("services") else { return };
    for (_, service) in services.iter_mut() {
        for key in ["environment", "labels"] {
            let Some(Value::Sequence(items)) = service.get(key) else { continue };
            let mut map = Mapping::new();
            for item in items {
                let text = match item {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
                };
                match text.split_once('=') {
                    Some((k, v)) => map.insert(Value::String(k.into()), Value::String(v.into())),
                    None if key == "environment" => map.insert(Value::String(text), Value::Null),
                    None => map.insert(Value::String(text), Value::String(String::new())),
                };
            }
            if let Some(slot) = service.get_mut(key) {
                *slot = Value::Mapping(map);
            }
        }
    }
}

/// Interpolates every string of `value`; `at` is its compose path. The `Err` is a path and a
/// message.
fn interpolate_value(
    value: &mut Value,
    vars: &BTreeMap<String, String>,
    secret_vars: &BTreeSet<String>,
    at: &str,
    unset: &mut Vec<(String, String)>,
) -> Result<(), (String, String)> {
    match value {
        Value::String(s) => {
            let done = interpolate::interpolate(s, vars).map_err(|m| (at.to_string(), m))?;
            unset.extend(done.unset.into_iter().map(|n| (at.to_string(), n)));
            if done.substituted {
                let secret = done.used.iter().any(|n| crate::secrets::looks_secret(n) || secret_vars.contains(n));
                *value = Value::Tagged(Box::new(TaggedValue {
                    tag: Tag::new(if secret { INTERPOLATED_SECRET } else { INTERPOLATED }),
                    value: Value::String(done.text),
                }));
            } else {
                *s = done.text;
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_value(item, vars, secret_vars, &format!("{at}[{i}]"), unset)?;
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = k.as_str().unwrap_or("?");
                let path = if at.is_empty() { key.to_string() } else { format!("{at}.{key}") };
                interpolate_value(v, vars, secret_vars, &path, unset)?;
            }
        }
        Value::Tagged(t) => interpolate_value(&mut t.value, vars, secret_vars, at, unset)?,
        _ => {}
    }
    Ok(())
}

/// Strips the [`INTERPOLATED`] marks (and any other tag) from `value`.
pub fn untag(value: &mut Value) {
    match value {
        Value::Tagged(t) => {
            let mut inner = std::mem::take(&mut t.value);
            untag(&mut inner);
            *value = inner;
        }
        Value::Sequence(items) => items.iter_mut().for_each(untag),
        Value::Mapping(map) => map.iter_mut().for_each(|(_, v)| untag(v)),
        _ => {}
    }
}

/// Whether `value` holds an interpolated value.
pub fn is_interpolated(value: &Value) -> bool {
    matches!(value, Value::Tagged(t) if t.tag == Tag::new(INTERPOLATED) || t.tag == Tag::new(INTERPOLATED_SECRET))
}

/// Whether `value` holds the value of a variable whose name looks secret.
pub fn holds_secret(value: &Value) -> bool {
    matches!(value, Value::Tagged(t) if t.tag == Tag::new(INTERPOLATED_SECRET))
}

/// The compose paths under `value` (at `at`) that hold a secret-looking variable's value.
pub fn secret_paths(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        v if holds_secret(v) => out.push(at.to_string()),
        Value::Sequence(items) => {
            items.iter().enumerate().for_each(|(i, item)| secret_paths(item, &format!("{at}[{i}]"), out))
        }
        Value::Mapping(map) => {
            map.iter().for_each(|(k, v)| secret_paths(v, &format!("{at}.{}", k.as_str().unwrap_or("?")), out))
        }
        _ => {}
    }
}

/// Replaces every value under `value` that holds a secret-looking variable's value with
/// `placeholder` (see [`secret_paths`] for where they are).
pub fn redact_secrets(value: &mut Value, placeholder: &str) {
    if holds_secret(value) {
        *value = Value::String(placeholder.to_string());
        return;
    }
    match value {
        Value::Sequence(items) => items.iter_mut().for_each(|v| redact_secrets(v, placeholder)),
        Value::Mapping(map) => map.iter_mut().for_each(|(_, v)| redact_secrets(v, placeholder)),
        _ => {}
    }
}

/// `.env` lines: `KEY=VALUE`, `export KEY=VALUE`, `#` comments, single or double quotes. A
/// missing file is no variables. As in compose (compose-go's dotenv), an unquoted or
/// double-quoted value is interpolated with `environment` and the lines above it (`environment`
/// first); a single-quoted one is kept as written. The second set names the variables whose
/// value used a secret-looking variable (or another such).
pub fn read_dotenv(
    path: &Path,
    environment: &BTreeMap<String, String>,
) -> Result<(BTreeMap<String, String>, BTreeSet<String>), ImportError> {
    let mut secret = BTreeSet::new();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((BTreeMap::new(), secret)),
        Err(e) => return Err(ImportError::File { path: path.to_path_buf(), message: e.to_string() }),
    };
    let mut vars = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(ImportError::File {
                path: path.to_path_buf(),
                message: format!("line {}: expected KEY=VALUE", n + 1),
            });
        };
        let value = value.trim();
        let single = value.len() >= 2 && value.starts_with('\'') && value.ends_with('\'');
        let value = if single || (value.len() >= 2 && value.starts_with('"') && value.ends_with('"')) {
            &value[1..value.len() - 1]
        } else {
            // An unquoted value ends at ` #`, a comment.
            value.split(" #").next().unwrap_or("").trim_end()
        };
        let value = if single {
            value.to_string()
        } else {
            let mut known = vars.clone();
            known.extend(environment.iter().map(|(k, v)| (k.clone(), v.clone())));
            let done = interpolate::interpolate(value, &known).map_err(|message| ImportError::File {
                path: path.to_path_buf(),
                message: format!("line {}: {message}", n + 1),
            })?;
            if done.used.iter().any(|u| crate::secrets::looks_secret(u) || secret.contains(u)) {
                secret.insert(key.trim().to_string());
            }
            done.text
        };
        vars.insert(key.trim().to_string(), value);
    }
    Ok((vars, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// compose-go's `NormalizeProjectName`: lowercase, only `[a-z0-9_-]`, and no leading `_` or
    /// `-` (a folder named `_site` is project `site`), so that `<project>-<service>` is an image
    /// name.
    #[test]
    fn project_names_normalize_as_compose_does() {
        assert_eq!(normalize_project("My.App"), "myapp");
        assert_eq!(normalize_project("_-site_1"), "site_1");
    }
}
