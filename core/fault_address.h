#pragma once
/// \file
/// Whether a siginfo's si_addr means anything: the one rule every front end
/// that reads a raw siginfo (GDB's $_siginfo, LLDB's siginfo, a core's
/// NT_SIGINFO) needs before it annotates the address.

namespace vma {

/// True when a siginfo with `signo` and `code` carries the faulting address
/// in si_addr: SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGTRAP raised by the
/// kernel (code > 0; SI_KERNEL included, whose si_addr the kernel leaves 0).
/// Codes <= 0 (SI_USER, SI_QUEUE, SI_TKILL...) were sent by a process: the
/// union then holds si_pid and si_uid, not an address (kernel/signal.c,
/// siginfo_layout(); include/uapi/asm-generic/siginfo.h).
bool siginfo_has_address(int signo, int code);

}  // namespace vma
