/* vsyscall-read: load from the legacy vsyscall page 0xffffffffff600000.
 * Its mode shows in /proc/self/maps: [vsyscall] r-xp = emulate (the read
 * works: `allowed`), --xp = xonly (SIGSEGV SEGV_MAPERR, si_addr = target),
 * absent = none (SIGSEGV SEGV_MAPERR). The probe notes the mode and always
 * reads: with vsyscall=none the fault is the protection working. */
#include "probe.h"

#define VSYSCALL_ADDR 0xffffffffff600000ULL

PROBE_ACCESS int probe_access(uintptr_t addr) {
  PROBE_HIDE(addr);
  return *(const volatile int *)addr;
}

int main(void) {
  probe_init();
#if !defined(__x86_64__)
  probe_skip("vsyscall: x86_64 only");
#else
  probe_note(probe_vsyscall_mode());
  probe_target(VSYSCALL_ADDR);
  probe_access(VSYSCALL_ADDR);
  probe_allowed();
#endif
}
