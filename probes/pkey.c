/* pkey: a page tagged with a protection key whose access is disabled in
 * PKRU. Expected: SIGSEGV SEGV_PKUERR (4), si_addr = target, si_pkey = the
 * key. Without PKU (or OSPKE) pkey_alloc fails EINVAL (the man page says
 * ENOSPC: both mean no usable keys) and the probe skips. */
#include "probe.h"

#ifndef PKEY_DISABLE_ACCESS
#define PKEY_DISABLE_ACCESS 0x1
#endif

PROBE_ACCESS int probe_access(const volatile unsigned char *p) {
  PROBE_HIDE(p);
  return *p;
}

int main(void) {
  probe_init();
  size_t page = probe_page_size();
  int key = pkey_alloc(0, PKEY_DISABLE_ACCESS);
  if (key < 0) {
    int e = errno;
    if (e == EINVAL || e == ENOSPC || e == ENOSYS) probe_skip_errno("pkeys: pkey_alloc failed", e, "no PKU");
    probe_fail("pkey_alloc", e);
  }
  probe_note_dec("pkey ", key);
  unsigned char *p = probe_map(page, PROT_READ | PROT_WRITE);
  if (pkey_mprotect(p, page, PROT_READ | PROT_WRITE, key) != 0) probe_fail("pkey_mprotect", errno);
  probe_target((uintptr_t)p);
  probe_access(p);
  probe_allowed();
}
