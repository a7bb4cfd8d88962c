/* exec-stack: put a `ret` in a buffer on the main stack and call it.
 * Expected: SIGSEGV SEGV_ACCERR, si_addr = target = pc (the stack is NX). */
#include "probe.h"

int main(void) {
  probe_init();
  unsigned char code[64];
  probe_put_ret(code);
  probe_target((uintptr_t)code);
  probe_access_call(code);
  probe_allowed();
}
