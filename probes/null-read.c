/* null-read: load from address 0. Expected: SIGSEGV SEGV_MAPERR, si_addr 0. */
#include "probe.h"

PROBE_ACCESS int probe_access(const volatile int *p) {
  PROBE_HIDE(p);
  return *p;
}

int main(void) {
  probe_init();
  probe_target(0);
  probe_access(NULL);
  probe_allowed();
}
