//! From what a manifest writes about Secrets, env files and configs to [`super::refs`]: a
//! `kind: Secret` document to a [`Secret`], a Service's `envFrom`, `{ secret, key }` env
//! values, `secrets` and `configs` to its [`ServiceRefs`]; and the rules that need every
//! Secret of the source (a name that no Secret declares, a key asked of a binary Secret), which
//! [`super::load`] applies once all files are read.
//!
//! Invariants:
//! - Nothing is read here: a file path is checked as text (not empty, no `..`) and made absolute
//!   against the manifest's folder, as bind mounts are. Whether the file exists, may be read and
//!   holds the key is the resolver's business ([`crate::secrets`]), which locates what it finds
//!   with the [`FieldPath`] kept in each reference.
//! - Each reference's `field` is where a problem with it is best shown: the `key` of a keyed
//!   reference (an unknown key), the `file` of a file, else where the Secret's name is written.
//! - Messages name Secrets, keys, files and targets, never a value.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::model::{check_dns1123, resolve_bind, FieldProblem, Service, Source};
use super::problem::{FieldPath, Segment};
use super::raw;
use super::refs::{
    octal, ConfigFileRef, DataFile, DataFormat, EnvFrom, FileOwner, Secret, SecretFileRef, SecretKeyRef, ServiceRefs,
};

/// The mode of a secret file when none is written: readable by its owner only.
pub const SECRET_MODE: u32 = 0o400;
/// The mode of a config file when none is written: readable by all.
pub const CONFIG_MODE: u32 = 0o444;
/// Where the short form of a secret file, and a long form without `target`, mounts it.
pub const SECRETS_DIR: &str = "/run/secrets";

fn problem(path: FieldPath, message: impl Into<String>) -> FieldProblem {
    FieldProblem { path, on_key: false, message: message.into() }
}

/// Converts a Secret document. `base` is the manifest's folder, for a relative file.
pub fn convert_secret(doc: &raw::SecretDoc, base: &Path) -> Result<Secret, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let name = doc.metadata.name.clone();
    if let Err(m) = check_dns1123(&name) {
        problems.push(problem(FieldPath::parse("metadata.name"), m));
    }
    let format = doc.spec.format.map(data_format);
    let file = data_file(&doc.spec.file, format, base, &FieldPath::parse("spec.file"), &mut problems);
    match file {
        Some(file) if problems.is_empty() => Ok(Secret { name, source: None, file }),
        _ => Err(problems),
    }
}

fn data_format(format: raw::DataFormat) -> DataFormat {
    match format {
        raw::DataFormat::Yaml => DataFormat::Yaml,
        raw::DataFormat::Json => DataFormat::Json,
        raw::DataFormat::Dotenv => DataFormat::Dotenv,
        raw::DataFormat::Binary => DataFormat::Binary,
    }
}

fn env_file_format(format: raw::EnvFileFormat) -> DataFormat {
    match format {
        raw::EnvFileFormat::Yaml => DataFormat::Yaml,
        raw::EnvFileFormat::Json => DataFormat::Json,
        raw::EnvFileFormat::Dotenv => DataFormat::Dotenv,
    }
}

/// Checks a file path as written and makes it absolute; `format` defaults to what its name says.
fn data_file(
    written: &str,
    format: Option<DataFormat>,
    base: &Path,
    path: &FieldPath,
    problems: &mut Vec<FieldProblem>,
) -> Option<DataFile> {
    if written.is_empty() {
        problems.push(problem(path.clone(), "a file path must not be empty"));
        return None;
    }
    if Path::new(written).components().any(|c| c == Component::ParentDir) {
        problems.push(problem(
            path.clone(),
            format!("file path {written:?} must not contain \"..\": write it from the manifest's folder down, or as an absolute path"),
        ));
        return None;
    }
    let resolved = PathBuf::from(resolve_bind(written, base));
    let format = format.unwrap_or_else(|| DataFormat::of_path(&resolved));
    Some(DataFile { path: resolved, written: written.to_string(), format })
}

fn absolute_target(target: &str, path: &FieldPath, problems: &mut Vec<FieldProblem>) -> bool {
    let ok = target.starts_with('/');
    if !ok {
        problems.push(problem(path.clone(), format!("target {target:?} must be an absolute path")));
    }
    ok
}

fn file_mode(mode: Option<&raw::FileMode>, default: u32, path: &FieldPath, problems: &mut Vec<FieldProblem>) -> u32 {
    let parsed = match mode {
        None => return default,
        // The digits of `400` are what a compose user means by it: 0o400. (A number written in
        // another base, `0o400`, reaches here as its text: see `load`.)
        Some(raw::FileMode::Number(n)) => octal::parse(&n.to_string()),
        Some(raw::FileMode::Text(t)) => octal::parse(t),
    };
    parsed.unwrap_or_else(|m| {
        problems.push(problem(path.clone(), m));
        default
    })
}

/// Converts a Service's `envFrom`, `{ secret, key }` env values, `secrets` and `configs`, and
/// checks that no two of its mounts (`volumes`, whose targets `volume_targets` maps to their
/// index, then `secrets`, then `configs`) share a target.
pub fn convert_service_refs(
    spec: &raw::ServiceSpec,
    base: &Path,
    volume_targets: &BTreeMap<String, usize>,
    problems: &mut Vec<FieldProblem>,
) -> ServiceRefs {
    let sp = FieldPath::root().key("spec");
    let mut refs = ServiceRefs::default();

    if let Some(files) = &spec.label_file {
        let one = matches!(files, raw::OneOrMany::One(_));
        for (i, written) in files.to_vec().iter().enumerate() {
            let field = if one { sp.key("labelFile") } else { sp.key("labelFile").index(i) };
            if let Some(file) = data_file(written, Some(DataFormat::Dotenv), base, &field, problems) {
                refs.label_files.push((file, field));
            }
        }
    }

    for (i, entry) in spec.env_from.iter().enumerate() {
        let path = sp.key("envFrom").index(i);
        match (&entry.secret, &entry.file) {
            (Some(_), Some(_)) => problems.push(problem(path, "name a secret or a file, not both")),
            (None, None) => problems.push(problem(path, "name a secret or a file")),
            (Some(secret), None) => {
                if entry.format.is_some() {
                    problems.push(problem(
                        path.key("format"),
                        "format applies to an env file; a Secret's format is set in its manifest",
                    ));
                }
                if entry.required.is_some() {
                    problems.push(problem(
                        path.key("required"),
                        "required applies to an env file; a Secret is declared, so it is always there",
                    ));
                }
                refs.env_from.push(EnvFrom::Secret { secret: secret.clone(), field: path.key("secret") });
            }
            (None, Some(file)) => {
                let field = path.key("file");
                let format = entry.format.map(env_file_format);
                if let Some(file) = data_file(file, format, base, &field, problems) {
                    if file.format.has_keys() {
                        refs.env_from.push(EnvFrom::File { file, field, required: entry.required.unwrap_or(true) });
                    } else {
                        problems.push(problem(
                            field,
                            format!(
                                "cannot tell the format of env file {:?} from its name: set format to dotenv, yaml or json",
                                file.written
                            ),
                        ));
                    }
                }
            }
        }
    }

    // Only the map form holds `{ secret, key }` values: a list entry is `NAME=text`.
    let env = match &spec.env {
        raw::Env::Map(map) => map.clone(),
        raw::Env::List(_) => BTreeMap::new(),
    };
    for (name, value) in &env {
        if let raw::EnvValue::Secret(r) = value {
            let field = sp.key("env").key(name).key("key");
            if r.key.is_empty() {
                problems.push(problem(field.clone(), "key must not be empty"));
            }
            refs.env.insert(name.clone(), SecretKeyRef { secret: r.secret.clone(), key: r.key.clone(), field });
        }
    }

    // Target -> where it was first mounted, as the user wrote it (`volumes[0]`).
    let mut targets: BTreeMap<String, String> =
        volume_targets.iter().map(|(t, i)| (t.clone(), format!("volumes[{i}]"))).collect();
    let mut claim =
        |target: &str, entry: String, path: FieldPath, problems: &mut Vec<FieldProblem>| match targets.get(target) {
            Some(first) => problems.push(problem(path, format!("mount target {target} is already used by {first}"))),
            None => {
                targets.insert(target.to_string(), entry);
            }
        };

    for (i, entry) in spec.secrets.iter().enumerate() {
        let path = sp.key("secrets").index(i);
        let name = format!("secrets[{i}]");
        let default_owner = FileOwner { uid: None, gid: None, mode: SECRET_MODE };
        let file = match entry {
            raw::SecretFile::Short(secret) => {
                let target = format!("{SECRETS_DIR}/{secret}");
                claim(&target, name, path.clone(), problems);
                SecretFileRef { secret: secret.clone(), key: None, target, owner: default_owner, field: path }
            }
            raw::SecretFile::Long(long) => {
                if long.key.as_deref() == Some("") {
                    problems.push(problem(path.key("key"), "key must not be empty"));
                }
                let target = match &long.target {
                    Some(t) => {
                        if absolute_target(t, &path.key("target"), problems) {
                            claim(t, name, path.key("target"), problems);
                        }
                        t.clone()
                    }
                    None => {
                        let t = format!("{SECRETS_DIR}/{}", long.secret);
                        claim(&t, name, path.clone(), problems);
                        t
                    }
                };
                let owner = FileOwner {
                    uid: long.uid,
                    gid: long.gid,
                    mode: file_mode(long.mode.as_ref(), SECRET_MODE, &path.key("mode"), problems),
                };
                let field = if long.key.is_some() { path.key("key") } else { path.key("secret") };
                SecretFileRef { secret: long.secret.clone(), key: long.key.clone(), target, owner, field }
            }
        };
        refs.secrets.push(file);
    }

    for (i, entry) in spec.configs.iter().enumerate() {
        let path = sp.key("configs").index(i);
        if absolute_target(&entry.target, &path.key("target"), problems) {
            claim(&entry.target, format!("configs[{i}]"), path.key("target"), problems);
        }
        let mode = file_mode(entry.mode.as_ref(), CONFIG_MODE, &path.key("mode"), problems);
        let field = path.key("file");
        // A config is mounted as it is: one value, whatever its name says.
        if let Some(file) = data_file(&entry.file, Some(DataFormat::Binary), base, &field, problems) {
            let owner = FileOwner { uid: entry.uid, gid: entry.gid, mode };
            refs.configs.push(ConfigFileRef { file, target: entry.target.clone(), owner, field });
        }
    }
    refs
}

/// Where the Secret's name of a reference kept at `field` is written: beside its `key`, or at
/// `field` itself.
fn name_field(field: &FieldPath) -> FieldPath {
    match field.0.split_last() {
        Some((Segment::Key(k), parent)) if k == "key" => FieldPath(parent.to_vec()).key("secret"),
        _ => field.clone(),
    }
}

/// A problem found across files, at a field of a Service's document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefProblem {
    pub source: Option<Source>,
    pub path: FieldPath,
    pub message: String,
}

/// The rules that need every Secret: each name a Service references is declared by a Secret
/// manifest, a Secret of keys is asked for a key and a binary one is not, and only a Secret of
/// keys gives environment variables.
pub fn check_references(services: &BTreeMap<String, Service>, secrets: &BTreeMap<String, Secret>) -> Vec<RefProblem> {
    let mut found = Vec::new();
    for service in services.values() {
        let mut report =
            |path: FieldPath, message: String| found.push(RefProblem { source: service.source.clone(), path, message });
        let lookup = |name: &str, field: &FieldPath, report: &mut dyn FnMut(FieldPath, String)| {
            let secret = secrets.get(name);
            if secret.is_none() {
                report(name_field(field), format!("secret {name:?} is not declared by any Secret manifest"));
            }
            secret.map(|s| s.file.format)
        };
        let binary_env = |name: &str| {
            format!(
                "secret {name:?} is a binary file, not a file of keys: it gives no environment variables; mount it with secrets instead"
            )
        };
        let refs = &service.refs;
        for entry in &refs.env_from {
            if let EnvFrom::Secret { secret, field } = entry {
                if lookup(secret, field, &mut report) == Some(DataFormat::Binary) {
                    report(field.clone(), binary_env(secret));
                }
            }
        }
        for r in refs.env.values() {
            if lookup(&r.secret, &r.field, &mut report) == Some(DataFormat::Binary) {
                report(name_field(&r.field), binary_env(&r.secret));
            }
        }
        for r in &refs.secrets {
            let Some(format) = lookup(&r.secret, &r.field, &mut report) else {
                continue;
            };
            let name = &r.secret;
            match (format.has_keys(), &r.key) {
                (true, None) => report(
                    r.field.clone(),
                    format!("name a key: secret {name:?} is a {} file of keys", format_name(format)),
                ),
                (false, Some(_)) => report(
                    r.field.clone(),
                    format!(
                        "secret {name:?} is a binary file, which has no keys: leave key out to mount the whole file"
                    ),
                ),
                _ => {}
            }
        }
    }
    found
}

fn format_name(format: DataFormat) -> &'static str {
    match format {
        DataFormat::Yaml => "yaml",
        DataFormat::Json => "json",
        DataFormat::Dotenv => "dotenv",
        DataFormat::Binary => "binary",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> raw::ServiceSpec {
        let mut value = value;
        value["image"] = json!("busybox");
        serde_json::from_value(value).unwrap()
    }

    fn convert(value: serde_json::Value) -> (ServiceRefs, Vec<(String, String)>) {
        let mut problems = Vec::new();
        let refs = convert_service_refs(&spec(value), Path::new("/srv/m"), &BTreeMap::new(), &mut problems);
        (refs, problems.into_iter().map(|p| (p.path.to_string(), p.message)).collect())
    }

    #[test]
    fn every_new_field_converts_with_its_defaults_and_fields() {
        let (refs, problems) = convert(json!({
            "envFrom": [{"secret": "db"}, {"file": "./app.env"}, {"file": "/etc/moor/x", "format": "yaml"}],
            "env": {"PLAIN": "x", "DB_PASSWORD": {"secret": "db", "key": "password"}},
            "secrets": [
                {"secret": "db", "key": "password", "target": "/run/secrets/db_password", "uid": 1000, "gid": 1000, "mode": "0440"},
                "tls",
                {"secret": "ca", "mode": 400},
            ],
            "configs": [{"file": "./conf/./nginx.conf", "target": "/etc/nginx/nginx.conf"}],
        }));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            refs.env_from,
            [
                EnvFrom::Secret { secret: "db".into(), field: FieldPath::parse("spec.envFrom[0].secret") },
                EnvFrom::File {
                    file: DataFile {
                        path: "/srv/m/app.env".into(),
                        written: "./app.env".into(),
                        format: DataFormat::Dotenv
                    },
                    field: FieldPath::parse("spec.envFrom[1].file"),
                    required: true,
                },
                EnvFrom::File {
                    file: DataFile {
                        path: "/etc/moor/x".into(),
                        written: "/etc/moor/x".into(),
                        format: DataFormat::Yaml
                    },
                    field: FieldPath::parse("spec.envFrom[2].file"),
                    required: true,
                },
            ]
        );
        assert_eq!(refs.env.len(), 1);
        assert_eq!(refs.env["DB_PASSWORD"].field, FieldPath::parse("spec.env.DB_PASSWORD.key"));
        assert_eq!(refs.env["DB_PASSWORD"].key, "password");
        let s = &refs.secrets;
        assert_eq!(s[0].owner, FileOwner { uid: Some(1000), gid: Some(1000), mode: 0o440 });
        assert_eq!((s[0].key.as_deref(), s[0].field.to_string()), (Some("password"), "spec.secrets[0].key".into()));
        assert_eq!((s[1].target.as_str(), s[1].owner.mode, s[1].key.as_deref()), ("/run/secrets/tls", 0o400, None));
        assert_eq!(s[1].field.to_string(), "spec.secrets[1]");
        assert_eq!((s[2].target.as_str(), s[2].owner.mode), ("/run/secrets/ca", 0o400));
        assert_eq!(s[2].field.to_string(), "spec.secrets[2].secret");
        let c = &refs.configs[0];
        assert_eq!(c.file.path, PathBuf::from("/srv/m/conf/nginx.conf"));
        assert_eq!(
            (c.file.format, c.owner.mode, c.field.to_string()),
            (DataFormat::Binary, 0o444, "spec.configs[0].file".into())
        );
    }

    #[test]
    fn paths_targets_modes_and_forms_are_checked() {
        let mut volumes = BTreeMap::new();
        volumes.insert("/data".to_string(), 0);
        let mut problems = Vec::new();
        convert_service_refs(
            &spec(json!({
                "envFrom": [{"secret": "a", "file": "b.env"}, {}, {"secret": "a", "format": "json"}, {"file": "app.conf"}, {"file": "../x.env"}],
                "env": {"A": {"secret": "a", "key": ""}},
                "secrets": [{"secret": "a", "key": "k", "target": "/data"}, {"secret": "b", "target": "rel"}, "c", "c", {"secret": "d", "mode": 800}],
                "configs": [{"file": "", "target": "/run/secrets/c"}, {"file": "/etc/x/../y", "target": "/y", "mode": "1777"}],
            })),
            Path::new("/srv/m"),
            &volumes,
            &mut problems,
        );
        let got: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
        let want = [
            "spec.envFrom[0]: name a secret or a file, not both",
            "spec.envFrom[1]: name a secret or a file",
            "spec.envFrom[2].format: format applies to an env file; a Secret's format is set in its manifest",
            "spec.envFrom[3].file: cannot tell the format of env file \"app.conf\" from its name: set format to dotenv, yaml or json",
            "spec.envFrom[4].file: file path \"../x.env\" must not contain \"..\": write it from the manifest's folder down, or as an absolute path",
            "spec.env.A.key: key must not be empty",
            "spec.secrets[0].target: mount target /data is already used by volumes[0]",
            "spec.secrets[1].target: target \"rel\" must be an absolute path",
            "spec.secrets[3]: mount target /run/secrets/c is already used by secrets[2]",
            "spec.secrets[4].mode: mode \"800\" is not an octal file mode from 0000 to 0777, such as \"0400\"",
            "spec.configs[0].target: mount target /run/secrets/c is already used by secrets[2]",
            "spec.configs[0].file: a file path must not be empty",
            "spec.configs[1].mode: mode \"1777\" is not an octal file mode from 0000 to 0777, such as \"0400\"",
            "spec.configs[1].file: file path \"/etc/x/../y\" must not contain \"..\": write it from the manifest's folder down, or as an absolute path",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn the_name_of_a_reference_is_beside_its_key() {
        assert_eq!(name_field(&FieldPath::parse("spec.env.A.key")).to_string(), "spec.env.A.secret");
        assert_eq!(name_field(&FieldPath::parse("spec.secrets[1]")).to_string(), "spec.secrets[1]");
        assert_eq!(name_field(&FieldPath::parse("spec.envFrom[0].secret")).to_string(), "spec.envFrom[0].secret");
    }

    #[test]
    fn a_secret_document_converts_and_its_file_is_checked() {
        let doc = |file: &str, format: Option<&str>| -> raw::SecretDoc {
            serde_json::from_value(json!({
                "apiVersion": "moor/v1", "metadata": {"name": "db"}, "spec": {"file": file, "format": format},
            }))
            .unwrap()
        };
        let s = convert_secret(&doc("./secrets/db.sops.yaml", None), Path::new("/srv/m")).unwrap();
        assert_eq!(s.file.path, PathBuf::from("/srv/m/secrets/db.sops.yaml"));
        assert_eq!((s.file.written.as_str(), s.file.format), ("./secrets/db.sops.yaml", DataFormat::Yaml));
        let s = convert_secret(&doc("/etc/moor/secrets/tls.pem", Some("binary")), Path::new("/srv/m")).unwrap();
        assert_eq!((s.file.path.to_str(), s.file.format), (Some("/etc/moor/secrets/tls.pem"), DataFormat::Binary));
        let s = convert_secret(&doc("db.env", None), Path::new("/srv/m")).unwrap();
        assert_eq!(s.file.format, DataFormat::Dotenv);
        let e = convert_secret(&doc("a/../../db.env", None), Path::new("/srv/m")).unwrap_err();
        assert_eq!((e.len(), e[0].path.to_string()), (1, "spec.file".into()));
    }
}
