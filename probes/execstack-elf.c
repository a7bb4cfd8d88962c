/* execstack-elf: this program is linked with -z execstack (PT_GNU_STACK
 * RWX). Since Linux 5.8 that makes only the stack executable (before, it
 * set READ_IMPLIES_EXEC and every readable page was executable). It puts a
 * `ret` on its stack and calls it. Expected: `allowed` (the stack is rwxp);
 * SIGSEGV SEGV_ACCERR means the kernel or a policy refused the executable
 * stack. */
#include "probe.h"

int main(void) {
  probe_init();
  char perms[5] = "?";
  if (probe_maps_find("[stack]", NULL, NULL, perms) == 1) {
    struct probe_line l = {.len = 0};
    probe_line_str(&l, "note [stack] ");
    probe_line_str(&l, perms);
    probe_line_end(&l);
  }
  unsigned char code[64];
  probe_put_ret(code);
  probe_target((uintptr_t)code);
  probe_access_call(code);
  probe_allowed();
}
