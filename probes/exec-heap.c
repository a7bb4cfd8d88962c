/* exec-heap: put a `ret` in a small malloc block (the brk [heap]) and call it.
 * Expected: SIGSEGV SEGV_ACCERR, si_addr = target = pc. */
#include "probe.h"

int main(void) {
  probe_init();
  unsigned char *code = malloc(64);
  if (code == NULL) probe_fail("malloc", errno);
  probe_put_ret(code);
  probe_target((uintptr_t)code);
  probe_access_call(code);
  probe_allowed();
}
