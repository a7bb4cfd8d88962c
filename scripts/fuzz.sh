#!/usr/bin/env bash
# Runs each libFuzzer target of tests/fuzz for a set time and prints the
# executions per target and in total. The fuzzers must be built first:
#
#   CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DVMAKIT_FUZZ=ON
#   ninja -C build-fuzz vma-fuzz-all
#   scripts/fuzz.sh [--seconds N] [--build DIR] [--merge] [TARGET...]
#
# TARGET is maps, core, elf, args or toml (default: every one built). Each
# target starts from its committed seeds (tests/fuzz/corpus/TARGET) and keeps
# what it finds in DIR/fuzz-corpus/TARGET; --merge then adds the inputs that
# bring new coverage to the committed corpus (libFuzzer -merge=1). A finding
# (crash, leak, UB, timeout) is saved as DIR/fuzz-artifacts/TARGET-*, its
# report in DIR/fuzz-logs/TARGET.log, and makes the script exit 1.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$top/build-fuzz
seconds=60
merge=0
targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --merge) merge=1; shift ;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if ((${#targets[@]} == 0)); then
  for t in maps core elf args toml; do
    [[ -x $build/vma-fuzz-$t ]] && targets+=("$t")
  done
fi
if ((${#targets[@]} == 0)); then
  echo "fuzz.sh: no fuzzers in $build; build them (see the top of this script)" >&2
  exit 2
fi

mkdir -p "$build/fuzz-corpus" "$build/fuzz-artifacts" "$build/fuzz-logs"
total=0
status=0
printf '%-6s %12s %8s %8s %10s  %s\n' target execs seconds inputs bytes result
for t in "${targets[@]}"; do
  bin=$build/vma-fuzz-$t
  seeds=$top/tests/fuzz/corpus/$t
  work=$build/fuzz-corpus/$t
  log=$build/fuzz-logs/$t.log
  [[ -x $bin ]] || { echo "fuzz.sh: $bin not built" >&2; exit 2; }
  mkdir -p "$work"
  # Longest input per target: far above any real args or TOML file; maps
  # inputs only need a few lines to reach every rule; cores need room.
  case $t in
    args) max_len=256 ;; maps|toml) max_len=16384 ;; *) max_len=131072 ;;
  esac
  dict=()
  [[ -f $top/tests/fuzz/$t.dict ]] && dict=(-dict="$top/tests/fuzz/$t.dict")
  start=$(date +%s)
  result=ok
  # Leaks are findings too (LeakSanitizer runs at exit and every input).
  if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 "$bin" "${dict[@]}" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
      -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t-" \
      "$work" "$seeds" >"$log" 2>&1; then
    result="FINDING (see $log)"
    status=1
  fi
  elapsed=$(($(date +%s) - start))
  execs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$log" | tail -1)
  execs=${execs:-0}
  total=$((total + execs))
  inputs=$(find "$work" -type f | wc -l)
  bytes=$(find "$work" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  printf '%-6s %12d %8d %8d %10d  %s\n' "$t" "$execs" "$elapsed" "$inputs" "$bytes" "$result"
  if ((merge)); then
    "$bin" -merge=1 -max_len="$max_len" "$seeds" "$work" >>"$log" 2>&1
  fi
done
echo "total executions: $total"
exit $status
