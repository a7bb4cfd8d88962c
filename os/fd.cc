#include "fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errno_name.h"

namespace vma::os {

void Fd::reset(int fd) {
  if (fd_ >= 0 && fd_ != fd) ::close(fd_);
  fd_ = fd;
}

Result<Fd> Fd::open(const std::string& path, int flags, mode_t mode) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return Error{path + ": " + std::strerror(errno)};
  return Fd(fd);
}

Result<Pipe> make_pipe(int extra_flags) {
  int p[2];
  if (pipe2(p, O_CLOEXEC | extra_flags) != 0) return Error{"pipe: " + errno_text(errno)};
  return Pipe{Fd(p[0]), Fd(p[1])};
}

}  // namespace vma::os
