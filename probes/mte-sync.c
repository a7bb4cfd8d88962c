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
  uint64_t bad = probe_mte_mismatched(probe_access);
  probe_target(bad);
  probe_access((volatile unsigned char *)bad);
  probe_allowed();
#endif
}
