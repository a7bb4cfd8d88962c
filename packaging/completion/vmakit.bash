# bash completion for vma and vma-harness (vmakit).
# Installed as /usr/share/bash-completion/completions/vma and .../vma-harness;
# bash-completion loads it the first time either command is completed.
#
# Options and commands are read from the programs' own --help, region kinds
# from `vma kinds`, probe ids from `vma-harness list`, so the completion
# cannot drift from the programs. Needs nothing from bash-completion itself.

# The long options of a command, from its --help option table (boost's
# "  -p [ --pid ] arg   ..." and "  --core arg   ..." lines; usage lines name
# other commands' options too and are not read).
_vmakit_options() {
  "$@" --help 2>/dev/null | sed -nE 's/^ +(-[A-Za-z] \[ )?(--[a-z][a-z0-9-]*).*/\2/p' | sort -u
}

# The commands a program's --help names: `PROG CMD` usage lines
# (vma-harness) and the indented names under `commands:` (vma).
_vmakit_commands() {
  local prog=$1
  "$prog" --help 2>/dev/null | awk -v p="$prog" '
    { sub(/^usage:/, "") }
    $1 == p && $2 ~ /^[a-z]/ && !seen[$2]++ { print $2 }
    /^commands:/ { block = 1; next }
    block && /^  [a-z]/ && !seen[$1]++ { print $1; next }
    block && /^[^ ]/ { block = 0 }'
}

_vmakit_pids() {
  local d
  for d in /proc/[0-9]*; do printf '%s\n' "${d#/proc/}"; done
}

# Words (blank- or newline-separated, none contains a blank) matching $2.
_vmakit_reply() {
  COMPREPLY=($(compgen -W "$1" -- "$2"))
}

_vmakit_files() {
  local IFS=$'\n'
  COMPREPLY=($(compgen -f -- "$1"))
  compopt -o filenames 2>/dev/null
}

# Sets cur, prev, prog and cmd (the caller's locals) from COMP_WORDS; true
# when the word is the command itself, completed here.
_vmakit_start() {
  cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  prog=${COMP_WORDS[0]} cmd=${COMP_WORDS[1]:-}
  COMPREPLY=()
  ((COMP_CWORD == 1)) || return 1
  _vmakit_reply "$(_vmakit_commands "$prog") --help --version" "$cur"
}

_vma() {
  local cur prev prog cmd
  _vmakit_start && return
  case $prev in
    -p|--pid) _vmakit_reply "$(_vmakit_pids)" "$cur"; return ;;
    -m|--maps|--core|--exe|--svg) _vmakit_files "$cur"; return ;;
    --mark) return ;;
    -k|--kind) _vmakit_reply "$("$prog" kinds 2>/dev/null | awk '{ print $1 }')" "$cur"; return ;;
    --arch) _vmakit_reply "x86_64 x86_64-la57 aarch64 aarch64-52" "$cur"; return ;;
    --color|--legend) _vmakit_reply "auto always never" "$cur"; return ;;
  esac
  _vmakit_reply "$(_vmakit_options "$prog" "$cmd")" "$cur"
}

_vma_harness() {
  local cur prev prog cmd
  _vmakit_start && return
  case $prev in
    --profile)
      _vmakit_files "$cur"
      local IFS=$'\n'
      COMPREPLY+=($(compgen -W "default hardened" -- "$cur"))
      return ;;
    --spec|--kconfig|--svg|--from-json|--kernel|--guest-build|--busybox|--out) _vmakit_files "$cur"; return ;;
    --accel) _vmakit_reply "auto kvm tcg" "$cur"; return ;;
    --arch) _vmakit_reply "x86_64 aarch64" "$cur"; return ;;
    --only)
      # Comma-separated: complete the id after the last comma.
      local done=${cur%"${cur##*,}"} ids
      # `list` prints each probe's id, then an indented "expect:" line.
      ids=$("$prog" list 2>/dev/null | awk '/^ +expect:/ { print prev } { prev = $1 }')
      local IFS=$'\n'
      COMPREPLY=($(compgen -P "$done" -W "$ids" -- "${cur##*,}"))
      compopt -o nospace 2>/dev/null
      return ;;
    --format)
      if [[ $cmd == run || $cmd == matrix ]]; then _vmakit_reply "text json ktap junit" "$cur"
      else _vmakit_reply "text json" "$cur"; fi
      return ;;
    --jobs|-j|--timeout|--samples|--aslr-samples|--cpu|--memory|--smp) return ;;
  esac
  if [[ $cmd == demo && $COMP_CWORD == 2 && $cur != -* ]]; then
    _vmakit_reply "wx guard null stack" "$cur"
    return
  fi
  _vmakit_reply "$(_vmakit_options "$prog" "$cmd")" "$cur"
}

complete -F _vma vma
complete -F _vma_harness vma-harness
