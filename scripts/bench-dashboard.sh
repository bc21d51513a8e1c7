#!/usr/bin/env bash
# The dashboard's cost (BENCHMARKS.md, "Dashboard"): bytes of the page, its assets and one `live`
# server-sent event, and the CPU time of an idle `moor run` over BENCH_SECS (default 60) seconds
# with no page open, with 5 `curl -N` on /events, and with 5 tabs of one headless chromium.
#
# Runs the repo's example manifests (manifests/, image built by scripts/example-image.sh) under
# a throwaway instance, network, volume and token, on a free loopback port, and removes all of it at the end, also
# on a failure or Ctrl-C. Needs a Docker Engine, busybox-static, curl, python3 and chromium; by
# hand, not in CI: about 5 minutes after the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${BENCH_SECS:-60}
MOOR=target/release/moor

cargo build --release --bin moor
scripts/example-image.sh
command -v chromium >/dev/null || { echo "bench-dashboard.sh: chromium is missing (apt-get install chromium)" >&2; exit 1; }

work=$(mktemp -d)
instance="bench-dash-$$"
token=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
printf '%s\n' "$token" >"$work/token"
pids=()

cleanup() {
  # Only what this script started: its own children by id, then its instance by label.
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$MOOR" down --yes --volumes --instance "$instance" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The examples, with their network, volume and published port renamed for this run: those names
# are daemon-wide, and another instance on this daemon may hold the examples' own.
mkdir "$work/m"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
net="shop-$$" vol="data-$$" web_port=$(free_port)
for f in manifests/*.yaml; do
  sed -e "s/^  name: shop$/  name: $net/" -e "s/\[shop\]/[$net]/" \
    -e "s/^  name: data$/  name: $vol/" -e "s/- data:\/srv/- $vol:\/srv/" \
    -e "s/127.0.0.1:18080:8080/127.0.0.1:$web_port:8080/" "$f" >"$work/m/$(basename "$f")"
done

port=$(free_port)
url="http://127.0.0.1:$port"
"$MOOR" run "$work/m" --instance "$instance" --listen "127.0.0.1:$port" \
  --listen-token-file "$work/token" 2>"$work/moor.log" &
moor=$!
pids+=("$moor")

# Waits (60 s at most) until `cmd...` succeeds.
wait_for() {
  local what=$1; shift
  for _ in $(seq 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "bench-dashboard.sh: timed out waiting for $what; moor's log:" >&2
  tail -30 "$work/moor.log" >&2
  exit 1
}
wait_for "/readyz" curl -fsS -H "Authorization: Bearer $token" "$url/readyz"
wait_for "the examples in sync" "$MOOR" status "$work/m" --instance "$instance"

# (a) Bytes: the page and its assets as served (identity encoding), and what gzip would make of
# the page; then the `live` messages a drift (the worker removed by hand) pushes.
size() { curl -fsS -o /dev/null -w '%{size_download}' -u "u:$token" "$url$1"; }
page=$(size /)
css=$(size /ui/style.css)
js=$(size /ui/live.js)
page_gz=$(curl -fsS -u "u:$token" "$url/" | gzip -9 -c | wc -c)

timeout 15 curl -sN -u "u:$token" "$url/events" >"$work/sse.txt" || true &
sse=$!
sleep 2
docker rm -f "${instance}_worker" >/dev/null
wait "$sse" || true
read -r sse_count sse_first sse_max < <(python3 - "$work/sse.txt" <<'EOF'
import sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
# One message per blank-line-separated block; its size as sent, the blank line included.
live = [len((m + "\n\n").encode()) for m in text.split("\n\n") if "event: live" in m.split("\n")]
print(len(live), live[0] if live else 0, max(live) if live else 0)
EOF
)
wait_for "the worker repaired" "$MOOR" status "$work/m" --instance "$instance"

# (b) CPU of the controller: utime + stime from /proc/PID/stat, in ms per minute.
hz=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$moor/stat"; }
measure() {
  local a b
  a=$(ticks); sleep "$SECS"; b=$(ticks)
  echo $(( (b - a) * 1000 / hz * 60 / SECS ))
}
cpu0=$(measure)

curls=()
for i in 1 2 3 4 5; do
  curl -sN -u "u:$token" "$url/events" >"$work/idle-$i.txt" &
  curls+=("$!"); pids+=("$!")
done
sleep 2
live_msgs() { cat "$work"/idle-*.txt | grep -c '^event: live' || true; }
before=$(cat "$work"/idle-*.txt | wc -c) before_msgs=$(live_msgs)
cpu_curl=$(measure)
after=$(cat "$work"/idle-*.txt | wc -c) after_msgs=$(live_msgs)
idle_bytes=$(( (after - before) / 5 * 60 / SECS ))
idle_msgs=$(( (after_msgs - before_msgs) * 60 / SECS / 5 ))
for pid in "${curls[@]}"; do kill "$pid" 2>/dev/null || true; done

# 5 tabs of one headless chromium over the DevTools protocol (a minimal WebSocket client: the
# standard library has none), each with the token as an Authorization header, as the test does.
cat >"$work/tabs.py" <<'EOF'
import base64, json, os, re, signal, socket, struct, subprocess, sys, tempfile, time
url, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
# The script's cleanup sends SIGTERM: exit through `finally`, which kills the browser.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
profile = tempfile.mkdtemp()
browser = subprocess.Popen(
    ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + profile,
     "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"],
    stderr=subprocess.PIPE, text=True, start_new_session=True)
try:
    ws_url = None
    for line in browser.stderr:
        m = re.search(r"DevTools listening on (ws://\S+)", line)
        if m:
            ws_url = m.group(1)
            break
    host, port, path = re.match(r"ws://([^:/]+):(\d+)(/.*)", ws_url).groups()
    s = socket.create_connection((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, buf = buf.split(b"\r\n\r\n", 1)
    assert b" 101 " in head.split(b"\r\n")[0], head
    def read(k):
        global buf
        while len(buf) < k:
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError
            buf += chunk
        out, buf = buf[:k], buf[k:]
        return out
    def recv():
        data = b""
        while True:
            b0, b1 = read(2)
            k = b1 & 0x7F
            if k == 126: k = struct.unpack(">H", read(2))[0]
            elif k == 127: k = struct.unpack(">Q", read(8))[0]
            data += read(k)
            if b0 & 0x80:
                return data
    ids = iter(range(1, 1 << 30))
    def call(method, params=None, session=None):
        i = next(ids)
        msg = {"id": i, "method": method, "params": params or {}}
        if session: msg["sessionId"] = session
        data, mask = json.dumps(msg).encode(), os.urandom(4)
        k = len(data)
        hdr = bytes([0x81]) + (bytes([0x80 | k]) if k < 126 else bytes([0x80 | 126]) + struct.pack(">H", k))
        s.sendall(hdr + mask + bytes(b ^ mask[j % 4] for j, b in enumerate(data)))
        while True:
            answer = json.loads(recv())
            if answer.get("id") == i:
                if "error" in answer: raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]
    auth = "Basic " + base64.b64encode(f"u:{token}".encode()).decode()
    sessions = []
    for _ in range(n):
        target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        call("Network.enable", session=session)
        call("Network.setExtraHTTPHeaders", {"headers": {"Authorization": auth}}, session)
        call("Page.navigate", {"url": url + "/"}, session)
        sessions.append(session)
    deadline = time.time() + 30
    for session in sessions:
        while True:
            r = call("Runtime.evaluate", {"expression": "document.getElementById('stream')?.dataset.state", "returnByValue": True}, session)
            if r["result"].get("value") == "live": break
            if time.time() > deadline: sys.exit("a tab's stream did not go live in 30 s")
            time.sleep(0.1)
    print("live", flush=True)
    sys.stdin.read()  # until the script closes our stdin
finally:
    os.killpg(browser.pid, 9)
    browser.wait()
EOF
exec 3> >(python3 "$work/tabs.py" "$url" "$token" 5 >"$work/tabs.out" 2>"$work/tabs.err")
tabs=$!
pids+=("$tabs")
wait_for "5 chromium tabs live" grep -q live "$work/tabs.out"
cpu_tabs=$(measure)
exec 3>&-

docker_version=$(docker version -f '{{.Server.Version}}' 2>/dev/null || echo '?')
echo
echo "Run $(date -u +%Y-%m-%dT%H:%MZ) with scripts/bench-dashboard.sh (BENCH_SECS=$SECS); $(nproc) cores, Docker $docker_version; manifests/ (4 objects, 2 services)."
echo
echo "| figure | result |"
echo "|---|---|"
echo "| GET / (identity; gzip -9 would make it) | $page B ($page_gz B) |"
echo "| GET /ui/style.css, GET /ui/live.js | $css B, $js B |"
echo "| one \`live\` event (the worker removed by hand: messages in 13 s, first, largest) | $sse_count, $sse_first B, $sse_max B |"
echo "| /events of an idle controller, per open page | $idle_bytes B a minute ($idle_msgs \`live\` messages) |"
echo "| CPU of idle \`moor run\`, no page open | $cpu0 ms a minute |"
echo "| CPU of idle \`moor run\`, 5 \`curl -N\` on /events | $cpu_curl ms a minute |"
echo "| CPU of idle \`moor run\`, 5 headless chromium tabs on / | $cpu_tabs ms a minute |"
