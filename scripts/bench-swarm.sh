#!/usr/bin/env bash
# The Swarm backend's cost (BENCHMARKS.md, "Swarm backend"): the wall time of an in-sync
# `moor plan --backend swarm` and `moor apply --backend swarm` on the example folder
# (manifests-swarm/), side by side with `docker stack deploy` of the same stack unchanged, and
# whether each wrote to the swarm (a service's Version.Index moves on every update, even an
# identical one).
#
# Starts a swarm of one of its own: a dockerd in its own network namespace (never one with
# `--bridge none` in the machine's namespace, which would delete docker0), as the tests do, and
# removes all of it at the end, also on a failure or Ctrl-C. Needs root, a Docker Engine (for the
# example image), busybox-static, iproute2. RUNS (default 20) of each; by hand, not in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
MOOR=${MOOR:-target/release/moor}
[ "$MOOR" = target/release/moor ] && cargo build --release --bin moor
scripts/example-image.sh >/dev/null

work=$(mktemp -d)
ns="moor-bench-swarm-$$"
sock="unix://$work/docker.sock"
D() { docker -H "$sock" "$@"; }
cleanup() {
  [ -f "$work/dockerd.pid" ] && kill "$(cat "$work/dockerd.pid")" 2>/dev/null || true
  for _ in $(seq 50); do [ -S "$work/docker.sock" ] || break; sleep 0.2; done
  # A swarm daemon leaves nsfs mounts under its exec root (trap T8): deepest first.
  grep " $work/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo '{}' >"$work/daemon.json"
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
nsenter --net="/var/run/netns/$ns" dockerd --data-root "$work/data" --exec-root "$work/exec" \
  --pidfile "$work/dockerd.pid" -H "$sock" --bridge none --iptables=false --shutdown-timeout 1 \
  --config-file "$work/daemon.json" >"$work/dockerd.log" 2>&1 &
for _ in $(seq 100); do D version >/dev/null 2>&1 && break; sleep 0.2; done
docker save moor-example/busybox:1 | D load -q >/dev/null
D swarm init --advertise-addr 127.0.0.1 >/dev/null
D node update --label-add role=app "$(D node ls -q)" >/dev/null

m=(--backend swarm --host "$sock" --instance bench --state-dir "$work/state")
"$MOOR" apply manifests-swarm "${m[@]}" >/dev/null 2>&1

# Median of RUNS wall times, in milliseconds, of the command given.
median_ms() {
  local times=()
  for _ in $(seq "$RUNS"); do
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    end=$(date +%s%N)
    times+=($(((end - start) / 1000000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
version() { D service inspect -f '{{.Version.Index}}' "$1"; }

v0=$(version bench_web)
plan=$(median_ms "$MOOR" plan manifests-swarm "${m[@]}")
apply=$(median_ms "$MOOR" apply manifests-swarm "${m[@]}")
v1=$(version bench_web)

# The same stack for `docker stack deploy`: web and api as the manifests describe them.
cat >"$work/stack.yaml" <<'EOF'
version: "3.8"
services:
  web:
    image: moor-example/busybox:1
    command: ["sh", "-c", "mkdir -p /srv && echo ok > /srv/index.html; trap 'exit 0' TERM; httpd -f -p 8080 -h /srv & wait"]
    environment: { LOG_LEVEL: info }
    ports: [{ target: 8080, published: 18091, mode: host }]
    networks: [shop]
    deploy:
      resources: { limits: { memory: 64M, cpus: "0.5" } }
      update_config: { order: stop-first, monitor: 5s, failure_action: rollback }
  api:
    image: moor-example/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 5; done & wait"]
    environment: { DB_HOST: db.internal }
    networks: [shop]
    secrets: [{ source: db, target: db_password, mode: 0400 }]
    deploy:
      replicas: 2
      placement: { constraints: [node.labels.role==app] }
      update_config: { order: start-first, monitor: 5s, failure_action: rollback }
networks:
  shop: { driver: overlay, attachable: true }
secrets:
  db: { file: ./db.env }
EOF
cp manifests-swarm/db.env "$work/"
(cd "$work" && D stack deploy -c stack.yaml stk >/dev/null 2>&1)
sleep 2
s0=$(version stk_web)
stack=$(median_ms sh -c "cd '$work' && docker -H '$sock' stack deploy -c stack.yaml stk")
s1=$(version stk_web)

echo "runs: $RUNS (median wall time; a swarm of one manager: web 1 task, api 2)"
echo "moor plan --backend swarm (in sync):  ${plan} ms"
echo "moor apply --backend swarm (in sync): ${apply} ms; web's Version.Index $v0 -> $v1"
echo "docker stack deploy (unchanged):      ${stack} ms; web's Version.Index $s0 -> $s1"
