#!/usr/bin/env bash
# Sets vmakit up on Debian 12, idempotently: installs the Debian packages it
# needs (as root, or through sudo) when any is missing, configures and builds.
#
#   bash scripts/setup.sh           set up and build
#   bash scripts/setup.sh --run     ... then run the main job: the harness
#                                   against the running kernel, with its report
#   bash scripts/setup.sh --test    ... then run the whole test suite, and
#                                   again under ASan + UBSan (scripts/sanitize.sh)
#
# Environment: BUILD_DIR (default: build), VMAKIT_SKIP_INSTALL=1 to never
# call apt-get (then missing packages are an error).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$top/build}
mode=${1:-}
case "$mode" in
  ""|--run|--test) ;;
  --cross)
    # bash scripts/setup.sh --cross aarch64: the cross build (its own script).
    [[ ${2:-} == aarch64 ]] || { echo "usage: bash scripts/setup.sh --cross aarch64" >&2; exit 2; }
    exec bash "$top/scripts/cross-aarch64.sh"
    ;;
  *) echo "usage: bash scripts/setup.sh [--run|--test|--cross aarch64]" >&2; exit 2 ;;
esac

packages=(
  g++ cmake ninja-build pkg-config binutils
  libboost-program-options-dev libfmt-dev nlohmann-json3-dev libelf-dev libtomlplusplus-dev catch2
  lldb-19 liblldb-19-dev gdb gdbserver python3 python3-dev pybind11-dev
  paxtest libbenchmark-dev zlib1g-dev python3-tap python3-junitparser
  # robust.cli.maps_500k_lines measures peak RSS with /usr/bin/time.
  time
  # vma-harness vm / matrix: QEMU, the guest's /init, module tools, xz
  # modules, and what fetch-kernels.sh uses (apt, dpkg-deb, depmod).
  qemu-system-x86 busybox-static cpio kmod liblzma-dev procps
  # tests/lava reads the LAVA test definition; scripts/lava-run.sh runs it
  # with the real dispatcher (lava-run) and renders its device dictionary.
  python3-yaml python3-jinja2 lava-dispatcher
  # vma map --svg tests: headless Chromium, PIL to read its screenshot, the SVG's font.
  chromium python3-pil fonts-dejavu-core
  # The Debian package and its test (tests/package): cpack's shlibdeps (dpkg-dev,
  # file), lintian, man pages, a fresh root (debootstrap, git).
  lintian man-db debootstrap git dpkg-dev file
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  if [[ ${VMAKIT_SKIP_INSTALL:-0} == 1 ]]; then
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    exit 1
  fi
  if [[ $(id -u) == 0 ]]; then
    sudo=()
  elif command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "setup: missing Debian packages (${missing[*]}); run as root or install sudo" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# LAVA's device-type templates (qemu.jinja2, base.jinja2) ship only in the
# lava-server .deb: downloaded once and unpacked into the cache for
# scripts/lava-run.sh, never installed (that would pull in a whole server).
lava_cache=${VMAKIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vmakit}/lava-server
if [[ ! -f $lava_cache/usr/share/lava-server/device-types/qemu.jinja2 ]]; then
  echo "setup: unpacking lava-server's device-type templates into $lava_cache"
  mkdir -p "$lava_cache"
  (cd "$lava_cache" && rm -f lava-server_*.deb && apt-get download -qq lava-server)
  dpkg-deb -x "$lava_cache"/lava-server_*.deb "$lava_cache"
  rm -f "$lava_cache"/lava-server_*.deb
fi

# arm64 (issue 15): the aarch64 cross compiler and the arm64 -dev packages
# (multiarch) for the build the arm64 guests run (tests/cross builds it, the
# arm64 column of the matrix runs it); VMAKIT_NO_CROSS=1 leaves them out.
if [[ ${VMAKIT_NO_CROSS:-0} != 1 ]]; then
  bash "$top/scripts/cross-aarch64.sh" --deps
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  ${VMAKIT_KERNELS_DIR:+-DVMAKIT_KERNELS_DIR="$VMAKIT_KERNELS_DIR"} >/dev/null
cmake --build "$build" -j "$jobs"

case "$mode" in
  --run)
    if [[ -x $build/vma-harness ]]; then
      exec "$build/vma-harness" run --with-audit --with-aslr
    fi
    # Until the harness exists: the classified map of a live process and a
    # few of its addresses.
    exec "$top/scripts/demo.sh" "$build"
    ;;
  --test)
    # Debian 11's, 12's, 13's and unstable's kernels for the vm tests
    # (tests/vm), and 11's and 12's arm64 kernels and busybox, cached in
    # kernels/ (VMAKIT_KERNELS_DIR): about 470 MB of .debs the first time; a
    # rerun downloads nothing.
    bash "$top/scripts/fetch-kernels.sh" "${VMAKIT_KERNELS_DIR:-$top/kernels}"
    # The suite, then the same suite built with ASan + UBSan + LeakSanitizer
    # in its own tree (scripts/sanitize.sh; about 10 minutes from scratch on
    # 2 cores). VMAKIT_NO_SANITIZE=1 skips the second run.
    ctest --test-dir "$build" --output-on-failure -j "$jobs"
    if [[ ${VMAKIT_NO_SANITIZE:-0} != 1 ]]; then
      exec bash "$top/scripts/sanitize.sh"
    fi
    ;;
esac
