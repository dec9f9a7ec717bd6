#!/usr/bin/env bash
# Runs every libFuzzer harness of a build (cmake -DAGG_FUZZ=ON): its seed corpus replayed, then fuzzing for a set time; non-zero on any crash, leak or timeout.
# Usage: scripts/fuzz.sh [--seconds N] [--only NAME[,NAME...]] BUILD_DIR
#        scripts/fuzz.sh --selftest BUILD_DIR   (the runner fails on a crash, a leak and a found input)
# Each target fuzzes a corpus of its own under BUILD_DIR/fuzz-run/<name>/ (the seeds of
# tests/fuzz/corpus/<name>/ copied in; it grows from run to run, tests/ is never written), and a
# crashing input is kept as BUILD_DIR/fuzz-crashes/<name>/<kind>-<sha1> (kind: crash, leak,
# timeout, oom); replay it with BUILD_DIR/fuzz/fuzz_<name> <that file>. Each failing harness and
# its new inputs (base64) are also written to BUILD_DIR/fuzz-failures.txt, which the test runner
# prints last: a CI run's clone is gone afterwards, and its log is then all that is left.
set -uo pipefail
seconds=${FUZZ_SECONDS:-60}
only=""
selftest=0
while [ $# -gt 1 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --only) only=",$2,"; shift 2 ;;
    --selftest) selftest=1; shift ;;
    *) break ;;
  esac
done
build_dir=${1:?usage: scripts/fuzz.sh [--seconds N] [--only NAME] BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build_dir=$(cd "$build_dir" && pwd) || exit 2
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
shopt -s nullglob

total_execs=0
report=""
# run_target NAME BINARY SEEDS_DIR DICT WORK_DIR CRASH_DIR: replays every seed, then fuzzes a copy
# for $seconds; prints a row of the table; 0 when nothing failed.
run_target() {
  local name=$1 bin=$2 seeds=$3 dict=$4 work=$5 crashes=$6
  if [ ! -x "$bin" ]; then
    echo "$name: $bin is not built (CC=clang cmake -DAGG_FUZZ=ON, target fuzz: make build-fuzz)" >&2
    return 1
  fi
  mkdir -p "$work/corpus" "$crashes"
  local log=$work/fuzz.log
  local args=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "-artifact_prefix=$crashes/")
  [ -n "$dict" ] && args+=("-dict=$dict")
  local before
  before=$(ls "$crashes")
  # Every seed (and every input once fixed, kept there as a regression) must pass as it is.
  local seed_files=("$seeds"/*)
  if [ ${#seed_files[@]} -eq 0 ]; then
    echo "$name: no seed corpus in $seeds" >&2
    return 1
  fi
  if ! "$bin" "${args[@]}" "${seed_files[@]}" >"$work/replay.log" 2>&1; then
    echo "$name: a seed of $seeds fails; see $work/replay.log:" >&2
    grep -m3 -E 'ERROR|SUMMARY|invariant failed' "$work/replay.log" >&2
    [ -n "$report" ] && echo "$name: a seed of $seeds fails: $(grep -m1 -E 'ERROR|invariant failed' "$work/replay.log")" >>"$report"
    return 1
  fi
  cp -n "${seed_files[@]}" "$work/corpus/"
  "$bin" "${args[@]}" -max_total_time="$seconds" "$work/corpus" >"$log" 2>&1
  local rc=$?
  local execs rate n_corpus new
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  n_corpus=$(ls "$work/corpus" | wc -l)
  local new_files
  new_files=$(comm -13 <(printf '%s\n' "$before" | sort) <(ls "$crashes" | sort) | grep .)
  new=$(printf '%s' "$new_files" | grep -c .)
  total_execs=$(( total_execs + ${execs:-0} ))
  printf '%-24s %10s %10s %8s %8s\n' "$name" "${execs:-?}" "${rate:-?}" "$n_corpus" "$new"
  if [ $rc -ne 0 ] || [ $new -gt 0 ]; then
    echo "$name: FAILED (exit $rc); input kept in $crashes/, log $log:" >&2
    grep -m3 -E 'ERROR|SUMMARY|invariant failed' "$log" >&2
    [ -n "$report" ] && record_failure "$name" "$bin" "$log" "$crashes" "$new_files"
    return 1
  fi
  return 0
}

# record_failure NAME BINARY LOG CRASH_DIR NEW_FILES: appends the harness, its log's first error
# line and each of NEW_FILES (names in CRASH_DIR, one a line) in base64, to replay:
# base64 -d > f; BINARY f.
record_failure() {
  local name=$1 bin=$2 log=$3 crashes=$4 new_files=$5 f
  {
    echo "$name: $(grep -m1 -E 'ERROR|invariant failed' "$log" || echo "exit without a report, see $log")"
    printf '%s\n' "$new_files" | while read -r f; do
      [ -n "$f" ] || continue
      echo "  $f (replay: base64 -d > in; ${bin#"$root"/} in): $(head -c 4096 "$crashes/$f" | base64 -w0)"
    done
  } >>"$report"
}

if [ $selftest = 1 ]; then
  # A harness that crashes or leaks on marker inputs (tests/fuzz/selftest/): each way of failing
  # must fail the run, and a clean one must pass.
  bin=$build_dir/fuzz-selftest/fuzz_selftest
  st=$build_dir/fuzz-selftest/run
  rm -rf "$st"
  bad=0
  run_target ok "$bin" tests/fuzz/selftest/ok "" "$st/ok" "$st/ok-crashes" >/dev/null || { echo "selftest: a clean harness failed" >&2; bad=1; }
  for kind in crash leak; do
    if run_target "$kind" "$bin" "tests/fuzz/selftest/$kind" "" "$st/$kind" "$st/$kind-crashes" >/dev/null 2>&1; then
      echo "selftest: a seed that makes a $kind passed" >&2
      bad=1
    fi
  done
  if FUZZ_SELFTEST=find run_target find "$bin" tests/fuzz/selftest/ok "" "$st/find" "$st/find-crashes" >/dev/null 2>&1 \
      || [ -z "$(ls "$st/find-crashes")" ]; then
    echo "selftest: a crash found by fuzzing did not fail the run or left no input" >&2
    bad=1
  fi
  [ $bad = 0 ] && echo "fuzz selftest: a crash, a leak and a found input each fail the run; a clean run passes"
  exit $bad
fi

# The harnesses are the sources (a binary left from a removed one is not run).
report=$build_dir/fuzz-failures.txt
: >"$report"
failed=()
ran=0
printf '%-24s %10s %10s %8s %8s\n' target execs exec/s corpus crashes
for src in tests/fuzz/fuzz_*.c; do
  name=${src##*/fuzz_}
  name=${name%.c}
  [ -n "$only" ] && [[ "$only" != *",$name,"* ]] && continue
  # A harness names its dictionary in a comment line: "dictionary: json.dict".
  dict=$(grep -o 'dictionary: [A-Za-z0-9_.-]*\.dict' "$src" | head -1 | cut -d' ' -f2)
  ran=$(( ran + 1 ))
  run_target "$name" "$build_dir/fuzz/fuzz_$name" "tests/fuzz/corpus/$name" "${dict:+tests/fuzz/$dict}" \
    "$build_dir/fuzz-run/$name" "$build_dir/fuzz-crashes/$name" || failed+=("$name")
done

if [ $ran -eq 0 ]; then
  echo "fuzz: no harness ran (none in tests/fuzz, or none of --only)" >&2
  exit 2
fi
echo "fuzz: $ran harnesses, $total_execs executions, $seconds s each"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: no crashes"
