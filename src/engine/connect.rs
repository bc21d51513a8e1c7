//! Which Docker daemon to talk to, and how: the Docker CLI's rules, resolved before any
//! connection is made.
//!
//! Precedence, as the Docker CLI's: `--host` > `--context` > `DOCKER_HOST` > `DOCKER_CONTEXT` >
//! `currentContext` of `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`) > the local
//! socket. A context named `default` is the Docker CLI's default context: `DOCKER_HOST`, else the
//! local socket. `--host` and `--context` together are refused, as the Docker CLI refuses them.
//!
//! TLS, for a host given by `--host` or `DOCKER_HOST`: on when `DOCKER_TLS_VERIFY` is non-empty
//! or any of `--tls-ca`, `--tls-cert`, `--tls-key` is given; each file is the option's, else
//! `ca.pem`, `cert.pem`, `key.pem` in `DOCKER_CERT_PATH` (default: the Docker config folder). A
//! context takes its TLS files from `contexts/tls/<sha256 of name>/docker/`, and uses TLS when
//! that folder holds them. The daemon is always verified against the CA (and the system's roots,
//! as bollard adds them); `SkipTLSVerify` is refused rather than silently verified.
//!
//! Invariants: every file named is checked to exist here, so a typo is an [`EndpointError`] naming
//! the file, never a TLS handshake failure later. `ssh://[user@]host[:port]` is kept as given:
//! the system's `ssh` reads its own configuration (keys, known hosts, jump hosts).

use std::path::PathBuf;

use sha2::{Digest, Sha256};

/// What the user gave: options and environment. [`Sources::from_process`] fills `env`.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--host`.
    pub host: Option<String>,
    /// `--context`.
    pub context: Option<String>,
    /// `--tls-ca`, `--tls-cert`, `--tls-key`.
    pub tls_ca: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub env: Env,
}

/// The environment variables the Docker CLI reads; an empty value counts as unset, as there.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
    pub docker_tls_verify: bool,
    pub docker_cert_path: Option<PathBuf>,
    pub docker_config: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl Env {
    pub fn from_process() -> Env {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Env {
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            docker_tls_verify: var("DOCKER_TLS_VERIFY").is_some(),
            docker_cert_path: var("DOCKER_CERT_PATH").map(PathBuf::from),
            docker_config: var("DOCKER_CONFIG").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
        }
    }

    /// `$DOCKER_CONFIG`, else `~/.docker`.
    fn config_dir(&self) -> Option<PathBuf> {
        self.docker_config.clone().or_else(|| self.home.as_ref().map(|h| h.join(".docker")))
    }
}

impl Sources {
    /// Options as given, environment from this process.
    pub fn from_process(host: Option<&str>) -> Sources {
        Sources { host: host.map(str::to_string), env: Env::from_process(), ..Sources::default() }
    }
}

/// The local socket, where nothing else is said.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Where a daemon is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `unix:///…` or `tcp://host:port`.
    pub host: String,
    /// Present: talk TLS, verify the daemon against `ca`, present `cert`/`key`.
    pub tls: Option<TlsFiles>,
    pub origin: Origin,
}

/// Which rule chose the endpoint (for messages, and so that the default socket is told apart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    HostOption,
    HostEnv,
    Context(String),
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointError {
    #[error("Docker context {name:?} not found: no {}", meta.display())]
    NoContext { name: String, meta: PathBuf },
    #[error("{}: {reason}", path.display())]
    BadFile { path: PathBuf, reason: String },
    #[error("Docker context {name:?} has no docker endpoint with a Host in {}", meta.display())]
    NoDockerEndpoint { name: String, meta: PathBuf },
    #[error("Docker context {name:?} sets SkipTLSVerify, which moor does not support: give the context the daemon's CA (docker context update --docker ca=…)")]
    SkipTlsVerify { name: String },
    #[error("TLS {which} file {} does not exist (from {from})", path.display())]
    MissingTlsFile { which: &'static str, path: PathBuf, from: String },
    #[error("Docker host {host:?}: {reason}")]
    BadHost { host: String, reason: String },
    #[error("Docker context {name:?}: no config folder (set DOCKER_CONFIG or HOME)")]
    NoConfigDir { name: String },
    #[error("conflicting options: either specify --host or --context, not both")]
    HostAndContext,
}

/// The endpoint that `sources` name, by the Docker CLI's precedence (module docs).
pub fn resolve(sources: &Sources) -> Result<Endpoint, EndpointError> {
    let env = &sources.env;
    // As the Docker CLI: both options at once is a mistake to tell, not a precedence to apply.
    if sources.host.is_some() && sources.context.is_some() {
        return Err(EndpointError::HostAndContext);
    }
    if let Some(host) = &sources.host {
        return host_endpoint(host, Origin::HostOption, sources);
    }
    if let Some(name) = &sources.context {
        return context_endpoint(name, sources);
    }
    if let Some(host) = &env.docker_host {
        return host_endpoint(host, Origin::HostEnv, sources);
    }
    if let Some(name) = &env.docker_context {
        return context_endpoint(name, sources);
    }
    if let Some(name) = current_context(env)? {
        return context_endpoint(&name, sources);
    }
    Ok(Endpoint { host: DEFAULT_HOST.to_string(), tls: default_tls(sources)?, origin: Origin::Default })
}

/// `currentContext` of the Docker config file; `None` when there is no file or no such key.
fn current_context(env: &Env) -> Result<Option<String>, EndpointError> {
    let Some(path) = env.config_dir().map(|d| d.join("config.json")) else { return Ok(None) };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EndpointError::BadFile { path, reason: e.to_string() }),
    };
    let config: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| EndpointError::BadFile { path: path.clone(), reason: e.to_string() })?;
    Ok(config.get("currentContext").and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_string))
}

/// The TLS of a host given by option or `DOCKER_HOST` (module docs); also of the default socket
/// when TLS was asked for, as the Docker CLI does (a unix socket then fails at the handshake).
fn default_tls(sources: &Sources) -> Result<Option<TlsFiles>, EndpointError> {
    let env = &sources.env;
    let asked =
        env.docker_tls_verify || sources.tls_ca.is_some() || sources.tls_cert.is_some() || sources.tls_key.is_some();
    if !asked {
        return Ok(None);
    }
    let (dir, dir_from) = match (&env.docker_cert_path, env.config_dir()) {
        (Some(d), _) => (d.clone(), "DOCKER_CERT_PATH"),
        (None, Some(d)) => (d, "the Docker config folder"),
        (None, None) => (PathBuf::from(".docker"), "the Docker config folder"),
    };
    let pick = |which: &'static str, option: &Option<PathBuf>, flag: &str| -> Result<PathBuf, EndpointError> {
        let (path, from) = match option {
            Some(p) => (p.clone(), flag.to_string()),
            None => (dir.join(format!("{which}.pem")), dir_from.to_string()),
        };
        existing(which, path, from)
    };
    Ok(Some(TlsFiles {
        ca: pick("ca", &sources.tls_ca, "--tls-ca")?,
        cert: pick("cert", &sources.tls_cert, "--tls-cert")?,
        key: pick("key", &sources.tls_key, "--tls-key")?,
    }))
}

fn existing(which: &'static str, path: PathBuf, from: String) -> Result<PathBuf, EndpointError> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(EndpointError::MissingTlsFile { which, path, from })
    }
}

fn host_endpoint(host: &str, origin: Origin, sources: &Sources) -> Result<Endpoint, EndpointError> {
    // `DOCKER_TLS_VERIFY` left in the environment does not apply to a socket or ssh (the Docker
    // CLI ignores it there too); a `--tls-*` option given with such a host is refused below.
    let flags = sources.tls_ca.is_some() || sources.tls_cert.is_some() || sources.tls_key.is_some();
    let tls = if host.starts_with("ssh://") && !flags { None } else { default_tls(sources)? };
    Ok(Endpoint { host: normalize_host(host, tls.is_some())?, tls, origin })
}

/// `tcp://host` gets the Docker CLI's default port (2376 with TLS, 2375 without); `ssh://` is
/// checked for its form; unknown schemes are refused here.
pub fn normalize_host(host: &str, tls: bool) -> Result<String, EndpointError> {
    let bad = |reason: &str| EndpointError::BadHost { host: host.to_string(), reason: reason.to_string() };
    if host.starts_with("unix://") {
        return Ok(host.to_string());
    }
    if host.starts_with("ssh://") {
        if tls {
            return Err(bad("TLS options do not apply to an ssh:// host"));
        }
        return match super::ssh_bridge::SshTarget::parse(host) {
            Some(_) => Ok(host.trim_end_matches('/').to_string()),
            None => Err(bad("expected ssh://[USER@]HOST[:PORT]")),
        };
    }
    // `https://` asks for TLS: spoken to only with the TLS files, never in plain HTTP.
    if host.starts_with("https://") && !tls {
        return Err(bad(
            "https:// needs TLS: give --tls-ca, --tls-cert and --tls-key (or DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), or write tcp://",
        ));
    }
    let Some(rest) = host.strip_prefix("tcp://").or_else(|| host.strip_prefix("https://")) else {
        return Err(bad("the scheme is not one of unix://, tcp://, ssh://"));
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return Err(bad("expected tcp://HOST[:PORT]"));
    }
    // An IPv6 literal is `[::1]:2376`; a colon after the closing bracket (or in a name) is a port.
    let has_port = match rest.rfind(']') {
        Some(close) => rest[close..].contains(':'),
        None => rest.contains(':'),
    };
    let port = if tls { 2376 } else { 2375 };
    Ok(if has_port { format!("tcp://{rest}") } else { format!("tcp://{rest}:{port}") })
}

/// The folder name the Docker CLI gives a context: the hex SHA-256 of its name.
pub fn context_dir_name(name: &str) -> String {
    hex::encode(Sha256::digest(name.as_bytes()))
}

fn context_endpoint(name: &str, sources: &Sources) -> Result<Endpoint, EndpointError> {
    let env = &sources.env;
    if name == "default" {
        let origin = Origin::Context(name.to_string());
        return match &env.docker_host {
            Some(host) => host_endpoint(host, origin, sources),
            None => Ok(Endpoint { host: DEFAULT_HOST.to_string(), tls: default_tls(sources)?, origin }),
        };
    }
    let contexts =
        env.config_dir().ok_or_else(|| EndpointError::NoConfigDir { name: name.to_string() })?.join("contexts");
    let id = context_dir_name(name);
    let meta = contexts.join("meta").join(&id).join("meta.json");
    let text = match std::fs::read_to_string(&meta) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(EndpointError::NoContext { name: name.to_string(), meta });
        }
        Err(e) => return Err(EndpointError::BadFile { path: meta, reason: e.to_string() }),
    };
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| EndpointError::BadFile { path: meta.clone(), reason: e.to_string() })?;
    let docker = &doc["Endpoints"]["docker"];
    let Some(host) = docker["Host"].as_str().filter(|h| !h.is_empty()) else {
        return Err(EndpointError::NoDockerEndpoint { name: name.to_string(), meta });
    };
    if docker["SkipTLSVerify"].as_bool() == Some(true) {
        return Err(EndpointError::SkipTlsVerify { name: name.to_string() });
    }
    let tls_dir = contexts.join("tls").join(&id).join("docker");
    let tls = if tls_dir.is_dir() {
        let from = format!("context {name:?}");
        Some(TlsFiles {
            ca: existing("ca", tls_dir.join("ca.pem"), from.clone())?,
            cert: existing("cert", tls_dir.join("cert.pem"), from.clone())?,
            key: existing("key", tls_dir.join("key.pem"), from)?,
        })
    } else {
        None
    };
    Ok(Endpoint { host: normalize_host(host, tls.is_some())?, tls, origin: Origin::Context(name.to_string()) })
}

#[cfg(test)]
#[path = "connect_tests.rs"]
mod tests;
