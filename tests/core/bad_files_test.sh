#!/bin/sh
# Bad core files through a whole program (vma-core-tool, as the CLI will use
# CoreSource): exit status 2 and a message naming the file and the problem;
# never a crash (a signal would show as 128+N). Truncations of every
# structure and malformed notes are covered exactly in core_source_test.
tool=$1
dir=$(mktemp -d /tmp/vmakit-badcore-XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
fail=0
expect() { # file expected-message
  out=$("$tool" core "$1" 2>&1 >/dev/null); rc=$?
  if [ "$rc" -ne 2 ] || [ "$out" != "$2" ]; then
    echo "FAIL: $1: exit $rc, message '$out', expected exit 2 and '$2'"; fail=1
  else
    echo "ok: $out"
  fi
}
: > "$dir/empty"
expect "$dir/empty" "$dir/empty: empty file"
printf 'garbage, not a core\n' > "$dir/garbage"
expect "$dir/garbage" "$dir/garbage: not an ELF file (no ELF magic at offset 0)"
head -c 65536 /dev/zero > "$dir/badident"
printf '\177ELF\003\001\001' | dd of="$dir/badident" conv=notrunc 2>/dev/null
expect "$dir/badident" "$dir/badident: not a valid ELF file: bad identification at offset 4 (EI_CLASS 3, EI_DATA 1, EI_VERSION 1)"
i=0
while [ $i -lt 20 ]; do  # random bytes after a valid e_ident: any error, no crash
  head -c 65536 /dev/urandom > "$dir/random"
  printf '\177ELF\002\001\001' | dd of="$dir/random" conv=notrunc 2>/dev/null
  out=$("$tool" core "$dir/random" 2>&1 >/dev/null); rc=$?
  if [ "$rc" -ne 2 ]; then echo "FAIL: random bytes after ELF magic: exit $rc ($out)"; fail=1; fi
  i=$((i + 1))
done
echo "ok: 20 random files with an ELF64 e_ident: exit 2 each (last: $out)"
expect /bin/true "/bin/true: not a core file (ET_DYN)"
head -c 40 /bin/true > "$dir/short"
expect "$dir/short" "$dir/short: truncated: the ELF header needs 64 bytes at offset 0, the file has 40"
expect "$dir" "$dir: not a regular file"
expect "$dir/missing" "$dir/missing: cannot open: No such file or directory"
exit $fail
