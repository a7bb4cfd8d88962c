/* rodata-write: store into a const array in .rodata.
 * Expected: SIGSEGV SEGV_ACCERR, si_addr = target. */
#include "probe.h"

const char probe_rodata[] = "vmakit probe: read-only data";

PROBE_ACCESS void probe_access(volatile char *p) {
  PROBE_HIDE(p);
  *p = 'X';
}

int main(void) {
  probe_init();
  char *p = (char *)(uintptr_t)probe_rodata;
  probe_target((uintptr_t)p);
  probe_access(p);
  probe_allowed();
}
