#!/usr/bin/env bash
# Sets up and runs vmakit's aarch64 cross build on Debian 12, idempotently:
# adds the arm64 architecture to dpkg (multiarch, with the machine's own apt
# sources), installs the cross compiler and the arm64 -dev packages when any
# is missing, then configures and builds core, the CLI, the harness and the
# probes for aarch64 in build-aarch64/ (cmake/aarch64-linux-gnu.cmake).
#
#   bash scripts/cross-aarch64.sh            set up and build
#   bash scripts/cross-aarch64.sh --deps     only install the packages
#
# The LLDB and GDB front ends are not cross built (no arm64 LLDB/Python
# development setup here); see README.md.
#
# Environment: CROSS_BUILD_DIR (default: build-aarch64), VMAKIT_SKIP_INSTALL=1
# to never call apt-get (then missing packages are an error).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${CROSS_BUILD_DIR:-$top/build-aarch64}
mode=${1:-}
case "$mode" in
  ""|--deps) ;;
  *) echo "usage: bash scripts/cross-aarch64.sh [--deps]" >&2; exit 2 ;;
esac

# Host tools (amd64) and the target's libraries (arm64, multiarch).
# nlohmann-json3-dev is header only (Architecture: all): the host's copy serves.
# qemu-system-arm carries qemu-system-aarch64 for the arm64 guest
# (scripts/arm64-guest.sh); binutils-aarch64-linux-gnu the objdump the
# disassembly check reads.
packages=(
  g++-aarch64-linux-gnu gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross
  nlohmann-json3-dev pkg-config cmake ninja-build qemu-system-arm cpio
  libelf-dev:arm64 libfmt-dev:arm64 libboost-program-options-dev:arm64 libtomlplusplus-dev:arm64
  liblzma-dev:arm64 zlib1g-dev:arm64
)

as_root() {
  if [[ $(id -u) == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "cross-aarch64: need root or sudo for: $*" >&2
    exit 1
  fi
}

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ ${VMAKIT_SKIP_INSTALL:-0} == 1 ]]; then
    echo "cross-aarch64: missing Debian packages: ${missing[*]}" >&2
    exit 1
  fi
  # Multiarch: the machine's own apt sources serve arm64 too (Debian's
  # archive carries every release architecture under the same URIs).
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    as_root dpkg --add-architecture arm64
  fi
  echo "cross-aarch64: installing ${missing[*]}"
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}"
fi
[[ $mode == --deps ]] && exit 0

cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_TOOLCHAIN_FILE="$top/cmake/aarch64-linux-gnu.cmake" >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" -t vma vma-harness vma-probes vma-testee
