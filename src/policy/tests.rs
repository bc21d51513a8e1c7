//! The rules one by one, the located problems, and policy files.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::manifest::load_str as load_manifests;

const POLICY_FILE: &str = "/etc/moor/policy.yaml";

/// The services of `yaml` (as read from `/srv/m/web.yaml`), which must load.
fn desired(yaml: &str) -> Desired {
    let loaded = load_manifests(Path::new("/srv/m/web.yaml"), yaml);
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    loaded.desired
}

fn service_with(spec: &str) -> String {
    format!("apiVersion: moor/v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  image: app:1\n{spec}")
}

/// The messages of `yaml`'s violations under `policy`, checked without looking at the disk.
fn violations(policy: &Policy, yaml: &str) -> Vec<String> {
    violations_with_links(policy, yaml, &BTreeMap::new())
}

/// As [`violations`], with symbolic links as `links` says (path → real path).
fn violations_with_links(policy: &Policy, yaml: &str, links: &BTreeMap<&str, &str>) -> Vec<String> {
    let d = desired(yaml);
    let real = |p: &HostPath| links.get(p.to_string().as_str()).map(|r| HostPath::parse(r).unwrap());
    let host = Host { volumes: &d.volumes, real_path: &real };
    d.services.values().flat_map(|s| check(policy, s, &host)).map(|v| format!("{}: {}", v.field, v.kind)).collect()
}

/// The messages of a bind of `bind` (short form) under the default policy.
fn bind(text: &str) -> Vec<String> {
    violations(&Policy::default(), &service_with(&format!("  volumes: [\"{text}\"]\n")))
}

fn policy(yaml: &str) -> Policy {
    load_str(Path::new(POLICY_FILE), yaml).unwrap_or_else(|e| panic!("{e}"))
}

fn policy_problems(yaml: &str) -> Vec<String> {
    load_str(Path::new(POLICY_FILE), yaml).unwrap_err().problems.iter().map(ToString::to_string).collect()
}

#[test]
fn the_root_and_the_docker_socket_are_refused_by_default() {
    assert_eq!(
        bind("/:/host"),
        ["spec.volumes[0]: host path / holds the Docker socket /run/docker.sock: access to it is root on the host (bindMounts.dockerSocket: false)"]
    );
    assert_eq!(
        bind("/var/run/docker.sock:/var/run/docker.sock"),
        ["spec.volumes[0]: host path /var/run/docker.sock is the Docker socket: access to it is root on the host (bindMounts.dockerSocket: false)"]
    );
    // Wherever it is: a rootless daemon's, a copy's, or in a folder that holds it.
    for socket in ["/run/user/1000/docker.sock", "/home/ci/docker.sock", "/srv/x/docker.sock"] {
        assert!(bind(&format!("{socket}:/s"))[0].contains("is the Docker socket"), "{socket}");
    }
    for folder in ["/run", "/var/run", "/var/run/", "/var", "//run"] {
        assert!(bind(&format!("{folder}:/r:ro"))[0].contains("holds the Docker socket"), "{folder}");
    }
}

#[test]
fn the_kernel_docker_and_root_are_refused_at_under_and_above() {
    for (path, message) in [
        ("/proc", "host path /proc is refused by bindMounts.deny"),
        ("/proc/1/root", "host path /proc/1/root is under /proc, which bindMounts.deny refuses"),
        ("/sys/fs/cgroup", "host path /sys/fs/cgroup is under /sys, which bindMounts.deny refuses"),
        ("/boot", "host path /boot is refused by bindMounts.deny"),
        ("/root/.ssh", "host path /root/.ssh is under /root, which bindMounts.deny refuses"),
        (
            "/var/lib/docker/volumes",
            "host path /var/lib/docker/volumes is under /var/lib/docker, which bindMounts.deny refuses",
        ),
        ("/var/lib", "host path /var/lib holds /var/lib/containerd, which bindMounts.deny refuses"),
        ("/dev/sda", "host path /dev/sda is under /dev, which bindMounts.deny refuses"),
    ] {
        assert_eq!(bind(&format!("{path}:/x:ro")), [format!("spec.volumes[0]: {message}")], "{path}");
    }
}

#[test]
fn paths_are_normalised_before_they_are_compared() {
    assert!(bind("/etc/../proc:/x:ro")[0].contains("host path /proc is refused"));
    assert!(bind("/srv/../../..//proc/:/x:ro")[0].contains("host path /proc is refused"));
    assert!(bind("/srv/./../var/lib/docker//:/x:ro")[0].contains("host path /var/lib/docker is refused"));
    assert!(bind("///:/host:ro")[0].contains("host path / holds the Docker socket"));
}

#[test]
fn paths_are_compared_by_components_not_by_text() {
    assert!(bind("/etcetera:/x").is_empty(), "/etcetera is not under /etc");
    assert!(bind("/procedures:/x").is_empty());
    assert!(bind("/rooted:/x").is_empty());
    assert!(bind("/var/lib/dockerish:/x").is_empty());
    assert!(bind("/srv/docker.sock.d:/x").is_empty(), "only a file named docker.sock is the socket");
}

#[test]
fn etc_is_read_only_and_single_files_may_be_bound_read_only() {
    assert!(bind("/etc/localtime:/etc/localtime:ro").is_empty());
    assert!(bind("/etc/ssl/certs:/etc/ssl/certs:ro").is_empty());
    assert_eq!(
        bind("/etc/localtime:/etc/localtime"),
        ["spec.volumes[0]: host path /etc/localtime is read-write, but bindMounts.readOnly allows /etc read-only only: make the mount read-only"]
    );
    assert!(bind("/etc:/host-etc")[0].contains("holds /etc/gshadow, which bindMounts.deny refuses"));
    assert!(bind("/etc:/host-etc:ro")[0].contains("holds /etc/gshadow"), "the whole of /etc holds its secrets");
    assert!(bind("/etc/shadow:/s:ro")[0].contains("host path /etc/shadow is refused by bindMounts.deny"));
    assert!(bind("/usr/local/bin:/b")[0].contains("allows /usr read-only only"));
    assert!(bind("/usr/local/bin:/b:ro").is_empty());
    // The long form says read-only its own way.
    let long = "  volumes:\n    - {type: bind, source: /etc/hosts, target: /etc/hosts, readOnly: true}\n";
    assert!(violations(&Policy::default(), &service_with(long)).is_empty());
}

#[test]
fn relative_binds_are_checked_where_they_resolve() {
    // The manifest is /srv/m/web.yaml: `./conf` is /srv/m/conf.
    assert!(bind("./conf:/conf").is_empty());
    assert_eq!(
        bind("../../etc/cron.d:/c"),
        ["spec.volumes[0]: host path /etc/cron.d is read-write, but bindMounts.readOnly allows /etc read-only only: make the mount read-only"]
    );
    assert!(bind("../../../../..:/host")[0].contains("host path / holds the Docker socket"));
}

#[test]
fn symbolic_links_are_checked_as_docker_mounts_them() {
    let yaml = service_with("  volumes: [\"./evil:/host\", \"./conf/app:/app\"]\n");
    let links = BTreeMap::from([("/srv/m/evil", "/"), ("/srv/m/conf/app", "/srv/conf/app")]);
    assert_eq!(
        violations_with_links(&Policy::default(), &yaml, &links),
        ["spec.volumes[0]: host path /srv/m/evil, which symbolic links make /, holds the Docker socket /run/docker.sock: access to it is root on the host (bindMounts.dockerSocket: false)"]
    );
}

#[test]
fn a_volume_that_binds_a_host_path_is_checked_as_a_bind() {
    let yaml = [
        service_with("  volumes: [\"rootfs:/host\", \"plain:/data\"]\n"),
        "---\napiVersion: moor/v1\nkind: Volume\nmetadata: {name: rootfs}\nspec: {options: {type: none, o: bind, device: /}}\n".into(),
        "---\napiVersion: moor/v1\nkind: Volume\nmetadata: {name: plain}\n".into(),
    ]
    .concat();
    assert_eq!(
        violations(&Policy::default(), &yaml),
        ["spec.volumes[0]: volume rootfs binds host path /, which holds the Docker socket /run/docker.sock: access to it is root on the host (bindMounts.dockerSocket: false)"]
    );
}

#[test]
fn a_custom_policy_allows_only_what_it_names() {
    let p =
        policy("apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  bindMounts:\n    allow: [/srv/data, /etc/localtime]\n");
    let check = |text: &str| violations(&p, &service_with(&format!("  volumes: [\"{text}\"]\n")));
    assert!(check("/srv/data:/data").is_empty());
    assert!(check("/srv/data/app/:/data").is_empty());
    assert!(check("/etc/localtime:/etc/localtime:ro").is_empty());
    assert_eq!(
        check("/srv/database:/db"),
        ["spec.volumes[0]: host path /srv/database is outside bindMounts.allow (/srv/data, /etc/localtime)"]
    );
    assert!(check("/srv/data/../secrets:/s")[0].contains("host path /srv/secrets is outside"));
    // The rules it left out keep their defaults.
    assert!(check("/etc/localtime:/etc/localtime")[0].contains("read-only only"));
    assert!(check("/srv/data/docker.sock:/s")[0].contains("is the Docker socket"));
}

#[test]
fn an_allowed_socket_and_emptied_lists_allow_anything() {
    let p = policy(
        "apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  bindMounts: {deny: [], readOnly: [], dockerSocket: true}\n  hostNamespaces: {network: true}\n",
    );
    let yaml =
        service_with("  volumes: [\"/:/host\", \"/var/run/docker.sock:/var/run/docker.sock\"]\n  networks: [host]\n");
    assert!(violations(&p, &yaml).is_empty());
}

#[test]
fn the_socket_moor_talks_to_counts_as_the_docker_socket() {
    let p = Policy::default().with_docker_socket("/srv/engine/api.sock");
    let yaml = service_with("  volumes: [\"/srv/engine:/e\"]\n");
    assert_eq!(
        violations(&p, &yaml),
        ["spec.volumes[0]: host path /srv/engine holds the Docker socket /srv/engine/api.sock: access to it is root on the host (bindMounts.dockerSocket: false)"]
    );
}

#[test]
fn registries_ports_and_the_host_network() {
    let p = policy(
        "apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  registries: [ghcr.io, \"*.corp.example\"]\n  hostPorts: [443, \"8000-8999\"]\n",
    );
    let yaml = |image: &str, extra: &str| {
        format!("apiVersion: moor/v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  image: {image}\n{extra}")
    };
    assert!(violations(&p, &yaml("ghcr.io/acme/web:1", "  ports: [\"443:443\", \"8080:80\", \"9000\"]\n")).is_empty());
    assert!(violations(&p, &yaml("registry.corp.example/web:1", "")).is_empty());
    assert_eq!(
        violations(&p, &yaml("nginx:1.27", "  ports: [\"8443:443\", \"80:80\"]\n")),
        [
            "spec.image: image nginx:1.27 comes from registry docker.io, which registries does not allow (ghcr.io, *.corp.example)",
            "spec.ports[1]: host port 80 is outside hostPorts (443, 8000-8999)",
        ]
    );
    // Any registry and any port by default; the host network is refused.
    let d = Policy::default();
    assert!(violations(&d, &yaml("nginx", "  ports: [\"80:80\"]\n")).is_empty());
    assert_eq!(
        violations(&d, &yaml("nginx", "  networks: [shop, host]\n")),
        ["spec.networks[1]: the host network gives the container the host's network stack; hostNamespaces.network is false"]
    );
}

#[test]
fn an_absent_service_asks_nothing_of_the_host() {
    assert!(violations(&Policy::default(), &service_with("  state: absent\n  volumes: [\"/:/host\"]\n")).is_empty());
}

#[test]
fn violations_are_located_where_the_manifest_writes_them() {
    // Mounts are sorted by target for the spec hash: `/a` comes first, but the user wrote it
    // second.
    let yaml = service_with("  volumes:\n    - ./conf:/z\n    - /proc:/a\n  ports: [\"9000:9000\", \"80:80\"]\n");
    let d = admit(&policy("apiVersion: moor/v1\nkind: HostPolicy\nspec: {hostPorts: [9000]}\n"), desired(&yaml));
    let problems: Vec<String> = d.refused["web"].problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "/srv/m/web.yaml:8:7: spec.volumes[1]: host path /proc is refused by bindMounts.deny",
            "/srv/m/web.yaml:9:24: spec.ports[1]: host port 80 is outside hostPorts (9000)",
        ]
    );
    assert!(d.services.is_empty());
    assert_eq!(
        refused_text(&d.refused["web"]),
        "refused by policy: /srv/m/web.yaml:8:7: spec.volumes[1]: host path /proc is refused by bindMounts.deny; /srv/m/web.yaml:9:24: spec.ports[1]: host port 80 is outside hostPorts (9000)"
    );
}

#[test]
fn the_default_policy_is_a_file_with_no_rules() {
    assert_eq!(policy("apiVersion: moor/v1\nkind: HostPolicy\n"), Policy::default());
    assert_eq!(policy("apiVersion: moor/v1\nkind: HostPolicy\nspec: {}\n"), Policy::default());
    let d = Policy::default();
    assert_eq!(d.binds.allow, [HostPath::root()]);
    assert!(!d.binds.docker_socket && !d.privileged && !d.host_namespaces.network);
    assert!(d.capabilities.is_empty() && d.devices.is_empty());
    assert_eq!(d.read_paths, [Path::new("/etc/moor/secrets")]);
}

#[test]
fn read_paths_replace_the_default_and_are_normalised() {
    let p = policy("apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  readPaths: [/srv/secrets/, //etc/moor/./app]\n");
    assert_eq!(p.read_paths, [Path::new("/srv/secrets"), Path::new("/etc/moor/app")]);
    // `[]` is not the default: nothing outside the manifest source.
    assert!(policy("apiVersion: moor/v1\nkind: HostPolicy\nspec: {readPaths: []}\n").read_paths.is_empty());
    // The other rules keep their defaults.
    assert_eq!(p.binds, Policy::default().binds);
}

#[test]
fn read_paths_must_be_absolute_without_dot_dot() {
    let text = "apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  readPaths:\n    - /etc/moor\n    - secrets\n    - /etc/moor/../shadow\n    - /srv/..\n";
    assert_eq!(
        policy_problems(text),
        [
            "/etc/moor/policy.yaml:6:7: spec.readPaths[1]: \"secrets\" is not an absolute path: readPaths must be absolute folders",
            "/etc/moor/policy.yaml:7:7: spec.readPaths[2]: \"/etc/moor/../shadow\" holds '..': write the folder itself",
            "/etc/moor/policy.yaml:8:7: spec.readPaths[3]: \"/srv/..\" holds '..': write the folder itself",
        ]
    );
    // A name that merely starts with dots is a name.
    assert_eq!(
        policy("apiVersion: moor/v1\nkind: HostPolicy\nspec: {readPaths: [/srv/..data]}\n").read_paths,
        [Path::new("/srv/..data")]
    );
    // Written with no value: an error, as every rule.
    assert_eq!(
        policy_problems("apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  readPaths:\n"),
        ["/etc/moor/policy.yaml:4:3: spec.readPaths: must be a list, not empty"]
    );
}

#[test]
fn policy_file_problems_are_located() {
    let text = "apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  bindMounts:\n    alow: [/srv]\n    deny: [srv/x]\n  hostPorts: [0, \"9000-8000\", 80]\n  registries: [ghcr.io/acme]\n";
    assert_eq!(
        policy_problems(text),
        ["/etc/moor/policy.yaml:5:5: spec.bindMounts.alow: unknown field \"alow\""],
        "the schema speaks first"
    );
    let text = text.replace("alow", "allow");
    assert_eq!(
        policy_problems(&text),
        [
            "/etc/moor/policy.yaml:6:12: spec.bindMounts.deny[0]: \"srv/x\" is not an absolute path: host paths here must be absolute",
            "/etc/moor/policy.yaml:7:15: spec.hostPorts[0]: port 0 is out of range (1-65535)",
            "/etc/moor/policy.yaml:7:18: spec.hostPorts[1]: the range 9000-8000 is empty: write the lower port first",
            "/etc/moor/policy.yaml:8:16: spec.registries[0]: \"ghcr.io/acme\" is not a registry: a pattern names a registry host (with its port), without a repository path",
        ]
    );
}

#[test]
fn a_broken_or_empty_policy_file_is_an_error() {
    assert_eq!(
        policy_problems(""),
        ["/etc/moor/policy.yaml: the policy file is empty: write apiVersion: moor/v1, kind: HostPolicy and the rules"]
    );
    assert!(policy_problems("apiVersion: moor/v1\nkind: [\n")[0].starts_with("/etc/moor/policy.yaml:3:1: "));
    assert_eq!(
        policy_problems("apiVersion: moor/v1\nkind: Service\n"),
        ["/etc/moor/policy.yaml:2:7: kind: must be one of \"HostPolicy\""]
    );
    assert_eq!(
        policy_problems("apiVersion: moor/v1\nkind: HostPolicy\n---\napiVersion: moor/v1\nkind: HostPolicy\n"),
        ["/etc/moor/policy.yaml:4:1: a policy file holds one document"]
    );
    // Every entry commented out is not "the default": it is an error.
    assert_eq!(
        policy_problems("apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  bindMounts:\n    allow:\n    # - /srv\n"),
        ["/etc/moor/policy.yaml:5:5: spec.bindMounts.allow: must be a list, not empty"]
    );
    let missing = load(Path::new("/nonexistent/policy.yaml")).unwrap_err();
    assert!(missing.to_string().contains("cannot read the policy file"), "{missing}");
}

#[test]
fn the_powerful_fields_are_refused_by_default_each_at_its_field() {
    let yaml = service_with(
        "  privileged: true\n  capAdd: [SYS_ADMIN, chown, CAP_NET_ADMIN]\n  devices: [\"/dev/fuse\", \"/dev/kvm:/dev/kvm:rw\"]\n  pid: host\n  ipc: host\n",
    );
    assert_eq!(
        violations(&Policy::default(), &yaml),
        [
            "spec.privileged: a privileged container has every capability and device of the host; privileged is false",
            "spec.capAdd[2]: capability NET_ADMIN is beyond Docker's default set and not in capabilities (none)",
            "spec.capAdd[0]: capability SYS_ADMIN is beyond Docker's default set and not in capabilities (none)",
            "spec.devices[0]: host device /dev/fuse is outside devices (none)",
            "spec.devices[1]: host device /dev/kvm is outside devices (none)",
            "spec.pid: the host's pid namespace shows and signals every process of the host; hostNamespaces.pid is false",
            "spec.ipc: the host's ipc namespace shares the host's System V IPC and shared memory; hostNamespaces.ipc is false",
        ]
    );
    // What Docker gives anyway, and namespaces that are the container's own, pass.
    let harmless = service_with("  capAdd: [CHOWN, NET_BIND_SERVICE]\n  capDrop: [ALL]\n  ipc: shareable\n");
    assert!(violations(&Policy::default(), &harmless).is_empty());

    let p = policy(
        "apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  privileged: true\n  capabilities: [CAP_SYS_ADMIN, NET_ADMIN]\n  devices: [/dev/fuse]\n  hostNamespaces: {pid: true, ipc: true}\n",
    );
    assert_eq!(violations(&p, &yaml), ["spec.devices[1]: host device /dev/kvm is outside devices (/dev/fuse)"]);
    // ALL is every capability at once: only a policy that names ALL allows it.
    assert_eq!(
        violations(&p, &service_with("  capAdd: [ALL]\n")),
        ["spec.capAdd[0]: capability ALL is beyond Docker's default set and not in capabilities (NET_ADMIN, SYS_ADMIN)"]
    );
    let all = policy("apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  capabilities: [ALL]\n  devices: [/dev]\n");
    assert!(violations(&all, &service_with("  capAdd: [ALL]\n  devices: [\"/dev/snd/seq\"]\n")).is_empty());
}

#[test]
fn security_options_that_take_a_confinement_away_need_privileged() {
    let yaml = service_with(
        "  securityOpt:\n    - no-new-privileges\n    - seccomp=unconfined\n    - apparmor:unconfined\n    - systempaths=unconfined\n    - label=disable\n    - label=type:svirt_apache_t\n",
    );
    assert_eq!(
        violations(&Policy::default(), &yaml),
        [
            "spec.securityOpt[2]: apparmor:unconfined takes away the container's AppArmor profile; only a policy with privileged: true allows it",
            "spec.securityOpt[4]: label=disable takes away the container's SELinux labelling; only a policy with privileged: true allows it",
            "spec.securityOpt[1]: seccomp=unconfined takes away the container's seccomp filter of system calls; only a policy with privileged: true allows it",
            "spec.securityOpt[3]: systempaths=unconfined takes away the container's masked and read-only /proc and /sys paths; only a policy with privileged: true allows it",
        ]
    );
    let p = policy("apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  privileged: true\n");
    assert!(violations(&p, &yaml).is_empty());
}

#[test]
fn a_refused_power_is_located_in_the_manifest() {
    let yaml = service_with("  capAdd:\n    - NET_ADMIN\n    - CHOWN\n  privileged: true\n");
    let d = admit(&Policy::default(), desired(&yaml));
    let problems: Vec<String> = d.refused["web"].problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "/srv/m/web.yaml:9:15: spec.privileged: a privileged container has every capability and device of the host; privileged is false",
            "/srv/m/web.yaml:7:7: spec.capAdd[0]: capability NET_ADMIN is beyond Docker's default set and not in capabilities (none)",
        ]
    );
}

#[test]
fn the_host_user_and_cgroup_namespaces_are_refused_by_default() {
    let yaml = service_with("  userns: host\n  cgroup: host\n");
    assert_eq!(
        violations(&Policy::default(), &yaml),
        [
            "spec.userns: the host's user namespace turns off the daemon's user remapping, so root in the container is root on the host; hostNamespaces.user is false",
            "spec.cgroup: the host's cgroup namespace shows the host's whole cgroup tree; hostNamespaces.cgroup is false",
        ]
    );
    assert!(violations(&Policy::default(), &service_with("  cgroup: private\n")).is_empty());
    let p = policy("apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  hostNamespaces: {user: true, cgroup: true}\n");
    assert!(violations(&p, &yaml).is_empty());
    assert_eq!(
        violations(&Policy::default(), &service_with("  networkMode: host\n")),
        ["spec.networkMode: the host network gives the container the host's network stack; hostNamespaces.network is false"]
    );
    let network = policy("apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  hostNamespaces: {network: true}\n");
    assert!(violations(&network, &service_with("  networkMode: host\n")).is_empty());
    // The map form of networks: the refusal is at the network's name.
    assert_eq!(
        violations(&Policy::default(), &service_with("  networks: { host: }\n")),
        ["spec.networks.host: the host network gives the container the host's network stack; hostNamespaces.network is false"]
    );
}

#[test]
fn device_rules_gpus_and_the_host_uts_namespace_need_the_policy() {
    let yaml = service_with("  deviceCgroupRules: [\"c 1:3 mr\", \"a *:* rwm\"]\n  gpus: all\n  uts: host\n");
    assert_eq!(
        violations(&Policy::default(), &yaml),
        [
            "spec.deviceCgroupRules[0]: device cgroup rule \"c 1:3 mr\" gives access to host devices by number; devices does not allow all of /dev (none)",
            "spec.deviceCgroupRules[1]: device cgroup rule \"a *:* rwm\" gives access to host devices by number; devices does not allow all of /dev (none)",
            "spec.uts: the host's uts namespace shares the host's hostname and domain name (which CAP_SYS_ADMIN may change); hostNamespaces.uts is false",
            "spec.gpus: GPUs are host devices the daemon's driver hands over; gpus is false",
        ]
    );
    // A device folder is not all of /dev: a rule by number reaches any device.
    let some = policy("apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  devices: [/dev/fuse, /dev/snd]\n  gpus: true\n");
    assert_eq!(
        violations(&some, &yaml)[0],
        "spec.deviceCgroupRules[0]: device cgroup rule \"c 1:3 mr\" gives access to host devices by number; devices does not allow all of /dev (/dev/fuse, /dev/snd)"
    );
    assert_eq!(violations(&some, &yaml).len(), 3);
    let all = policy(
        "apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  devices: [/dev]\n  gpus: true\n  hostNamespaces: {uts: true}\n",
    );
    assert!(violations(&all, &yaml).is_empty());
}

#[test]
fn joins_of_containers_outside_the_manifests_need_the_policy() {
    let yaml = format!(
        "{}---\napiVersion: moor/v1\nkind: Service\nmetadata: {{name: db}}\nspec: {{image: app:1}}\n",
        service_with("  pid: container:node-exporter\n  ipc: container:shm\n  volumesFrom: [\"container:sock:ro\", service:db]\n")
    );
    let got = violations(&Policy::default(), &yaml);
    assert_eq!(
        got,
        [
            "spec.ipc: container \"shm\" is not one of this source's services; containerJoins does not name it (none)",
            "spec.pid: container \"node-exporter\" is not one of this source's services; containerJoins does not name it (none)",
            "spec.volumesFrom[0]: container \"sock\" is not one of this source's services; containerJoins does not name it (none)",
        ]
    );
    let named = policy("apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  containerJoins: [node-exporter, shm, sock]\n");
    assert!(violations(&named, &yaml).is_empty());
    let any = policy("apiVersion: moor/v1\nkind: HostPolicy\nspec:\n  containerJoins: [\"*\"]\n");
    assert!(violations(&any, &yaml).is_empty());
    let network = service_with("  networkMode: container:vpn\n");
    assert_eq!(violations(&Policy::default(), &network).len(), 1);
}
