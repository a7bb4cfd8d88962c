#!/usr/bin/env bash
# The bash completion (packaging/completion/vmakit.bash) against the built
# programs: it is sourced in a bash with the build tree first on PATH, and the
# completion functions are called as bash would (COMP_WORDS, COMP_CWORD).
# Every offered word is checked against what the programs say or accept.
#
#   completion_test.sh COMPLETION_SCRIPT BUILD_DIR MAPS_FILE
set -uo pipefail
script=$1 build=$2 maps=$3
export PATH=$build:$PATH NO_COLOR=1
# shellcheck source=/dev/null
source "$script"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# complete WORD... : COMPREPLY for the last word, one per line, sorted.
complete_words() {
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  local fn
  fn=$(complete -p "$1" | awk '{ print $(NF - 1) }')
  "$fn"
  printf '%s\n' "${COMPREPLY[@]}" | sort
}
same() {  # same NAME EXPECTED ACTUAL
  if [[ $2 != "$3" ]]; then
    fail "$1"
    diff <(echo "$2") <(echo "$3") | head -20 >&2
  fi
}

# Commands: what --help names, and nothing else.
same "vma commands" "$(printf '%s\n' --help --version fault kinds map whereis | sort)" "$(complete_words vma '')"
same "vma-harness commands" "$(printf '%s\n' --help --version aslr audit demo initramfs list matrix run vm | sort)" \
  "$(complete_words vma-harness '')"

# Options: the option table of each command's --help.
for cmd in whereis map fault; do
  want=$(vma "$cmd" --help | sed -nE 's/^ +(-[A-Za-z] \[ )?(--[a-z][a-z0-9-]*).*/\2/p' | sort -u)
  same "vma $cmd options" "$want" "$(complete_words vma "$cmd" --)"
done
same "vma map --g" "--gaps" "$(complete_words vma map --g)"
got=$(complete_words vma-harness run --)
for opt in --only --profile --format --with-audit --with-aslr --jobs --timeout --spec --as-root; do
  grep -qx -- "$opt" <<<"$got" || fail "vma-harness run -- lacks $opt"
done
grep -qx -- --step <<<"$got" && fail "vma-harness run -- offers demo's --step"

# Region kinds: exactly `vma kinds`' names; each one accepted by --kind.
kinds=$(vma kinds | awk '{ print $1 }' | sort)
same "vma map --kind" "$kinds" "$(complete_words vma map --kind '')"
[[ $(wc -l <<<"$kinds") -ge 19 ]] || fail "vma kinds lists $(wc -l <<<"$kinds") kinds"
same "vma map --kind th" "thread-stack" "$(complete_words vma map --kind th)"
for k in $kinds; do
  vma map --maps "$maps" --kind "$k" >/dev/null 2>&1 || fail "vma map --kind $k (offered) refused"
done

# Architectures and colours: each offered value is accepted.
for a in $(complete_words vma map --arch ''); do
  vma map --maps "$maps" --arch "$a" >/dev/null 2>&1 || fail "vma map --arch $a (offered) refused"
done
for c in $(complete_words vma map --color ''); do
  vma map --maps "$maps" --color "$c" >/dev/null 2>&1 || fail "vma map --color $c (offered) refused"
done

# Pids: a process started here is offered for --pid and -p.
sleep 60 &
pid=$!
grep -qx "$pid" <<<"$(complete_words vma whereis --pid '')" || fail "vma whereis --pid does not offer $pid"
grep -qx "$pid" <<<"$(complete_words vma map -p "${pid:0:2}")" || fail "vma map -p ${pid:0:2} does not offer $pid"
kill "$pid"; wait "$pid" 2>/dev/null

# Probe ids: exactly those `vma-harness list --format json` has, after a comma too.
ids=$(vma-harness list --format json | /usr/bin/python3 -c '
import json, sys
print("\n".join(sorted(p["probe"] for p in json.load(sys.stdin)["probes"])))')
same "vma-harness run --only" "$ids" "$(complete_words vma-harness run --only '')"
same "--only null-read,text-w" "null-read,text-write" "$(complete_words vma-harness run --only null-read,text-w)"

# Formats: each offered one is accepted by run (one probe) and by list.
for f in $(complete_words vma-harness run --format ''); do
  vma-harness run --only null-read --format "$f" >/dev/null 2>&1 || fail "run --format $f (offered) refused"
done
same "list --format" "$(printf '%s\n' json text)" "$(complete_words vma-harness list --format '')"
same "matrix --format" "$(printf '%s\n' json junit ktap text)" "$(complete_words vma-harness matrix --format '')"
same "vm --accel" "$(printf '%s\n' auto kvm tcg)" "$(complete_words vma-harness vm --accel '')"
for a in $(complete_words vma-harness vm --arch ''); do
  vma-harness vm --help | grep -q -- '--arch' || fail "vm has no --arch"
  grep -qE "^(x86_64|aarch64)$" <<<"$a" || fail "vm --arch $a offered"
done
for d in $(complete_words vma-harness demo ''); do
  [[ $d =~ ^(wx|guard|null|stack)$ ]] || fail "demo $d offered"
done
same "demo" "$(printf '%s\n' guard null stack wx)" "$(complete_words vma-harness demo '')"

# Files for --maps.
same "--maps file" "$maps" "$(complete_words vma map --maps "$maps")"

if ((fails)); then
  echo "$fails failures" >&2
  exit 1
fi
echo "ok: completion of commands, options, $(wc -l <<<"$kinds") kinds, $(wc -l <<<"$ids") probes, pids, formats, files"
