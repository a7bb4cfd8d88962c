/* null-exec: call address 0. Expected: SIGSEGV SEGV_MAPERR, si_addr 0, pc 0. */
#include "probe.h"

int main(void) {
  probe_init();
  probe_target(0);
  probe_access_call(NULL);
  probe_allowed();
}
