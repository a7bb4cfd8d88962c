/* stack-overflow: unbounded recursion on the main thread's stack until it
 * reaches RLIMIT_STACK (set to 8 MiB when unlimited or larger). The kernel
 * then refuses to grow the [stack] VMA (mm/mmap.c, acct_stack_growth) and
 * the touch below it is SIGSEGV SEGV_MAPERR. target is the lowest address
 * the [stack] VMA can reach: its end minus the limit. The fault address is
 * just below it. Only a handler on a sigaltstack can run afterwards. */
#include "probe.h"

#define FRAME_BYTES 2048
#define STACK_LIMIT (8UL << 20)

static volatile int stop_depth = -1;

PROBE_ACCESS int probe_access_recurse(int depth) {
  volatile char frame[FRAME_BYTES];
  /* The frame escapes: without this clang's SROA keeps only the bytes
   * touched and the frame shrinks to a few bytes. */
  __asm__ volatile("" : : "r"(frame) : "memory");
  frame[0] = (char)depth;
  if (depth == stop_depth) return frame[0];
  return probe_access_recurse(depth + 1) + frame[0];
}

int main(void) {
  probe_init();
  struct rlimit lim;
  if (getrlimit(RLIMIT_STACK, &lim) != 0) probe_fail("getrlimit RLIMIT_STACK", errno);
  if (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur > STACK_LIMIT) {
    lim.rlim_cur = STACK_LIMIT;
    if (setrlimit(RLIMIT_STACK, &lim) != 0) probe_fail("setrlimit RLIMIT_STACK", errno);
  }
  uint64_t start = 0, end = 0;
  if (probe_maps_range("[stack]", &start, &end) != 1) probe_fail("no [stack] in /proc/self/maps", 0);
  uint64_t page = probe_page_size();
  probe_note_hex("stack limit ", lim.rlim_cur);
  probe_note_hex("stack end ", end);
  probe_target((end - lim.rlim_cur) & ~(page - 1));
  probe_access_recurse(0);
  probe_allowed();
}
