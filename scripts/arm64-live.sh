#!/bin/sh
# Runs inside the arm64 guest (scripts/arm64-guest.sh -- sh /vmakit/arm64-live.sh):
# `vma map` and `vma whereis` on the live test program, then its
# /proc/PID/maps and a core of its crash (coredump_filter 0: headers and notes
# only, a few KiB), each printed between marker lines so the host can save
# them (tests/data/README.md says how they were made).
set -e
echo 0 > /proc/self/coredump_filter
echo /tmp/core > /proc/sys/kernel/core_pattern
ulimit -c unlimited
# It faults (a store into its own text) when its stdin closes: the core
# then records an arm64 fault with its address.
mkfifo /tmp/testee.in
vma-testee --crash=text-write --crash-after-stdin < /tmp/testee.in > /tmp/testee.out &
pid=$!
exec 3> /tmp/testee.in
i=0
until grep -q '^ready' /tmp/testee.out 2>/dev/null; do
  i=$((i + 1)); [ "$i" -lt 100 ] || { echo "testee never got ready" >&2; exit 1; }
  sleep 0.1
done
# testee prints "name address [tid]": a few of its addresses.
addr() { sed -n "s/^$1 \(0x[0-9a-f]*\).*/\1/p" /tmp/testee.out | head -1; }
echo "== vma map --pid"
vma map --pid "$pid" --gaps
echo "== vma whereis --pid"
vma whereis --pid "$pid" "$(addr text)" "$(addr rodata)" "$(addr heap)" "$(addr main_stack)" "$(addr guard)" \
  0x5a00000000001000 0x00ff000000001000 0xffff800080000000
echo "== testee.out"
cat /tmp/testee.out
echo "== maps"
cat "/proc/$pid/maps"
echo "== end maps"
exec 3>&-
i=0
while ! ls /tmp/core* >/dev/null 2>&1 && [ "$i" -lt 100 ]; do i=$((i + 1)); sleep 0.1; done
sleep 0.5
echo "== core base64"
base64 "$(ls /tmp/core* | head -1)"
echo "== end core"
