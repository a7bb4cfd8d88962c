/* probe.h: what every vmakit probe shares. Header only, plain C, no project
 * dependencies.
 *
 * Protocol with vma-harness (do not change one side alone): the probe writes
 * lines to fd 1 with write(2), never stdio:
 *   target 0x<hex>        the address it is about to touch or jump to
 *   refused <ERRNO_NAME>  the dangerous syscall failed; exit 0
 *   allowed               the dangerous operation succeeded; exit 0
 *   skip <reason>         a kernel or CPU feature is missing; exit 0
 *   note <text>           free text for the report
 * With VMA_PROBE_HANDLER=1 in the environment, probe_init() also installs a
 * handler for SIGSEGV, SIGBUS, SIGILL, SIGTRAP and SIGFPE on a sigaltstack
 * that writes one line
 *   fault signo=<n> code=<n> addr=0x<hex> pc=0x<hex>
 * and then blocks in pause() until the harness kills the process (SIGKILL,
 * or SIGTERM: only the fault signals are blocked there). Without it
 * the probe just faults and the harness reads the siginfo through ptrace.
 *
 * A setup step that fails (not the operation under test) prints
 * `note setup failed: ...` and exits 2. Notes some probes add for the
 * harness: `note jump-insn 0x..` (noncanonical-jump: the expected pc),
 * `note guard start 0x..` (thread-stack-overflow: the guard is
 * [guard start, target)), `note vsyscall mode ...`.
 *
 * Every dangerous access sits in a function declared PROBE_ACCESS and named
 * probe_access*: the disassembly test (tests/probes/check_disasm.py) looks
 * there for the load, store or indirect jump, and for the absence of ud2.
 */
#ifndef VMAKIT_PROBE_H
#define VMAKIT_PROBE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <ucontext.h>
#include <unistd.h>

/* Keeps the compiler from inlining, cloning or specialising the function that
 * performs the access: with the pointer a plain argument, GCC cannot prove it
 * null and isolate the path into ud2, and clang cannot delete it. */
#if defined(__clang__)
#define PROBE_NOIPA __attribute__((noinline))
#else
#define PROBE_NOIPA __attribute__((noipa))
#endif
#define PROBE_ACCESS PROBE_NOIPA __attribute__((used))

/* The compiler forgets what it knew about p's value (an empty asm that
 * claims to modify it). */
#define PROBE_HIDE(p) __asm__ volatile("" : "+r"(p))

/* Output. write(2) only: async-signal-safe, nothing buffered when the probe
 * dies. */

static inline void probe_write(const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(1, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

static inline void probe_puts(const char *s) { probe_write(s, strlen(s)); }

/* "0x" then lower-case hex without leading zeros; buf needs 19 bytes. */
static inline size_t probe_fmt_hex(char *buf, uint64_t v) {
  char tmp[16];
  size_t n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v & 0xf];
    v >>= 4;
  } while (v != 0);
  buf[0] = '0';
  buf[1] = 'x';
  for (size_t i = 0; i < n; i++) buf[2 + i] = tmp[n - 1 - i];
  return 2 + n;
}

/* Signed decimal; buf needs 21 bytes. */
static inline size_t probe_fmt_dec(char *buf, long long v) {
  char tmp[20];
  size_t n = 0, out = 0;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (v < 0) buf[out++] = '-';
  while (n > 0) buf[out++] = tmp[--n];
  return out;
}

/* A line built from pieces on the stack, written with one write(2). */
struct probe_line {
  char buf[512];
  size_t len;
};

static inline void probe_line_str(struct probe_line *l, const char *s) {
  size_t n = strlen(s);
  if (n > sizeof l->buf - 1 - l->len) n = sizeof l->buf - 1 - l->len;
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

static inline void probe_line_hex(struct probe_line *l, uint64_t v) {
  char tmp[24];
  size_t n = probe_fmt_hex(tmp, v);
  tmp[n] = '\0';
  probe_line_str(l, tmp);
}

static inline void probe_line_dec(struct probe_line *l, long long v) {
  char tmp[24];
  size_t n = probe_fmt_dec(tmp, v);
  tmp[n] = '\0';
  probe_line_str(l, tmp);
}

static inline void probe_line_end(struct probe_line *l) {
  l->buf[l->len++] = '\n';
  probe_write(l->buf, l->len);
  l->len = 0;
}

static inline const char *probe_errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ETXTBSY: return "ETXTBSY";
    case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case ERANGE: return "ERANGE";
    case ENOSYS: return "ENOSYS";
    case EOVERFLOW: return "EOVERFLOW";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EISDIR: return "EISDIR";
    default: return NULL;
  }
}

/* "E<name>" or, for an errno not in the table, "errno<n>". */
static inline void probe_line_errno(struct probe_line *l, int e) {
  const char *name = probe_errno_name(e);
  if (name != NULL) {
    probe_line_str(l, name);
  } else {
    probe_line_str(l, "errno");
    probe_line_dec(l, e);
  }
}

static inline void probe_target(uint64_t addr) {
  struct probe_line l = {.len = 0};
  probe_line_str(&l, "target ");
  probe_line_hex(&l, addr);
  probe_line_end(&l);
}

static inline void probe_note(const char *text) {
  struct probe_line l = {.len = 0};
  probe_line_str(&l, "note ");
  probe_line_str(&l, text);
  probe_line_end(&l);
}

static inline void probe_note_hex(const char *text, uint64_t v) {
  struct probe_line l = {.len = 0};
  probe_line_str(&l, "note ");
  probe_line_str(&l, text);
  probe_line_hex(&l, v);
  probe_line_end(&l);
}

static inline void probe_note_dec(const char *text, long long v) {
  struct probe_line l = {.len = 0};
  probe_line_str(&l, "note ");
  probe_line_str(&l, text);
  probe_line_dec(&l, v);
  probe_line_end(&l);
}

/* The outcome lines end the probe with status 0. */

static inline __attribute__((noreturn)) void probe_allowed(void) {
  probe_puts("allowed\n");
  _exit(0);
}

static inline __attribute__((noreturn)) void probe_refused(int e) {
  struct probe_line l = {.len = 0};
  probe_line_str(&l, "refused ");
  probe_line_errno(&l, e);
  probe_line_end(&l);
  _exit(0);
}

/* "skip <what> <ERRNO> (<why>)", e.g. "skip pkeys: pkey_alloc failed EINVAL
 * (no PKU)"; why may be NULL. */
static inline __attribute__((noreturn)) void probe_skip_errno(const char *what, int e,
                                                              const char *why) {
  struct probe_line l = {.len = 0};
  probe_line_str(&l, "skip ");
  probe_line_str(&l, what);
  probe_line_str(&l, " ");
  probe_line_errno(&l, e);
  if (why != NULL) {
    probe_line_str(&l, " (");
    probe_line_str(&l, why);
    probe_line_str(&l, ")");
  }
  probe_line_end(&l);
  _exit(0);
}

static inline __attribute__((noreturn)) void probe_skip(const char *reason) {
  struct probe_line l = {.len = 0};
  probe_line_str(&l, "skip ");
  probe_line_str(&l, reason);
  probe_line_end(&l);
  _exit(0);
}

/* A setup step (not the operation under test) failed: say which (with the
 * errno unless e is 0), exit 2 so the harness reports an error, not a
 * verdict. */
static inline __attribute__((noreturn)) void probe_fail(const char *what, int e) {
  struct probe_line l = {.len = 0};
  probe_line_str(&l, "note setup failed: ");
  probe_line_str(&l, what);
  if (e != 0) {
    probe_line_str(&l, " ");
    probe_line_errno(&l, e);
  }
  probe_line_end(&l);
  _exit(2);
}

/* Fault capture mode 2: the in-probe handler. */

static inline uint64_t probe_context_pc(const void *uctx) {
  const ucontext_t *uc = (const ucontext_t *)uctx;
#if defined(__x86_64__)
  return (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
  return (uint64_t)uc->uc_mcontext.pc;
#else
  (void)uc;
  return 0;
#endif
}

static inline void probe_fault_handler(int signo, siginfo_t *si, void *uctx) {
  struct probe_line l = {.len = 0};
  probe_line_str(&l, "fault signo=");
  probe_line_dec(&l, signo);
  probe_line_str(&l, " code=");
  probe_line_dec(&l, si->si_code);
  probe_line_str(&l, " addr=");
  probe_line_hex(&l, (uint64_t)(uintptr_t)si->si_addr);
  probe_line_str(&l, " pc=");
  probe_line_hex(&l, probe_context_pc(uctx));
  probe_line_end(&l);
  /* Stay faulted: the harness reads /proc/PID/maps now, then kills us. */
  for (;;) pause();
}

static inline int probe_handler_mode(void) {
  const char *v = getenv("VMA_PROBE_HANDLER");
  return v != NULL && strcmp(v, "1") == 0;
}

/* An alternate signal stack for the calling thread (sigaltstack is per
 * thread), so the handler runs even when the fault is a stack overflow. */
static inline void probe_install_altstack(void) {
  size_t size = (size_t)getauxval(AT_MINSIGSTKSZ);
  if (size < (size_t)SIGSTKSZ * 4) size = (size_t)SIGSTKSZ * 4;
  if (size < 65536) size = 65536;
  void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) probe_fail("mmap sigaltstack", errno);
  stack_t ss = {.ss_sp = mem, .ss_size = size, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) probe_fail("sigaltstack", errno);
}

/* Call in any thread that may fault, before it does; a no-op unless
 * VMA_PROBE_HANDLER=1. */
static inline void probe_thread_init(void) {
  if (probe_handler_mode()) probe_install_altstack();
}

/* Call first in main: RLIMIT_CORE 0 (a crashing probe must not pipe a core to
 * a collector) and, with VMA_PROBE_HANDLER=1, the fault handler. */
static inline void probe_init(void) {
  struct rlimit no_core = {.rlim_cur = 0, .rlim_max = 0};
  if (setrlimit(RLIMIT_CORE, &no_core) != 0) probe_fail("setrlimit RLIMIT_CORE", errno);
  if (!probe_handler_mode()) return;
  probe_install_altstack();
  static const int signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE};
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = probe_fault_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  /* Only the fault signals are blocked in the handler: SIGTERM and SIGINT
   * still end a probe waiting in pause(). */
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) sigaddset(&sa.sa_mask, signals[i]);
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
    if (sigaction(signals[i], &sa, NULL) != 0) probe_fail("sigaction", errno);
}

static inline size_t probe_page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* Anonymous private mapping or exit 2. */
static inline unsigned char *probe_map(size_t len, int prot) {
  void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) probe_fail("mmap", errno);
  return (unsigned char *)p;
}

/* The kernel version as major*1000+minor (6.18 -> 6018), 0 if unknown. */
static inline int probe_kernel_version(void) {
  struct utsname u;
  if (uname(&u) != 0) return 0;
  char *r = u.release;
  int major = (int)strtol(r, &r, 10);
  if (*r != '.') return 0;
  int minor = (int)strtol(r + 1, NULL, 10);
  return major * 1000 + minor;
}

/* Finds the first line of /proc/self/maps whose path is exactly name
 * ("[stack]", "[vsyscall]") and stores its range and its permission column
 * (perms: 5 bytes, e.g. "r-xp"). Returns 1 if found, 0 if not, -1 if the file
 * cannot be read. Reads with read(2) into a static buffer (probes are single
 * threaded when they call it). */
static inline int probe_maps_find(const char *name, uint64_t *start, uint64_t *end, char perms[5]) {
  static char buf[1 << 20];
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(fd);
  buf[len] = '\0';
  size_t name_len = strlen(name);
  for (char *line = buf; *line != '\0';) {
    char *eol = strchr(line, '\n');
    if (eol == NULL) eol = line + strlen(line);
    size_t line_len = (size_t)(eol - line);
    if (line_len > name_len + 1 && memcmp(eol - name_len, name, name_len) == 0 &&
        eol[-(long)name_len - 1] == ' ') {
      char *p = line;
      uint64_t lo = strtoull(p, &p, 16);
      uint64_t hi = (*p == '-') ? strtoull(p + 1, &p, 16) : 0;
      if (*p == ' ' && p + 5 <= eol) {
        if (start != NULL) *start = lo;
        if (end != NULL) *end = hi;
        if (perms != NULL) {
          memcpy(perms, p + 1, 4);
          perms[4] = '\0';
        }
        return 1;
      }
    }
    line = *eol == '\0' ? eol : eol + 1;
  }
  return 0;
}

static inline int probe_maps_range(const char *name, uint64_t *start, uint64_t *end) {
  return probe_maps_find(name, start, end, NULL);
}

/* "vsyscall mode emulate|xonly|none|unknown (...)" for a note line, from the
 * [vsyscall] line of /proc/self/maps (arch/x86/entry/vsyscall/vsyscall_64.c:
 * emulate maps it r-x, xonly --x, none not at all). */
static inline const char *probe_vsyscall_mode(void) {
  char perms[5];
  int found = probe_maps_find("[vsyscall]", NULL, NULL, perms);
  if (found < 0) return "vsyscall mode unknown (cannot read /proc/self/maps)";
  if (found == 0) return "vsyscall mode none (no [vsyscall] mapping)";
  if (perms[0] == 'r') return "vsyscall mode emulate ([vsyscall] readable)";
  return "vsyscall mode xonly ([vsyscall] execute-only)";
}

/* The bytes of a `ret` instruction: x86 0xc3, aarch64 0xd65f03c0. */
#if defined(__x86_64__) || defined(__i386__)
#define PROBE_RET_BYTES {0xc3}
#elif defined(__aarch64__)
#define PROBE_RET_BYTES {0xc0, 0x03, 0x5f, 0xd6}
#endif

static inline void probe_put_ret(unsigned char *p) {
  static const unsigned char ret[] = PROBE_RET_BYTES;
  volatile unsigned char *v = p;
  for (size_t i = 0; i < sizeof ret; i++) v[i] = ret[i];
#if defined(__aarch64__)
  __builtin___clear_cache((char *)p, (char *)p + sizeof ret);
#endif
}

/* Calls code at p (a `ret` put there by probe_put_ret). Weak and external,
 * not static: clang propagates a constant argument into a static function
 * even when it is noinline, and then main no longer visibly passes it. */
PROBE_ACCESS __attribute__((weak)) void probe_access_call(void *p) {
  PROBE_HIDE(p);
  ((void (*)(void))p)();
}

#endif
