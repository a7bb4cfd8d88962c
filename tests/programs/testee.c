/* testee: a process with one of everything vmakit classifies, for live and
 * end-to-end tests (CLI, LLDB, GDB). It prints "name address [tid]" lines,
 * then "ready", then waits until stdin closes (or faults, with --crash=KIND,
 * after printing "ready"; for the debuggers' `vma fault`).
 *
 *   global_data, global_bss, rodata, text      ELF image segments of this program
 *   relro                                       an address inside PT_GNU_RELRO (.got / .data.rel.ro)
 *   heap                                        brk heap (small malloc in main)
 *   arena T                                     malloc from thread T (a non-main arena)
 *   thread_stack T, main_stack                  a local of each thread
 *   guard                                       a PROT_NONE VMA between two mappings
 *   madv_guard                                  a MADV_GUARD_INSTALL page inside an rw VMA (if supported)
 *   memfd, deleted, anon, gap, libc_text        what the names say
 *
 * --crash-after-stdin (with --crash=KIND): fault only once stdin closes, so a
 * test can save /proc/PID/maps after "ready" and compare it with the core.
 * --map-file=PATH: also map PATH (private, read-only) and print
 * "mapped_file ADDR"; tests pass names that are not UTF-8.
 * --vmas=N: also N one-page VMAs (every other page read-only, so none
 * merge), for a map of many lines; prints "many_vmas ADDR".
 * --shared-guard: also a MADV_GUARD_INSTALL page inside a shared mapping (a
 * memfd; Linux 6.15 allows guards there); prints "shared_guard ADDR".
 * --merge-bss: also two anonymous rw pages mapped flush after the .bss end
 * of a loaded image (a library first, this program last) with
 * MAP_FIXED_NOREPLACE, which the kernel merges into the image's .bss VMA;
 * prints "merged_bss ADDR" (in the .bss), "merged_anon ADDR" (in the new
 * pages), "merged_vma_start ADDR" and "merged_vma_end ADDR" (the one VMA
 * /proc/self/maps shows for both) and "merged_image PATH", or
 * "merged_bss unsupported REASON". --merge-bss=program: this program's
 * .bss only (its heap lies beyond: a core reader must not take the merged
 * pages for the brk heap).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

int global_data = 42;
int global_bss;
/* More .bss than the data segment's last file page holds, so the image has
 * an anonymous .bss VMA of its own (as libc does). */
char big_bss[64 * 1024];
const char rodata_string[] = "vmakit testee rodata";
static const char *const relro_table[] = {"a", "b"}; /* .data.rel.ro: in PT_GNU_RELRO for PIE */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int threads_ready;
static int release;

static void say(const char *name, const void *p) { printf("%s %p\n", name, p); }

/* --spin: a thread that never blocks, so /proc/PID/task/TID/syscall says
 * "running" and only ptrace can tell its SP. */
static volatile int spin_ready;
static volatile pid_t spin_tid;
static void *spinner(void *arg) {
  (void)arg;
  volatile int local = 1;
  printf("spin_stack %p %d\n", (void *)&local, (int)syscall(SYS_gettid));
  spin_tid = (pid_t)syscall(SYS_gettid);
  spin_ready = 1;
  for (;;) local++;
  return NULL;
}

static void *worker(void *arg) {
  (void)arg;
  volatile int local = 1;
  pid_t tid = (pid_t)syscall(SYS_gettid);
  void *block = malloc(1000); /* first malloc in a new thread: a non-main arena */
  pthread_mutex_lock(&mu);
  printf("thread_stack %p %d\n", (void *)&local, tid);
  printf("arena %p %d\n", block, tid);
  threads_ready++;
  pthread_cond_broadcast(&cv);
  while (!release) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  free(block);
  return NULL;
}

static void crash(const char *kind) {
  volatile char *p;
  if (!strcmp(kind, "text-write")) {
    p = (volatile char *)(uintptr_t)&say;
    __asm__ volatile("" : "+r"(p));
    *p = 0;
  } else if (!strcmp(kind, "null-read")) {
    p = 0;
    __asm__ volatile("" : "+r"(p));
    (void)*p;
  } else if (!strcmp(kind, "guard")) {
    char *g = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p = g;
    __asm__ volatile("" : "+r"(p));
    *p = 1;
  } else if (!strcmp(kind, "noncanonical")) {
    p = (volatile char *)0x0000800000000000ull;
    __asm__ volatile("" : "+r"(p));
    (void)*p;
  } else if (!strcmp(kind, "sigbus")) {
    char path[] = "/tmp/vmakit-testee-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    if (ftruncate(fd, 100) != 0) _exit(3);
    char *m = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
    p = m + 4096;
    __asm__ volatile("" : "+r"(p));
    (void)*p;
  }
  fprintf(stderr, "testee: --crash=%s did not fault\n", kind);
  _exit(3);
}


#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* --merge-bss: see the header comment. */
struct merge {
  int done;
  int from_library; /* pass 1: libraries only; pass 2: this program */
  char why[160];
};

static int merge_after_bss(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  struct merge *mg = data;
  int is_program = info->dlpi_name[0] == '\0';
  if (mg->done || is_program == mg->from_library || strstr(info->dlpi_name, "linux-vdso")) return 0;
  uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE);
  for (int k = 0; k < info->dlpi_phnum; k++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[k];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W)) continue;
    uintptr_t file_end = (info->dlpi_addr + ph->p_vaddr + ph->p_filesz + ps - 1) & ~(ps - 1);
    uintptr_t bss_end = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + ps - 1) & ~(ps - 1);
    if (bss_end <= file_end) continue; /* no .bss VMA of its own */
    char *p = mmap((void *)bss_end, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                   -1, 0);
    if (p == MAP_FAILED || p != (char *)bss_end) {
      if (p != MAP_FAILED) munmap(p, 2 * ps); /* a kernel before 4.17 took the flag as a hint */
      snprintf(mg->why, sizeof mg->why, "%s: %#lx is taken", is_program ? "program" : info->dlpi_name,
               (unsigned long)bss_end);
      continue;
    }
    p[0] = 1;
    /* The merge is the kernel's call: check that maps shows one line. */
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long lo, hi, vlo = 0, vhi = 0;
    while (maps && fgets(line, sizeof line, maps))
      if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo <= bss_end && bss_end < hi) vlo = lo, vhi = hi;
    if (maps) fclose(maps);
    if (vlo >= bss_end || vhi < bss_end + 2 * ps) {
      snprintf(mg->why, sizeof mg->why, "the kernel did not merge %#lx with the .bss of %s", (unsigned long)bss_end,
               is_program ? "program" : info->dlpi_name);
      munmap(p, 2 * ps);
      continue;
    }
    printf("merged_bss %p\n", (void *)(bss_end - 8));
    printf("merged_anon %p\n", (void *)(bss_end + 8));
    printf("merged_vma_start %#lx\nmerged_vma_end %#lx\n", vlo, vhi);
    printf("merged_image %s\n", is_program ? "program" : info->dlpi_name);
    mg->done = 1;
    return 1;
  }
  return 0;
}


/* Before "ready": every other thread asleep in a system call, so a reader of
 * /proc/PID/task/TID/syscall finds each one's SP. A worker that has woken
 * main is still on its way into futex() for a moment, and "running" there
 * has no SP (seen under load: its stack was known by shape only). The
 * --spin thread runs on purpose and is left out. */
static void wait_threads_asleep(void) {
  pid_t self = (pid_t)syscall(SYS_gettid);
  for (int tries = 0; tries < 5000; tries++) {
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int running = 0;
    while (d && (e = readdir(d))) {
      pid_t tid = (pid_t)atoi(e->d_name);
      if (tid <= 0 || tid == self || tid == spin_tid) continue;
      char path[64], buf[16] = "";
      snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
      /* pread, not read (nor stdio): the debugger tests break on read() to
       * stop where the testee waits for stdin. */
      int fd = open(path, O_RDONLY);
      if (fd >= 0 && pread(fd, buf, sizeof buf - 1, 0) >= 7 && !strncmp(buf, "running", 7)) running = 1;
      if (fd >= 0) close(fd);
    }
    if (d) closedir(d);
    if (!running) return;
    usleep(1000);
  }
}

int main(int argc, char **argv) {
  const char *crash_kind = NULL;
  int nthreads = 2;
  int spin = 0;
  int crash_after_stdin = 0;
  const char *map_file = NULL;
  long many = 0;
  int shared_guard = 0;
  int merge_bss = 0;
  for (int i = 1; i < argc; i++) {
    if (!strncmp(argv[i], "--crash=", 8)) crash_kind = argv[i] + 8;
    else if (!strncmp(argv[i], "--threads=", 10)) nthreads = atoi(argv[i] + 10);
    else if (!strcmp(argv[i], "--spin")) spin = 1;
    else if (!strcmp(argv[i], "--crash-after-stdin")) crash_after_stdin = 1;
    else if (!strncmp(argv[i], "--map-file=", 11)) map_file = argv[i] + 11;
    else if (!strncmp(argv[i], "--vmas=", 7)) many = atol(argv[i] + 7);
    else if (!strcmp(argv[i], "--shared-guard")) shared_guard = 1;
    else if (!strcmp(argv[i], "--merge-bss")) merge_bss = 1;
    else if (!strcmp(argv[i], "--merge-bss=program")) merge_bss = 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  volatile int main_local = 0;
  printf("pid %d\n", getpid());
  say("global_data", &global_data);
  say("global_bss", &global_bss);
  say("big_bss", &big_bss[sizeof big_bss - 1]);
  say("rodata", rodata_string);
  say("relro", (const void *)&relro_table[1]);
  say("text", (void *)&main);
  say("libc_text", (void *)&printf);
  say("main_stack", (void *)&main_local);
  say("heap", malloc(64));

  pthread_t th[64];
  if (nthreads > 64) nthreads = 64;
  for (int i = 0; i < nthreads; i++) pthread_create(&th[i], NULL, worker, NULL);
  pthread_mutex_lock(&mu);
  while (threads_ready < nthreads) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);

  if (spin) {
    pthread_t st;
    pthread_create(&st, NULL, spinner, NULL);
    pthread_detach(st);
    while (!spin_ready) usleep(1000);
  }

  /* rw | ---(guard) | rw, not merged because the protections differ. */
  char *three = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  mprotect(three + 4096, 4096, PROT_NONE);
  say("anon", three);
  say("guard", three + 4096);

  char *mg = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (madvise(mg + 4096, 4096, MADV_GUARD_INSTALL) == 0) say("madv_guard", mg + 4096);
  else printf("madv_guard unsupported %s\n", strerror(errno));

  int mfd = (int)syscall(SYS_memfd_create, "vmakit-testee", 0);
  if (mfd >= 0 && ftruncate(mfd, 4096) == 0) {
    char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    m[0] = 1;
    say("memfd", m);
  }

  char path[] = "/tmp/vmakit-testee-XXXXXX";
  int dfd = mkstemp(path);
  if (dfd >= 0 && ftruncate(dfd, 4096) == 0) {
    char *d = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, dfd, 0);
    unlink(path);
    say("deleted", d);
  }

  if (map_file) {
    int ffd = open(map_file, O_RDONLY);
    char *f = ffd >= 0 ? mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, ffd, 0) : MAP_FAILED;
    if (f == MAP_FAILED) {
      fprintf(stderr, "testee: --map-file=%s: %s\n", map_file, strerror(errno));
      return 1;
    }
    say("mapped_file", f);
  }

  if (shared_guard) {
    int sfd = (int)syscall(SYS_memfd_create, "vmakit-shared-guard", 0);
    /* 2 MiB, the guard in the middle: farther from any other VMA than a
     * scan bridges over (256 pages), so only a scan of this VMA finds it. */
    char *sg = sfd >= 0 && ftruncate(sfd, 512 * 4096) == 0
                   ? mmap(NULL, 512 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0)
                   : MAP_FAILED;
    if (sg != MAP_FAILED && madvise(sg + 256 * 4096, 4096, MADV_GUARD_INSTALL) == 0) say("shared_guard", sg + 256 * 4096);
    else printf("shared_guard unsupported %s\n", strerror(errno));
  }

  if (many > 0) {
    char *v = mmap(NULL, (size_t)many * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (v == MAP_FAILED) {
      fprintf(stderr, "testee: --vmas=%ld: %s\n", many, strerror(errno));
      return 1;
    }
    for (long k = 1; k < many; k += 2) mprotect(v + k * 4096, 4096, PROT_READ);
    say("many_vmas", v);
  }

  if (merge_bss) {
    struct merge mg = {0, 1, "no image with a .bss VMA of its own"};
    if (merge_bss == 1) dl_iterate_phdr(merge_after_bss, &mg);
    mg.from_library = 0;
    if (!mg.done) dl_iterate_phdr(merge_after_bss, &mg);
    if (!mg.done) printf("merged_bss unsupported %s\n", mg.why);
  }

  /* A gap: map three pages, unmap the middle one. Not among the other
   * mappings: mmap looks top-down for the highest hole that fits, so a
   * one-page hole there is where the next small mapping goes, and a
   * debugger makes one (LLDB maps an rwx page in the process to evaluate an
   * expression; measured: it filled the gap). At 64 GiB, far below the
   * program and the mmap area, every hole above is tried first. */
  char *gap = mmap((void *)(64ul << 30), 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (gap == MAP_FAILED || gap != (char *)(64ul << 30)) {
    if (gap != MAP_FAILED) munmap(gap, 3 * 4096); /* a kernel before 4.17 took the flag as a hint */
    gap = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  }
  munmap(gap + 4096, 4096);
  say("gap", gap + 4096 + 100);

  if (crash_kind && !crash_after_stdin) {
    wait_threads_asleep();
    printf("ready\n");
    crash(crash_kind);
  }
  wait_threads_asleep();
  printf("ready\n");
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  if (crash_kind) crash(crash_kind);
  pthread_mutex_lock(&mu);
  release = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
  return 0;
}
