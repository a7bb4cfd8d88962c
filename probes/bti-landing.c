/* bti-landing: an indirect call (blr) into a BTI-guarded page (PROT_BTI)
 * that lands on an instruction that is not a landing pad. The call to the
 * page's `bti c; ret` succeeds first. Expected (arch/arm64/kernel/traps.c
 * do_el0_bti; Documentation/arch/arm64/elf_hwcaps.rst HWCAP2_BTI): SIGILL
 * ILL_ILLOPC, si_addr = pc = the target. */
#include "probe.h"
#include "arm64.h"

#if defined(__aarch64__)
/* void probe_access_blr(void *code): calls code with blr (BTYPE 10, which
 * `bti c` accepts), written in asm so the branch kind is fixed. */
__asm__(".text\n"
        ".globl probe_access_blr\n"
        ".type probe_access_blr, %function\n"
        "probe_access_blr:\n"
        "\tstp x29, x30, [sp, #-16]!\n"
        "\tmov x29, sp\n"
        "\tblr x0\n"
        "\tldp x29, x30, [sp], #16\n"
        "\tret\n"
        ".size probe_access_blr, .-probe_access_blr\n");
void probe_access_blr(void *code);
#endif

int main(void) {
  probe_init();
#if !defined(__aarch64__)
  probe_skip("bti-landing: arm64 only (Branch Target Identification)");
#else
  if (!(getauxval(AT_HWCAP2) & PROBE_HWCAP2_BTI)) probe_skip("no BTI (AT_HWCAP2 lacks HWCAP2_BTI)");
  size_t page = probe_page_size();
  uint32_t *code = (uint32_t *)probe_map(page, PROT_READ | PROT_WRITE);
  code[0] = 0xd503245f; /* bti c */
  code[1] = 0xd65f03c0; /* ret */
  code[2] = 0xd503201f; /* nop: not a landing pad */
  code[3] = 0xd65f03c0; /* ret */
  __builtin___clear_cache((char *)code, (char *)(code + 4));
  if (mprotect(code, page, PROT_READ | PROT_EXEC | PROBE_PROT_BTI) != 0) probe_fail("mprotect PROT_BTI", errno);
  probe_access_blr(code);
  probe_note("call to the `bti c` landing pad returned");
  probe_target((uintptr_t)(code + 2));
  probe_access_blr(code + 2);
  probe_allowed();
#endif
}
