/* tbi-read: top-byte-ignore. A load through a pointer tagged 0x5a reads
 * mapped memory (the tag is ignored by translation); the same tag on a page
 * just unmapped faults as that page would. Expected
 * (Documentation/arch/arm64/tagged-pointers.rst): SIGSEGV SEGV_MAPERR,
 * si_addr = the tagged address for a tracer (the tag is cleared for a
 * handler without SA_EXPOSE_TAGBITS). No MTE or prctl needed: TBI is always
 * on for user addresses. */
#include "probe.h"
#include "arm64.h"

PROBE_ACCESS int probe_access(const volatile unsigned char *p) {
  PROBE_HIDE(p);
  return *p;
}

int main(void) {
  probe_init();
#if !defined(__aarch64__)
  probe_skip("tbi-read: arm64 only (top-byte-ignore)");
#else
  size_t page = probe_page_size();
  unsigned char *p = probe_map(2 * page, PROT_READ | PROT_WRITE);
  p[0] = 42;
  if (munmap(p + page, page) != 0) probe_fail("munmap", errno);
  uint64_t mapped = probe_with_tag((uintptr_t)p, 0x5a);
  if (probe_access((const volatile unsigned char *)mapped) != 42) probe_fail("tagged load read the wrong byte", 0);
  probe_note("load through tag 0x5a of a mapped page returned its byte");
  uint64_t target = probe_with_tag((uintptr_t)(p + page), 0x5a);
  probe_target(target);
  probe_access((const volatile unsigned char *)target);
  probe_allowed();
#endif
}
