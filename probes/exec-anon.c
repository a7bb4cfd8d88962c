/* exec-anon: put a `ret` in an anonymous read-write mapping and call it.
 * Expected: SIGSEGV SEGV_ACCERR, si_addr = target = pc. */
#include "probe.h"

int main(void) {
  probe_init();
  unsigned char *code = probe_map(probe_page_size(), PROT_READ | PROT_WRITE);
  probe_put_ret(code);
  probe_target((uintptr_t)code);
  probe_access_call(code);
  probe_allowed();
}
