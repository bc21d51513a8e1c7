//! Registry credentials as the Docker CLI reads them.
//!
//! `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, read by the `docker_credential`
//! crate (rather than by hand: it already follows the CLI's order): the registry's
//! `credHelpers` entry runs `docker-credential-<helper> get`; else its `auths` entry
//! (`identitytoken`, `auth` as base64 `user:password`, or `username`/`password`); else the
//! `credsStore` helper. Docker Hub is asked for under the key `docker login` writes
//! (`https://index.docker.io/v1/`), whatever the image says: no registry, `docker.io`,
//! `index.docker.io` or `registry-1.docker.io`.
//!
//! Invariants:
//! - No credentials is not an error: the pull goes anonymous, and the registry's answer says
//!   what is wrong. A helper that fails or hangs is logged (never its output, which may hold a
//!   secret) and the pull goes anonymous too; a helper is given [`HELPER_DEADLINE`].
//! - Credentials are read again at each call: a `docker login` takes effect without a restart.

use std::time::Duration;

use bollard::auth::DockerCredentials;
use docker_credential::{CredentialRetrievalError, DockerCredential};

/// The key Docker Hub's credentials are stored under.
pub const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// How long a credential helper may take. Helpers answer from a file or a keyring at once; one
/// that waits (a locked keyring asking for a password nobody types) must not stall a reconcile.
pub const HELPER_DEADLINE: Duration = Duration::from_secs(10);

/// The names Docker Hub goes by in image references.
const HUB_HOSTS: &[&str] = &["docker.io", "index.docker.io", "registry-1.docker.io"];

/// The registry of an image reference, as the credential store keys it: its first path part when
/// that looks like a host (has a dot or a port, or is `localhost`), Docker Hub's key for Hub's
/// names and for references without a host.
pub fn registry_of(reference: &str) -> String {
    match reference.split_once('/') {
        Some((host, _)) if HUB_HOSTS.contains(&host) => DOCKER_HUB.to_string(),
        Some((host, _)) if host.contains('.') || host.contains(':') || host == "localhost" => host.to_string(),
        _ => DOCKER_HUB.to_string(),
    }
}

/// Credentials for the registry of `reference`, when the Docker config has some. Blocking: it
/// may run a credential helper; async callers use [`credentials_within`].
pub fn credentials_for(reference: &str) -> Option<DockerCredentials> {
    lookup(reference, docker_credential::get_credential)
}

/// Hub's `auths` entry may be keyed by another of its names (`docker.io`, as some tools write
/// it): the crate matches those only when asked by a bare host, so Hub is asked twice, the
/// second time only when the first found nothing configured (no helper runs twice).
fn lookup(
    reference: &str,
    get: impl Fn(&str) -> Result<DockerCredential, CredentialRetrievalError>,
) -> Option<DockerCredentials> {
    let server = registry_of(reference);
    let mut found = get(&server);
    if server == DOCKER_HUB && matches!(found, Err(CredentialRetrievalError::NoCredentialConfigured)) {
        found = get("index.docker.io");
    }
    to_bollard(found, server)
}

/// [`credentials_for`] off the async runtime, given at most [`HELPER_DEADLINE`].
pub async fn credentials_within(reference: &str) -> Option<DockerCredentials> {
    let owned = reference.to_string();
    let task = tokio::task::spawn_blocking(move || credentials_for(&owned));
    match tokio::time::timeout(HELPER_DEADLINE, task).await {
        Ok(Ok(credentials)) => credentials,
        Ok(Err(_)) => None,
        Err(_) => {
            tracing::warn!(
                image = reference,
                "the credential helper did not answer within {}s: pulling without credentials",
                HELPER_DEADLINE.as_secs()
            );
            None
        }
    }
}

fn to_bollard(found: Result<DockerCredential, CredentialRetrievalError>, server: String) -> Option<DockerCredentials> {
    match found {
        Ok(DockerCredential::UsernamePassword(username, password)) => Some(DockerCredentials {
            username: Some(username),
            password: Some(password),
            serveraddress: Some(server),
            ..Default::default()
        }),
        Ok(DockerCredential::IdentityToken(token)) => {
            Some(DockerCredentials { identitytoken: Some(token), serveraddress: Some(server), ..Default::default() })
        }
        Err(
            CredentialRetrievalError::NoCredentialConfigured
            | CredentialRetrievalError::ConfigNotFound
            | CredentialRetrievalError::ConfigReadError,
        ) => None,
        // The helper's own output is left out: a helper may print a secret before failing.
        Err(CredentialRetrievalError::HelperFailure { helper, .. }) => {
            tracing::warn!(registry = %server, helper, "the credential helper failed: pulling without credentials");
            None
        }
        Err(e) => {
            tracing::warn!(registry = %server, error = %e, "registry credentials unreadable: pulling without credentials");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(config: &str, reference: &str) -> Option<DockerCredentials> {
        lookup(reference, |server| docker_credential::get_credential_from_reader(config.as_bytes(), server))
    }

    #[test]
    fn registries_of_references() {
        assert_eq!(registry_of("127.0.0.1:5000/app:1"), "127.0.0.1:5000");
        assert_eq!(registry_of("registry.example/shop/web:1.4"), "registry.example");
        assert_eq!(registry_of("localhost/app"), "localhost");
        for hub in
            ["busybox", "library/busybox", "docker.io/org/app:1", "index.docker.io/org/app", "registry-1.docker.io/a/b"]
        {
            assert_eq!(registry_of(hub), DOCKER_HUB, "{hub}");
        }
    }

    #[test]
    fn credentials_from_auth_fields_and_identity_tokens() {
        let config = r#"{"auths": {
            "registry.example": {"auth": "dXNlcjpzM2NyZXQ="},
            "https://index.docker.io/v1/": {"username": "hub", "password": "pw"},
            "quay.io": {"identitytoken": "tok-1"}
        }}"#;
        let c = from(config, "registry.example/web:1").unwrap();
        assert_eq!((c.username.as_deref(), c.password.as_deref()), (Some("user"), Some("s3cret")));
        assert_eq!(c.serveraddress.as_deref(), Some("registry.example"));
        // Hub by any of its names.
        for hub in ["busybox:1", "docker.io/org/app:1", "registry-1.docker.io/org/app"] {
            assert_eq!(from(config, hub).unwrap().username.as_deref(), Some("hub"), "{hub}");
        }
        let q = from(config, "quay.io/org/app:1").unwrap();
        assert_eq!((q.identitytoken.as_deref(), q.username.as_deref()), (Some("tok-1"), None));
        assert!(from(config, "127.0.0.1:5000/app:1").is_none());
        // A Hub entry written under another of its names is found too.
        let other = r#"{"auths": {"docker.io": {"auth": "aHViOnB3"}}}"#;
        assert_eq!(from(other, "org/app").unwrap().username.as_deref(), Some("hub"));
    }

    #[test]
    fn a_failing_helper_means_no_credentials() {
        let config = r#"{"credHelpers": {"registry.example": "moor-test-missing-helper"}}"#;
        assert!(from(config, "registry.example/web:1").is_none());
    }
}
