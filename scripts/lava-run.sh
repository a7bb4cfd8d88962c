#!/usr/bin/env bash
# Runs vmakit's LAVA test definition on a kernel with the real LAVA
# dispatcher (lava-run, no server): the job a lab would run, on this host.
#
#   bash scripts/lava-run.sh --kernel K [--output DIR] [-- HARNESS-ARGS...]
#
# K: an unpacked Debian kernel package (boot/vmlinuz-*, or the split
# layout's usr/lib/modules/RELEASE/vmlinuz) or a kernel image. HARNESS-ARGS
# are `vma-harness run` options for the guest (default: --with-audit);
# `--profile P` among them becomes the definition's PROFILE.
#
# Steps: `vma-harness initramfs --shell` (busybox, the harness, its probes,
# the kernel's config), the device dictionary harness/lava/qemu-device.jinja2
# rendered against lava-server's device-type templates, the job
# harness/lava/qemu-job.yaml.jinja2 (kernel and initramfs by file://, the
# test definition from a git copy of harness/lava/ in DIR), then
# `lava-run --job-id N --output-dir DIR/lava --device DIR/device.yaml
# DIR/job.yaml` (N: this script's pid, so that two runs never share
# lava-run's scratch directory /var/lib/lava/dispatcher/tmp/N); its log
# (stdout, one YAML mapping a line, the guest's console among them) in
# DIR/lava-run.log, its job result in DIR/lava/result.yaml. Prints the
# vmakit cases as KTAP.
#
# Exit: 0 every vmakit case passed or skipped; 1 a case failed, lava-run
# failed, or no vmakit case was recorded; 2 usage or a missing piece.
#
# Installs nothing: scripts/setup.sh installs lava-dispatcher and unpacks
# the lava-server .deb's templates into the cache (VMAKIT_LAVA_TEMPLATES).
# Environment: BUILD_DIR (default: build), VMA_HARNESS (default:
# BUILD_DIR/vma-harness), VMAKIT_LAVA_TEMPLATES (default: the cache's
# usr/share/lava-server/device-types).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage() { echo "usage: bash scripts/lava-run.sh --kernel K [--output DIR] [-- HARNESS-ARGS...]" >&2; exit 2; }
die() { echo "lava-run.sh: $*" >&2; exit 2; }

kernel= output=
harness_args=(--with-audit)
while (($#)); do
  case $1 in
    --kernel) kernel=${2:?}; shift 2 ;;
    --output) output=${2:?}; shift 2 ;;
    --) shift; harness_args=("$@"); break ;;
    -h|--help) usage ;;
    *) usage ;;
  esac
done
[[ -n $kernel ]] || usage

harness=${VMA_HARNESS:-${BUILD_DIR:-$top/build}/vma-harness}
cache=${VMAKIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vmakit}
templates=${VMAKIT_LAVA_TEMPLATES:-$cache/lava-server/usr/share/lava-server/device-types}
command -v lava-run >/dev/null || die "lava-run not found: bash scripts/setup.sh installs lava-dispatcher"
[[ -f $templates/qemu.jinja2 ]] || die "no LAVA device-type templates in $templates: bash scripts/setup.sh unpacks lava-server's"
[[ -x $harness ]] || die "$harness: not built (cmake --build build --target vma-harness vma-probes)"

# The kernel image of K.
if [[ -f $kernel ]]; then
  image=$kernel
else
  image=$(ls -1 "$kernel"/boot/vmlinuz-* "$kernel"/usr/lib/modules/*/vmlinuz 2>/dev/null | head -n 1 || true)
  [[ -n $image ]] || die "$kernel: no boot/vmlinuz-* or usr/lib/modules/*/vmlinuz"
fi
image=$(realpath "$image")

# PROFILE and EXTRA, the definition's parameters, from HARNESS-ARGS.
profile=default extra=()
for ((i = 0; i < ${#harness_args[@]}; i++)); do
  case ${harness_args[i]} in
    --profile) profile=${harness_args[i + 1]:?--profile needs a value}; i=$((i + 1)) ;;
    --profile=*) profile=${harness_args[i]#--profile=} ;;
    *) extra+=("${harness_args[i]}") ;;
  esac
done

output=${output:-$(mktemp -d "${TMPDIR:-/tmp}/vmakit-lava.XXXXXX")}
mkdir -p "$output"
output=$(realpath "$output")
rm -rf "$output/lava" "$output/definition"

"$harness" initramfs --shell --kernel "$kernel" --out "$output/vmakit-initramfs.cpio"

# The test definition as lava-dispatcher fetches it (`from: git`, git clone
# of any URL): a one-commit copy of harness/lava/, so the job runs this
# checkout's files, committed or not, and its overlay stays small.
mkdir -p "$output/definition/harness"
cp -r "$top/harness/lava" "$output/definition/harness/"
git -C "$output/definition" init -q
git -C "$output/definition" add -A
git -C "$output/definition" -c user.name=vmakit -c user.email=vmakit@localhost commit -q -m "vmakit LAVA definition"

python3=/usr/bin/python3
"$python3" "$top/scripts/lava_job.py" device --templates "$templates" "$top/harness/lava/qemu-device.jinja2" \
  >"$output/device.yaml"
"$python3" "$top/scripts/lava_job.py" job "$top/harness/lava/qemu-job.yaml.jinja2" \
  --kernel-url "file://$image" --initramfs-url "file://$output/vmakit-initramfs.cpio" \
  --repository "file://$output/definition" --profile "$profile" --extra="${extra[*]}" \
  --name "$(basename "$(realpath "$kernel")")" >"$output/job.yaml"

echo "lava-run.sh: lava-run --job-id $$ --output-dir $output/lava (log: $output/lava-run.log)" >&2
rc=0
lava-run --job-id "$$" --output-dir "$output/lava" --device "$output/device.yaml" "$output/job.yaml" \
  >"$output/lava-run.log" 2>&1 || rc=$?
"$python3" "$top/scripts/lava_job.py" results "$output/lava-run.log" --lava-rc "$rc"
