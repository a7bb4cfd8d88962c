/* mseal: seal a page (mseal(2), Linux 6.10+, syscall 462 on every arch),
 * then try to mprotect it. Expected: `refused EPERM` (the seal holds);
 * `allowed` means the mprotect went through. ENOSYS from mseal: skip. */
#include "probe.h"

#include <sys/syscall.h>

#ifndef SYS_mseal
#define SYS_mseal 462
#endif

int main(void) {
  probe_init();
  size_t page = probe_page_size();
  unsigned char *p = probe_map(page, PROT_READ | PROT_WRITE);
  if (syscall(SYS_mseal, p, page, 0UL) != 0) {
    int e = errno;
    if (e == ENOSYS) probe_skip_errno("mseal:", e, "kernel < 6.10");
    if (e == EPERM || e == EINVAL) probe_skip_errno("mseal:", e, "sealing not supported here");
    probe_fail("mseal", e);
  }
  probe_target((uintptr_t)p);
  if (mprotect(p, page, PROT_READ) != 0) probe_refused(errno);
  probe_allowed();
}
