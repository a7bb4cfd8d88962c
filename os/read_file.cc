#include "read_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fd.h"

namespace vma::os {

Result<std::string> read_file(const std::string& path) {
  auto fd = Fd::open(path, O_RDONLY);
  if (!fd) return fd.error();
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n == 0) return text;
    if (n > 0) text.append(buf, static_cast<std::size_t>(n));
    else if (errno != EINTR) return Error{path + ": " + std::strerror(errno)};
  }
}

}  // namespace vma::os
