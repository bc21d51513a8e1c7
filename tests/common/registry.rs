//! A local registry for the update tests: Debian's `docker-registry` on a free loopback port
//! (Docker treats loopback registries as insecure, so plain HTTP works). Killed when dropped.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::query_parameters::{PushImageOptions, TagImageOptions};
use bollard::Docker;
use futures_util::StreamExt;

use super::{eventually, http_exchange};

pub struct Registry {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub async fn start() -> Registry {
        Registry::start_with(None).await
    }

    /// A registry that wants HTTP basic auth as `user`/`password` (a bcrypt htpasswd file made
    /// by `htpasswd` of apache2-utils).
    pub async fn start_with_auth(user: &str, password: &str) -> Registry {
        Registry::start_with(Some((user, password))).await
    }

    async fn start_with(auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let auth = match auth {
            None => String::new(),
            Some((user, password)) => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .expect("htpasswd (apt-get install apache2-utils)");
                assert!(out.status.success(), "htpasswd: {}", String::from_utf8_lossy(&out.stderr));
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, out.stdout).unwrap();
                format!("auth:\n  htpasswd:\n    realm: moor-test\n    path: {}\n", file.display())
            }
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{auth}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        let registry = Registry { child, addr: addr.clone(), _dir: dir };
        eventually(Duration::from_secs(20), "the registry to answer", || async {
            std::net::TcpStream::connect(&addr).ok().map(|_| ())
        })
        .await;
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pushes `reference` (`host:port/repo:tag`) to its registry.
pub async fn push(docker: &Docker, reference: &str) {
    let (repo, tag) = reference.rsplit_once(':').unwrap();
    let options = PushImageOptions { tag: Some(tag.to_string()), ..Default::default() };
    let mut stream = docker.push_image(repo, Some(options), None);
    while let Some(item) = stream.next().await {
        let info = item.unwrap_or_else(|e| panic!("pushing {reference}: {e}"));
        if let Some(e) = info.error_detail.and_then(|d| d.message) {
            panic!("pushing {reference}: {e}");
        }
    }
}

/// Makes tag `to` of `repo` name the manifest that tag `from` names, inside the registry at
/// `addr`: the registry API's own copy (GET the manifest, PUT it back under the new tag), so the
/// tag changes at once and no local tag moves. Publishing through a local tag instead would race
/// with a `moor run` that watches the same daemon: its check pulls the tag over the half-published
/// image, and the push then sends whatever the tag names at that moment.
pub fn copy_tag(addr: &str, repo: &str, from: &str, to: &str) {
    const SCHEMA2: &str = "application/vnd.docker.distribution.manifest.v2+json";
    let get = format!("GET /v2/{repo}/manifests/{from} HTTP/1.0\r\nAccept: {SCHEMA2}\r\n\r\n");
    let (code, head, manifest) = http_exchange(addr, &get, &[]).expect("the registry answers");
    assert_eq!(code, 200, "GET manifest {repo}:{from}: {head}");
    let content_type = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.trim()))
        .unwrap_or(SCHEMA2)
        .to_string();
    let put = format!(
        "PUT /v2/{repo}/manifests/{to} HTTP/1.0\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        manifest.len()
    );
    let (code, head, _) = http_exchange(addr, &put, &manifest).expect("the registry answers");
    assert_eq!(code, 201, "PUT manifest {repo}:{to}: {head}");
}

/// Points `reference` at the image `id`.
pub async fn tag(docker: &Docker, id: &str, reference: &str) {
    let (repo, tag) = reference.rsplit_once(':').unwrap();
    let options = TagImageOptions { repo: Some(repo.to_string()), tag: Some(tag.to_string()) };
    docker.tag_image(id, Some(options)).await.unwrap();
}

/// Docker events recorded in the background: `(type, action, name or image, time in ns)`.
pub type Events = Arc<Mutex<Vec<(String, String, String, i64)>>>;

/// Starts recording events that match `filters` (Docker's event filters).
pub fn record_events(docker: &Docker, filters: &[(&str, &str)]) -> (Events, tokio::task::JoinHandle<()>) {
    let mut map = std::collections::HashMap::<String, Vec<String>>::new();
    for (k, v) in filters {
        map.entry(k.to_string()).or_default().push(v.to_string());
    }
    let options = bollard::query_parameters::EventsOptions { filters: Some(map), ..Default::default() };
    let events: Events = Arc::default();
    let sink = events.clone();
    let docker = docker.clone();
    let task = tokio::spawn(async move {
        let mut stream = docker.events(Some(options));
        while let Some(Ok(e)) = stream.next().await {
            let actor = e.actor.unwrap_or_default();
            let attrs = actor.attributes.unwrap_or_default();
            let name = attrs.get("name").cloned().unwrap_or_else(|| actor.id.unwrap_or_default());
            let typ = e.typ.map(|t| t.to_string()).unwrap_or_default();
            sink.lock().unwrap().push((typ, e.action.unwrap_or_default(), name, e.time_nano.unwrap_or_default()));
        }
    });
    (events, task)
}

/// Builds `variant` and makes `reference`'s tag name it in the registry, without moving the
/// local tag: the image is built and pushed under a tag of its own, which the registry then
/// copies to `reference`'s (see [`copy_tag`]). `healthy: false` leaves out the `/ok` file the
/// update tests' healthcheck looks for. Returns the image ID.
pub async fn publish(docker: &Docker, env: &super::TestEnv, reference: &str, variant: &str, healthy: bool) -> String {
    let (repo, tag) = reference.rsplit_once(':').unwrap();
    let staging = format!("{repo}:build-{variant}");
    let id = super::build_image_with(docker, &staging, &env.name(variant), healthy).await;
    env.own_image(&staging);
    env.own_image(reference);
    push(docker, &staging).await;
    let (addr, path) = repo.split_once('/').unwrap();
    copy_tag(addr, path, &format!("build-{variant}"), tag);
    id
}

/// The image ID the container `name` runs, while it runs.
pub async fn image_of(docker: &Docker, name: &str) -> Option<String> {
    let info = docker.inspect_container(name, None).await.ok()?;
    info.state?.running?.then_some(())?;
    info.image
}
