#!/usr/bin/env bash
# Runs inside a fresh Debian 12 minbase root (scripts/fresh-root.sh, started
# by package_test.sh): installs the vmakit .deb the way a user does, uses it
# with no configuration of any kind, removes and purges it, and checks that
# nothing of it is left.
#
#   in_root.sh /root/vmakit_VERSION_ARCH.deb
set -uo pipefail
deb=$1
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
step() { echo "== $*"; }
export DEBIAN_FRONTEND=noninteractive

# apt-get, its output cut to the last lines (the whole on failure).
apt_get() {
  local out
  if out=$(apt-get -q -y "$@" 2>&1); then
    printf '%s\n' "$out" | tail -n 3
    return 0
  fi
  printf '%s\n' "$out" | tail -n 30 >&2
  return 1
}

for f in /root/.lldbinit /root/.gdbinit /root/.config/gdb/gdbinit /etc/gdb/gdbinit.d/vmakit.gdb; do
  [[ -e $f ]] && fail "$f exists before the install: the root is not fresh"
done
if dpkg-query -W lldb-19 gdb >/dev/null 2>&1; then
  fail "lldb-19 or gdb is installed before the install: the root is not fresh"
fi

step "apt-get install $deb (with its Recommends: lldb-19, gdb), and man-db"
apt_get update || exit 1
# man-db first: `man -w` needs it, the package does not depend on it.
apt_get install --no-install-recommends man-db || exit 1
apt_get install "$deb" || exit 1
dpkg-query -W -f='${Package} ${Version} ${Status}\n' vmakit lldb-19 gdb
dpkg -L vmakit | sort >/tmp/vmakit.files

step "vma on PATH, version"
command -v vma vma-harness || fail "vma or vma-harness not on PATH"
vma --version

step "vma map --pid"
sleep 300 &
pid=$!
out=$(vma map --pid "$pid" 2>&1) || fail "vma map --pid $pid exited $?: $out"
printf '%s\n' "$out" | head -n 4
grep -q ' stack  *\[stack\]' <<<"$out" || fail "vma map --pid: no [stack] line"
grep -q '/usr/bin/sleep' <<<"$out" || fail "vma map --pid: no /usr/bin/sleep text"

step "vma-harness run (probes found in /usr/libexec/vmakit/probes, no VMA_PROBES_DIR)"
[[ -z ${VMA_PROBES_DIR:-} ]] || fail "VMA_PROBES_DIR is set"
out=$(vma-harness run 2>&1)
rc=$?
printf '%s\n' "$out" | tail -n 2
grep -q "not found" <<<"$out" && fail "vma-harness run: a probe binary was not found"
n=$(vma-harness list | grep -c '^ *expect:')
grep -qE "^$n probes: [0-9]+ pass, 0 fail, [0-9]+ skip, 0 error" <<<"$out" \
  || fail "vma-harness run: not the $n probes of \`vma-harness list\` without failures and errors (exit $rc)"
((rc == 0)) || fail "vma-harness run exited $rc"

# lldb-19 installs /usr/bin/lldb-19; /usr/bin/lldb comes from the `lldb`
# package (LLVM 14 on Debian 12), which the vmakit package does not pull in.
step "lldb-19 -b: vma whereis \$pc on a launched program, no ~/.lldbinit"
out=$(timeout 300 lldb-19 -b -o 'process launch --stop-at-entry' -o 'vma whereis $pc' -o 'kill' \
  -- /usr/bin/sleep 30 2>&1)
printf '%s\n' "$out" | grep -A2 'vma whereis'
grep -qE '^0x[0-9a-f]+  text  in the text \(code\) of /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2' <<<"$out" \
  || fail "lldb: vma whereis \$pc did not say text of ld.so: $out"

step "gdb -batch: vma whereis \$pc on a launched program, no ~/.gdbinit"
out=$(timeout 300 gdb -batch -ex 'starti' -ex 'vma whereis $pc' -ex 'kill' --args /usr/bin/sleep 30 2>&1)
printf '%s\n' "$out" | grep -A2 -E '^0x[0-9a-f]+  text'
grep -qE '^0x[0-9a-f]+  text  in the text \(code\) of /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2' <<<"$out" \
  || fail "gdb: vma whereis \$pc did not say text of ld.so: $out"

step "man -w, apropos-free checks of the three pages"
for p in vma vma-harness; do
  w=$(man -w "$p") || fail "man -w $p"
  echo "$w"
  [[ $w == /usr/share/man/man1/$p.1.gz ]] || fail "man -w $p says $w"
done
w=$(man -w 7 vmakit-probes) || fail "man -w 7 vmakit-probes"
echo "$w"
man 1 vma 2>&1 | grep -q 'vma whereis' || fail "man vma does not render the commands"

step "bash completion where bash-completion looks"
for c in vma vma-harness; do
  [[ -f /usr/share/bash-completion/completions/$c ]] || fail "no completion for $c"
done
got=$(bash -c 'source /usr/share/bash-completion/completions/vma
  COMP_WORDS=(vma ma); COMP_CWORD=1; _vma; echo "${COMPREPLY[*]}"')
[[ $got == map ]] || fail "installed completion: vma ma -> '$got'"

kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null

step "apt-get remove (conffile stays): the debuggers still start quietly"
apt_get remove vmakit || fail "apt-get remove vmakit"
[[ -f /etc/gdb/gdbinit.d/vmakit.gdb ]] || fail "the conffile went with remove (it stays until purge)"
err=$(gdb -batch -ex 'echo started\n' 2>&1 >/dev/null)
[[ -z $err ]] || fail "gdb after remove says: $err"
err=$(lldb-19 -b -o 'version' 2>&1 >/dev/null)
[[ -z $err ]] || fail "lldb-19 after remove says: $err"

step "apt-get purge vmakit: nothing of it left"
apt_get purge vmakit || fail "apt-get purge vmakit"
if dpkg-query -W -f='${Status}' vmakit 2>/dev/null | grep -q installed; then
  fail "vmakit still known to dpkg"
fi
left=0
while read -r f; do
  [[ -e $f || -L $f ]] || continue
  # A directory another package owns too (/usr/bin, /etc/gdb/gdbinit.d) stays.
  if [[ -d $f && ! -L $f ]] && dpkg-query -S "$f" >/dev/null 2>&1; then
    continue
  fi
  fail "left after purge: $f"
  left=$((left + 1))
done </tmp/vmakit.files
echo "$(wc -l </tmp/vmakit.files) paths listed by dpkg -L before purge, $left left"
[[ -e /etc/gdb/gdbinit.d/vmakit.gdb ]] && fail "conffile left after purge"

if ((fails)); then
  echo "in_root: $fails failures" >&2
  exit 1
fi
echo "in_root: ok"
