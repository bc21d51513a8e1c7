#!/usr/bin/env bash
# Fuzzes the manifest loader and the plan with libFuzzer for SECONDS each (default 60).
# usage: scripts/fuzz.sh [SECONDS]    (scripts/fuzz.sh build: only build the fuzzers)
# Needs a nightly toolchain (`rustup toolchain install nightly`) or RUSTC_BOOTSTRAP=1 on stable,
# and a C++ compiler for libFuzzer. The instrumentation flags are cargo-fuzz's own, passed
# directly, so cargo-fuzz need not be installed (`cargo fuzz run manifest_load` works as well).
# Corpora grow in fuzz/corpus/TARGET (seeded from manifests/); crashes land in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros (they would need the
# fuzzer's runtime to link), as cargo-fuzz does.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo "${toolchain[@]}" build --release --bins --quiet --target "$host"
[ "$seconds" = build ] && exit 0
mkdir -p corpus/manifest_load corpus/plan artifacts
cp -n ../manifests/*.yaml corpus/manifest_load/ 2>/dev/null || true
for target in manifest_load plan; do
  echo "fuzz: $target for ${seconds}s"
  ./target/"$host"/release/"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=artifacts/"$target"- -print_final_stats=1 corpus/"$target" 2>&1 \
    | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|Test unit written)' || true
  if ls artifacts/"$target"-* >/dev/null 2>&1; then
    echo "fuzz: $target found a crash: fuzz/artifacts/" >&2
    exit 1
  fi
done
