#!/usr/bin/env bash
# Builds moor-example/busybox:1, the image the example manifests run, FROM scratch with the
# static busybox of Debian's busybox-static: no registry needed.
set -euo pipefail
[ -x /bin/busybox ] || { echo "install busybox-static first (apt-get install busybox-static)" >&2; exit 1; }
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp /bin/busybox "$ctx/busybox"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' >"$ctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t moor-example/busybox:1 "$ctx" >/dev/null 2>"$ctx/log" || { cat "$ctx/log" >&2; exit 1; }
echo "built moor-example/busybox:1"
