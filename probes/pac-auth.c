/* pac-auth: pointer authentication. A function pointer signed with key IA
 * and one modifier (pacia) is authenticated with another (autia), then
 * branched to. The second modifier is chosen so its signature differs from
 * the first's, so the authentication fails every run. What follows depends
 * on the CPU:
 *   FEAT_FPAC (ID_AA64ISAR1_EL1 APA/API >= 0b0100): autia itself traps:
 *     SIGILL ILL_ILLOPN, si_addr = pc = the autia (arch/arm64/kernel/traps.c
 *     do_el0_fpac); the probe notes it as "jump-insn".
 *   without: autia leaves a pointer that does not translate (an error code
 *     in its upper bits, Arm ARM Auth()), and the branch faults there:
 *     SIGSEGV SEGV_MAPERR, si_addr = pc = that pointer, above the user VA.
 * Documentation/arch/arm64/pointer-authentication.rst; HWCAP_PACA. */
#include "probe.h"
#include "arm64.h"

#if defined(__aarch64__)
/* void probe_access_auth_branch(uint64_t signed_ptr, uint64_t modifier):
 * authenticates and tail-branches (br) to the pointer; the function it
 * reaches returns to our caller. */
__asm__(".text\n"
        ".arch armv8.3-a\n"
        ".globl probe_access_auth_branch\n"
        ".type probe_access_auth_branch, %function\n"
        "probe_access_auth_branch:\n"
        "probe_auth_insn:\n"
        "\tautia x0, x1\n"
        "\tbr x0\n"
        ".size probe_access_auth_branch, .-probe_access_auth_branch\n");
void probe_access_auth_branch(uint64_t signed_ptr, uint64_t modifier);
extern const char probe_auth_insn[];

static uint64_t probe_pac_sign(uint64_t p, uint64_t modifier) {
  __asm__ volatile(".arch armv8.3-a\n\tpacia %0, %1" : "+r"(p) : "r"(modifier));
  return p;
}

PROBE_NOIPA void probe_landing(void) { __asm__ volatile(""); }
#endif

int main(void) {
  probe_init();
#if !defined(__aarch64__)
  probe_skip("pac-auth: arm64 only (pointer authentication)");
#else
  if (!(getauxval(AT_HWCAP) & PROBE_HWCAP_PACA)) probe_skip("no pointer authentication (AT_HWCAP lacks HWCAP_PACA)");
  probe_note(probe_has_fpac() ? "fpac yes (ID_AA64ISAR1_EL1)" : "fpac no (ID_AA64ISAR1_EL1)");
  uint64_t fn = (uintptr_t)&probe_landing;
  uint64_t signed_ptr = probe_pac_sign(fn, 1);
  probe_access_auth_branch(signed_ptr, 1);
  probe_note("authenticated call with the right modifier returned");
  uint64_t wrong = 2;
  while (probe_pac_sign(fn, wrong) == signed_ptr) wrong++;
  probe_note_hex("jump-insn ", (uintptr_t)probe_auth_insn);
  probe_target(fn);
  probe_access_auth_branch(signed_ptr, wrong);
  probe_allowed();
#endif
}
