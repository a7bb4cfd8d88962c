/* wx-mprotect: map read-write, write a `ret`, mprotect to read-execute, call.
 * Expected: `allowed` on a stock kernel; `refused EACCES` (MDWE, SELinux
 * execmem) or `refused EPERM` (PaX) under W^X enforcement. */
#include "probe.h"

int main(void) {
  probe_init();
  size_t page = probe_page_size();
  unsigned char *code = probe_map(page, PROT_READ | PROT_WRITE);
  probe_put_ret(code);
  if (mprotect(code, page, PROT_READ | PROT_EXEC) != 0) probe_refused(errno);
  probe_target((uintptr_t)code);
  probe_access_call(code);
  probe_allowed();
}
