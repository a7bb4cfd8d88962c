/* aslr-sampler: one sample of every randomised region, for `vma-harness aslr`.
 *
 * Prints one "region 0x..." line per region and exits. Each exec is a fresh
 * layout, so one run is one sample of every region at once (paxtest runs one
 * program per region). Built twice: PIE (aslr-sampler), and static -no-pie
 * with ASLR_SAMPLER_HEAP_ONLY (aslr-sampler-nopie), which prints only the
 * brk of an ET_EXEC program (static: half the exec cost, and the kernel
 * places an ET_EXEC brk the same way with or without an interpreter,
 * fs/binfmt_elf.c). The addresses are taken the way paxtest's get*
 * programs take them, so the bit counts compare:
 *   stack         a local in main                        (getstack)
 *   pie           main                                   (getmain)
 *   heap          the first malloc(100), a brk address   (getheap)
 *   mmap          a 4 KiB anonymous mmap                 (getamap)
 *   mmap-big      a 2 MiB anonymous mmap: recent kernels ("mm: align
 *                 larger anonymous mappings on THP boundaries", 6.7; later
 *                 limited to PMD-multiple lengths) align it to 2 MiB in
 *                 __get_unmapped_area, losing the 9 bits below 2 MiB
 *                 (measured on 6.18: 19 bits where mmap has 28)
 *   shlib         sprintf in libc via dlsym              (getshlib)
 *   vdso          getauxval(AT_SYSINFO_EHDR)             (getvdso)
 *   arg           argv[0], the string                    (getarg)
 *   thread-stack  a local of a pthread
 *   shlib-delta   sprintf minus main                     (getshlibdelta)
 * Plain C, no project dependencies. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>

#ifdef ASLR_SAMPLER_HEAP_ONLY
int main(void) {
  /* First, before stdio allocates its buffer: the start of the brk heap. */
  printf("heap 0x%lx\n", (unsigned long)(uintptr_t)malloc(100));
  return 0;
}
#else

static void *thread_local_address(void *out) {
  volatile char local = 0;
  *(uintptr_t *)out = (uintptr_t)&local;
  return NULL;
}

static uintptr_t anon_mmap(size_t len) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? 0 : (uintptr_t)p;
}

int main(int argc, char **argv) {
  (void)argc;
  volatile char local = 0;
  /* First, before stdio allocates its buffer: the start of the brk heap. */
  uintptr_t heap = (uintptr_t)malloc(100);
  uintptr_t stack = (uintptr_t)&local;
  uintptr_t pie = (uintptr_t)&main;
  uintptr_t small = anon_mmap(4096);
  uintptr_t big = anon_mmap(2u << 20);
  uintptr_t shlib = (uintptr_t)dlsym(RTLD_DEFAULT, "sprintf");
  uintptr_t vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
  uintptr_t arg = (uintptr_t)argv[0];
  uintptr_t thread_stack = 0;
  pthread_t t;
  if (pthread_create(&t, NULL, thread_local_address, &thread_stack) == 0) pthread_join(t, NULL);

  /* A region whose address could not be taken is left out: the harness
   * counts its samples and says so. */
  const struct { const char *name; uintptr_t addr; } lines[] = {
      {"stack", stack}, {"pie", pie}, {"heap", heap}, {"mmap", small}, {"mmap-big", big},
      {"shlib", shlib}, {"vdso", vdso}, {"arg", arg}, {"thread-stack", thread_stack},
      {"shlib-delta", shlib ? shlib - pie : 0},
  };
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; ++i)
    if (lines[i].addr) printf("%s 0x%lx\n", lines[i].name, (unsigned long)lines[i].addr);
  return 0;
}
#endif
