#!/usr/bin/env bash
# Sourced, not run. The Debian archive URIs this machine's apt already uses,
# so scripts that add a suite (trixie for Debian 13's kernel) or build a root
# (debootstrap) reuse them and never name a host themselves.
#
#   debian_uri            the URI serving the main archive (the one whose
#                         suite is this release's codename)
#   debian_security_uri   the URI serving CODENAME-security (may be empty)
#
# Reads both source formats: one-line `deb URI SUITE ...` (sources.list,
# *.list) and deb822 stanzas (`URIs:` / `Suites:` in *.sources). Sources
# that are commented out or `Enabled: no` are ignored.

_apt_source_pairs() {
  # Prints "URI SUITE" for every enabled deb source, from where apt's own
  # configuration says the sources are (Dir::Etc::sourcelist and
  # sourceparts: /etc/apt/sources.list and sources.list.d/ unless APT_CONFIG
  # or apt.conf say otherwise).
  local f list=/etc/apt/sources.list parts=/etc/apt/sources.list.d/ config
  if config=$(apt-config shell list Dir::Etc::sourcelist/f parts Dir::Etc::sourceparts/d 2>/dev/null); then
    eval "$config"
  fi
  for f in "$list" "${parts%/}"/*.list; do
    [[ -r $f ]] || continue
    awk '$1 == "deb" {
           i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
           print $i, $(i + 1)
         }' "$f"
  done
  for f in "${parts%/}"/*.sources; do
    [[ -r $f ]] || continue
    awk 'function flush() {
           if (deb && enabled) for (u in uris) for (s in suites) print u, s
           delete uris; delete suites; deb = 0; enabled = 1
         }
         BEGIN { enabled = 1 }
         /^[ \t]*#/ { next }
         /^[ \t]*$/ { flush(); next }
         tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
         tolower($1) == "uris:" { for (i = 2; i <= NF; i++) uris[$i] = 1 }
         tolower($1) == "suites:" { for (i = 2; i <= NF; i++) suites[$i] = 1 }
         tolower($1) == "enabled:" { enabled = (tolower($2) != "no") }
         END { flush() }' "$f"
  done
}

_apt_codename() {
  local c
  c=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  echo "${c:-bookworm}"
}

debian_uri() {
  local code
  code=$(_apt_codename)
  # awk reads to the end: an early exit would kill _apt_source_pairs with
  # SIGPIPE, and the caller with it under pipefail.
  _apt_source_pairs | awk -v s="$code" '$2 == s && !found { print $1; found = 1 }'
}

debian_security_uri() {
  local code
  code=$(_apt_codename)
  _apt_source_pairs | awk -v s="$code-security" '($2 == s || $2 == s "/updates") && !found { print $1; found = 1 }'
}
