/* wx-mmap: mmap(PROT_READ|PROT_WRITE|PROT_EXEC), write a `ret`, call it.
 * Expected: `allowed` on a stock kernel; `refused EACCES` (MDWE, SELinux
 * execmem) or `refused EPERM` (PaX) under W^X enforcement. */
#include "probe.h"

int main(void) {
  probe_init();
  size_t page = probe_page_size();
  void *code = mmap(NULL, page, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (code == MAP_FAILED) probe_refused(errno);
  probe_put_ret(code);
  probe_target((uintptr_t)code);
  probe_access_call(code);
  probe_allowed();
}
