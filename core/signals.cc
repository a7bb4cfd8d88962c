#include "signals.h"

#include <csignal>
#include <cstring>
#include <span>
#include <string_view>

#include <fmt/format.h>

namespace vma {

namespace {

struct Named {
  int value;
  std::string_view name;
};

constexpr Named kSignals[] = {
    {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},       {SIGQUIT, "SIGQUIT"},   {SIGILL, "SIGILL"},
    {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"},     {SIGBUS, "SIGBUS"},     {SIGFPE, "SIGFPE"},
    {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"},     {SIGSEGV, "SIGSEGV"},   {SIGUSR2, "SIGUSR2"},
    {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"},     {SIGTERM, "SIGTERM"},   {SIGSTKFLT, "SIGSTKFLT"},
    {SIGCHLD, "SIGCHLD"}, {SIGCONT, "SIGCONT"},     {SIGSTOP, "SIGSTOP"},   {SIGTSTP, "SIGTSTP"},
    {SIGTTIN, "SIGTTIN"}, {SIGTTOU, "SIGTTOU"},     {SIGURG, "SIGURG"},     {SIGXCPU, "SIGXCPU"},
    {SIGXFSZ, "SIGXFSZ"}, {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"},   {SIGWINCH, "SIGWINCH"},
    {SIGIO, "SIGIO"},     {SIGPWR, "SIGPWR"},       {SIGSYS, "SIGSYS"},
};

// include/uapi/asm-generic/siginfo.h
constexpr Named kGenericCodes[] = {
    {0, "SI_USER"},    {0x80, "SI_KERNEL"}, {-1, "SI_QUEUE"},  {-2, "SI_TIMER"},
    {-3, "SI_MESGQ"},  {-4, "SI_ASYNCIO"},  {-5, "SI_SIGIO"},  {-6, "SI_TKILL"},
};
constexpr Named kSegvCodes[] = {
    {1, "SEGV_MAPERR"},  {2, "SEGV_ACCERR"},  {3, "SEGV_BNDERR"},  {4, "SEGV_PKUERR"},  {5, "SEGV_ACCADI"},
    {6, "SEGV_ADIDERR"}, {7, "SEGV_ADIPERR"}, {8, "SEGV_MTEAERR"}, {9, "SEGV_MTESERR"}, {10, "SEGV_CPERR"},
};
constexpr Named kBusCodes[] = {
    {1, "BUS_ADRALN"}, {2, "BUS_ADRERR"}, {3, "BUS_OBJERR"}, {4, "BUS_MCEERR_AR"}, {5, "BUS_MCEERR_AO"},
};
constexpr Named kIllCodes[] = {
    {1, "ILL_ILLOPC"}, {2, "ILL_ILLOPN"}, {3, "ILL_ILLADR"}, {4, "ILL_ILLTRP"}, {5, "ILL_PRVOPC"},
    {6, "ILL_PRVREG"}, {7, "ILL_COPROC"}, {8, "ILL_BADSTK"}, {9, "ILL_BADIADDR"},
};
constexpr Named kFpeCodes[] = {
    {1, "FPE_INTDIV"}, {2, "FPE_INTOVF"}, {3, "FPE_FLTDIV"}, {4, "FPE_FLTOVF"},  {5, "FPE_FLTUND"},
    {6, "FPE_FLTRES"}, {7, "FPE_FLTINV"}, {8, "FPE_FLTSUB"}, {14, "FPE_FLTUNK"}, {15, "FPE_CONDTRAP"},
};
constexpr Named kTrapCodes[] = {
    {1, "TRAP_BRKPT"}, {2, "TRAP_TRACE"}, {3, "TRAP_BRANCH"}, {4, "TRAP_HWBKPT"}, {5, "TRAP_UNK"}, {6, "TRAP_PERF"},
};
constexpr Named kChldCodes[] = {
    {1, "CLD_EXITED"}, {2, "CLD_KILLED"}, {3, "CLD_DUMPED"}, {4, "CLD_TRAPPED"}, {5, "CLD_STOPPED"}, {6, "CLD_CONTINUED"},
};

std::span<const Named> codes_for(int signo) {
  switch (signo) {
    case SIGSEGV: return kSegvCodes;
    case SIGBUS: return kBusCodes;
    case SIGILL: return kIllCodes;
    case SIGFPE: return kFpeCodes;
    case SIGTRAP: return kTrapCodes;
    case SIGCHLD: return kChldCodes;
    default: return {};
  }
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

}  // namespace

std::string signal_name(int signo) {
  for (const Named& n : kSignals)
    if (n.value == signo) return std::string(n.name);
  return fmt::format("SIG{}", signo);
}

std::optional<int> parse_signal(std::string_view name) {
  for (const Named& n : kSignals)
    if (iequals(n.name, name) || iequals(n.name.substr(3), name)) return n.value;
  return std::nullopt;
}

std::string si_code_name(int signo, int code) {
  // Signal-specific codes are positive and below SI_KERNEL; the generic ones
  // (SI_USER, SI_KERNEL, SI_QUEUE, SI_TKILL...) apply to every signal.
  if (code > 0 && code < 0x80)
    for (const Named& n : codes_for(signo))
      if (n.value == code) return std::string(n.name);
  for (const Named& n : kGenericCodes)
    if (n.value == code) return std::string(n.name);
  return std::to_string(code);
}

std::optional<int> parse_si_code(int signo, std::string_view name) {
  for (const Named& n : codes_for(signo))
    if (iequals(n.name, name)) return n.value;
  for (const Named& n : kGenericCodes)
    if (iequals(n.name, name)) return n.value;
  return std::nullopt;
}

bool siginfo_has_address(int signo, int code) {
  if (code <= 0) return false;
  return signo == SIGSEGV || signo == SIGBUS || signo == SIGILL || signo == SIGFPE ||
         signo == SIGTRAP;
}

bool is_memory_fault(int signo, int code) {
  return code > 0 && (signo == SIGSEGV || signo == SIGBUS || signo == SIGILL || signo == SIGFPE);
}

std::string why_not_a_memory_fault(int signo, int code) {
  const std::string code_name = si_code_name(signo, code);
  if (code <= 0)
    return fmt::format("a signal sent by a process ({}), not raised by a faulting access: it carries no fault address",
                       code_name);
  if (signo == SIGTRAP)
    return fmt::format("a trap ({}: a breakpoint, a single step or the stop after exec), not a faulting access",
                       code_name);
  return fmt::format("{} is not a fault signal: there is no fault address", signal_name(signo));
}

bool fault_address_hidden(int signo, int code) {
  // SI_KERNEL: x86 #GP (arch/x86/kernel/traps.c); SEGV_MTEAERR: arm64
  // asynchronous tag check, reported at the next kernel entry
  // (arch/arm64/kernel/entry-common.c, mte_check_tfsr_exit/do_notify_resume).
  return signo == SIGSEGV && (code == 0x80 || code == 8);
}

std::string explain_fault(const Fault& f, const Annotation& at) {
  const Region* r = at.region ? &*at.region : nullptr;
  std::string where = std::string(to_string(at.kind));
  std::string path = r && r->mapping.is_file() ? " of " + r->mapping.name : std::string{};
  if (r && r->image && !r->mapping.is_file()) path = " of " + r->image->path;
  if (f.signo == SIGSEGV) {
    switch (f.code) {
      case 0x80:
        return "general protection fault (or another fault the kernel reports without an address): si_addr is 0, not "
               "the address touched; a non-canonical address is the usual cause";
      case 1:  // SEGV_MAPERR
        switch (at.kind) {
          case RegionKind::null_page: return "access to the null page: a NULL pointer dereference";
          case RegionKind::kernel: return "user-mode access to a kernel address";
          case RegionKind::non_canonical: return "access to a non-canonical address";
          case RegionKind::unmapped: return "access to unmapped memory (" + at.summary + ")";
          case RegionKind::guard:
            if (r && !is_prot_none(r->mapping.perms)) return "access to a MADV_GUARD_INSTALL guard page";
            return "access to a guard region";
          default: return fmt::format("no page mapped at this address of a {} region", where);
        }
      case 2: {  // SEGV_ACCERR
        if (!r) return "access denied at an address outside every mapping";
        Perms p = r->mapping.perms;
        Access acc = f.access;
        if (acc == Access::unknown) {
          if (is_prot_none(p)) acc = Access::read;
          else if (f.pc && f.addr && *f.pc == *f.addr && !has(p, Perms::exec)) acc = Access::exec;
          else if (!has(p, Perms::write)) acc = Access::write;
        }
        if (is_prot_none(p)) return fmt::format("access to an inaccessible (PROT_NONE) {} page{}", where, path);
        if (acc == Access::exec && !has(p, Perms::exec))
          return fmt::format("execute of a non-executable {} page{} (NX)", where, path);
        if (acc == Access::write && !has(p, Perms::write))
          return fmt::format("write to a read-only {} page{}", where, path);
        return fmt::format("access denied to a {} {} page{}", to_string(p), where, path);
      }
      case 4: return "protection-key violation: the page's pkey forbids this access (PKRU)";
      case 8:  // SEGV_MTEAERR
        return "MTE tag check fault (asynchronous): a tagged access did not match its memory's allocation tag "
               "somewhere before this kernel entry; the address is not recorded (si_addr 0)";
      case 9: {  // SEGV_MTESERR
        // The logical MTE tag is bits 59:56 of the pointer
        // (Documentation/arch/arm64/memory-tagging-extension.rst).
        std::string tag = at.tag ? fmt::format(" tag {:#x}", *at.tag & 0xf) : std::string(" tag");
        return fmt::format("MTE tag check fault (synchronous): the pointer's{} does not match the allocation tag "
                           "of this {} memory{}",
                           tag, where, path);
      }
      case 10: return "control-protection fault: the shadow stack does not match the return address";
      default: break;
    }
  }
  if (f.signo == SIGILL && r && has(r->mapping.perms, Perms::exec) && f.pc && f.addr && *f.pc == *f.addr) {
    // arm64 raises both from the instruction itself (arch/arm64/kernel/traps.c).
    if (f.code == 1)  // ILL_ILLOPC
      return fmt::format("illegal instruction in an executable {} page{} (on arm64 also: an indirect branch "
                         "landing on no BTI landing pad in a guarded page)",
                         where, path);
    if (f.code == 2)  // ILL_ILLOPN
      return fmt::format("illegal operand in an executable {} page{} (on arm64 with FEAT_FPAC also: a pointer "
                         "authentication failure, AUT* trapped)",
                         where, path);
  }
  if (f.signo == SIGBUS) {
    switch (f.code) {
      case 2: return fmt::format("access past the end of the file behind a {} mapping{}", where, path);
      case 1: return "misaligned access";
      case 3: return "hardware error on the object behind this address";
      case 4:
      case 5: return "machine check: memory hardware error";
      default: break;
    }
  }
  return fmt::format("{} ({}){}", signal_name(f.signo), si_code_name(f.signo, f.code),
                     at.summary.empty() ? "" : ": address " + at.summary);
}

}  // namespace vma
