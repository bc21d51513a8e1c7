#!/usr/bin/env python3
"""A/B of two moor binaries on this machine's daemon: figure #1 (no-op `moor apply` at N services)
and figure #7 (drift repair under `moor run`: `docker rm -f` until a new container runs), in
alternating rounds so that both see the same machine load. Used to check that a change does not
make BENCHMARKS.md's figures worse when the machine itself is slower or faster than on the day
of the last full run.

    python3 scripts/ab.py OLD_MOOR NEW_MOOR [--services 50] [--rounds 15] [--repairs 10]

Needs the test image moor-test/busybox:1 (any `cargo test` builds it). Cleans up what it made.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

SLEEPER = "trap 'exit 0' TERM; sleep 1000000 & wait"


def manifests(folder, n, prefix):
    for i in range(n):
        with open(os.path.join(folder, f"s{i}.yaml"), "w") as f:
            f.write(
                f"apiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {prefix}-{i}\nspec:\n"
                f"  image: moor-test/busybox:1\n  pull: never\n  command: [\"sh\", \"-c\", \"{SLEEPER}\"]\n"
                f"  stopTimeout: 5s\n  env: {{ N: \"{i}\" }}\n"
            )


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def container_id(name):
    out = subprocess.run(["docker", "inspect", "-f", "{{.Id}} {{.State.Running}}", name], capture_output=True, text=True)
    if out.returncode != 0:
        return None
    cid, running = out.stdout.split()
    return cid if running == "true" else None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def drift_repairs(moor, folder, instance, prefix, repairs):
    port = free_port()
    log = open(os.path.join(tempfile.gettempdir(), f"ab-{instance}.log"), "w")
    proc = subprocess.Popen(
        [moor, "run", folder, "--instance", instance, "--interval", "60s", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                doc = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=1))
                if doc.get("ready") and all(s.get("inSync") for s in doc["services"].values()):
                    break
            except OSError:
                pass
            time.sleep(0.05)
        times = []
        # A different service each time: removing one twice within ten minutes is a crash loop,
        # whose repairs moor slows down on purpose.
        for k in range(repairs):
            target = f"{prefix}-{k}"
            before = container_id(target)
            start = time.perf_counter()
            subprocess.run(["docker", "rm", "-f", target], check=True, stdout=subprocess.DEVNULL)
            while True:
                now = container_id(target)
                if now and now != before:
                    break
                if time.perf_counter() - start > 30:
                    raise SystemExit(f"{moor}: no repair of {target} within 30 s (log: {log.name})")
                time.sleep(0.005)
            times.append((time.perf_counter() - start) * 1000)
            time.sleep(0.5)  # let the repair's own events settle before the next removal
        return times
    finally:
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--services", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--repairs", type=int, default=10)
    args = ap.parse_args()
    assert args.repairs <= args.services, "each repair removes another service"
    instance = f"ab{os.getpid()}"
    prefix = f"ab{os.getpid()}"
    with tempfile.TemporaryDirectory() as folder:
        manifests(folder, args.services, prefix)
        try:
            subprocess.run([args.new, "apply", folder, "--instance", instance], check=True, stdout=subprocess.DEVNULL)
            noop = {"old": [], "new": []}
            for _ in range(args.rounds):
                for which in ("old", "new"):
                    binary = getattr(args, which)
                    noop[which].append(timed([binary, "apply", folder, "--instance", instance]))
            repair = {"old": [], "new": []}
            for _ in range(2):
                for which in ("old", "new"):
                    binary = getattr(args, which)
                    repair[which] += drift_repairs(binary, folder, instance, prefix, args.repairs)
        finally:
            ids = subprocess.run(
                ["docker", "ps", "-aq", "--filter", f"label=moor.instance={instance}"], capture_output=True, text=True
            ).stdout.split()
            if ids:
                subprocess.run(["docker", "rm", "-f", *ids], stdout=subprocess.DEVNULL)
    for which in ("old", "new"):
        print(
            f"{which}: no-op apply at {args.services}: median {statistics.median(noop[which]):.1f} ms "
            f"(of {len(noop[which])}); drift repair: median {statistics.median(repair[which]):.1f} ms, "
            f"max {max(repair[which]):.1f} ms (of {len(repair[which])})"
        )


if __name__ == "__main__":
    sys.exit(main())
