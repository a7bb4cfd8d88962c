/* null-write: store to address 0. Expected: SIGSEGV SEGV_MAPERR, si_addr 0. */
#include "probe.h"

PROBE_ACCESS void probe_access(volatile int *p) {
  PROBE_HIDE(p);
  *p = 1;
}

int main(void) {
  probe_init();
  probe_target(0);
  probe_access(NULL);
  probe_allowed();
}
