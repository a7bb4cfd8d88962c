/* mte-sync: a store through a pointer whose MTE tag differs from the
 * memory's allocation tag, with synchronous tag checks (PR_MTE_TCF_SYNC).
 * The store with the matching tag succeeds first. Expected
 * (Documentation/arch/arm64/memory-tagging-extension.rst, "synchronous"):
 * SIGSEGV SEGV_MTESERR (9), si_addr = the faulting address. A tracer sees the
 * pointer's tag in si_addr (arch/arm64/mm/fault.c do_tag_check_fault keeps
 * bits 59:56); a handler without SA_EXPOSE_TAGBITS sees it cleared. */
#include "probe.h"
#include "arm64.h"

PROBE_ACCESS void probe_access(volatile unsigned char *p) {
  PROBE_HIDE(p);
  *p = 1;
}

int main(void) {
  probe_init();
#if !defined(__aarch64__)
  probe_skip("mte-sync: arm64 only (Memory Tagging Extension)");
#else
  probe_mte_enable(PR_MTE_TCF_SYNC);
  unsigned char *p = probe_map(probe_page_size(), PROT_READ | PROT_WRITE | PROBE_PROT_MTE);
  uint64_t good = probe_with_tag((uintptr_t)p, 0x3), bad = probe_with_tag((uintptr_t)p, 0x5);
  probe_mte_set_tag(good);
  probe_access((volatile unsigned char *)good);
  probe_note("store with the matching tag 0x3 succeeded");
  probe_target(bad);
  probe_access((volatile unsigned char *)bad);
  probe_allowed();
#endif
}
