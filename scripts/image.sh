#!/usr/bin/env bash
# Builds the moor container image from this checkout, FROM scratch (see Containerfile), pulling
# nothing: the binary comes from cargo (or --binary), its runtime libraries from this machine.
#
#   scripts/image.sh [--binary PATH] [--tag TAG]     (default: cargo build --profile image, moor:latest)
#
# Prints the image's tag and size on stdout; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
tag="moor:latest"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "image.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$binary" ]; then
  # The `image` profile (Cargo.toml): release with fat LTO, one codegen unit, opt-level s and no
  # debug info: a 9.8 MB binary instead of 16 MB stripped, for a 13 MB image.
  echo "image.sh: cargo build --profile image" >&2
  cargo build --profile image --bin moor >&2
  binary=target/image/moor
fi
[ -x "$binary" ] || { echo "image.sh: $binary is not an executable" >&2; exit 1; }
certs=/etc/ssl/certs/ca-certificates.crt
[ -r "$certs" ] || { echo "image.sh: $certs is missing (apt-get install ca-certificates)" >&2; exit 1; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp"
chmod 1777 "$root/tmp"
# A release binary keeps line tables for backtraces on the build machine; the image does not
# need them (stripping is a no-op for the `image` profile's binary).
strip -o "$root/usr/local/bin/moor" "$binary"
cp "$certs" "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/:/sbin/nologin\nmoor:x:65532:65532:moor:/:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nmoor:x:65532:\n' >"$root/etc/group"

# A dynamic binary needs its loader and libraries at the paths it was linked against. ldd lines
# are "name => /path (addr)" or "/path (addr)" for the loader; vdso has no file. cp -L stores the
# file itself where the symlink was, so no link farm is needed.
if ldd "$binary" >/dev/null 2>&1; then
  ldd "$binary" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
else
  echo "image.sh: $binary is static; no libraries copied" >&2
fi

cp Containerfile "$ctx/Containerfile"
# The classic builder: it needs no buildx plugin and, FROM scratch, nothing from any registry.
DOCKER_BUILDKIT=0 docker build -q -f "$ctx/Containerfile" -t "$tag" "$ctx" >/dev/null 2>"$ctx/log" \
  || { cat "$ctx/log" >&2; exit 1; }
size=$(docker image inspect -f '{{.Size}}' "$tag")
echo "$tag $size bytes ($(( (size + 524288) / 1048576 )) MiB)"
