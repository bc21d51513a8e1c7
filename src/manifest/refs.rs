//! The validated model of Secrets, env files and configs: what a manifest asks for, before
//! anything is read. [`crate::secrets::resolve`] reads and decrypts what these name, after
//! loading (the manifest layer reads nothing but manifest files).
//!
//! Invariants:
//! - A path here is absolute: a relative one was resolved against its manifest's folder, and
//!   the manifest layer refused any `..` in it. Whether it may be read (inside the manifest
//!   source, or under a root the host policy allows, with no symlink leading out) is decided by
//!   the resolver, which knows the source and the policy.
//! - Every reference keeps the [`FieldPath`] it was written at, so that a problem found while
//!   resolving (an unknown key, a wrong age key) is located like any other.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::model::Source;
use super::problem::FieldPath;

/// How a data file (a Secret's file, an env file) is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// A mapping of keys to scalars.
    Yaml,
    /// An object of keys to scalars.
    Json,
    /// `KEY=value` lines.
    Dotenv,
    /// The whole file is one value (a TLS key, a certificate): mounted as it is, no `key`.
    Binary,
}

impl DataFormat {
    /// The format a file name implies: `.yaml`/`.yml`, `.json`, `.env` (or a name starting with
    /// `.env`, such as `.env.production`); anything else is binary.
    pub fn of_path(path: &std::path::Path) -> DataFormat {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            DataFormat::Yaml
        } else if name.ends_with(".json") {
            DataFormat::Json
        } else if name.ends_with(".env") || name.starts_with(".env") {
            DataFormat::Dotenv
        } else {
            DataFormat::Binary
        }
    }

    /// Is each value named by a key (every format but binary)?
    pub fn has_keys(self) -> bool {
        self != DataFormat::Binary
    }
}

/// A file path as a manifest wrote it and as moor reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataFile {
    /// Absolute: relative paths were resolved against the manifest's folder.
    pub path: PathBuf,
    /// As written, for messages.
    pub written: String,
    pub format: DataFormat,
}

/// A `kind: Secret` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Secret {
    pub name: String,
    #[serde(skip)]
    pub source: Option<Source>,
    pub file: DataFile,
}

/// One entry of a Service's `envFrom`, in order: later entries override earlier ones, and `env`
/// overrides them all (as compose's `environment` overrides `env_file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvFrom {
    Secret {
        secret: String,
        field: FieldPath,
    },
    /// `required: false`: a missing file is skipped (compose's `env_file` `required`).
    File {
        file: DataFile,
        field: FieldPath,
        required: bool,
    },
}

/// `env: { NAME: { secret: db, key: password } }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKeyRef {
    pub secret: String,
    pub key: String,
    pub field: FieldPath,
}

/// The owner and mode of a file moor writes for a container (compose's long syntax).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileOwner {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub mode: u32,
}

/// One entry of `secrets:`: a secret value as a file in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFileRef {
    pub secret: String,
    /// `None` for a binary Secret, whose whole file is the value.
    pub key: Option<String>,
    pub target: String,
    pub owner: FileOwner,
    pub field: FieldPath,
}

/// One entry of `configs:`: a file whose content is tracked, not secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFileRef {
    pub file: DataFile,
    pub target: String,
    pub owner: FileOwner,
    pub field: FieldPath,
}

/// Everything a Service asks of Secrets, env files and configs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceRefs {
    /// `labelFile`, in order: its labels are plain (not sealed), read as env files are. Not
    /// counted by [`ServiceRefs::is_empty`]: they change labels, never values to seal.
    pub label_files: Vec<(DataFile, FieldPath)>,
    pub env_from: Vec<EnvFrom>,
    pub env: BTreeMap<String, SecretKeyRef>,
    pub secrets: Vec<SecretFileRef>,
    pub configs: Vec<ConfigFileRef>,
}

impl ServiceRefs {
    /// Does the service use none of it? Such a service's spec is exactly what the previous release
    /// made of it.
    pub fn is_empty(&self) -> bool {
        self.env_from.is_empty() && self.env.is_empty() && self.secrets.is_empty() && self.configs.is_empty()
    }

    /// The Secrets it names.
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        let from = self.env_from.iter().filter_map(|e| match e {
            EnvFrom::Secret { secret, .. } => Some(secret.as_str()),
            EnvFrom::File { .. } => None,
        });
        from.chain(self.env.values().map(|r| r.secret.as_str())).chain(self.secrets.iter().map(|s| s.secret.as_str()))
    }
}

/// The values behind a resolved service's sealed entries, kept out of [`super::ContainerSpec`]
/// (whose JSON is hashed, labelled and shown) and out of every output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values {
    /// Set by the resolver: apply refuses to create a container of a service that has
    /// references but was never resolved (it would lack its secrets).
    pub resolved: bool,
    /// The value of each name of `ContainerSpec::sealed_env`.
    pub env: BTreeMap<String, crate::sensitive::Sensitive<String>>,
    /// The content of each file of `ContainerSpec::files`, by target.
    pub files: BTreeMap<String, crate::sensitive::Sensitive<Vec<u8>>>,
}

/// What a file moor writes for a container holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Secret,
    Config,
}

/// A file moor writes under its state dir and bind-mounts read-only at `target`: part of
/// [`super::ContainerSpec`], so of the spec hash. It holds the content's digest, never the content.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileMount {
    pub target: String,
    pub kind: FileKind,
    /// `hmac-sha256:<hex>` keyed with the host's key for a secret; `sha256:<hex>` for a config.
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// Octal text, such as `0400`.
    #[serde(with = "octal")]
    pub mode: u32,
}

/// File modes as octal text (`"0400"`), as users write them and `ls` shows them.
pub mod octal {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{mode:04o}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    /// `0400`, `400` or `0o400`: at most `0777`.
    pub fn parse(text: &str) -> Result<u32, String> {
        let digits = text.strip_prefix("0o").unwrap_or(text);
        match u32::from_str_radix(digits, 8) {
            Ok(mode) if mode <= 0o777 && !digits.is_empty() => Ok(mode),
            _ => Err(format!("mode {text:?} is not an octal file mode from 0000 to 0777, such as \"0400\"")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn formats_follow_the_file_name() {
        assert_eq!(DataFormat::of_path(Path::new("db.sops.yaml")), DataFormat::Yaml);
        assert_eq!(DataFormat::of_path(Path::new("a.yml")), DataFormat::Yaml);
        assert_eq!(DataFormat::of_path(Path::new("a.sops.json")), DataFormat::Json);
        assert_eq!(DataFormat::of_path(Path::new("app.env")), DataFormat::Dotenv);
        assert_eq!(DataFormat::of_path(Path::new(".env.production")), DataFormat::Dotenv);
        assert_eq!(DataFormat::of_path(Path::new("tls.key")), DataFormat::Binary);
    }

    #[test]
    fn modes_are_octal_text() {
        assert_eq!(octal::parse("0400"), Ok(0o400));
        assert_eq!(octal::parse("644"), Ok(0o644));
        assert_eq!(octal::parse("0o755"), Ok(0o755));
        assert!(octal::parse("0800").is_err());
        assert!(octal::parse("1777").is_err());
        assert!(octal::parse("").is_err());
        let m = FileMount {
            target: "/run/secrets/x".into(),
            kind: FileKind::Secret,
            digest: "hmac-sha256:00".into(),
            uid: None,
            gid: Some(1000),
            mode: 0o440,
        };
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            json,
            r#"{"target":"/run/secrets/x","kind":"secret","digest":"hmac-sha256:00","gid":1000,"mode":"0440"}"#
        );
        assert_eq!(serde_json::from_str::<FileMount>(&json).unwrap(), m);
    }
}
