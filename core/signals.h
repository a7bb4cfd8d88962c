#pragma once
/// \file
/// Signal and si_code names, and the one-line explanation of a fault, shared
/// by `vma fault` in both debuggers and by the harness.

#include <optional>
#include <string>

#include "annotation.h"

namespace vma {

/// "SIGSEGV"; "SIG42" for unknown numbers.
std::string signal_name(int signo);
/// Parses "SIGSEGV" or "SEGV" (case-insensitive); nullopt when unknown.
std::optional<int> parse_signal(std::string_view name);
/// "SEGV_MAPERR", "SEGV_ACCERR", "SI_KERNEL", "BUS_ADRERR", "SEGV_PKUERR",
/// "SEGV_CPERR"...; the number as text when unknown.
std::string si_code_name(int signo, int code);
/// Parses a code name for `signo`; nullopt when unknown.
std::optional<int> parse_si_code(int signo, std::string_view name);

/// True when a siginfo with `signo` and `code` carries the faulting address
/// in si_addr: SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGTRAP raised by the
/// kernel (code > 0; SI_KERNEL included, whose si_addr the kernel leaves 0).
/// Codes <= 0 (SI_USER, SI_QUEUE, SI_TKILL...) were sent by a process: the
/// union then holds si_pid and si_uid, not an address (kernel/signal.c,
/// siginfo_layout(); include/uapi/asm-generic/siginfo.h).
bool siginfo_has_address(int signo, int code);

/// True when the kernel reports si_addr 0 for this fault by design, so the
/// address that matters must come from elsewhere (a probe's target): SIGSEGV
/// SI_KERNEL (an x86 #GP: non-canonical address, LASS) and SEGV_MTEAERR (an
/// arm64 asynchronous MTE tag check fault: the address is not recorded).
bool fault_address_hidden(int signo, int code);

/// True when a stop with `signo` and `code` is a memory fault `vma fault`
/// can annotate: SIGSEGV, SIGBUS, SIGILL or SIGFPE raised by the kernel
/// (code > 0), whose si_addr is the address touched or the faulting
/// instruction's. Everything else is not: a signal a process sent (code
/// <= 0: SI_USER, SI_TKILL, SI_QUEUE, with si_pid where an address would
/// be), a trap (SIGTRAP: a breakpoint, a single step, the stop after exec),
/// any other signal (SIGSTOP, SIGABRT, SIGINT...). The CLI, LLDB and GDB
/// ask this before annotating; annotating si_addr 0 of a SIGTRAP said "NULL
/// pointer" about a breakpoint.
bool is_memory_fault(int signo, int code);

/// One line on why (signo, code) is not a memory fault, e.g. "a signal sent
/// by a process (SI_USER), not raised by a faulting access: it carries no
/// fault address". Only meaningful when !is_memory_fault(signo, code).
std::string why_not_a_memory_fault(int signo, int code);

enum class Access { unknown, read, write, exec };

/// A fault as a debugger or the harness observed it.
struct Fault {
  int signo = 0;
  int code = 0;
  std::optional<Addr> addr;       ///< si_addr, when the signal has one
  std::optional<Addr> pc;
  Access access = Access::unknown;  ///< from the page-fault error code, when known
  std::string instruction;        ///< disassembly of the faulting instruction
};

/// One line: "write to a read-only text page of /usr/bin/x",
/// "general protection fault: non-canonical address (the kernel reports si_addr 0)".
std::string explain_fault(const Fault& f, const Annotation& at_addr);

}  // namespace vma
