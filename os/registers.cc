#include "registers.h"

#include <elf.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>

#include <cerrno>
#include <string>

#include "errno_name.h"

namespace vma::os {

Result<Registers> read_registers(pid_t tid) {
#if defined(__x86_64__) || defined(__aarch64__)
  user_regs_struct regs{};
  iovec iov{&regs, sizeof regs};
  if (ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_PRSTATUS), &iov) != 0)
    return Error{"ptrace(PTRACE_GETREGSET, " + std::to_string(tid) + "): " + errno_text(errno)};
#if defined(__x86_64__)
  return Registers{regs.rip, regs.rsp};
#else
  return Registers{regs.pc, regs.sp};
#endif
#else
  (void)tid;
  return Error{"registers: not supported on this architecture"};
#endif
}

}  // namespace vma::os
