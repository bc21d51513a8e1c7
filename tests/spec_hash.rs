//! The spec hash: stable under reformatting, changed by every field that shapes the container,
//! unchanged by fields that do not.

use std::path::Path;

use moor::manifest::load_str;
use moor::spec_hash::spec_hash;

const BASE: &str = "\
apiVersion: moor/v1
kind: Service
metadata:
  name: web
  labels: { team: shop }
spec:
  image: app:1
  command: [serve]
  entrypoint: [/app]
  workingDir: /srv
  user: \"1000\"
  env: { A: \"1\", B: two }
  ports: [\"8080:80\", \"9090:90/udp\"]
  volumes: [\"data:/data\", \"/etc/app:/etc/app:ro\", { type: tmpfs, target: /tmp, size: 1Mi }]
  networks: [front, back]
  restart: on-failure:3
  healthcheck: { test: [CMD, /app, health], interval: 10s, timeout: 2s, retries: 3, startPeriod: 1s }
  resources: { memory: 64Mi, cpus: 0.5, pids: 100 }
  stopSignal: SIGINT
  stopTimeout: 7s
";

fn hash(text: &str) -> String {
    let loaded = load_str(Path::new("/m/web.yaml"), text);
    assert!(loaded.problems.is_empty(), "{text}\n{:#?}", loaded.problems);
    spec_hash(&loaded.desired.services["web"].container, "sha256:img")
}

#[test]
fn reordering_and_reformatting_keep_the_hash() {
    let reformatted = "\
kind: Service
apiVersion: moor/v1
spec:
  stopTimeout: 7000ms
  stopSignal: SIGINT
  resources:
    pids: 100
    cpus: 0.5
    memory: 67108864
  healthcheck:
    startPeriod: 1s
    retries: 3
    timeout: 2s
    interval: 10s
    test: [CMD, /app, health]
  restart: \"on-failure:3\"
  networks: [back, front, back]
  volumes:
    - { type: tmpfs, target: /tmp, size: 1024Ki }
    - { type: bind, source: /etc/app, target: /etc/app, readOnly: true }
    - data:/data
  ports:
    - { container: 90, host: 9090, protocol: udp }
    - 8080:80/tcp
  env:
    B: two
    A: 1
  user: '1000'
  workingDir: /srv
  entrypoint: [/app]
  command: [serve]
  image: app:1
  # fields that do not shape a container
  replicas: 1
  pull: always
  update: { interval: 1h }
metadata:
  labels:
    team: shop
  name: web
";
    assert_eq!(hash(BASE), hash(reformatted));
}

#[test]
fn every_field_that_shapes_the_container_changes_the_hash() {
    let base = hash(BASE);
    let edits = [
        ("image: app:1", "image: app:2"),
        ("command: [serve]", "command: [serve, -v]"),
        ("entrypoint: [/app]", "entrypoint: [/bin/app]"),
        ("workingDir: /srv", "workingDir: /opt"),
        ("user: \"1000\"", "user: \"1001\""),
        ("B: two", "B: three"),
        ("\"8080:80\"", "\"8081:80\""),
        ("9090:90/udp", "9090:90/tcp"),
        ("data:/data", "data2:/data"),
        ("/etc/app:ro", "/etc/app:rw"),
        ("size: 1Mi", "size: 2Mi"),
        ("[front, back]", "[front]"),
        ("on-failure:3", "on-failure:4"),
        ("interval: 10s", "interval: 11s"),
        ("retries: 3", "retries: 4"),
        ("memory: 64Mi", "memory: 65Mi"),
        ("cpus: 0.5", "cpus: 0.6"),
        ("pids: 100", "pids: 101"),
        ("stopSignal: SIGINT", "stopSignal: SIGTERM"),
        ("stopTimeout: 7s", "stopTimeout: 8s"),
        ("team: shop", "team: cart"),
    ];
    for (from, to) in edits {
        assert!(BASE.contains(from), "{from} is not in the base manifest");
        assert_ne!(hash(&BASE.replacen(from, to, 1)), base, "changing {from} -> {to} kept the hash");
    }
    let with_auto_remove = BASE.replace("restart: on-failure:3", "autoRemove: true");
    assert_ne!(hash(&with_auto_remove), hash(&BASE.replace("restart: on-failure:3", "")));
}

#[test]
fn the_image_id_is_part_of_the_hash() {
    let loaded = load_str(Path::new("/m/web.yaml"), BASE);
    let spec = &loaded.desired.services["web"].container;
    assert_ne!(spec_hash(spec, "sha256:a"), spec_hash(spec, "sha256:b"));
}

#[test]
fn fields_that_do_not_shape_the_container_keep_the_hash() {
    // Without fixed host ports, so that replicas are allowed.
    let base_text = BASE.replace("  ports: [\"8080:80\", \"9090:90/udp\"]\n", "");
    let base = hash(&base_text);
    for extra in [
        "  state: stopped\n",
        "  pull: always\n",
        "  replicas: 3\n",
        "  update: { watch: digest, interval: 1m, healthTimeout: 5s }\n",
    ] {
        assert_eq!(hash(&format!("{base_text}{extra}")), base, "{extra} changed the hash");
    }
}
