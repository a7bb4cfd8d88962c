/* noncanonical-jump: an indirect jmp to 0x8000000000000000. The #GP is
 * raised by the jump instruction itself (RIP = the jmp, not the target):
 * SIGSEGV SI_KERNEL (128), si_addr 0. The jump is written in asm so its
 * address is known: it is printed as "note jump-insn 0x...". */
#include "probe.h"

#define NONCANONICAL_ADDR 0x8000000000000000ULL

#if defined(__x86_64__)
/* void probe_access_jump(uint64_t target): jumps to target. */
__asm__(".text\n"
        ".globl probe_access_jump\n"
        ".type probe_access_jump, @function\n"
        "probe_access_jump:\n"
        "\tjmp *%rdi\n"
        ".size probe_access_jump, .-probe_access_jump\n");
void probe_access_jump(uint64_t target);
#endif

int main(void) {
  probe_init();
#if !defined(__x86_64__)
  probe_skip("noncanonical-jump: x86_64 only");
#else
  probe_note_hex("jump-insn ", (uint64_t)(uintptr_t)&probe_access_jump);
  probe_target(NONCANONICAL_ADDR);
  probe_access_jump(NONCANONICAL_ADDR);
  probe_allowed();
#endif
}
