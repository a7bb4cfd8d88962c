/* sigbus-eof: map two pages of a 100-byte file and read the second page,
 * which lies wholly past end of file. (The rest of the first page reads as
 * zeros.) Expected: SIGBUS BUS_ADRERR, si_addr = target. */
#include "probe.h"

PROBE_ACCESS int probe_access(const volatile unsigned char *p) {
  PROBE_HIDE(p);
  return *p;
}

static int temp_file(void) {
  const char *dir = getenv("TMPDIR");
  if (dir == NULL || *dir == '\0') dir = "/tmp";
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  char path[4096];
  size_t n = strlen(dir);
  if (n > sizeof path - 32) probe_fail("TMPDIR too long", ENAMETOOLONG);
  memcpy(path, dir, n);
  memcpy(path + n, "/vmakit-probe-XXXXXX", 21);
  fd = mkstemp(path);
  if (fd < 0) probe_fail("mkstemp", errno);
  unlink(path);
  return fd;
}

int main(void) {
  probe_init();
  size_t page = probe_page_size();
  int fd = temp_file();
  char bytes[100];
  memset(bytes, 'v', sizeof bytes);
  if (write(fd, bytes, sizeof bytes) != (ssize_t)sizeof bytes) probe_fail("write temp file", errno);
  unsigned char *map = mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) probe_fail("mmap temp file", errno);
  if (probe_access(map + 200) != 0) probe_fail("bytes past EOF in the last page are not zero", 0);
  probe_target((uintptr_t)(map + page));
  probe_access(map + page);
  probe_allowed();
}
