/* sigbus-memfd-shrink: map two pages of a memfd, shrink it to one page with
 * ftruncate, then write to the second page. Expected: SIGBUS BUS_ADRERR,
 * si_addr = target. */
#include "probe.h"

PROBE_ACCESS void probe_access(volatile unsigned char *p) {
  PROBE_HIDE(p);
  *p = 1;
}

int main(void) {
  probe_init();
  size_t page = probe_page_size();
  int fd = memfd_create("vmakit-probe", MFD_CLOEXEC);
  if (fd < 0) probe_fail("memfd_create", errno);
  if (ftruncate(fd, (off_t)(2 * page)) != 0) probe_fail("ftruncate 2 pages", errno);
  unsigned char *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) probe_fail("mmap memfd", errno);
  probe_access(map);
  probe_access(map + page);
  if (ftruncate(fd, (off_t)page) != 0) probe_fail("ftruncate 1 page", errno);
  probe_target((uintptr_t)(map + page));
  probe_access(map + page);
  probe_allowed();
}
