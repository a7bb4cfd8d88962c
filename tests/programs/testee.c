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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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
static void *spinner(void *arg) {
  (void)arg;
  volatile int local = 1;
  printf("spin_stack %p %d\n", (void *)&local, (int)syscall(SYS_gettid));
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

int main(int argc, char **argv) {
  const char *crash_kind = NULL;
  int nthreads = 2;
  int spin = 0;
  int crash_after_stdin = 0;
  const char *map_file = NULL;
  long many = 0;
  int shared_guard = 0;
  for (int i = 1; i < argc; i++) {
    if (!strncmp(argv[i], "--crash=", 8)) crash_kind = argv[i] + 8;
    else if (!strncmp(argv[i], "--threads=", 10)) nthreads = atoi(argv[i] + 10);
    else if (!strcmp(argv[i], "--spin")) spin = 1;
    else if (!strcmp(argv[i], "--crash-after-stdin")) crash_after_stdin = 1;
    else if (!strncmp(argv[i], "--map-file=", 11)) map_file = argv[i] + 11;
    else if (!strncmp(argv[i], "--vmas=", 7)) many = atol(argv[i] + 7);
    else if (!strcmp(argv[i], "--shared-guard")) shared_guard = 1;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  volatile int main_local = 0;
  printf("pid %d\n", getpid());
  say("global_data", &global_data);
  say("global_bss", &global_bss);
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

  /* A gap, made last so no later mapping fills it: map three pages, unmap
   * the middle one. */
  char *gap = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  munmap(gap + 4096, 4096);
  say("gap", gap + 4096 + 100);

  if (crash_kind && !crash_after_stdin) {
    printf("ready\n");
    crash(crash_kind);
  }
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
