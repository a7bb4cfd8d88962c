/// \file
/// Entry point of libvma-lldb.so: `plugin load PATH`, or LLDB's start-up scan
/// of /usr/lib/lldb/plugins (the Debian package installs it there), calls
/// lldb::PluginInitialize, which registers the `vma` commands.

#include <cstdio>
#include <cstring>

#include <lldb/API/LLDB.h>

#include "commands.h"

namespace lldb {
__attribute__((visibility("default"))) bool PluginInitialize(lldb::SBDebugger debugger);
}

namespace {

/// True when this LLDB is the major version the plugin was built for. Every
/// LLDB on the machine scans /usr/lib/lldb/plugins; another one must skip the
/// plugin without a word (returning false: LLDB ignores a start-up plugin that
/// refuses). GetVersionString is in every SB API: "lldb version 19.1.7 ...".
bool same_lldb_major() {
#ifdef VMAKIT_LLDB_MAJOR
  const char* v = lldb::SBDebugger::GetVersionString();
  if (!v) return false;
  const char* digits = std::strpbrk(v, "0123456789");
  int major = 0;
  return digits && std::sscanf(digits, "%d", &major) == 1 && major == VMAKIT_LLDB_MAJOR;
#else
  return true;
#endif
}

}  // namespace

bool lldb::PluginInitialize(lldb::SBDebugger debugger) {
  try {
    if (!same_lldb_major()) return false;
    return vma::lldb_plugin::register_commands(debugger);
  } catch (...) {
    return false;
  }
}
