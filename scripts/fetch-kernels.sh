#!/usr/bin/env bash
# Downloads Debian's kernel packages by package name and unpacks them for
# `vma-harness vm` / `vma-harness matrix` (REFERENCE.md §7).
#
#   bash scripts/fetch-kernels.sh [--arch ARCH] [DIR]     (default DIR: kernels/)
#
# For each suite of SUITES (default "bullseye bookworm trixie sid": Debian 11,
# 12, 13 and unstable) it resolves the metapackage linux-image-ARCH to the versioned
# package it depends on (linux-image-6.1.0-NN-amd64, ...) and downloads that
# with `apt-get download`, together with the packages it is split into from
# Debian 14 on: there linux-image-RELEASE is empty and depends on
# linux-binary-RELEASE (the image), linux-modules-RELEASE and
# linux-base-RELEASE (the config). All of them are unpacked with `dpkg-deb -x`
# into one DIR/linux-image-RELEASE/, `depmod` runs on its modules, and
# DIR/SUITE-ARCH becomes a symlink to it once a kernel image is in there.
# Layouts: boot/vmlinuz-RELEASE and boot/config-RELEASE (Debian 11-13),
# usr/lib/modules/RELEASE/{vmlinuz,config} (Debian 14, sid); modules in
# lib/modules/RELEASE (11, 12) or usr/lib/modules/RELEASE (13 on).
#
# Each suite and architecture is read through a private apt configuration
# (DIR/.apt/SUITE-ARCH) whose sources reuse the archive URIs of the
# machine's own apt sources (scripts/apt-uris.sh): no host name is written
# here. It reads SUITE, SUITE-updates and SUITE-security (sid and
# experimental have neither), so every architecture gets the same kernel
# version, the one `apt-get install linux-image-ARCH` would install.
# When the mirror lists a kernel but answers 404 for its .deb, the next older
# version listed is taken and the run says so (noted in
# DIR/.apt/SUITE-ARCH/unserved until the lists are refreshed).
# Reruns download nothing: a package already unpacked is left alone, .debs
# are kept in DIR/.debs, private package lists are refreshed once a day.
#
# ARCH: amd64 (default) or any Debian architecture the archive carries
# (arm64: `--arch arm64`); for an architecture other than this machine's a
# static busybox of it is unpacked too (DIR/busybox-static-ARCH), the init
# of its guests. Without --arch: amd64 for every suite, and Debian 11's and
# 12's arm64 kernels and an arm64 busybox (ARM64=0 leaves them out,
# ARM64_SUITES chooses others). Environment: SUITES to choose other suites. Each failure prints one line naming the suite, the
# architecture, the package and the step; nothing half-unpacked is kept.
set -Eeuo pipefail

arch=amd64
arch_given=
dir=
while (($#)); do
  case "$1" in
    --arch) arch=${2:?--arch needs a Debian architecture}; arch_given=1; shift 2 ;;
    --arch=*) arch=${1#--arch=}; arch_given=1; shift ;;
    -h|--help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0 ;;
    -*) echo "fetch-kernels: unknown option $1" >&2; exit 2 ;;
    *) [[ -z $dir ]] || { echo "fetch-kernels: one DIR only" >&2; exit 2; }; dir=$1; shift ;;
  esac
done
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${dir:-$top/kernels}
suites=${SUITES:-bullseye bookworm trixie sid}
for tool in apt-get apt-cache dpkg-deb flock; do
  command -v "$tool" >/dev/null || { echo "fetch-kernels: $tool not found (Debian apt, dpkg, util-linux needed)" >&2; exit 2; }
done

# What is being done, for the one line a failure prints: the suite, the
# package and the step (update, resolve, download, unpack, depmod, link).
suite='' what='' step=start
context() {
  local c="fetch-kernels:"
  [[ -z $suite ]] || c+=" $suite $arch:"
  [[ -z $what ]] || c+=" $what:"
  printf '%s %s' "$c" "$step"
}
# An unexpected failure (set -e) names where it happened; in a subshell or
# command substitution the shell that waits for it says so instead.
# shellcheck disable=SC2154  # rc is set in the trap itself
trap 'rc=$?; if ((BASH_SUBSHELL == 0)); then echo "$(context) failed (exit $rc)" >&2; fi' ERR
# fail MESSAGE: an expected failure, explained.
fail() {
  echo "$(context) failed: $1" >&2
  exit 2
}

mkdir -p "$dir/.debs"
dir=$(cd "$dir" && pwd)
# Two runs on one DIR (CI and a developer) take turns.
exec 9>"$dir/.lock"
if ! flock -n 9; then
  echo "fetch-kernels: waiting for another fetch-kernels.sh in $dir" >&2
  flock 9
fi
# What a run that was killed left half-made (the lock says none is running).
rm -rf "$dir"/*.tmp "$dir"/.*.new "$dir/.debs/.incoming"
err=$(mktemp)
# half: the directory being unpacked, removed when the run ends before it
# is complete (a failure, Ctrl-C, SIGTERM).
half=
trap 'rm -rf "$err" ${half:+"$half"}' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

host_arch=$(dpkg --print-architecture)

# debian_uri, debian_security_uri: the machine's Debian archive URIs
# (scripts/apt-uris.sh).
# shellcheck source=scripts/apt-uris.sh
. "$top/scripts/apt-uris.sh"

# apt options for $suite and $arch: a private sources list, lists dir,
# cache and empty dpkg status in $state (DIR/.apt/SUITE-ARCH), for the
# machine's own suite too: every kernel comes from lists read at the same
# time from the same suites (the machine's own lists may be days old, and
# without pkgcache.bin each apt-cache call on them takes 1.5-2 s).
apt_opts=()
state=
setup_apt() {
  state=$dir/.apt/$suite-$arch
  step=update
  local uri security a=$state
  uri=$(debian_uri)
  security=$(debian_security_uri)
  [[ -n $uri ]] || fail "no apt source for $(_apt_codename) on this machine to take the Debian archive URI from"
  mkdir -p "$a/lists/partial" "$a/cache/archives/partial"
  # A suite's point releases come through SUITE-updates, its kernel's
  # security releases through SUITE-security; the rolling suites have
  # neither (apt: "does not have a Release file").
  {
    echo "deb [arch=$arch] $uri $suite main"
    case $suite in
      sid|unstable|experimental|rc-buggy) ;;
      *)
        echo "deb [arch=$arch] $uri $suite-updates main"
        if [[ -n $security ]]; then
          echo "deb [arch=$arch] $security $suite-security main"
        else
          echo "fetch-kernels: $suite $arch: no Debian security source on this machine: $suite-security not read" >&2
        fi ;;
    esac
  } >"$a/sources.list"
  # pkgcache.bin: apt's parsed lists, kept even where apt.conf turns it off
  # (Docker's docker-clean): an apt-cache call on sid's lists then takes
  # 0.4 s instead of 1.5 s.
  apt_opts=(-o "APT::Sandbox::User=root" -o "Dir::Etc::SourceList=$a/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
            -o "Dir::State::Lists=$a/lists" -o "Dir::Cache=$a/cache" -o "Dir::State::Status=$a/status"
            -o "APT::Architecture=$arch" -o "APT::Architectures=$arch" -o "Debug::NoLocking=1"
            -o "Dir::Cache::pkgcache=pkgcache.bin")
  # Unstable's Release is valid for a week; a mirror or proxy that lags
  # serves it expired, and apt then refuses the whole suite. Signatures are
  # still checked; the kernel is only booted in a guest.
  case $suite in sid|unstable|experimental) apt_opts+=(-o "Acquire::Check-Valid-Until=false") ;; esac
  [[ -f $a/status ]] || : >"$a/status"
  # Refresh the private lists at most once a day, and whenever the sources
  # changed (.updated holds the sources of the last successful update).
  if ! cmp -s "$a/sources.list" "$a/.updated" || [[ -z $(find "$a/.updated" -mmin -1440) ]]; then
    local names
    names=$(awk '{ printf "%s%s %s", sep, $3, $4; sep = ", " }' "$a/sources.list")
    echo "fetch-kernels: $suite $arch: apt-get update ($names)" >&2
    if ! apt-get "${apt_opts[@]}" update -qq 2>"$err"; then
      cat "$err" >&2
      fail "apt-get update of $names"
    fi
    cp "$a/sources.list" "$a/.updated"
    rm -f "$a/unserved"
  fi
}

# show PACKAGE[=VERSION]: the candidate's (that version's) control stanza in
# $stanza. apt-cache's output is captured whole and parsed afterwards: a
# reader that stops early (awk's exit, head) would kill apt-cache with
# SIGPIPE under pipefail, and the script with it, silently.
stanza=
show() {
  if ! stanza=$(apt-cache "${apt_opts[@]}" show --no-all-versions "$1" 2>"$err"); then
    fail "$1 is not in $suite's package lists for $arch: $(tr '\n' ' ' <"$err")"
  fi
}
# field NAME: NAME's value in $stanza (empty when absent).
field() {
  local line
  while IFS= read -r line; do
    if [[ $line == "$1: "* ]]; then
      printf '%s\n' "${line#"$1: "}"
      return 0
    fi
  done <<<"$stanza"
}
# dep_list DEPENDS: "NAME VERSION" per dependency of a Depends value, the
# first alternative each; VERSION from "(= VERSION)", else empty.
dep_list() {
  local d name op ver
  local -a deps
  IFS=, read -r -a deps <<<"$1"
  for d in "${deps[@]}"; do
    read -r name op ver <<<"${d%%|*}"
    if [[ $op == "(=" ]]; then ver=${ver%)}; else ver=; fi
    printf '%s %s\n' "${name%%:*}" "$ver"
  done
}

# kernel_image TREE / kernel_config TREE: where the image and the config sit
# in an unpacked tree, relative to it; empty when absent.
kernel_image() {
  local f
  for f in "$1"/boot/vmlinuz-* "$1"/usr/lib/modules/*/vmlinuz; do
    if [[ -f $f ]]; then echo "${f#"$1"/}"; return 0; fi
  done
}
kernel_config() {
  local f
  for f in "$1"/boot/config-* "$1"/usr/lib/modules/*/config; do
    if [[ -f $f ]]; then echo "${f#"$1"/}"; return 0; fi
  done
}

# resolve VERSION: the packages of linux-image-ARCH VERSION. Sets pkg (the
# versioned linux-image-RELEASE), version (its version), pkgs, debs (their
# .deb names), missing (PACKAGE=VERSION not in DIR/.debs) and size (theirs,
# bytes). Debian 11-13: pkg alone. Debian 14: pkg is empty and depends on
# linux-binary-, linux-modules- and linux-base-RELEASE, which are followed.
pkg='' version='' size=0
pkgs=() debs=() missing=()
resolve() {
  local meta=linux-image-$arch name ver
  step=resolve what=$meta
  show "$meta=$1"
  pkg=
  while read -r name ver; do
    if [[ $name == linux-image-[0-9]* ]]; then pkg=$name version=$ver; break; fi
  done < <(dep_list "$(field Depends)")
  [[ -n $pkg ]] || fail "$meta $1 depends on no linux-image-RELEASE"
  local release=${pkg#linux-image-} i p v
  local -A seen=(["$pkg"]=1)
  local -a vers=("$version")
  pkgs=("$pkg") debs=() missing=() size=0
  for ((i = 0; i < ${#pkgs[@]}; i++)); do
    p=${pkgs[i]} v=${vers[i]} what=${pkgs[i]}
    show "$p${v:+=$v}"
    v=$(field Version)
    ((i)) || version=$v
    debs+=("${p}_${v//:/%3a}_$(field Architecture).deb")
    if [[ ! -s $dir/.debs/${debs[i]} ]]; then
      missing+=("$p=$v")
      size=$((size + $(field Size)))
    fi
    while read -r name ver; do
      if [[ $name == linux-*-"$release" && -z ${seen[$name]:-} ]]; then
        seen[$name]=1
        pkgs+=("$name") vers+=("$ver")
      fi
    done < <(dep_list "$(field Depends)")
  done
  what=$pkg
}

# download PACKAGE=VERSION...: into DIR/.debs, whole or not at all (apt
# checks each file's hash; a partial download stays in .incoming). Returns
# 1 when the mirror lists a package but does not serve it (404), with
# apt's error in $err; any other failure ends the run.
download() {
  step=download
  rm -rf "$dir/.debs/.incoming"
  mkdir -p "$dir/.debs/.incoming"
  if ! (cd "$dir/.debs/.incoming" && apt-get "${apt_opts[@]}" download -qq "$@" 2>"$err"); then
    grep -q ' 404 ' "$err" && return 1
    cat "$err" >&2
    fail "apt-get download $*"
  fi
  mv "$dir/.debs/.incoming/"*.deb "$dir/.debs/"
  rmdir "$dir/.debs/.incoming"
}

# versions_of PACKAGE: its versions in the lists, into $versions: the
# candidate first (the version `apt-get install` would take), then older
# ones, for when the mirror lists a version whose .deb it does not serve
# (this machine's mirror: the bullseye-security arm64 pool, 2026-12).
versions=()
versions_of() {
  local line out
  versions=()
  if ! out=$(apt-cache "${apt_opts[@]}" show "$1" 2>"$err"); then
    fail "$1 is not in $suite's package lists for $arch: $(tr '\n' ' ' <"$err")"
  fi
  while IFS= read -r line; do
    if [[ $line == "Version: "* && " ${versions[*]} " != *" ${line#Version: } "* ]]; then
      versions+=("${line#Version: }")
    fi
  done <<<"$out"
}

# unserved PACKAGE=VERSION: whether a download of it was answered 404 since
# the lists were last refreshed.
unserved() {
  grep -qxF "$1" "$state/unserved" 2>/dev/null
}

# Downloads and unpacks the kernel of suite $1 for $arch.
fetch_kernel() {
  suite=$1 what=linux-image-$arch step=resolve
  setup_apt
  step=resolve
  versions_of "$what"
  local mv dest tmp
  local -a skipped=()
  for mv in "${versions[@]}"; do
    resolve "$mv"
    dest=$dir/$pkg tmp=$dir/$pkg.tmp
    # Left alone when unpacked whole for this version: .unpacked is written
    # last, and the directory renamed into place after it.
    if [[ -f $dest/.unpacked && $(<"$dest/.unpacked") == "$version" && -n $(kernel_image "$dest") ]]; then
      break
    fi
    if unserved "linux-image-$arch=$mv"; then
      skipped+=("$mv")
      echo "fetch-kernels: $suite $arch: $pkg $version: not served by the mirror (404 at the last try, $state/unserved until the next apt-get update): trying an older one" >&2
      continue
    fi
    if ((${#missing[@]})); then
      echo "fetch-kernels: $suite $arch: downloading ${missing[*]} ($((size / 1000000)) MB)" >&2
      if ! download "${missing[@]}"; then
        echo "linux-image-$arch=$mv" >>"$state/unserved"
        skipped+=("$mv")
        echo "fetch-kernels: $suite $arch: $pkg $version: listed, but the mirror does not serve it ($(grep -m1 ' 404 ' "$err")): trying an older one" >&2
        continue
      fi
    fi
    step=unpack
    half=$tmp
    rm -rf "$tmp"
    mkdir -p "$tmp"
    local i
    for ((i = 0; i < ${#pkgs[@]}; i++)); do
      what=${pkgs[i]}
      if ! dpkg-deb -x "$dir/.debs/${debs[i]}" "$tmp"; then
        rm -f "$dir/.debs/${debs[i]}"
        fail "dpkg-deb -x ${debs[i]} (removed from DIR/.debs: the next run downloads it again)"
      fi
    done
    what=$pkg
    [[ -n $(kernel_image "$tmp") ]] ||
      fail "no kernel image (boot/vmlinuz-* or usr/lib/modules/*/vmlinuz) in ${pkgs[*]}"
    # modules.dep for the modules, when the packages have any.
    step=depmod
    local mods
    for mods in "$tmp"/lib/modules/* "$tmp"/usr/lib/modules/*; do
      [[ -d $mods/kernel ]] || continue
      if ! PATH=$PATH:/sbin:/usr/sbin command -v depmod >/dev/null; then
        fail "depmod not found (Debian kmod): the modules have no modules.dep"
      fi
      PATH=$PATH:/sbin:/usr/sbin depmod -b "${mods%/lib/modules/*}" "${mods##*/}"
    done
    echo "$version" >"$tmp/.unpacked"
    rm -rf "$dest"
    mv "$tmp" "$dest"
    half=
    break
  done
  if [[ ! -f $dest/.unpacked || $(<"$dest/.unpacked") != "$version" ]]; then
    step=download what=linux-image-$arch
    fail "the mirror serves none of the listed versions (${versions[*]})"
  fi
  step='link'
  ln -sfn "$pkg" "$dir/.$suite-$arch.new"
  mv -Tf "$dir/.$suite-$arch.new" "$dir/$suite-$arch"
  local image config modules=
  image=$(kernel_image "$dest") config=$(kernel_config "$dest")
  for mods in "$dest"/lib/modules/* "$dest"/usr/lib/modules/*; do
    if [[ -f $mods/modules.dep ]]; then modules=", modules ${mods#"$dest"/}"; fi
  done
  local parts=
  ((${#pkgs[@]} == 1)) || parts=" (${pkgs[*]:1})"
  ((${#skipped[@]} == 0)) || parts+=" [older than ${skipped[*]}, which the mirror does not serve]"
  echo "$suite-$arch: $pkg $version$parts -> $dir/$suite-$arch: image $image, config ${config:-none}${modules:-, no modules}"
  suite='' what='' step=''
}

# A static busybox for $arch, unpacked into DIR/busybox-static-ARCH: the
# init of `vma-harness vm` guests of another architecture than this
# machine's (this machine's own comes from its busybox-static package).
fetch_busybox() {
  local dest=$dir/busybox-static-$arch
  if [[ -x $dest/bin/busybox ]]; then
    echo "busybox-static-$arch: $dest/bin/busybox (unpacked before)"
    return 0
  fi
  suite=$1 what=busybox-static:$arch step=resolve
  setup_apt
  step=resolve
  versions_of "$what"
  local version deb=
  for version in "${versions[@]}"; do
    deb=$dir/.debs/busybox-static_${version//:/%3a}_$arch.deb
    [[ ! -s $deb ]] || break
    if unserved "$what=$version"; then
      deb=
      continue
    fi
    if download "$what=$version"; then
      break
    fi
    echo "$what=$version" >>"$state/unserved"
    echo "fetch-kernels: $suite $arch: $what $version: listed, but the mirror does not serve it ($(grep -m1 ' 404 ' "$err")): trying an older one" >&2
    deb=
  done
  step=download
  [[ -n $deb ]] || fail "the mirror serves none of the listed versions (${versions[*]})"
  step=unpack
  half=$dest.tmp
  rm -rf "$dest.tmp"
  mkdir -p "$dest.tmp"
  dpkg-deb -x "$deb" "$dest.tmp"
  [[ -x $dest.tmp/bin/busybox ]] || fail "no bin/busybox in $deb"
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
  half=
  echo "busybox-static-$arch: $version -> $dest/bin/busybox"
  suite='' what='' step=''
}

for s in $suites; do fetch_kernel "$s"; done
if [[ -n $arch_given ]]; then
  [[ $arch == "$host_arch" ]] || fetch_busybox "${suites%% *}"
elif [[ ${ARM64:-1} != 0 && $host_arch != arm64 ]]; then
  # Debian 11's and 12's arm64 kernels too, for the arm64 columns of the
  # matrix (issues 15, 20); ARM64=0 leaves them out, ARM64_SUITES chooses.
  arch=arm64
  for s in ${ARM64_SUITES:-bullseye bookworm}; do fetch_kernel "$s"; done
  fetch_busybox bookworm
fi
