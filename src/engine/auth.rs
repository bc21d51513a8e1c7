//! Registry credentials from the Docker config file, as `docker login` writes them.
//!
//! Read from `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: the `auths` entry of
//! the image's registry, with `auth` (base64 `user:password`) or `username` and `password`.
//! Credential helpers (`credsStore`, `credHelpers`) are not consulted.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use bollard::auth::DockerCredentials;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// The registry host of an image reference: its first path part when that looks like a host
/// (has a dot or a port, or is `localhost`), else Docker Hub.
pub fn registry_of(reference: &str) -> String {
    match reference.split_once('/') {
        Some((host, _)) if host.contains('.') || host.contains(':') || host == "localhost" => host.to_string(),
        _ => DOCKER_HUB.to_string(),
    }
}

fn config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
}

/// Credentials for the registry of `reference`, when the config file has them.
pub fn credentials_for(reference: &str) -> Option<DockerCredentials> {
    let text = std::fs::read_to_string(config_path()?).ok()?;
    credentials_from(&text, reference)
}

fn credentials_from(config: &str, reference: &str) -> Option<DockerCredentials> {
    let config: ConfigFile = serde_json::from_str(config).ok()?;
    let registry = registry_of(reference);
    let entry = config.auths.iter().find_map(|(key, entry)| {
        let host = key.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
        (key == &registry || host == registry || (registry == DOCKER_HUB && host.ends_with("docker.io/v1")))
            .then_some(entry)
    })?;
    let (username, password) = match (&entry.username, &entry.password, &entry.auth) {
        (Some(u), Some(p), _) => (u.clone(), p.clone()),
        (_, _, Some(auth)) => {
            let decoded = base64::engine::general_purpose::STANDARD.decode(auth.trim()).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (u, p) = text.split_once(':')?;
            (u.to_string(), p.to_string())
        }
        _ => return None,
    };
    Some(DockerCredentials {
        username: Some(username),
        password: Some(password),
        serveraddress: Some(registry),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_of_references() {
        assert_eq!(registry_of("127.0.0.1:5000/app:1"), "127.0.0.1:5000");
        assert_eq!(registry_of("registry.example/shop/web:1.4"), "registry.example");
        assert_eq!(registry_of("localhost/app"), "localhost");
        assert_eq!(registry_of("library/busybox"), DOCKER_HUB);
        assert_eq!(registry_of("busybox"), DOCKER_HUB);
    }

    #[test]
    fn credentials_from_auth_or_fields() {
        let config = r#"{"auths": {
            "registry.example": {"auth": "dXNlcjpzM2NyZXQ="},
            "https://index.docker.io/v1/": {"username": "hub", "password": "pw"}
        }}"#;
        let c = credentials_from(config, "registry.example/web:1").unwrap();
        assert_eq!((c.username.as_deref(), c.password.as_deref()), (Some("user"), Some("s3cret")));
        assert_eq!(c.serveraddress.as_deref(), Some("registry.example"));
        let hub = credentials_from(config, "busybox:1").unwrap();
        assert_eq!(hub.username.as_deref(), Some("hub"));
        assert!(credentials_from(config, "127.0.0.1:5000/app:1").is_none());
    }
}
