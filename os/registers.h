#pragma once
/// \file
/// A stopped thread's registers, read with ptrace. The one place that knows
/// each architecture's register layout.

#include <sys/types.h>

#include <cstdint>

#include "result.h"

namespace vma::os {

/// The registers vmakit reads from a thread.
struct Registers {
  std::uint64_t pc = 0;
  std::uint64_t sp = 0;
};

/// PTRACE_GETREGSET (NT_PRSTATUS) of `tid`, which must be ptrace-stopped by
/// this thread. Errors: "ptrace(PTRACE_GETREGSET, TID): ESRCH (No such
/// process)"; on an architecture without a layout here, "registers: not
/// supported on this architecture".
Result<Registers> read_registers(pid_t tid);

}  // namespace vma::os
