/* vdso-write: store into the vDSO's ELF header (the vDSO is mapped r-x).
 * Expected: SIGSEGV SEGV_ACCERR, si_addr = target. */
#include "probe.h"

PROBE_ACCESS void probe_access(volatile unsigned char *p) {
  PROBE_HIDE(p);
  *p = *p;
}

int main(void) {
  probe_init();
  uintptr_t vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
  if (vdso == 0) probe_skip("vdso: no AT_SYSINFO_EHDR (no vDSO mapped)");
  probe_target(vdso);
  probe_access((unsigned char *)vdso);
  probe_allowed();
}
