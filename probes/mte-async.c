/* mte-async: the same mismatched store as mte-sync with asynchronous tag
 * checks (PR_MTE_TCF_ASYNC): the CPU only records the fault (TFSRE0_EL1) and
 * the kernel reports it at the next kernel entry, here a getppid syscall.
 * Expected (Documentation/arch/arm64/memory-tagging-extension.rst,
 * "asynchronous"): SIGSEGV SEGV_MTEAERR (8), si_addr 0 (the address is not
 * known). */
#include "probe.h"
#include "arm64.h"

#include <sys/syscall.h>

PROBE_ACCESS void probe_access(volatile unsigned char *p) {
  PROBE_HIDE(p);
  *p = 1;
}

int main(void) {
  probe_init();
#if !defined(__aarch64__)
  probe_skip("mte-async: arm64 only (Memory Tagging Extension)");
#else
  probe_mte_enable(PR_MTE_TCF_ASYNC);
  uint64_t bad = probe_mte_mismatched(probe_access);
  probe_target(bad);
  probe_access((volatile unsigned char *)bad);
  /* The kernel entry that reports the recorded fault. */
  syscall(SYS_getppid);
  probe_allowed();
#endif
}
