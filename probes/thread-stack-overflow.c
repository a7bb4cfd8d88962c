/* thread-stack-overflow: unbounded recursion with 16 KiB frames in a thread
 * with glibc's default stack (8 MiB, one guard page of PROT_NONE below it).
 * Built with -fstack-clash-protection, so every page of a big frame is
 * probed in order and the first touch below the stack lands in the guard.
 * Expected: SIGSEGV SEGV_ACCERR, si_addr in [target - guard, target), where
 * target is the lowest usable address of the thread's stack. */
#include "probe.h"

#include <pthread.h>

#define FRAME_BYTES 16384

static volatile int stop_depth = -1; /* never reached; keeps the recursion finite to the compiler */

PROBE_ACCESS int probe_access_recurse(int depth) {
  volatile char frame[FRAME_BYTES];
  /* The frame escapes: without this clang's SROA keeps only the bytes
   * touched and the frame shrinks to a few bytes. */
  __asm__ volatile("" : : "r"(frame) : "memory");
  frame[0] = (char)depth;
  frame[FRAME_BYTES - 1] = (char)depth;
  if (depth == stop_depth) return frame[0];
  return probe_access_recurse(depth + 1) + frame[FRAME_BYTES - 1];
}

static void *overflow(void *arg) {
  (void)arg;
  probe_thread_init();
  pthread_attr_t attr;
  void *low = NULL;
  size_t size = 0, guard = 0;
  if (pthread_getattr_np(pthread_self(), &attr) != 0 || pthread_attr_getstack(&attr, &low, &size) != 0 ||
      pthread_attr_getguardsize(&attr, &guard) != 0)
    probe_fail("pthread_getattr_np", 0);
  pthread_attr_destroy(&attr);
  probe_note_hex("thread stack size ", size);
  probe_note_hex("guard start ", (uintptr_t)low - guard);
  probe_target((uintptr_t)low);
  probe_access_recurse(0);
  probe_allowed();
}

int main(void) {
  probe_init();
  pthread_t t;
  int e = pthread_create(&t, NULL, overflow, NULL);
  if (e != 0) probe_fail("pthread_create", e);
  pthread_join(t, NULL);
  probe_allowed();
}
