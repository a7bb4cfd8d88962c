#!/usr/bin/env bash
# Runs a command in a fresh, minimal Debian 12 root, the way a new user's
# machine starts: debootstrap's minbase (no package lists, nothing of
# vmakit's installed), with this repository's current commit cloned into
# /root/vmakit. A layout, a path or an install step that only the
# development machine has cannot hide there.
#
#   bash scripts/fresh-root.sh -- bash scripts/setup.sh --test
#   bash scripts/fresh-root.sh --keep -- CMD...   leave the root for a look
#   bash scripts/fresh-root.sh --copy FILE -- CMD...
#                                      FILE (repeatable) copied into /root/
#                                      first, e.g. a .deb built here
#
# The minbase root is built once and kept as a tarball in the cache
# (VMAKIT_ROOT_CACHE, default /var/cache/vmakit), with the .debs apt fetches
# inside it, so later runs unpack it in seconds instead of downloading again.
# Each run gets a new copy; the copy is removed afterwards (--keep: not).
#
# The command runs as root in its own mount and PID namespaces (unshare)
# under chroot, with /proc, /sys and /dev from the host: when it ends, every
# process it left is killed with the namespace and every mount goes with it.
# The cache is mounted at its own path inside the root too, so this script
# run inside such a root (the package test under `setup.sh --test` in a
# fresh root) unpacks the same tarball instead of running debootstrap again.
# The archive URIs come from this machine's apt sources (scripts/apt-uris.sh).
# Needs root (debootstrap, chroot, mounts). Exits with the command's status.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${VMAKIT_ROOT_CACHE:-/var/cache/vmakit}
suite=bookworm
keep=0
copies=()
usage="usage: bash scripts/fresh-root.sh [--keep] [--copy FILE]... -- COMMAND..."
while (($#)); do
  case "$1" in
    --keep) keep=1; shift ;;
    --copy)
      if (($# < 2)) || [[ ! -f $2 ]]; then
        echo "fresh-root: --copy needs an existing file${2:+ (not $2)}" >&2
        exit 2
      fi
      copies+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
if ((!$#)); then
  echo "$usage" >&2
  exit 2
fi
if [[ $(id -u) != 0 ]]; then
  echo "fresh-root: needs root (debootstrap, chroot, mounts)" >&2
  exit 2
fi

need=()
tarball=$cache/$suite-minbase.tar.gz
[[ -s $tarball ]] || command -v debootstrap >/dev/null || need+=(debootstrap)
command -v git >/dev/null || need+=(git)
command -v unshare >/dev/null || need+=(util-linux)
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# shellcheck source=apt-uris.sh
. "$top/scripts/apt-uris.sh"
mirror=$(debian_uri)
security=$(debian_security_uri)
if [[ -z $mirror ]]; then
  echo "fresh-root: no Debian archive for $(_apt_codename) in this machine's apt sources" >&2
  exit 2
fi

mkdir -p "$cache/archives/partial"
if [[ ! -s $tarball ]]; then
  echo "fresh-root: building the $suite minbase root (once; cached in $tarball)"
  build=$(mktemp -d /var/tmp/vmakit-debootstrap.XXXXXX)
  trap 'rm -rf "$build"' EXIT
  debootstrap --variant=minbase --include=ca-certificates "$suite" "$build" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
    tail -n 20 "$cache/debootstrap.log" >&2
    echo "fresh-root: debootstrap failed (log: $cache/debootstrap.log)" >&2
    exit 1
  }
  {
    echo "deb $mirror $suite main"
    echo "deb $mirror $suite-updates main"
    [[ -n $security ]] && echo "deb $security $suite-security main"
  } >"$build/etc/apt/sources.list"
  # A new user's root has no package lists: keep it that way.
  rm -rf "$build"/var/lib/apt/lists/* "$build"/var/cache/apt/archives/*.deb
  tar -C "$build" -czf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$build"
  trap - EXIT
fi

root=$(mktemp -d /var/tmp/vmakit-root.XXXXXX)
cleanup() {
  if ((keep)); then
    echo "fresh-root: kept $root" >&2
    return
  fi
  # The mounts lived in the command's own mount namespace; refuse to delete
  # anything that is still mounted here all the same.
  # grep reads to the end (no -q): an early exit could end findmnt with
  # SIGPIPE, the pipeline would fail under pipefail, and rm -rf would go
  # through the mounts.
  if findmnt -rn -o TARGET | grep "^$root" >/dev/null; then
    echo "fresh-root: $root still has mounts; not removing it" >&2
    return
  fi
  rm -rf "$root"
}
trap cleanup EXIT
tar -C "$root" -xzf "$tarball"
# mktemp and the tarball's '.' say 0700: nobody else (probes run as nobody)
# could reach anything in the root. A real / is 0755.
chmod 755 "$root"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
git clone -q --no-hardlinks "$top" "$root/root/vmakit"
git -C "$root/root/vmakit" checkout -q "$(git -C "$top" rev-parse HEAD)"
for f in "${copies[@]}"; do
  cp "$f" "$root/root/"
done
mkdir -p "$root$cache"
echo "fresh-root: $root (Debian $(cat "$root/etc/debian_version")), $(git -C "$top" rev-parse --short HEAD) in /root/vmakit"

# The .debs fetched by earlier runs, hard-linked in (not the cache itself
# mounted: apt locks its archives directory, and two roots at once, CI and a
# developer's, must not wait on each other); new ones go back afterwards.
# Nested (this script in such a root), the cache is another mount than the
# root: links fail (EXDEV) and the .debs are copied instead.
link_debs() {  # link_debs FROM TO
  find "$1" -maxdepth 1 -name '*.deb' -exec cp -ln -t "$2" {} + 2>/dev/null ||
    find "$1" -maxdepth 1 -name '*.deb' -exec cp -n -t "$2" {} + 2>/dev/null || true
}
link_debs "$cache/archives" "$root/var/cache/apt/archives"
save_debs() {
  link_debs "$root/var/cache/apt/archives" "$cache/archives"
}

cmd=$(printf '%q ' "$@")
# In a plain chroot (as sbuild and pbuilder make: `chroot DIR`, DIR no mount
# point) unshare cannot make / private: "unshare: cannot change root
# filesystem propagation: Invalid argument" (mount(2) with MS_PRIVATE needs a
# mount point, and the chroot's / is a directory inside its parent's mount).
# There the namespace starts with the mounts' propagation unchanged, and the
# root's own bind mount below is made private before anything is mounted
# under it. Only that bind can reach the outer namespace (when the mount
# holding the root is shared there); it is unmounted there afterwards.
propagation=private
if ! unshare --mount --propagation private true 2>/dev/null; then
  propagation=unchanged
  echo "fresh-root: / is not a mount point here (a plain chroot): unshare --propagation unchanged"
fi
export root cache cmd
set +e
# The root is bind-mounted on itself first, so `/` is a mount point inside:
# unshare in the root (this script nested) can then make it private.
unshare --mount --pid --fork --propagation "$propagation" --kill-child bash -euc '
  mount --bind "$root" "$root"
  mount --make-rprivate "$root"
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --rbind /dev "$root/dev"
  mount --bind "$cache" "$root$cache"
  exec chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin CI="${CI:-}" \
    bash -c "cd /root/vmakit && $cmd"
'
status=$?
set -e
if [[ $propagation == unchanged ]] && mountpoint -q "$root"; then
  umount "$root"
fi
save_debs
echo "fresh-root: exit $status"
exit $status
