#!/usr/bin/env python3
"""Records the labels a moor release wrote on its containers: the fixture of tests/upgrade.rs.

    python3 scripts/upgrade-fixture.py OLD_MOOR [--out tests/fixtures/upgrade]

For each manifest CASE.yaml in the fixture folder (its service named `__NAME__`), applies it with
OLD_MOOR under a throwaway instance, then writes CASE.labels.json: the release's version, the
image and image ID the containers were built from, and each container's labels as `docker
inspect` shows them (the image's own labels left out). Run it once, with the release before the
one under test; it cleans up what it made. Needs the test image moor-test/busybox:1 (any `cargo
test` builds it).
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile


def docker(*args):
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("moor")
    ap.add_argument("--out", default="tests/fixtures/upgrade")
    args = ap.parse_args()
    version = subprocess.run([args.moor, "--version"], check=True, capture_output=True, text=True).stdout.strip()
    instance = f"upgrade-fixture-{os.getpid()}"
    # Each case alone in its instance's folder: the others' containers are pruned as it is
    # applied, after they were recorded.
    cases = sorted(glob.glob(os.path.join(args.out, "*.yaml")))
    try:
        for path in cases:
            case = os.path.basename(path)[: -len(".yaml")]
            name = f"upfx{os.getpid()}-{case}"
            with tempfile.TemporaryDirectory() as folder, open(path) as f:
                with open(os.path.join(folder, f"{case}.yaml"), "w") as out:
                    out.write(f.read().replace("__NAME__", name))
                subprocess.run([args.moor, "apply", folder, "--instance", instance], check=True)
            ids = docker("ps", "-aq", "--filter", f"label=moor.service={name}", "--filter",
                         f"label=moor.instance={instance}").split()
            containers = []
            for info in json.loads(docker("inspect", *ids)):
                image = json.loads(docker("image", "inspect", info["Image"]))[0]
                image_labels = image["Config"].get("Labels") or {}
                labels = {k: v for k, v in info["Config"]["Labels"].items() if image_labels.get(k) != v}
                # The service name is the test's own: recorded as the placeholder.
                labels = {k: v.replace(name, "__NAME__") for k, v in labels.items()}
                containers.append({"name": info["Name"].lstrip("/").replace(name, "__NAME__"), "labels": labels})
            containers.sort(key=lambda c: c["name"])
            record = {
                "release": version,
                "image": info["Config"]["Image"],
                "imageId": info["Image"],
                # The name `__NAME__` stands for in the labels, as the release hashed them.
                "service": name,
                "containers": containers,
            }
            with open(os.path.join(args.out, f"{case}.labels.json"), "w") as f:
                json.dump(record, f, indent=2, sort_keys=True)
                f.write("\n")
            print(f"{case}: {len(containers)} container(s)")
    finally:
        ids = docker("ps", "-aq", "--filter", f"label=moor.instance={instance}").split()
        if ids:
            docker("rm", "-f", "-v", *ids)
        for volume in docker("volume", "ls", "-q", "--filter", f"name=upfx{os.getpid()}").split():
            docker("volume", "rm", volume)


if __name__ == "__main__":
    sys.exit(main())
