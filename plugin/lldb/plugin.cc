/// \file
/// Entry point of libvma-lldb.so: `plugin load PATH` calls
/// lldb::PluginInitialize, which registers the `vma` commands.

#include <lldb/API/LLDB.h>

#include "commands.h"

namespace lldb {
__attribute__((visibility("default"))) bool PluginInitialize(lldb::SBDebugger debugger);
}

bool lldb::PluginInitialize(lldb::SBDebugger debugger) {
  try {
    return vma::lldb_plugin::register_commands(debugger);
  } catch (...) {
    return false;
  }
}
