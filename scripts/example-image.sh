#!/usr/bin/env bash
# Builds moor-example/busybox:1, the image the example manifests run, FROM scratch with the
# static busybox of Debian's busybox-static: no registry needed. Installs busybox-static when it
# is missing and this is root on an apt system (as .ci/run does); otherwise says what to run.
set -euo pipefail
if [ ! -x /bin/busybox ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "example-image.sh: installing busybox-static" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq busybox-static >&2
  else
    echo "example-image.sh: /bin/busybox is missing; install it first:" >&2
    echo "  sudo apt-get install busybox-static" >&2
    exit 1
  fi
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp /bin/busybox "$ctx/busybox"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' >"$ctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t moor-example/busybox:1 "$ctx" >/dev/null 2>"$ctx/log" || { cat "$ctx/log" >&2; exit 1; }
echo "built moor-example/busybox:1"
