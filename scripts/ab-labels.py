#!/usr/bin/env python3
"""The cost of the `moor.last-applied` label: a no-op `moor apply` at N services over containers
labelled by an OLD moor (full label) and by a NEW one (slim label), same machine, alternating
rounds, medians; plus the label sizes and the list call's own size and time.

    python3 scripts/ab-labels.py OLD_MOOR NEW_MOOR [--services 50] [--rounds 15]

Three arms, each timed once in every round, in a new (seeded) order each round:
- old/full: OLD's apply over the containers OLD created (the release before, as it ran);
- new/full: NEW's apply over those same containers (an upgraded host: NEW keeps them, labels and
  all, since their hash matches);
- new/slim: NEW's apply over the containers NEW created.
The manifests are those of scripts/ab.py (figure #1). Needs the test image moor-test/busybox:1
(any `cargo test` builds it). Cleans up what it made.
"""
import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ab import manifests, timed  # noqa: E402  (figure #1's manifests and timer)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def docker_socket():
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    assert host.startswith("unix://"), "a unix socket DOCKER_HOST"
    return host[len("unix://"):]


def list_call(instance):
    """The list call moor makes (all containers with the instance label): (bytes, ms)."""
    filters = json.dumps({"label": [f"moor.instance={instance}"]})
    conn = UnixHTTPConnection(docker_socket())
    start = time.perf_counter()
    conn.request("GET", "/containers/json?all=1&filters=" + urllib.parse.quote(filters))
    body = conn.getresponse().read()
    ms = (time.perf_counter() - start) * 1000
    conn.close()
    return len(body), ms


def labels_of(instance):
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=moor.instance={instance}"], capture_output=True, text=True, check=True
    ).stdout.split()
    out = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True).stdout
    return [c["Config"]["Labels"] for c in json.loads(out)]


def sizes(instance):
    labels = labels_of(instance)
    last = [len(l["moor.last-applied"].encode()) for l in labels]
    moor = [sum(len(k.encode()) + len(v.encode()) for k, v in l.items() if k.startswith("moor.")) for l in labels]
    payload, _ = list_call(instance)
    return {
        "containers": len(labels),
        "last_applied": statistics.mean(last),
        "moor_labels": statistics.mean(moor),
        "list_bytes_per_container": payload / len(labels),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--services", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    full, slim = f"lbfull{os.getpid()}", f"lbslim{os.getpid()}"
    arms = {"old/full": (args.old, full), "new/full": (args.new, full), "new/slim": (args.new, slim)}
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        folders = {full: a, slim: b}
        manifests(a, args.services, full)
        manifests(b, args.services, slim)
        try:
            subprocess.run([args.old, "apply", a, "--instance", full], check=True, stdout=subprocess.DEVNULL)
            subprocess.run([args.new, "apply", b, "--instance", slim], check=True, stdout=subprocess.DEVNULL)
            before = {full: sizes(full), slim: sizes(slim)}
            full_labels = sorted(json.dumps(l, sort_keys=True) for l in labels_of(full))
            noop = {arm: [] for arm in arms}
            listing = {full: [], slim: []}
            order = list(arms)
            rng = random.Random(1)
            for _ in range(args.rounds):
                # A new order each round: no arm always runs right after another.
                rng.shuffle(order)
                for arm in order:
                    binary, instance = arms[arm]
                    noop[arm].append(timed([binary, "apply", folders[instance], "--instance", instance]))
                for instance in listing:
                    listing[instance].append(list_call(instance)[1])
            # NEW kept OLD's containers as they were (the new/full arm measured full labels).
            assert sorted(json.dumps(l, sort_keys=True) for l in labels_of(full)) == full_labels, "NEW replaced OLD's containers"
        finally:
            for instance in (full, slim):
                ids = subprocess.run(
                    ["docker", "ps", "-aq", "--filter", f"label=moor.instance={instance}"], capture_output=True, text=True
                ).stdout.split()
                if ids:
                    subprocess.run(["docker", "rm", "-f", *ids], stdout=subprocess.DEVNULL)
    for instance, name in ((full, "full (OLD's)"), (slim, "slim (NEW's)")):
        s = before[instance]
        print(
            f"label {name}: moor.last-applied {s['last_applied']:.0f} B, moor.* labels {s['moor_labels']:.0f} B, "
            f"list response {s['list_bytes_per_container']:.0f} B per container ({s['containers']} containers); "
            f"list call median {statistics.median(listing[instance]):.2f} ms (of {len(listing[instance])})"
        )
    for arm, times in noop.items():
        print(
            f"{arm}: no-op apply at {args.services}: median {statistics.median(times):.1f} ms, "
            f"min {min(times):.1f} ms (of {len(times)})"
        )


if __name__ == "__main__":
    sys.exit(main())
