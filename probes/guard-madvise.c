/* guard-madvise: load from a MADV_GUARD_INSTALL page (Linux 6.13+) inside a
 * read-write mapping. A guard region is a page-table marker, not a VMA: the
 * fault is SIGSEGV SEGV_MAPERR (mm/memory.c, handle_pte_marker), si_addr =
 * target. Skipped with EINVAL on older kernels. */
#include "probe.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

PROBE_ACCESS int probe_access(const volatile unsigned char *p) {
  PROBE_HIDE(p);
  return *p;
}

int main(void) {
  probe_init();
  size_t page = probe_page_size();
  unsigned char *base = probe_map(3 * page, PROT_READ | PROT_WRITE);
  unsigned char *guard = base + page;
  if (madvise(guard, page, MADV_GUARD_INSTALL) != 0) {
    int e = errno;
    if (e == EINVAL) probe_skip_errno("MADV_GUARD_INSTALL:", e, "kernel < 6.13");
    probe_fail("madvise MADV_GUARD_INSTALL", e);
  }
  probe_target((uintptr_t)guard);
  probe_access(guard);
  probe_allowed();
}
