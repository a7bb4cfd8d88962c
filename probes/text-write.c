/* text-write: store into this program's own r-x text.
 * Expected: SIGSEGV SEGV_ACCERR, si_addr = target. */
#include "probe.h"

PROBE_ACCESS int victim(int x) { return x * 3 + 1; }

PROBE_ACCESS void probe_access(volatile unsigned char *p) {
  PROBE_HIDE(p);
  *p = *p;
}

int main(void) {
  probe_init();
  unsigned char *p = (unsigned char *)(uintptr_t)&victim;
  probe_target((uintptr_t)p);
  probe_access(p);
  probe_allowed();
}
