//! Resolving: after loading and admission, the files that Secrets, env files and configs name are
//! read (and SOPS files decrypted), each secret value is sealed into a keyed digest, and each
//! service's spec gets `sealed_env` and `files`, its values in [`Service::values`].
//!
//! Invariants:
//! - A service whose references cannot all be resolved (a file missing or outside what moor may
//!   read, no age key, a wrong key, a tampered file, a key the secret lacks) is taken out of
//!   `Desired::services` with a located problem, and the load is incomplete: the service is
//!   left as it runs and prune is suspended, exactly as for a broken manifest.
//! - Values never reach a message: problems name files and keys. Key names are not secret.
//! - Environment precedence, as compose's `env_file` and `environment`: `envFrom` entries in
//!   order (later ones win), then `env` (`{secret, key}` entries and plain values) over all.
//!   Every value from a Secret or an env file is sealed; a plain `env` value is sealed when its
//!   name looks secret ([`super::looks_secret`]).
//! - A service that uses none of this, and has no secret-looking plain key, is not touched: its
//!   canonical JSON stays what the previous release made of it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::age_key::Identities;
use super::host_key::{content_digest, HostKey};
use super::read::{read_allowed, Roots};
use super::sops::{self, Data};
use crate::manifest::limits;
use crate::manifest::model::{FileKind, FileMount, Service};
use crate::manifest::problem::FieldPath;
use crate::manifest::refs::{DataFile, EnvFrom, Secret};
use crate::manifest::{Loaded, Problem};
use crate::sensitive::Sensitive;

/// What resolving is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `plan`, `apply`, `run`: every value is needed; anything unresolved is a problem.
    Apply,
    /// `moor validate`: check what can be checked. Without an age key, SOPS files are checked
    /// by their keys (which sops leaves in clear) and a warning says they were not decrypted.
    Check,
}

/// What resolving needs from the host.
pub struct Resolver {
    pub roots: Roots,
    /// Where the host's age identities come from.
    pub identities: IdentitySource,
    /// The key that seals values, taken only when a service has something to seal.
    pub key: KeySource,
    pub mode: Mode,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").field("roots", &self.roots).field("mode", &self.mode).finish_non_exhaustive()
    }
}

/// Where the host's age identities come from.
pub enum IdentitySource {
    /// sops' environment variables and files, read again at each resolve: a key file made or
    /// replaced while `moor run` runs is used from the next load on.
    Env,
    /// Given (tests, and commands that read them once): `Ok(None)` when there is none.
    Fixed(Result<Option<Arc<Identities>>, String>),
}

impl IdentitySource {
    fn get(&self) -> Result<Option<Arc<Identities>>, String> {
        match self {
            IdentitySource::Env => Identities::from_env().map(|ids| ids.map(Arc::new)).map_err(|e| e.to_string()),
            IdentitySource::Fixed(ids) => ids.clone(),
        }
    }
}

/// What a command does with the digest key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// `apply` and `run`: made on first use.
    Create,
    /// `plan` and `status` write nothing: without a key yet, nothing was ever sealed with one, so
    /// a throwaway key compares the same (every sealed value reads as new).
    Read,
}

/// Where the digest key comes from. Taken at the first service that seals a value, so that
/// manifests without secrets never make a state dir.
pub enum KeySource {
    /// `<state-dir>/digest.key`.
    /// Only a key is kept: a failure (a state dir not mounted yet) is tried again next time.
    StateDir { dir: PathBuf, key_use: KeyUse, cell: std::sync::Mutex<Option<Arc<HostKey>>> },
    /// A key given (tests, benchmarks).
    Fixed(Arc<HostKey>),
}

impl KeySource {
    pub fn state_dir(dir: PathBuf, key_use: KeyUse) -> KeySource {
        KeySource::StateDir { dir, key_use, cell: std::sync::Mutex::new(None) }
    }

    fn get(&self) -> Result<Arc<HostKey>, String> {
        match self {
            KeySource::Fixed(key) => Ok(key.clone()),
            KeySource::StateDir { dir, key_use, cell } => {
                let mut cell = cell.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(key) = cell.as_ref() {
                    return Ok(key.clone());
                }
                let key = match key_use {
                    KeyUse::Create => HostKey::load_or_create(dir).map(Some),
                    KeyUse::Read => HostKey::load(dir),
                };
                let key = match key {
                    Ok(Some(key)) => Arc::new(key),
                    // Nothing was ever sealed on this host: any key compares the same.
                    Ok(None) => return Ok(Arc::new(HostKey::from_bytes([0; 32]))),
                    Err(e) => return Err(e.to_string()),
                };
                *cell = Some(key.clone());
                Ok(key)
            }
        }
    }
}

/// A data file as read: its values, or (checking without a key) only its keys, or (checking a
/// host-held file on a machine that is not the host) nothing.
#[derive(Clone)]
enum Content {
    Data(Arc<Data>),
    KeysOnly(Vec<String>),
    Unknown,
}

impl Content {
    fn keys(&self) -> Vec<String> {
        match self {
            Content::Data(d) => match d.as_ref() {
                Data::Map(map) => map.keys().cloned().collect(),
                Data::Bytes(_) => Vec::new(),
            },
            Content::KeysOnly(keys) => keys.clone(),
            Content::Unknown => Vec::new(),
        }
    }

    fn get(&self, key: &str) -> Option<Option<&Sensitive<String>>> {
        match self {
            Content::Data(d) => match d.as_ref() {
                Data::Map(map) => map.get(key).map(Some),
                Data::Bytes(_) => None,
            },
            Content::KeysOnly(keys) => keys.iter().any(|k| k == key).then_some(None),
            Content::Unknown => Some(None),
        }
    }
}

/// One pass of resolving: files are read once however many services name them.
struct Pass<'a> {
    resolver: &'a Resolver,
    /// Read once per pass.
    identities: Result<Option<Arc<Identities>>, String>,
    files: BTreeMap<PathBuf, Result<Content, String>>,
    secrets: BTreeMap<String, Result<Content, String>>,
    not_decrypted: Vec<String>,
    /// Host-held files (outside the manifest source) missing where `moor validate` runs.
    not_here: Vec<String>,
}

impl Pass<'_> {
    fn read(&mut self, file: &DataFile) -> Result<Content, String> {
        if let Some(done) = self.files.get(&file.path) {
            return done.clone();
        }
        let result = self.read_uncached(file);
        self.files.insert(file.path.clone(), result.clone());
        result
    }

    fn read_uncached(&mut self, file: &DataFile) -> Result<Content, String> {
        let written = &file.written;
        if self.resolver.mode == Mode::Check
            && !file.path.starts_with(&self.resolver.roots.shown)
            && !file.path.exists()
        {
            // A host-held secret (`/etc/moor/...`) is on the host, not where CI validates.
            self.not_here.push(file.path.display().to_string());
            return Ok(Content::Unknown);
        }
        let bytes = read_allowed(&file.path, written, &self.resolver.roots)?;
        if !sops::is_encrypted(file.format, &bytes) {
            let data = sops::read_plain(file.format, &bytes).map_err(|e| format!("{written}: {e}"))?;
            return Ok(Content::Data(Arc::new(data)));
        }
        match &self.identities {
            Ok(Some(ids)) => sops::decrypt(file.format, &bytes, ids)
                .map(|d| Content::Data(Arc::new(d)))
                .map_err(|e| format!("{written}: cannot be decrypted: {e}")),
            Ok(None) if self.resolver.mode == Mode::Check => {
                self.not_decrypted.push(file.path.display().to_string());
                sops::keys(file.format, &bytes).map(Content::KeysOnly).map_err(|e| format!("{written}: {e}"))
            }
            Ok(None) => Err(format!(
                "{written} is SOPS-encrypted and this host has no age key: set SOPS_AGE_KEY_FILE (or SOPS_AGE_KEY)"
            )),
            Err(e) => Err(format!("{written} is SOPS-encrypted and the age key cannot be read: {e}")),
        }
    }
}

/// The problem at `field` of `service`'s manifest.
fn located(source: &Option<crate::manifest::model::Source>, field: &FieldPath, message: String) -> Problem {
    let (file, (line, column)) = match source {
        Some(s) => (s.file.clone(), s.locate(field)),
        None => (PathBuf::new(), (None, None)),
    };
    Problem { file, line, column, field: field.to_string(), message }
}

/// Resolves every admitted service of `loaded` (see the module doc).
pub fn resolve(loaded: &mut Loaded, resolver: &Resolver) {
    let mut pass = Pass {
        resolver,
        identities: resolver.identities.get(),
        files: BTreeMap::new(),
        secrets: BTreeMap::new(),
        not_decrypted: Vec::new(),
        not_here: Vec::new(),
    };
    let mut problems = Vec::new();
    let declared: Vec<Secret> = loaded.desired.secrets.values().cloned().collect();
    for secret in &declared {
        let result = pass.read(&secret.file);
        if let Err(message) = &result {
            problems.push(located(&secret.source, &FieldPath::parse("spec.file"), message.clone()));
        }
        pass.secrets.insert(secret.name.clone(), result);
    }
    let names: Vec<String> = loaded.desired.services.keys().cloned().collect();
    for name in names {
        let service = loaded.desired.services.get_mut(&name).expect("listed just now");
        if let Err(found) = resolve_service(service, &mut pass) {
            problems.extend(found);
            loaded.desired.services.remove(&name);
            loaded.desired.unresolved.insert(name);
        }
    }
    let notes = [
        (
            std::mem::take(&mut pass.not_decrypted),
            "SOPS-encrypted: checked by its keys only, not decrypted (no age key on this machine)",
        ),
        (
            std::mem::take(&mut pass.not_here),
            "not on this machine: a host-held file is checked on the host (moor plan there)",
        ),
    ];
    for (mut files, message) in notes {
        files.sort();
        files.dedup();
        for file in files {
            let problem =
                Problem { file: file.into(), line: None, column: None, field: String::new(), message: message.into() };
            loaded.warnings.push(problem);
        }
    }
    if !problems.is_empty() {
        loaded.problems.extend(problems);
        loaded.problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        loaded.desired.complete = false;
    }
}

/// Why a reference failed when loading already said so (an undeclared Secret, a key of a binary
/// one): the service still fails, with no second message.
const REPORTED: String = String::new();

/// The value of `key` in secret `name`, or why not.
fn secret_value<'a>(pass: &'a Pass, name: &str, key: &str) -> Result<Option<&'a Sensitive<String>>, String> {
    let content = secret_content(pass, name)?;
    if let Content::Data(d) = content {
        if let Data::Bytes(_) = d.as_ref() {
            return Err(REPORTED);
        }
    }
    content.get(key).ok_or_else(|| {
        let mut keys = content.keys();
        keys.truncate(20);
        format!("secret {name:?} has no key {key:?} (its keys: {})", keys.join(", "))
    })
}

fn secret_content<'a>(pass: &'a Pass, name: &str) -> Result<&'a Content, String> {
    match pass.secrets.get(name) {
        Some(Ok(content)) => Ok(content),
        Some(Err(_)) => Err(format!("secret {name:?} cannot be read (its problem is reported at its manifest)")),
        None => Err(REPORTED),
    }
}

/// An env var's value, or `None` while checking without a key.
type EnvValues = BTreeMap<String, Option<Sensitive<String>>>;
/// A file to write and its content, or `None` while checking without a key.
type Files = Vec<(FileMount, Option<Sensitive<Vec<u8>>>)>;

/// The labels of `labelFile`, under the manifest's own (which win), and the canonical JSON
/// remade. Plain labels: nothing is sealed, and a value may be quoted in messages.
fn label_files(service: &mut Service, pass: &mut Pass) -> Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    let mut labels = BTreeMap::new();
    for (file, field) in &service.refs.label_files {
        let content = match pass.read(file) {
            Ok(c) => c,
            Err(message) => {
                problems.push(located(&service.source, field, message));
                continue;
            }
        };
        for key in content.keys() {
            if let Some(Some(value)) = content.get(&key) {
                labels.insert(key, value.expose().clone());
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if service.refs.label_files.is_empty() {
        return Ok(());
    }
    for (key, value) in labels {
        service.container.labels.entry(key).or_insert(value);
    }
    service.canonical = service.container.canonical_json();
    service.legacy_canonical = None;
    Ok(())
}

fn resolve_service(service: &mut Service, pass: &mut Pass) -> Result<(), Vec<Problem>> {
    label_files(service, pass)?;
    let secret_looking: Vec<String> =
        service.container.env.keys().filter(|k| super::looks_secret(k)).cloned().collect();
    if service.refs.is_empty() && secret_looking.is_empty() {
        return Ok(());
    }
    let mut problems = Vec::new();
    let env = gather_env(service, pass, &mut problems);
    let files = gather_files(service, pass, &mut problems);
    if !problems.is_empty() {
        problems.retain(|p| !p.message.is_empty());
        return Err(problems);
    }
    if pass.resolver.mode == Mode::Check {
        return Ok(()); // checked; nothing is created from a validation
    }
    match pass.resolver.key.get() {
        Ok(key) => {
            seal(service, env, files, &secret_looking, &key);
            Ok(())
        }
        Err(e) => {
            let field = FieldPath::parse("metadata.name");
            Err(vec![located(&service.source, &field, format!("cannot seal this service's secrets: {e}"))])
        }
    }
}

/// The env vars of `envFrom` (in order, later ones winning) and of `{secret, key}` entries.
fn gather_env(service: &Service, pass: &mut Pass, problems: &mut Vec<Problem>) -> EnvValues {
    let source = &service.source;
    let mut env = EnvValues::new();
    let env_path = FieldPath::root().key("spec").key("envFrom");
    for entry in &service.refs.env_from {
        let (field, content) = match entry {
            EnvFrom::Secret { secret, field } => (field, secret_content(pass, secret).cloned()),
            // An optional file that is not there adds nothing; one that is there is read as any.
            EnvFrom::File { file, required: false, .. } if !file.path.exists() => continue,
            EnvFrom::File { file, field, .. } => (field, pass.read(file)),
        };
        let content = match content {
            Ok(c) => c,
            Err(message) => {
                problems.push(located(source, field, message));
                continue;
            }
        };
        if let Content::Data(d) = &content {
            if let Data::Bytes(_) = d.as_ref() {
                problems.push(located(source, field, REPORTED));
                continue;
            }
        }
        for key in content.keys() {
            if let Err(m) = limits::env_name(&key) {
                problems.push(located(source, field, format!("key {key:?}: {m}")));
                continue;
            }
            env.insert(key.clone(), content.get(&key).flatten().cloned());
        }
    }
    for (name, r) in &service.refs.env {
        match secret_value(pass, &r.secret, &r.key) {
            Ok(value) => {
                env.insert(name.clone(), value.cloned());
            }
            Err(message) => problems.push(located(source, &r.field, message)),
        }
    }
    for value in env.values().flatten() {
        if limits::env_value(value.expose()).is_err() {
            problems.push(located(source, &env_path, "a value holds a NUL character, which no environment can".into()));
            break;
        }
    }

    env
}

/// The secret and config files, with their owners.
fn gather_files(service: &Service, pass: &mut Pass, problems: &mut Vec<Problem>) -> Files {
    let source = &service.source;
    // Owned by the container's numeric user when the entry names no uid/gid, so that a service
    // running as `1000:1000` can read its own 0400 secret. A user name cannot be resolved here
    // (it lives in the image's /etc/passwd): then root owns it unless uid/gid say otherwise.
    let user = numeric_user(service.container.user.as_deref());
    let mut files = Files::new();
    for s in &service.refs.secrets {
        let content = match secret_content(pass, &s.secret) {
            Ok(c) => c.clone(),
            Err(message) => {
                problems.push(located(source, &s.field, message));
                continue;
            }
        };
        let bytes = match (&s.key, &content) {
            (Some(key), _) => match secret_value(pass, &s.secret, key) {
                Ok(v) => v.map(|v| v.expose().as_bytes().to_vec()),
                Err(message) => {
                    problems.push(located(source, &s.field.key("key"), message));
                    continue;
                }
            },
            (None, Content::Data(d)) => match d.as_ref() {
                Data::Bytes(b) => Some(b.expose().clone()),
                Data::Map(_) => {
                    problems.push(located(source, &s.field, REPORTED));
                    continue;
                }
            },
            (None, Content::KeysOnly(_) | Content::Unknown) => None,
        };
        let mount = FileMount {
            target: s.target.clone(),
            kind: FileKind::Secret,
            digest: String::new(),
            uid: s.owner.uid.or(user.0),
            gid: s.owner.gid.or(user.1),
            mode: s.owner.mode,
        };
        files.push((mount, bytes.map(Sensitive::new)));
    }
    for c in &service.refs.configs {
        match read_allowed(&c.file.path, &c.file.written, &pass.resolver.roots) {
            Ok(bytes) => {
                let mount = FileMount {
                    target: c.target.clone(),
                    kind: FileKind::Config,
                    digest: content_digest(&bytes),
                    uid: c.owner.uid.or(user.0),
                    gid: c.owner.gid.or(user.1),
                    mode: c.owner.mode,
                };
                files.push((mount, Some(Sensitive::new(bytes))));
            }
            Err(message) => problems.push(located(source, &c.field, message)),
        }
    }
    files
}

/// Seals the values into `service`'s spec (digests) and values, and remakes its canonical JSON.
fn seal(service: &mut Service, mut env: EnvValues, files: Files, secret_looking: &[String], key: &HostKey) {
    // Plain `env` wins over envFrom and is sealed only when its name looks secret.
    let previous = service.canonical.clone();
    for name in service.container.env.keys() {
        env.remove(name);
    }
    for name in secret_looking {
        if let Some(value) = service.container.env.remove(name) {
            env.insert(name.clone(), Some(Sensitive::new(value)));
        }
    }
    let mut values = crate::manifest::model::Values { resolved: true, ..Default::default() };
    for (name, value) in env {
        let value = value.expect("every value is read outside Check mode");
        service.container.sealed_env.insert(name.clone(), key.seal(&sealed_input(&name, value.expose().as_bytes())));
        values.env.insert(name, value);
    }
    for (mut mount, content) in files {
        let content = content.expect("every content is read outside Check mode");
        if mount.kind == FileKind::Secret {
            mount.digest = key.seal(&sealed_input(&mount.target, content.expose()));
        }
        values.files.insert(mount.target.clone(), content);
        service.container.files.push(mount);
    }
    service.container.files.sort();
    service.values = values;
    service.canonical = service.container.canonical_json();
    // The previous release hashed the plain value of a secret-looking key: a container it made
    // from this very manifest is still current.
    if service.refs.is_empty() && !secret_looking.is_empty() {
        service.legacy_canonical = Some(previous);
    }
}

/// `uid` or `uid:gid` when numeric (`user: "1000:1000"`); a name gives nothing.
fn numeric_user(user: Option<&str>) -> (Option<u32>, Option<u32>) {
    let Some(user) = user else { return (None, None) };
    let (uid, gid) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    match uid.parse::<u32>() {
        Ok(uid) => (Some(uid), gid.and_then(|g| g.parse().ok())),
        Err(_) => (None, None),
    }
}

/// What a value is sealed as: its name (an env var's, a file's target) and the value, so that
/// two names holding one value do not show equal digests.
fn sealed_input(name: &str, value: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(name.len() + 1 + value.len());
    input.extend_from_slice(name.as_bytes());
    input.push(0);
    input.extend_from_slice(value);
    input
}
