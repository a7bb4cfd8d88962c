/* mdwe: prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN) (Linux 6.3+), then
 * mmap read-write-execute. Expected: `refused EACCES` (mm/mmap.c,
 * map_deny_write_exec); `allowed` means the RWX mapping was made and ran.
 * EINVAL from the prctl: skip. MDWE cannot be undone and is inherited. */
#include "probe.h"

#include <sys/prctl.h>

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

int main(void) {
  probe_init();
  if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0L, 0L, 0L) != 0) {
    int e = errno;
    if (e == EINVAL) probe_skip_errno("mdwe: PR_SET_MDWE failed", e, "kernel < 6.3");
    probe_fail("prctl PR_SET_MDWE", e);
  }
  size_t page = probe_page_size();
  void *code = mmap(NULL, page, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (code == MAP_FAILED) probe_refused(errno);
  probe_put_ret(code);
  probe_target((uintptr_t)code);
  probe_access_call(code);
  probe_allowed();
}
