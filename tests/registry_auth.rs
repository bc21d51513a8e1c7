//! Registry credentials as the Docker CLI reads them, against a local registry that wants basic
//! auth: a credential helper named by `credHelpers` and by `credsStore` (a fake
//! `docker-credential-moortest` script on PATH) lets `moor apply` check and pull; without
//! credentials the pull is refused; the password never appears in moor's output.

mod common;

use std::os::unix::fs::PermissionsExt;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{PushImageOptions, RemoveImageOptions};
use common::registry::{tag, Registry};
use common::{docker, TestEnv, SLEEPER};
use futures_util::StreamExt;

const USER: &str = "moor";
const PASSWORD: &str = "pw-7f3c-never-printed";

/// A folder with `docker-credential-moortest`, which answers for `server` only, as real helpers
/// do (`get` reads the server on stdin; an unknown one exits 1 with "credentials not found").
fn helper_dir(server: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("docker-credential-moortest");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread -r server\nif [ \"$server\" = \"{server}\" ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

async fn push_with_auth(docker: &bollard::Docker, reference: &str, server: &str) {
    let (repo, tag) = reference.rsplit_once(':').unwrap();
    let credentials = DockerCredentials {
        username: Some(USER.into()),
        password: Some(PASSWORD.into()),
        serveraddress: Some(server.into()),
        ..Default::default()
    };
    let options = PushImageOptions { tag: Some(tag.to_string()), ..Default::default() };
    let mut stream = docker.push_image(repo, Some(options), Some(credentials));
    while let Some(item) = stream.next().await {
        let info = item.unwrap_or_else(|e| panic!("pushing {reference}: {e}"));
        if let Some(e) = info.error_detail.and_then(|d| d.message) {
            panic!("pushing {reference}: {e}");
        }
    }
}

async fn forget_local(docker: &bollard::Docker, reference: &str) {
    let options = RemoveImageOptions { force: true, ..Default::default() };
    let _ = docker.remove_image(reference, Some(options), None).await;
}

#[tokio::test]
async fn a_credential_helper_lets_moor_check_and_pull_from_a_registry_that_wants_auth() {
    let docker = docker().await;
    let registry = Registry::start_with_auth(USER, PASSWORD).await;
    let env = TestEnv::new("reg-auth");
    let reference = format!("{}/{}:1", registry.addr, env.name("app"));
    let id = common::build_image(&docker, &env.name("build"), "auth").await;
    env.own_image(&env.name("build"));
    tag(&docker, &id, &reference).await;
    env.own_image(&reference);
    push_with_auth(&docker, &reference, &registry.addr).await;

    let name = env.name("app");
    env.write(
        "app.yaml",
        &format!(
            "apiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  image: {reference}\n  pull: always\n  command: sh -c \"{SLEEPER}\"\n  stopTimeout: 5s\n"
        ),
    );
    let dir = env.manifests().to_str().unwrap().to_string();
    let config = tempfile::tempdir().unwrap();
    let helpers = helper_dir(&registry.addr);
    env.set_env("DOCKER_CONFIG", config.path().to_str().unwrap());
    env.set_env("PATH", &format!("{}:{}", helpers.path().display(), std::env::var("PATH").unwrap()));
    let no_secret = |out: &std::process::Output| {
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!all.contains(PASSWORD), "the password was printed:\n{all}");
        all
    };

    // No credentials: the registry refuses, nothing is created.
    std::fs::write(config.path().join("config.json"), "{}").unwrap();
    forget_local(&docker, &reference).await;
    let out = env.moor(&["apply", &dir]);
    let all = no_secret(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(docker.inspect_container(&env.container(&name), None).await.is_err(), "created without its image:\n{all}");

    // credHelpers for this registry, then credsStore for all.
    for config_json in [
        format!("{{\"credHelpers\": {{\"{}\": \"moortest\"}}}}", registry.addr),
        "{\"credsStore\": \"moortest\"}".to_string(),
    ] {
        std::fs::write(config.path().join("config.json"), &config_json).unwrap();
        forget_local(&docker, &reference).await;
        let _ = docker
            .remove_container(
                &env.container(&name),
                Some(bollard::query_parameters::RemoveContainerOptions { force: true, ..Default::default() }),
            )
            .await;
        let out = env.moor(&["apply", &dir]);
        let all = no_secret(&out);
        assert_eq!(out.status.code(), Some(0), "{config_json}:\n{all}");
        let info = docker.inspect_container(&env.container(&name), None).await.unwrap();
        assert_eq!(info.image.as_deref(), Some(id.as_str()), "{config_json}");
        assert_eq!(info.state.unwrap().running, Some(true));
    }
}
