#!/usr/bin/env bash
# End to end: builds the Debian package with CPack, checks it with lintian,
# then installs, uses, removes and purges it in a fresh Debian 12 minbase root
# (scripts/fresh-root.sh, the cached root CI uses; in_root.sh does the work).
# Runs inside such a root too (`setup.sh --test` in fresh-root.sh):
# fresh-root.sh mounts its cache there, so the nested root unpacks the same
# tarball.
#
#   package_test.sh SOURCE_DIR BUILD_DIR TARGET...   (the targets the package holds)
set -euo pipefail
src=$1 build=$2
shift 2
if [[ $(id -u) != 0 ]]; then
  echo "SKIP: needs root (debootstrap, chroot and mounts for the fresh root)"
  exit 77
fi

echo "== building the package (cpack -G DEB)"
cmake --build "$build" -t "$@" >/dev/null
rm -f "$build"/package/vmakit_*.deb
(cd "$build" && cpack -G DEB >/dev/null)
debs=("$build"/package/vmakit_*.deb)
deb=${debs[0]}
[[ -f $deb ]] || { echo "FAIL: cpack made no vmakit_*.deb"; exit 1; }
echo "$deb: $(stat -c %s "$deb") bytes"
dpkg-deb -f "$deb" Package Version Depends Recommends

echo "== lintian"
if ! command -v lintian >/dev/null; then
  echo "FAIL: lintian is not installed (scripts/setup.sh installs it)"
  exit 1
fi
# Errors fail; warnings are either fixed or overridden with a reason
# (packaging/lintian-overrides, README.md "Install as a package").
lintian_out=$(lintian "$deb" 2>&1 | grep -v 'running with root privileges' || true)
echo "${lintian_out:-lintian: no errors, no warnings}"
if grep -qE '^[EW]: ' <<<"$lintian_out"; then
  echo "FAIL: lintian reports errors or warnings"
  exit 1
fi

echo "== the fresh root"
bash "$src/scripts/fresh-root.sh" --copy "$deb" --copy "$src/tests/package/in_root.sh" -- \
  bash /root/in_root.sh "/root/$(basename "$deb")"
