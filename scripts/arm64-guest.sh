#!/usr/bin/env bash
# Boots Debian 12's arm64 kernel in QEMU (qemu-system-aarch64 -M virt,mte=on
# -cpu max, TCG) with an initramfs that carries the aarch64 cross build
# (vma, vma-harness, the probes and the shared libraries they load, found
# through the multiarch tree), runs one command there and powers off. Its
# output is the command's; its exit status is the command's.
#
#   bash scripts/arm64-guest.sh [--kernel DIR] [--build DIR] [--timeout S] -- CMD [ARGS...]
#   bash scripts/arm64-guest.sh -- vma-harness run
#
# --kernel: an unpacked linux-image-*-arm64 package (boot/vmlinuz-*,
#   boot/config-*); default $VMAKIT_KERNELS/bookworm-arm64 (default
#   kernels/), fetched with scripts/fetch-kernels.sh --arch arm64 when
#   missing, with the arm64 busybox-static it unpacks beside it.
# --build: the cross build (default build-aarch64; scripts/cross-aarch64.sh).
# CMD runs as root in / of the initramfs, with the build's products on PATH
# and the kernel's config at /boot/config-$(uname -r) for the audit.
#
# What the kernel needs built in (Debian's arm64 6.1 has all of them): the
# PL011 serial console (SERIAL_AMBA_PL011_CONSOLE), BLK_DEV_INITRD with
# RD_GZIP, DEVTMPFS, PROC_FS, SYSFS. No modules are loaded.
#
# The harness itself runs in arm64 guests through `vma-harness vm` (its
# aarch64 row, harness/vm/arch.cc); this script is for what that initramfs
# does not carry: `vma` and the test program live in the guest
# (scripts/arm64-live.sh, tests/cross/arm64_live_test.py, and the captured
# tests/data/testee-arm64-*).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kernel_dir=""
build=$top/build-aarch64
limit=120
while (($#)); do
  case "$1" in
    --kernel) kernel_dir=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --timeout) limit=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: bash scripts/arm64-guest.sh [--kernel DIR] [--build DIR] [--timeout S] -- CMD [ARGS...]" >&2; exit 2 ;;
  esac
done
if (($# == 0)); then
  echo "arm64-guest: no command to run (after --)" >&2
  exit 2
fi
for tool in qemu-system-aarch64 aarch64-linux-gnu-readelf aarch64-linux-gnu-strip cpio gzip; do
  if ! command -v "$tool" >/dev/null; then
    echo "arm64-guest: $tool not found (bash scripts/cross-aarch64.sh --deps installs it)" >&2
    exit 2
  fi
done
if [[ ! -x $build/vma-harness ]]; then
  echo "arm64-guest: $build/vma-harness not built (bash scripts/cross-aarch64.sh)" >&2
  exit 2
fi

# Debian 12's arm64 kernel and an arm64 busybox, fetched by package name
# (scripts/fetch-kernels.sh --arch arm64) into $VMAKIT_KERNELS.
kernels=${VMAKIT_KERNELS:-$top/kernels}
if [[ -z $kernel_dir ]]; then
  kernel_dir=$kernels/bookworm-arm64
  if [[ ! -d $kernel_dir || ! -x $kernels/busybox-static-arm64/bin/busybox ]]; then
    SUITES=bookworm bash "$top/scripts/fetch-kernels.sh" --arch arm64 "$kernels" >&2 || exit 2
  fi
fi
vmlinuz=$(ls "$kernel_dir"/boot/vmlinuz-* 2>/dev/null | head -1)
if [[ -z $vmlinuz ]]; then
  echo "arm64-guest: $kernel_dir: no boot/vmlinuz-* (expected an unpacked linux-image package)" >&2
  exit 2
fi
release=${vmlinuz##*/vmlinuz-}
busybox=$kernels/busybox-static-arm64/bin/busybox
[[ -x $busybox ]] || SUITES=bookworm bash "$top/scripts/fetch-kernels.sh" --arch arm64 "$kernels" >&2 || exit 2

work=$(mktemp -d /tmp/vmakit-arm64-guest.XXXXXX)
qemu_pid=""
cleanup() {
  if [[ -n $qemu_pid ]]; then kill -KILL "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

root=$work/root
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,boot,lib,vmakit/probes,etc}
cp "$busybox" "$root/bin/busybox"
for applet in sh mount poweroff cat echo sleep uname ls mkdir sysctl grep sed kill base64 head tail wc mkfifo; do ln -s busybox "$root/bin/$applet"; done
cp "$build/vma" "$build/vma-harness" "$root/vmakit/"
[[ -x $build/vma-testee ]] && cp "$build/vma-testee" "$root/vmakit/"
cp "$top/scripts/arm64-live.sh" "$root/vmakit/"
cp "$build"/probes/* "$root/vmakit/probes/" 2>/dev/null || true
rm -rf "$root/vmakit/probes/CMakeFiles" "$root/vmakit/probes/cmake_install.cmake"
# Debug info is most of the bytes; the guest needs none of it.
aarch64-linux-gnu-strip --strip-debug "$root/vmakit/vma" "$root/vmakit/vma-harness"
cp "$kernel_dir/boot/config-$release" "$root/boot/" 2>/dev/null || true
echo "nobody:x:65534:65534:nobody:/:/bin/sh" > "$root/etc/passwd"

# The shared libraries the products load, resolved in the multiarch tree.
multiarch=/usr/lib/aarch64-linux-gnu
declare -A seen=()
queue=("$root"/vmakit/vma* "$root"/vmakit/probes/*)
while ((${#queue[@]})); do
  f=${queue[0]}; queue=("${queue[@]:1}")
  while read -r lib; do
    [[ -n ${seen[$lib]:-} ]] && continue
    seen[$lib]=1
    src=$multiarch/$lib
    [[ -e $src ]] || src=/lib/aarch64-linux-gnu/$lib
    if [[ ! -e $src ]]; then echo "arm64-guest: $f needs $lib, not found in $multiarch" >&2; exit 2; fi
    cp -L "$src" "$root/lib/$lib"
    queue+=("$src")
  done < <(aarch64-linux-gnu-readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
done
cp -L /lib/ld-linux-aarch64.so.1 "$root/lib/"

# The command, quoted for sh.
cmd=$(printf '%q ' "$@")
cat > "$root/init" <<INIT
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
export PATH=/vmakit:/bin LD_LIBRARY_PATH=/lib
cd /
echo VMAKIT-BEGIN
$cmd
echo "VMAKIT-EXIT \$?"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd"

log=$work/console
set +e
# pauth-impdef: QEMU's own PAC algorithm instead of QARMA5, which is slow to
# emulate and runs in every function of Debian's arm64 userland (built with
# -mbranch-protection=standard). The kernel sees PAC either way (HWCAP_PACA).
qemu-system-aarch64 -M virt,mte=on -cpu max,pauth-impdef=on -smp 2 -m 1024 -nographic -no-reboot \
  -kernel "$vmlinuz" -initrd "$work/initrd" \
  -append "console=ttyAMA0 quiet panic=-1 rdinit=/init" >"$log" 2>&1 </dev/null &
qemu_pid=$!
deadline=$((SECONDS + limit))
while kill -0 "$qemu_pid" 2>/dev/null; do
  if ((SECONDS >= deadline)); then
    echo "arm64-guest: $release did not finish within ${limit}s; last console lines:" >&2
    tail -n 15 "$log" >&2
    exit 2
  fi
  sleep 0.2
done
wait "$qemu_pid"
qemu_pid=""
set -e
if ! grep -q '^VMAKIT-EXIT ' "$log"; then
  echo "arm64-guest: $release never reached the end of the command; last console lines:" >&2
  tail -n 15 "$log" >&2
  exit 2
fi
sed -n '/^VMAKIT-BEGIN/,/^VMAKIT-EXIT /p' "$log" | sed '1d;$d' | tr -d '\r'
status=$(sed -n 's/^VMAKIT-EXIT \([0-9]*\).*/\1/p' "$log" | tr -d '\r')
exit "$status"
