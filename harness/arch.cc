#include "arch.h"

#include <csignal>

namespace vma::harness {
namespace {

using R = RegionKind;
using A = AddrRule;

// ---- x86_64 ------------------------------------------------------------------

constexpr std::string_view kX86Cpu[] = {"nx", "smep", "smap", "pku", "shstk", "la57"};

constexpr ProbeNotHere kX86NotHere[] = {
    {"mte-sync", "arm64 only: Memory Tagging Extension"},
    {"mte-async", "arm64 only: Memory Tagging Extension"},
    {"pac-auth", "arm64 only: pointer authentication"},
    {"bti-landing", "arm64 only: Branch Target Identification (x86's counterpart is CET IBT, kernel-only on Linux)"},
    {"tbi-read", "arm64 only: top-byte-ignore (x86 LAM is not probed)"},
};

// ---- aarch64 -----------------------------------------------------------------
// Facts: Documentation/arch/arm64/{memory,tagged-pointers,memory-tagging-extension,
// pointer-authentication,elf_hwcaps}.rst; arch/arm64/kernel/traps.c (do_el0_bti:
// SIGILL ILL_ILLOPC at pc; do_el0_fpac: SIGILL ILL_ILLOPN at pc);
// arch/arm64/mm/fault.c (tag check faults: SEGV_MTESERR; above TASK_SIZE:
// do_bad_area, SEGV_MAPERR).

constexpr std::string_view kArm64Cpu[] = {"mte", "bti", "paca", "fpac"};

constexpr ProbeNotHere kArm64NotHere[] = {
    {"noncanonical-jump", "x86 only: a #GP raised by the jump itself; on arm64 a branch above VA_BITS faults at "
                          "the target like any unmapped fetch (noncanonical-read covers the address)"},
    {"vsyscall-read", "x86 only: arm64 has no vsyscall page"},
    {"vsyscall-call", "x86 only: arm64 has no vsyscall page"},
    {"pkey", "x86 protection keys (arm64 POE, FEAT_S1POE, needs Linux 6.12 and is not probed)"},
};

Expectation arm64_noncanonical_read(const Environment&) {
  // 0x00ff000000001000: tag byte 0, bits 55:48 set: above any user VA (48 or
  // 52 bits) and below the TTBR1 half. A translation fault, no #GP.
  auto e = fault_expectation(SIGSEGV, SEGV_MAPERR, A::target, {R::non_canonical});
  e.why = "above VA_BITS: a level-0 translation fault, si_addr = the address";
  return e;
}

Expectation arm64_rodata_write(const Environment&) {
  // GNU ld separates code from read-only data by default on x86 only
  // (-z separate-code): an aarch64 program's .rodata usually shares the r-x
  // segment, so the VMA written is text (the annotation's section says .rodata).
  auto e = fault_expectation(SIGSEGV, SEGV_ACCERR, A::target, {R::rodata, R::text});
  e.why = "aarch64 ld keeps .rodata in the r-x segment unless -z separate-code";
  return e;
}

/// Before Linux 5.11 the kernel cleared the tag byte of si_addr for every
/// reader, ptrace included; 5.11 (dceec3ff7807, "arm64: expose FAR_EL1 tag
/// bits in siginfo") keeps it for tracers and for handlers that ask with
/// SA_EXPOSE_TAGBITS. Expectations whose address carries a tag follow it.
Expectation tagged_target(Expectation e, const Environment& env, const char* kept) {
  if (env.kernel.at_least(5, 11)) {
    e.why += std::string(", ") + kept;
    return e;
  }
  e.target_untagged = true;
  e.why += ", tag cleared in si_addr for every reader before Linux 5.11 (dceec3ff7807)";
  return e;
}

Expectation arm64_mte_sync(const Environment& env) {
  if (!env.cpu.mte) return skip_expectation("no MTE (AT_HWCAP2 lacks HWCAP2_MTE)");
  auto e = fault_expectation(SIGSEGV, SEGV_MTESERR, A::target, {R::anon});
  e.why = "synchronous tag check: the faulting store";
  return tagged_target(e, env, "tag kept in si_addr bits 59:56 for a tracer");
}

Expectation arm64_mte_async(const Environment& env) {
  if (!env.cpu.mte) return skip_expectation("no MTE (AT_HWCAP2 lacks HWCAP2_MTE)");
  auto e = fault_expectation(SIGSEGV, SEGV_MTEAERR, A::zero, {R::anon});
  e.why = "asynchronous tag check: reported at the next kernel entry, no address";
  return e;
}

Expectation arm64_pac_auth(const Environment& env) {
  if (!env.cpu.paca) return skip_expectation("no pointer authentication (AT_HWCAP lacks HWCAP_PACA)");
  if (env.cpu.fpac) {
    auto e = fault_expectation(SIGILL, ILL_ILLOPN, A::jump_insn, {R::text}, A::jump_insn);
    e.why = "FEAT_FPAC: the failing autia traps itself";
    return e;
  }
  auto e = fault_expectation(SIGSEGV, SEGV_MAPERR, A::any, {R::non_canonical});
  e.why = "no FEAT_FPAC: autia corrupts the pointer's upper bits and the branch faults there";
  return e;
}

Expectation arm64_bti_landing(const Environment& env) {
  if (!env.cpu.bti) return skip_expectation("no BTI (AT_HWCAP2 lacks HWCAP2_BTI)");
  auto e = fault_expectation(SIGILL, ILL_ILLOPC, A::target, {R::anon}, A::target);
  e.why = "branch target exception at the instruction that is no landing pad";
  return e;
}

Expectation arm64_tbi_read(const Environment& env) {
  auto e = fault_expectation(SIGSEGV, SEGV_MAPERR, A::target, {R::unmapped});
  e.why = "the tag is ignored by translation: the unmapped page faults";
  return tagged_target(e, env, "tag kept in si_addr for a tracer");
}

constexpr ArchExpectation kArm64Expectations[] = {
    {"noncanonical-read", arm64_noncanonical_read},
    {"rodata-write", arm64_rodata_write},
    {"mte-sync", arm64_mte_sync},
    {"mte-async", arm64_mte_async},
    {"pac-auth", arm64_pac_auth},
    {"bti-landing", arm64_bti_landing},
    {"tbi-read", arm64_tbi_read},
};

constexpr ArchRow kRows[] = {
    {"x86_64", Arch::x86_64, kX86Cpu, kX86NotHere, {}},
    {"aarch64", Arch::aarch64, kArm64Cpu, kArm64NotHere, kArm64Expectations},
};

}  // namespace

std::span<const ArchRow> arch_rows() { return kRows; }

const ArchRow* arch_row(std::string_view machine) {
  for (const ArchRow& r : kRows)
    if (r.machine == machine) return &r;
  return nullptr;
}

std::optional<std::string_view> arch_not_here(std::string_view id, const Environment& env) {
  const ArchRow* row = arch_row(env.arch);
  if (!row) return std::nullopt;
  for (const ProbeNotHere& p : row->not_here)
    if (p.id == id) return p.why;
  return std::nullopt;
}

std::optional<Expectation> arch_expectation(std::string_view id, const Environment& env) {
  if (auto why = arch_not_here(id, env)) return skip_expectation(std::string(*why));
  const ArchRow* row = arch_row(env.arch);
  if (!row) return std::nullopt;
  for (const ArchExpectation& x : row->expectations)
    if (x.id == id) return x.expect(env);
  return std::nullopt;
}

}  // namespace vma::harness
