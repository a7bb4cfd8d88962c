/* mmap-min-addr: mmap(MAP_FIXED) the page just below vm.mmap_min_addr (page
 * 0 when it is 4096). Unprivileged: `refused EPERM` (EACCES under SELinux);
 * root (CAP_SYS_RAWIO) may: `allowed` (security/min_addr.c,
 * cap_mmap_addr). With mmap_min_addr 0 anyone may. */
#include "probe.h"

PROBE_ACCESS void probe_access(volatile unsigned char *p) {
  PROBE_HIDE(p);
  *p = 1;
}

static uint64_t read_min_addr(void) {
  char buf[64];
  int fd = open("/proc/sys/vm/mmap_min_addr", O_RDONLY | O_CLOEXEC);
  if (fd < 0) probe_fail("open /proc/sys/vm/mmap_min_addr", errno);
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) probe_fail("read /proc/sys/vm/mmap_min_addr", n < 0 ? errno : 0);
  buf[n] = '\0';
  return strtoull(buf, NULL, 10);
}

int main(void) {
  probe_init();
  uint64_t page = probe_page_size();
  uint64_t min_addr = read_min_addr();
  uint64_t min_rounded = (min_addr + page - 1) & ~(page - 1);
  uint64_t target = min_rounded >= page ? min_rounded - page : 0;
  probe_note_hex("vm.mmap_min_addr ", min_addr);
  probe_note_dec("euid ", (long long)geteuid());
  probe_target(target);
  void *p = mmap((void *)(uintptr_t)target, page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) probe_refused(errno);
  probe_access(p);
  munmap(p, page);
  probe_allowed();
}
