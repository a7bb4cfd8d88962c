/* kernel-read: load from the kernel text base from user mode.
 * Expected: SIGSEGV SEGV_MAPERR, si_addr = target (SI_KERNEL under Intel LASS). */
#include "probe.h"

#if defined(__x86_64__)
#define KERNEL_ADDR 0xffffffff81000000ULL /* kernel text without KASLR */
#elif defined(__aarch64__)
#define KERNEL_ADDR 0xffff800080000000ULL /* kernel image, 48-bit VA */
#endif

PROBE_ACCESS int probe_access(uintptr_t addr) {
  PROBE_HIDE(addr);
  return *(const volatile int *)addr;
}

int main(void) {
  probe_init();
#ifndef KERNEL_ADDR
  probe_skip("kernel-read: no kernel address known for this architecture");
#else
  probe_target(KERNEL_ADDR);
  probe_access(KERNEL_ADDR);
  probe_allowed();
#endif
}
