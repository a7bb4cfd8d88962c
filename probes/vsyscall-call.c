/* vsyscall-call: call the vsyscall gettimeofday at 0xffffffffff600000. In
 * emulate and xonly modes the kernel emulates the call and it returns
 * (`allowed`; arch/x86/entry/vsyscall/vsyscall_64.c, emulate_vsyscall); with
 * vsyscall=none there is nothing there: SIGSEGV SEGV_MAPERR, si_addr = pc =
 * target. The probe notes the mode from /proc/self/maps. */
#include "probe.h"

#include <sys/time.h>

#define VSYSCALL_ADDR 0xffffffffff600000ULL

typedef long (*gettimeofday_fn)(struct timeval *, void *);

PROBE_ACCESS long probe_access_call_vsyscall(uintptr_t addr, struct timeval *tv) {
  PROBE_HIDE(addr);
  return ((gettimeofday_fn)addr)(tv, NULL);
}

int main(void) {
  probe_init();
#if !defined(__x86_64__)
  probe_skip("vsyscall: x86_64 only");
#else
  probe_note(probe_vsyscall_mode());
  struct timeval tv = {0, 0};
  probe_target(VSYSCALL_ADDR);
  long r = probe_access_call_vsyscall(VSYSCALL_ADDR, &tv);
  probe_note_dec("gettimeofday returned ", r);
  probe_note_dec("tv_sec ", (long long)tv.tv_sec);
  probe_allowed();
#endif
}
