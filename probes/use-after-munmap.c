/* use-after-munmap: map a page, write it, unmap it, read it again.
 * Expected: SIGSEGV SEGV_MAPERR, si_addr = target. */
#include "probe.h"

PROBE_ACCESS int probe_access(const volatile unsigned char *p) {
  PROBE_HIDE(p);
  return *p;
}

int main(void) {
  probe_init();
  size_t page = probe_page_size();
  unsigned char *p = probe_map(page, PROT_READ | PROT_WRITE);
  p[0] = 1;
  if (munmap(p, page) != 0) probe_fail("munmap", errno);
  probe_target((uintptr_t)p);
  probe_access(p);
  probe_allowed();
}
