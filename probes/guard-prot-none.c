/* guard-prot-none: load from a PROT_NONE page between two read-write pages
 * (a ---p VMA, as glibc uses for thread stack guards).
 * Expected: SIGSEGV SEGV_ACCERR, si_addr = target. */
#include "probe.h"

PROBE_ACCESS int probe_access(const volatile unsigned char *p) {
  PROBE_HIDE(p);
  return *p;
}

int main(void) {
  probe_init();
  size_t page = probe_page_size();
  unsigned char *base = probe_map(3 * page, PROT_READ | PROT_WRITE);
  unsigned char *guard = base + page;
  if (mprotect(guard, page, PROT_NONE) != 0) probe_fail("mprotect PROT_NONE", errno);
  probe_target((uintptr_t)guard);
  probe_access(guard);
  probe_allowed();
}
