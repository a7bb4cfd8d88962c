/* A process with N VMAs, for the benchmarks (bench/run.py).
 *
 *   vma-bench-many-vmas N
 *
 * Maps one anonymous region and mprotects every other page to PROT_READ, so
 * that neighbouring pages differ in permissions and the kernel cannot merge
 * them: each page is its own VMA. The region is sized so that the whole map
 * (libraries, stack, vdso included) holds N VMAs, then the program prints
 *
 *   vmas COUNT          lines of /proc/self/maps (the real count)
 *   addr 0x...          a page in the middle of the region (a whereis target)
 *   ready
 *
 * and waits until stdin closes (or it is killed); any process of the same
 * user may attach a debugger (PR_SET_PTRACER). Pages are never touched:
 * the region costs VMAs, not memory. N above vm.max_map_count (65530 by
 * default) fails with ENOMEM; raise the sysctl first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

static long count_vmas(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) {
    perror("many_vmas: /proc/self/maps");
    exit(1);
  }
  long n = 0;
  int c;
  while ((c = fgetc(f)) != EOF)
    if (c == '\n') ++n;
  fclose(f);
  return n;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s N\n", argv[0]);
    return 2;
  }
  char *end;
  long want = strtol(argv[1], &end, 10);
  if (*end != '\0' || want <= 0) {
    fprintf(stderr, "many_vmas: N must be a positive number, not \"%s\"\n", argv[1]);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* bench/run.py attaches LLDB and GDB, which are siblings, not parents:
   * under Yama ptrace_scope 1 (Debian's default) that needs this. Fails
   * harmlessly (EINVAL) without Yama. */
  prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
  const long page = sysconf(_SC_PAGESIZE);
  /* The mmap below adds one VMA (it may merge with an anonymous neighbour,
   * which the loop at the end corrects). */
  long base = count_vmas();
  long pages = want - base;
  char *region = NULL;
  if (pages > 0) {
    region = mmap(NULL, (size_t)pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) {
      fprintf(stderr, "many_vmas: mmap of %ld pages: %s\n", pages, strerror(errno));
      return 1;
    }
    for (long i = 1; i < pages; i += 2) {
      if (mprotect(region + i * page, page, PROT_READ) != 0) {
        fprintf(stderr, "many_vmas: mprotect page %ld of %ld: %s (vm.max_map_count too low?)\n", i, pages,
                strerror(errno));
        return 1;
      }
    }
  }
  long have = count_vmas();
  printf("vmas %ld\n", have);
  printf("addr %p\n", region ? (void *)(region + (pages / 2) * page) : (void *)&main);
  printf("ready\n");
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  return 0;
}
