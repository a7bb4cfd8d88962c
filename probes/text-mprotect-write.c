/* text-mprotect-write: mprotect a page of this program's text to RWX, write
 * to it (the byte it already holds), and run the code on it again.
 * Expected: `allowed` on a stock kernel; `refused EACCES` (MDWE, SELinux
 * execmod) or `refused EPERM` (PaX) under W^X enforcement. */
#include "probe.h"

PROBE_ACCESS int victim(int x) { return x * 3 + 1; }

PROBE_ACCESS void probe_access(volatile unsigned char *p) {
  PROBE_HIDE(p);
  *p = *p;
}

int main(void) {
  probe_init();
  uintptr_t page = probe_page_size();
  uintptr_t target = (uintptr_t)&victim;
  void *text_page = (void *)(target & ~(page - 1));
  if (mprotect(text_page, page, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) probe_refused(errno);
  probe_target(target);
  probe_access((unsigned char *)target);
  int (*volatile fn)(int) = victim;
  if (fn(2) != 7) probe_fail("text changed by the write", 0);
  probe_allowed();
}
