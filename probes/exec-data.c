/* exec-data: put a `ret` in an initialised global (.data) and call it.
 * Expected: SIGSEGV SEGV_ACCERR, si_addr = target = pc. */
#include "probe.h"

unsigned char probe_data_code[64] = {0x90, 0x90, 0x90, 0x90};

int main(void) {
  probe_init();
  probe_put_ret(probe_data_code);
  probe_target((uintptr_t)probe_data_code);
  probe_access_call(probe_data_code);
  probe_allowed();
}
