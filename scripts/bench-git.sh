#!/usr/bin/env bash
# The git source's figures (BENCHMARKS.md, "GitOps"): an idle poll's cost on the wire beside
# `git ls-remote` and `git fetch`, and push-to-converged latency with a webhook beside `git pull`
# + `moor apply`. Needs a Docker Engine, busybox-static and git (with `git http-backend`).
# About 2 minutes after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin moor --example git_bench
target/release/examples/git_bench
