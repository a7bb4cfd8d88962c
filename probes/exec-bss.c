/* exec-bss: put a `ret` in a zero-initialised global (.bss) and call it.
 * Expected: SIGSEGV SEGV_ACCERR, si_addr = target = pc. */
#include "probe.h"

unsigned char probe_bss_code[64];

int main(void) {
  probe_init();
  probe_put_ret(probe_bss_code);
  probe_target((uintptr_t)probe_bss_code);
  probe_access_call(probe_bss_code);
  probe_allowed();
}
