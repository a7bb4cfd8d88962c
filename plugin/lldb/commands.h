#pragma once
/// \file
/// The `vma whereis`, `vma map` and `vma fault` commands. Each gathers what
/// LLDB knows (expression values, threads, siginfo, the region source) and
/// prints what core says, with core's renderers. No exception leaves
/// DoExecute: every failure is a command error.

#include <memory>

#include <lldb/API/LLDB.h>

#include "process_view.h"

namespace vma::lldb_plugin {

/// Registers `vma` and its subcommands with `debugger`'s interpreter.
/// False (with nothing registered) when LLDB refuses the multiword command.
bool register_commands(lldb::SBDebugger& debugger);

class WhereisCommand : public lldb::SBCommandPluginInterface {
 public:
  explicit WhereisCommand(std::shared_ptr<StopCache> cache) : cache_(std::move(cache)) {}
  bool DoExecute(lldb::SBDebugger debugger, char** command,
                 lldb::SBCommandReturnObject& result) override;

 private:
  std::shared_ptr<StopCache> cache_;
};

class MapCommand : public lldb::SBCommandPluginInterface {
 public:
  explicit MapCommand(std::shared_ptr<StopCache> cache) : cache_(std::move(cache)) {}
  bool DoExecute(lldb::SBDebugger debugger, char** command,
                 lldb::SBCommandReturnObject& result) override;

 private:
  std::shared_ptr<StopCache> cache_;
};

class FaultCommand : public lldb::SBCommandPluginInterface {
 public:
  explicit FaultCommand(std::shared_ptr<StopCache> cache) : cache_(std::move(cache)) {}
  bool DoExecute(lldb::SBDebugger debugger, char** command,
                 lldb::SBCommandReturnObject& result) override;

 private:
  std::shared_ptr<StopCache> cache_;
};

}  // namespace vma::lldb_plugin
