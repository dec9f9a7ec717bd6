#!/usr/bin/env bash
# Builds the load generator into <build>/bench, checks it, and runs the benchmark profiles (bench/harness.py).
#
#   scripts/bench.sh [BUILD_DIR] [harness options...]     e.g. scripts/bench.sh build --profiles open-500
#
# Environment: BENCH_PROFILES (comma list), BENCH_STREAMS (density K, default 50000),
# BENCH_CONCURRENCY (closed-loop sweep, default 16,32,64,256), BENCH_QUICK=1 (short windows),
# BENCH_PERF=1 (perf profiles of gateway, worker and redis in closed-1x1),
# BENCH_HTTP_LISTENERS (the density gateway's HTTP_LISTENERS; unset: its default).
set -euo pipefail
build_dir=${1:-build}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac

for b in gateway worker resource-sim; do
    [ -x "$build_dir/$b" ] || { echo "bench: $build_dir/$b not found (build first: make build)" >&2; exit 2; }
done

# Many streams need many descriptors: the stack started below inherits this limit.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# Through the main build (bench/ is its subdirectory): configuring build/bench as a project of
# its own would overwrite the main build's files there and break the next `make build`.
cmake --build "$build_dir" --target loadgen bench_selftest -j"$(nproc)" >/dev/null
"$build_dir/bench/bench_selftest"

args=(--build-dir "$build_dir" --loadgen "$build_dir/bench/loadgen")
[ -n "${BENCH_PROFILES:-}" ] && args+=(--profiles "$BENCH_PROFILES")
[ -n "${BENCH_STREAMS:-}" ] && args+=(--streams "$BENCH_STREAMS")
[ -n "${BENCH_CONCURRENCY:-}" ] && args+=(--concurrency "$BENCH_CONCURRENCY")
[ "${BENCH_QUICK:-0}" = 1 ] && args+=(--quick)
[ "${BENCH_PERF:-0}" = 1 ] && args+=(--perf)
exec python3 bench/harness.py "${args[@]}" "$@"
