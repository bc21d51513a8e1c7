//! The compose-parity fields: each written form converted, each Docker rule located.

use std::path::Path;

use crate::manifest::load_str;
use crate::manifest::model::{ContainerSpec, HostOptions, Logging, Ulimit};

fn service(spec: &str) -> String {
    format!("apiVersion: moor/v1\nkind: Service\nmetadata: {{ name: app }}\nspec:\n  image: busybox\n{spec}")
}

fn spec_of(spec: &str) -> ContainerSpec {
    let loaded = load_str(Path::new("/m/s.yaml"), &service(spec));
    assert!(loaded.problems.is_empty(), "{spec}\n{:#?}", loaded.problems);
    loaded.desired.services.into_values().next().unwrap().container
}

/// `field: message` of every problem, in order.
fn problems(spec: &str) -> Vec<String> {
    let loaded = load_str(Path::new("/m/s.yaml"), &service(spec));
    loaded
        .problems
        .iter()
        .map(|p| format!("{}:{}: {}: {}", p.line.unwrap_or(0), p.column.unwrap_or(0), p.field, p.message))
        .collect()
}

#[test]
fn string_commands_split_as_a_shell_splits_words() {
    let s = spec_of("  command: sh -c 'echo \"a b\"; sleep 1' x\\ y\n  entrypoint: /bin/tini --\n");
    assert_eq!(s.command.unwrap(), ["sh", "-c", "echo \"a b\"; sleep 1", "x y"]);
    assert_eq!(s.entrypoint.unwrap(), ["/bin/tini", "--"]);
    // `#` is a character, not a comment, as in compose.
    assert_eq!(spec_of("  command: \"echo #1 '#2' a#b\"\n").command.unwrap(), ["echo", "#1", "#2", "a#b"]);
    // The list form is taken word for word, as before.
    assert_eq!(spec_of("  command: [\"a b\", \"$X\"]\n").command.unwrap(), ["a b", "$X"]);
    assert_eq!(
        problems("  command: echo 'unclosed\n  entrypoint: \"  \"\n"),
        [
            "6:12: spec.command: the command string has an unclosed quote or a trailing backslash",
            "7:15: spec.entrypoint: an empty command string has no words to run; leave the field out",
        ]
    );
}

#[test]
fn every_field_converts_to_the_container_setting() {
    let s = spec_of(
        "  hostname: app.internal
  domainname: example.org
  extraHosts: [\"db:10.0.0.5\", \"v6=[::1]\", \"gw:host-gateway\"]
  dns: [1.1.1.1, \"2606:4700:4700::1111\"]
  dnsSearch: example.org
  dnsOpt: [\"ndots:2\"]
  init: true
  readOnly: true
  tty: true
  stdinOpen: true
  shmSize: 256Mi
  expose: [8080, \"53/udp\", \"8080/tcp\"]
  sysctls: { net.core.somaxconn: 1024, net.ipv4.tcp_syncookies: \"0\" }
  ulimits: { nofile: { soft: 1024, hard: 4096 }, nproc: 512, core: -1 }
  logging: { driver: json-file, options: { max-size: 10m, max-file: 3 } }
  groupAdd: [video, 44, video]
  securityOpt: [\"no-new-privileges:true\", \"label=disable\"]
",
    );
    let want = HostOptions {
        hostname: Some("app.internal".into()),
        domainname: Some("example.org".into()),
        extra_hosts: vec!["db:10.0.0.5".into(), "v6:::1".into(), "gw:host-gateway".into()],
        dns: vec!["1.1.1.1".into(), "2606:4700:4700::1111".into()],
        dns_search: vec!["example.org".into()],
        dns_opt: vec!["ndots:2".into()],
        init: Some(true),
        read_only: true,
        tty: true,
        stdin_open: true,
        shm_size: Some(256 << 20),
        expose: vec!["53/udp".into(), "8080/tcp".into()],
        sysctls: [("net.core.somaxconn", "1024"), ("net.ipv4.tcp_syncookies", "0")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
        ulimits: [
            ("core", Ulimit { soft: -1, hard: -1 }),
            ("nofile", Ulimit { soft: 1024, hard: 4096 }),
            ("nproc", Ulimit { soft: 512, hard: 512 }),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .into(),
        logging: Some(Logging {
            driver: Some("json-file".into()),
            options: [("max-file", "3"), ("max-size", "10m")].map(|(k, v)| (k.to_string(), v.to_string())).into(),
        }),
        group_add: vec!["44".into(), "video".into()],
        security_opt: vec!["label=disable".into(), "no-new-privileges:true".into()],
        ..Default::default()
    };
    assert_eq!(s.host, want);
}

#[test]
fn the_other_written_forms_mean_the_same() {
    let map = spec_of("  extraHosts: { db: 10.0.0.5 }\n  sysctls: { net.core.somaxconn: 1024 }\n  dns: 1.1.1.1\n");
    let list = spec_of("  extraHosts: [\"db:10.0.0.5\"]\n  sysctls: [\"net.core.somaxconn=1024\"]\n  dns: [1.1.1.1]\n");
    assert_eq!(map.host, list.host);
    assert_eq!(map.canonical_json(), list.canonical_json());
    // Order that Docker ignores does not change the spec (and so does not recreate).
    let a = spec_of("  expose: [80, 443]\n  groupAdd: [a, b]\n  securityOpt: [label=disable, no-new-privileges]\n");
    let b = spec_of("  expose: [443, 80]\n  groupAdd: [b, a]\n  securityOpt: [no-new-privileges, label=disable]\n");
    assert_eq!(a.canonical_json(), b.canonical_json());
    // Docker takes any host name the kernel takes, underscores too.
    assert_eq!(spec_of("  hostname: my_host\n").host.hostname.as_deref(), Some("my_host"));
    // `false` and absent are the same container.
    let off = spec_of("  readOnly: false\n  tty: false\n  stdinOpen: false\n");
    assert_eq!(off.canonical_json(), spec_of("").canonical_json());
}

#[test]
fn docker_rules_are_located_and_explained() {
    let got = problems(
        "  hostname: a-host-name-of-more-than-sixty-four-bytes-which-the-kernel-refuses
  extraHosts: [\"db\", \"x:not-an-ip\"]
  dns: [dns.google]
  shmSize: 0
  expose: [\"90-80\", \"53/icmp\", 0]
  sysctls: [\"net.core.somaxconn\", \"=1\", \"net.a=1\", \"net.a=2\"]
  ulimits: { nofile: { soft: 10, hard: 5 }, bogus: 1, nproc: -2 }
  logging: { driver: \"\" }
  groupAdd: [\"a b\"]
  securityOpt: [\"seccomp=/etc/profile.json\", \"privileged\"]
  dnsOpt: [\"\"]
  dnsSearch: \" \"
",
    );
    let want = [
        "6:13: spec.hostname: \"a-host-name-of-more-than-sixty-four-bytes-which-the-kernel-refuses\" cannot be a hostname: the kernel takes 1 to 64 bytes",
        "7:16: spec.extraHosts[0]: \"db\" has no address; write host:ip",
        "7:22: spec.extraHosts[1]: \"not-an-ip\" is not an IP address (or host-gateway) for host \"x\"",
        "8:9: spec.dns[0]: \"dns.google\" is not an IP address",
        "9:12: spec.shmSize: a shmSize of 0 would mean Docker's default",
        "10:12: spec.expose[0]: the range \"90-80\" runs backwards",
        "10:21: spec.expose[1]: unknown protocol \"icmp\"",
        "10:32: spec.expose[2]: \"0\" is not a port",
        "11:13: spec.sysctls[0]: \"net.core.somaxconn\" has no value; write name=value",
        "11:35: spec.sysctls[1]: invalid sysctl name \"\"",
        "11:52: spec.sysctls[3]: sysctl net.a is already set by sysctls[2]",
        "12:22: spec.ulimits.nofile: soft limit 10 is above hard limit 5",
        "12:52: spec.ulimits.bogus: unknown ulimit \"bogus\"",
        "12:62: spec.ulimits.nproc: nproc limits are numbers from 0 up, or -1 for unlimited",
        "13:22: spec.logging.driver: an empty driver name",
        "14:14: spec.groupAdd[0]: \"a b\" is not a group name or ID",
        "15:17: spec.securityOpt[0]: \"seccomp=/etc/profile.json\": a seccomp profile file is read by the docker CLI",
        "15:46: spec.securityOpt[1]: unknown security option \"privileged\"",
        "16:12: spec.dnsOpt[0]: an empty resolver option means nothing to Docker",
        "17:14: spec.dnsSearch: an empty search domain means nothing to Docker",
    ];
    let mut unmatched: Vec<&str> = want.to_vec();
    for g in &got {
        let before = unmatched.len();
        unmatched.retain(|w| !g.starts_with(w));
        assert!(unmatched.len() < before, "unexpected problem: {g}\nall: {got:#?}");
    }
    assert!(unmatched.is_empty(), "missing: {unmatched:#?}\ngot: {got:#?}");
}

#[test]
fn a_spec_without_the_new_fields_keeps_its_json_and_reads_back() {
    let plain = spec_of("  command: [serve]\n");
    let json = plain.canonical_json();
    for key in ["hostname", "extraHosts", "readOnly", "tty", "ulimits", "logging", "init", "shmSize", "expose"] {
        assert!(!json.contains(&format!("\"{key}\"")), "{key} in {json}");
    }
    let full = spec_of("  readOnly: true\n  ulimits: { nofile: 1024 }\n  logging: { driver: local }\n  init: false\n");
    let label = crate::spec_hash::last_applied_label(&full);
    assert_eq!(crate::spec_hash::parse_last_applied(&label), Some(full));
}

#[test]
fn a_label_with_a_field_this_release_does_not_know_is_not_read_as_a_spec() {
    // The new fields are flattened into ContainerSpec; a label written by a later release must
    // still be refused rather than read without what it asked for (rollback would drop it).
    let label = r#"{"autoRemove":false,"image":"x","restart":"no","stopTimeout":"10s","bogus":1}"#;
    assert_eq!(crate::spec_hash::parse_last_applied(label), None);
    let known = r#"{"autoRemove":false,"image":"x","restart":"no","stopTimeout":"10s","tty":true}"#;
    assert!(crate::spec_hash::parse_last_applied(known).unwrap().host.tty);
}

#[test]
fn powers_are_normalised_and_checked_as_docker_would() {
    let s = spec_of(
        "  privileged: true\n  capAdd: [cap_net_admin, SYS_PTRACE, NET_ADMIN]\n  capDrop: [MKNOD]\n  devices: [\"/dev/fuse\", \"/dev/sda:/dev/xvda:r\", \"/dev/kvm:rw\"]\n  pid: host\n  ipc: shareable\n",
    );
    let h = &s.host;
    assert!(h.privileged);
    assert_eq!(h.cap_add, ["NET_ADMIN", "SYS_PTRACE"]);
    assert_eq!(h.cap_drop, ["MKNOD"]);
    let devices: Vec<_> = h.devices.iter().map(|d| format!("{}:{}:{}", d.host, d.container, d.permissions)).collect();
    assert_eq!(devices, ["/dev/fuse:/dev/fuse:rwm", "/dev/kvm:/dev/kvm:rw", "/dev/sda:/dev/xvda:r"]);
    assert_eq!((h.pid.as_deref(), h.ipc.as_deref()), (Some("host"), Some("shareable")));

    let got = problems(
        "  capAdd: [NET_ADMINN, MKNOD]\n  capDrop: [mknod]\n  devices: [dev/fuse, \"/dev/a:/dev/b:rwx\", \"/dev/a:/dev/c\", \"/dev/d:/dev/c\"]\n  pid: \"private\"\n  ipc: bogus\n",
    );
    let want = [
        "6:12: spec.capAdd[0]: \"NET_ADMINN\" is not a Linux capability",
        "6:24: spec.capAdd[1]: MKNOD is also in capDrop",
        "8:13: spec.devices[0]: device paths in \"dev/fuse\" must be absolute",
        "8:23: spec.devices[1]: invalid device permissions \"rwx\"",
        "8:61: spec.devices[3]: device path /dev/c in the container is already used by devices[2]",
        "9:8: spec.pid: pid: \"private\" is not supported; use host, container:NAME",
        "10:8: spec.ipc: ipc: \"bogus\" is not supported",
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(want) {
        assert!(g.starts_with(w), "{g}\nwanted {w}\nall: {got:#?}");
    }
}

#[test]
fn healthcheck_disable_is_test_none_and_start_interval_names_the_api_it_needs() {
    let disabled = spec_of("  healthcheck: { disable: true }\n");
    let none = spec_of("  healthcheck: { test: [NONE] }\n");
    assert_eq!(disabled.healthcheck.as_ref().unwrap().test, ["NONE"]);
    assert_eq!(disabled.canonical_json(), none.canonical_json());
    // `disable: false` is no healthcheck setting at all: the test decides.
    assert_eq!(
        spec_of("  healthcheck: { test: \"true\", disable: false }\n").healthcheck.unwrap().test,
        ["CMD-SHELL", "true"]
    );

    let cases = [
        (
            "  healthcheck: { test: \"true\", disable: true }\n",
            "6:41: spec.healthcheck.disable: disable: true and a test contradict",
        ),
        ("  healthcheck: { interval: 5s }\n", "6:16: spec.healthcheck: a healthcheck needs a test, or disable: true"),
        // Checked as the other durations; the API version it needs is the engine's to check.
        ("  healthcheck: { test: \"true\", startInterval: 0s }\n", "6:47: spec.healthcheck.startInterval:"),
    ];
    for (spec, want) in cases {
        let got = problems(spec);
        assert!(got.len() == 1 && got[0].starts_with(want), "{spec}\nwanted {want}\ngot {got:#?}");
    }
}
