#!/usr/bin/env bash
# Runs the unit (ctest/cmocka), fuzz (libFuzzer), deploy, observability, images, integration and chaos (pytest) and browser (node --test) suites; non-zero on any failure.
set -uo pipefail
only=all
if [ "${1:-}" = "--only" ]; then only=$2; shift 2; fi
build_dir=${1:?build dir}
venv=${2:?venv dir}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export AGG_BUILD_DIR="$root/$build_dir"
# librdkafka keeps a few process-lifetime allocations; the suppressions name them.
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="abort_on_error=0:detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

failed=()
start=$(date +%s)
fuzz_dir=${AGG_FUZZ_BUILD_DIR:-build-fuzz}
fuzz_report=$fuzz_dir/fuzz-failures.txt

if [ "$only" = all ] || [ "$only" = unit ]; then
  echo "== unit tests (cmocka via ctest) =="
  if ! tests/with-redis.sh ctest --test-dir "$build_dir" --output-on-failure -j2; then failed+=(unit); fi
fi
if [ "$only" = all ] || [ "$only" = fuzz ]; then
  # Built apart by clang (make build-fuzz): every seed replayed as a regression, then a short run each.
  echo "== fuzz (libFuzzer harnesses of tests/fuzz, ${FUZZ_TEST_SECONDS:-8} s each) =="
  rm -f "$fuzz_report"
  if ! scripts/fuzz.sh --selftest "$fuzz_dir" \
      || ! scripts/fuzz.sh --seconds "${FUZZ_TEST_SECONDS:-8}" "$fuzz_dir"; then
    failed+=(fuzz)
  fi
fi
if [ "$only" = all ] || [ "$only" = deploy ]; then
  echo "== deployment tests (helm chart, docker-compose.yml; offline) =="
  if ! (cd tools/manifestcheck && go test ./...) || ! "$venv/bin/pytest" tests/deploy -q -p no:cacheprovider; then
    failed+=(deploy)
  fi
fi
if [ "$only" = all ] || [ "$only" = observability ]; then
  # promtool (Debian's prometheus package): the alert rules, their unit tests, the dashboard's queries.
  echo "== observability (alert rules and dashboard: promtool, the programs' metric names) =="
  if ! "$venv/bin/pytest" tests/observability -q -p no:cacheprovider; then failed+=(observability); fi
fi
if [ "$only" = all ] || [ "$only" = images ]; then
  # The images' own build directory (base cache, smoke wrappers): AGG_IMAGES_BUILD_DIR, else build.
  images_dir=${AGG_IMAGES_BUILD_DIR:-build}
  echo "== container images (buildah: build, contents, the scenario table against them) =="
  if ! scripts/images.sh "$images_dir" || ! python3 tests/images/check_images.py \
      || ! python3 tests/images/check_images.py --negative || ! tests/images/smoke.sh "$images_dir" "$venv"; then
    failed+=(images)
  fi
fi
if [ "$only" = all ] || [ "$only" = integration ]; then
  echo "== integration tests (real Kafka, real Redis) =="
  if ! "$venv/bin/pytest" tests/integration -q -p no:cacheprovider; then failed+=(integration); fi
fi
if [ "$only" = all ] || [ "$only" = chaos ]; then
  # A stack of its own; make chaos runs the long form (CHAOS_DURATION_S, CHAOS_RATE).
  echo "== chaos test (kill -9 and restart of gateways, workers, Redis, Kafka under load) =="
  if ! "$venv/bin/pytest" tests/chaos -q -p no:cacheprovider; then failed+=(chaos); fi
fi
if [ "$only" = all ] || [ "$only" = e2e ]; then
  echo "== browser tests (chromium + playwright-core) =="
  if ! (cd web && node --test --test-concurrency=1 tests/); then failed+=(e2e); fi
fi

echo "== done in $(( $(date +%s) - start )) s =="
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED suites: ${failed[*]}"
  # What the fuzzers found, last, so that the tail of a CI log holds the inputs to replay.
  if [[ " ${failed[*]} " == *" fuzz "* ]] && [ -s "$fuzz_report" ]; then
    echo "fuzz failures ($fuzz_report):"
    cat "$fuzz_report"
  fi
  exit 1
fi
echo "all suites passed"
