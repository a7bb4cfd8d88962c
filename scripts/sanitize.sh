#!/usr/bin/env bash
# Builds vmakit with AddressSanitizer + UndefinedBehaviorSanitizer
# (-DVMAKIT_SANITIZE=ON, LeakSanitizer on) in its own build tree and runs the
# test suite there, leaving out the tests labelled "no-sanitizer" (each label
# says why where it is set: a debugger that loads an instrumented plugin
# without the ASan runtime, peak-RSS measurements).
#
#   bash scripts/sanitize.sh             configure, build, test
#   BUILD_DIR=... JOBS=... bash scripts/sanitize.sh
#
# Exits with ctest's status. Measured from scratch on 2 cores: see
# docs/robustness.md.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$top/build-asan}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMAKIT_SANITIZE=ON >/dev/null
cmake --build "$build" -j "$jobs"

# Any report fails the test that triggered it: UBSan halts (the build uses
# -fno-sanitize-recover), ASan and LeakSanitizer exit non-zero.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top/scripts/lsan.supp:print_suppressions=0}
exec ctest --test-dir "$build" --output-on-failure -j "$jobs" -LE no-sanitizer
