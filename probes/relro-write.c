/* relro-write: store into .data.rel.ro of this (full-RELRO, PIE) program,
 * which ld.so made read-only after relocation. The target is checked to lie
 * in the part of PT_GNU_RELRO that ld.so protects: [start rounded down,
 * end rounded down) to pages (elf/dl-reloc.c, _dl_protect_relro).
 * Expected: SIGSEGV SEGV_ACCERR, si_addr = target. */
#include "probe.h"

#include <link.h>

/* Pointers need relocating in a PIE: the linker puts this in .data.rel.ro. */
static const char *const relro_table[] = {"vmakit", "probe", "relro"};

struct relro_range {
  uintptr_t start, end;
};

static int find_relro(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  struct relro_range *r = data;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_GNU_RELRO) continue;
    r->start = info->dlpi_addr + ph->p_vaddr;
    r->end = r->start + ph->p_memsz;
  }
  return 1; /* the first object is the main program */
}

PROBE_ACCESS void probe_access(const char *volatile *p) {
  PROBE_HIDE(p);
  *p = "overwritten";
}

int main(void) {
  probe_init();
  struct relro_range r = {0, 0};
  dl_iterate_phdr(find_relro, &r);
  if (r.start == r.end) probe_fail("no PT_GNU_RELRO in the main program", 0);
  uintptr_t page = probe_page_size();
  uintptr_t prot_start = r.start & ~(page - 1), prot_end = r.end & ~(page - 1);
  uintptr_t target = (uintptr_t)&relro_table[1];
  probe_note_hex("PT_GNU_RELRO start ", r.start);
  probe_note_hex("PT_GNU_RELRO end ", r.end);
  if (target < prot_start || target + sizeof(char *) > prot_end)
    probe_fail("relro_table is outside the protected PT_GNU_RELRO pages", 0);
  probe_target(target);
  probe_access((const char *volatile *)target);
  probe_allowed();
}
