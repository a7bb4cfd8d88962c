#!/bin/sh
# The step of harness/lava/vmakit-harness.yaml:
#
#   run-ktap.sh HARNESS [vma-harness run options...]
#
# Runs `HARNESS run --format ktap OPTIONS`, prints the KTAP (the job log keeps
# it: KernelCI and humans read it there) and keeps it in
# output/vma-harness.ktap (its stderr in output/vma-harness.stderr, printed
# after it as KTAP comments), then reports each top-level result line to LAVA:
# `ok N NAME` pass, `ok N NAME # SKIP why` skip, `not ok N NAME` fail, with
# NAME's characters outside [A-Za-z0-9._-] made '_' ("audit:mmap_min_addr"
# -> "audit_mmap_min_addr"), plus one case "vma-harness-exit" for the
# harness's own exit status (0 pass; 1 a probe failed; 2 usage; 128+N a
# signal). Outside LAVA (no lava-test-case on PATH) it only prints.
set -u
harness=${1:?usage: run-ktap.sh HARNESS [vma-harness run options...]}
shift
mkdir -p output
# stderr to a file: the harness draws its ASLR progress bar only on a
# terminal, and under LAVA stderr would be the serial console (a tty) whose
# every byte lands in the job log. Its messages are printed after the KTAP.
"$harness" run --format ktap "$@" >output/vma-harness.ktap 2>output/vma-harness.stderr
rc=$?
cat output/vma-harness.ktap
if [ -s output/vma-harness.stderr ]; then
  sed 's/^/# stderr: /' output/vma-harness.stderr
fi

report() {
  if command -v lava-test-case >/dev/null 2>&1; then
    lava-test-case "$1" --result "$2"
  else
    echo "result: $1 $2"
  fi
}

# Top-level result lines only (nested KTAP subtests are indented).
grep -E '^(not )?ok [0-9]+ ' output/vma-harness.ktap | while IFS= read -r line; do
  case $line in
    "not ok "*) result=fail; rest=${line#not ok } ;;
    *) result=pass; rest=${line#ok } ;;
  esac
  rest=${rest#* }              # drop the number
  name=${rest%% *}
  case $rest in
    *" # SKIP"*) result=skip ;;
  esac
  report "$(printf '%s' "$name" | tr -c 'A-Za-z0-9._-' '_')" "$result"
done

if [ "$rc" -eq 0 ]; then report vma-harness-exit pass; else report vma-harness-exit fail; fi
echo "vma-harness exit status $rc"
exit 0
