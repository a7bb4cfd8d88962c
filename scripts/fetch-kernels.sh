#!/usr/bin/env bash
# Downloads Debian's kernel packages by package name and unpacks them for
# `vma-harness vm` / `vma-harness matrix` (REFERENCE.md §7).
#
#   bash scripts/fetch-kernels.sh [--arch ARCH] [DIR]     (default DIR: kernels/)
#
# For each suite of SUITES (default "bookworm trixie": Debian 12 and 13) it
# resolves the metapackage linux-image-ARCH to the versioned package it
# depends on (linux-image-6.1.0-NN-amd64, ...), downloads that with
# `apt-get download`, unpacks it with `dpkg-deb -x` into DIR/PACKAGE/ and
# runs `depmod` when it has modules. DIR/SUITE-ARCH is a symlink to it.
#
# Suites other than the machine's own are read through a private apt
# configuration (DIR/.apt/SUITE-ARCH) whose sources reuse the archive URIs
# of the machine's own apt sources (scripts/apt-uris.sh): no host name is
# written here. Reruns
# are fast: .debs are kept in DIR/.debs, private package lists are refreshed
# once a day, a package already unpacked is left alone.
#
# ARCH: amd64 (default) or any Debian architecture the archive carries
# (arm64: `--arch arm64`); for an architecture other than this machine's a
# static busybox of it is unpacked too (DIR/busybox-static-ARCH), the init
# of its guests. Without --arch: amd64 for every suite, and Debian 12's
# arm64 kernel and busybox (ARM64=0 leaves them out). Environment: SUITES
# to choose other suites.
set -euo pipefail

arch=amd64
arch_given=
dir=
while (($#)); do
  case "$1" in
    --arch) arch=${2:?--arch needs a Debian architecture}; arch_given=1; shift 2 ;;
    --arch=*) arch=${1#--arch=}; arch_given=1; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    -*) echo "fetch-kernels: unknown option $1" >&2; exit 2 ;;
    *) [[ -z $dir ]] || { echo "fetch-kernels: one DIR only" >&2; exit 2; }; dir=$1; shift ;;
  esac
done
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${dir:-$top/kernels}
suites=${SUITES:-bookworm trixie}
for tool in apt-get apt-cache dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "fetch-kernels: $tool not found (Debian apt/dpkg needed)" >&2; exit 2; }
done
mkdir -p "$dir/.debs"
dir=$(cd "$dir" && pwd)

# shellcheck source=/dev/null
own_suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
host_arch=$(dpkg --print-architecture)

# debian_uri: the machine's Debian archive URI, the one its own suite
# comes from (scripts/apt-uris.sh).
# shellcheck source=apt-uris.sh
. "$top/scripts/apt-uris.sh"

# apt options for SUITE: none for the machine's own suite and architecture,
# else a private sources list, lists dir, cache and empty dpkg status.
apt_opts=()
setup_apt() {
  local suite=$1
  apt_opts=()
  # The machine's own suite and architecture: its own apt lists, when they
  # know the kernel metapackage.
  if [[ $suite == "$own_suite" && $arch == "$host_arch" ]] &&
     apt-cache show "linux-image-$arch" >/dev/null 2>&1; then
    return
  fi
  local uri; uri=$(debian_uri)
  if [[ -z $uri ]]; then
    echo "fetch-kernels: no apt source for $own_suite on this machine to take the archive URI from" >&2
    exit 2
  fi
  local a=$dir/.apt/$suite-$arch
  mkdir -p "$a/lists/partial" "$a/cache/archives/partial"
  echo "deb [arch=$arch] $uri $suite main" >"$a/sources.list"
  : >"$a/status"
  apt_opts=(-o "APT::Sandbox::User=root" -o "Dir::Etc::SourceList=$a/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
            -o "Dir::State::Lists=$a/lists" -o "Dir::Cache=$a/cache" -o "Dir::State::Status=$a/status"
            -o "APT::Architecture=$arch" -o "APT::Architectures=$arch" -o "Debug::NoLocking=1")
  # Refresh the private lists at most once a day.
  if [[ -z $(find "$a/lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1) ]]; then
    echo "fetch-kernels: apt-get update ($suite, $arch, $uri)" >&2
    apt-get "${apt_opts[@]}" update -qq
  fi
}

# Downloads and unpacks the kernel of suite $1 for $arch.
fetch_kernel() {
  local suite=$1
  setup_apt "$suite"
  meta=linux-image-$arch
  pkg=$(apt-cache "${apt_opts[@]}" depends "$meta" 2>/dev/null |
        awk '/^ *Depends: linux-image-[0-9]/ { print $2; exit }')
  if [[ -z $pkg ]]; then
    echo "fetch-kernels: $suite: $meta has no linux-image-N dependency (is $suite in the apt sources?)" >&2
    exit 2
  fi
  version=$(apt-cache "${apt_opts[@]}" show --no-all-versions "$pkg" | awk '/^Version:/ { print $2; exit }')
  deb=$dir/.debs/${pkg}_${version//:/%3a}_$arch.deb
  if [[ ! -s $deb ]]; then
    echo "fetch-kernels: $suite: downloading $pkg $version" >&2
    (cd "$dir/.debs" && apt-get "${apt_opts[@]}" download -qq "$pkg=$version")
  fi
  dest=$dir/$pkg
  if [[ ! -f $dest/.unpacked || $(cat "$dest/.unpacked") != "$version" ]]; then
    rm -rf "$dest"
    mkdir -p "$dest"
    dpkg-deb -x "$deb" "$dest"
    # modules.dep for the modules, when the package has any (lib/modules
    # on 6.1, usr/lib/modules on 6.12).
    for mods in "$dest"/lib/modules/* "$dest"/usr/lib/modules/*; do
      [[ -d $mods ]] || continue
      if command -v depmod >/dev/null || [[ -x /sbin/depmod ]]; then
        base=${mods%/lib/modules/*}
        PATH=$PATH:/sbin:/usr/sbin depmod -b "$base" "$(basename "$mods")"
      else
        echo "fetch-kernels: depmod not found (Debian kmod): $pkg's modules have no modules.dep" >&2
      fi
    done
    echo "$version" >"$dest/.unpacked"
  fi
  ln -sfn "$pkg" "$dir/$suite-$arch"
  kernel=$(ls "$dest"/boot/vmlinuz-* 2>/dev/null | head -1)
  echo "$suite-$arch: $pkg $version -> $dir/$suite-$arch (${kernel#"$dest"/})"
}

# A static busybox for $arch, unpacked into DIR/busybox-static-ARCH: the
# init of `vma-harness vm` guests of another architecture than this
# machine's (this machine's own comes from its busybox-static package).
fetch_busybox() {
  local suite=$1 dest=$dir/busybox-static-$arch
  [[ -x $dest/bin/busybox ]] && return 0
  setup_apt "$suite"
  local version deb
  version=$(apt-cache "${apt_opts[@]}" show --no-all-versions "busybox-static:$arch" 2>/dev/null | awk '/^Version:/ { print $2; exit }')
  if [[ -z $version ]]; then
    echo "fetch-kernels: $suite: no busybox-static for $arch in the apt lists" >&2
    exit 2
  fi
  deb=$dir/.debs/busybox-static_${version//:/%3a}_$arch.deb
  [[ -s $deb ]] || (cd "$dir/.debs" && apt-get "${apt_opts[@]}" download -qq "busybox-static:$arch=$version")
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp" && dpkg-deb -x "$deb" "$dest.tmp" && mv "$dest.tmp" "$dest"
  echo "busybox-static-$arch: $version -> $dest/bin/busybox"
}

if [[ -n $arch_given ]]; then
  for suite in $suites; do fetch_kernel "$suite"; done
  [[ $arch == "$host_arch" ]] || fetch_busybox "${suites%% *}"
else
  for suite in $suites; do fetch_kernel "$suite"; done
  # Debian 12's arm64 kernel too, for the arm64 column of the matrix
  # (issue 15); ARM64=0 leaves it out.
  if [[ ${ARM64:-1} != 0 && $host_arch != arm64 ]]; then
    arch=arm64
    fetch_kernel bookworm
    fetch_busybox bookworm
  fi
fi
