#!/usr/bin/env bash
# libvma-lldb.so is not linked against liblldb (plugin/lldb/CMakeLists.txt):
# its SB API symbols resolve in the LLDB that loads it. This keeps what
# -Wl,--no-undefined checked: every symbol the dynamic linker cannot resolve
# from the plugin's own dependencies is an lldb:: one, and some are (the
# plugin does call the SB API).
set -euo pipefail
plugin=$1
out=$(LC_ALL=C ldd -r "$plugin" 2>&1)
undefined=$(grep -oE 'undefined symbol: [^[:space:]]+' <<<"$out" | cut -d' ' -f3 || true)
if [[ -z $undefined ]]; then
  echo "FAIL: no undefined lldb:: symbols at all: is the plugin linked against liblldb again?" >&2
  exit 1
fi
others=$(grep -vE '^_ZN?K?4lldb' <<<"$undefined" || true)
if [[ -n $others ]]; then
  echo "FAIL: undefined symbols outside the SB API:" >&2
  c++filt <<<"$others" >&2
  exit 1
fi
if readelf -d "$plugin" | grep -q 'NEEDED.*liblldb'; then
  echo "FAIL: $plugin has a DT_NEEDED entry for liblldb" >&2
  exit 1
fi
if ! readelf -d "$plugin" | grep -qE 'BIND_NOW|FLAGS.*NOW'; then
  echo "FAIL: $plugin is not linked -z now" >&2
  exit 1
fi
echo "ok: $(wc -l <<<"$undefined") undefined symbols, all lldb::, resolved by the loading LLDB; -z now"
