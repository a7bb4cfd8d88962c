/* noncanonical-read: load from 0x8000000000000000, non-canonical under both
 * 4- and 5-level paging, and not subject to LAM (bit 63 set). The CPU raises
 * #GP, not #PF, so the kernel knows no address: SIGSEGV SI_KERNEL (128),
 * si_addr 0 (arch/x86/kernel/traps.c, exc_general_protection). */
#include "probe.h"

#define NONCANONICAL_ADDR 0x8000000000000000ULL

PROBE_ACCESS int probe_access(uintptr_t addr) {
  PROBE_HIDE(addr);
  return *(const volatile int *)addr;
}

int main(void) {
  probe_init();
#if !defined(__x86_64__)
  probe_skip("noncanonical-read: x86_64 only");
#else
  probe_target(NONCANONICAL_ADDR);
  probe_access(NONCANONICAL_ADDR);
  probe_allowed();
#endif
}
