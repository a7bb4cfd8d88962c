#!/usr/bin/env bash
# Shows `vma map` and `vma whereis` on a live process (the test program with
# threads, arenas, guard pages, a memfd, a deleted file and a gap).
set -euo pipefail
build=${1:-build}
out=$(mktemp)
trap 'exec 3>&-; wait 2>/dev/null; rm -f "$out"' EXIT
exec 3> >("$build/vma-testee" >"$out")
for _ in $(seq 100); do grep -q '^ready' "$out" && break; sleep 0.05; done
pid=$(awk '/^pid/{print $2}' "$out")
echo "\$ vma map --pid $pid"
"$build/vma" map --pid "$pid"
addrs=$(awk '$1 ~ /^(text|rodata|relro|global_data|global_bss|heap|arena|thread_stack|main_stack|guard|madv_guard|memfd|deleted|gap)$/ {print $2}' "$out" | tr '\n' ' ')
echo
echo "\$ vma whereis --pid $pid $addrs 0 0xffffffff81000000 0x800000000000"
# shellcheck disable=SC2086
"$build/vma" whereis --pid "$pid" $addrs 0 0xffffffff81000000 0x800000000000
