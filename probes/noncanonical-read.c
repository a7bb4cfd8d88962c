/* noncanonical-read: load from an address no page table can map.
 * x86_64: 0x8000000000000000, non-canonical under both 4- and 5-level
 *   paging, and not subject to LAM (bit 63 set). The CPU raises #GP, not #PF,
 *   so the kernel knows no address: SIGSEGV SI_KERNEL (128), si_addr 0
 *   (arch/x86/kernel/traps.c, exc_general_protection).
 * aarch64: 0x00ff000000001000, tag byte 0 and bits 55:48 set: above any user
 *   VA (48 or 52 bits) and below the kernel's TTBR1 half. A level-0
 *   translation fault: SIGSEGV SEGV_MAPERR, si_addr = the address
 *   (arch/arm64/mm/fault.c, do_translation_fault -> do_bad_area). */
#include "probe.h"

#if defined(__x86_64__)
#define NONCANONICAL_ADDR 0x8000000000000000ULL
#elif defined(__aarch64__)
#define NONCANONICAL_ADDR 0x00ff000000001000ULL
#endif

PROBE_ACCESS int probe_access(uintptr_t addr) {
  PROBE_HIDE(addr);
  return *(const volatile int *)addr;
}

int main(void) {
  probe_init();
#ifndef NONCANONICAL_ADDR
  probe_skip("noncanonical-read: no non-canonical address known for this architecture");
#else
  probe_target(NONCANONICAL_ADDR);
  probe_access(NONCANONICAL_ADDR);
  probe_allowed();
#endif
}
