#include "output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <fmt/format.h>

namespace vma {
namespace {

/// Writes all of `data` to `fd`; errno on failure.
bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// The process's umask without changing it: /proc/self/status says it
/// (Linux 4.7); umask() would set it to 0 for a moment, and in a debugger
/// other threads create files meanwhile.
mode_t current_umask() {
  if (FILE* f = std::fopen("/proc/self/status", "re")) {
    char line[256];
    unsigned mask = 0;
    bool found = false;
    while (!found && std::fgets(line, sizeof line, f)) found = std::sscanf(line, "Umask: %o", &mask) == 1;
    std::fclose(f);
    if (found) return static_cast<mode_t>(mask);
  }
  const mode_t mask = umask(0);
  umask(mask);
  return mask;
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

Result<void> write_output_file(const std::string& path, std::string_view data, std::string_view what) {
  if (path.empty()) return Error{fmt::format("{}: an empty file name", what)};
  const auto fail = [&](const char* doing) {
    return Error{fmt::format("{} {}: {}: {}", what, path, doing, std::strerror(errno))};
  };
  std::string target = path;
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    char real[PATH_MAX];
    if (realpath(path.c_str(), real)) target = real;  // a dangling link: replaced by the file
  }
  mode_t mode = 0;
  const bool exists = stat(target.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) return Error{fmt::format("{} {}: is a directory", what, path)};
  if (exists && !S_ISREG(st.st_mode)) {
    // A device or a FIFO: no file to replace, and no temporary file beside
    // it (as root, one in /dev would be renamed over the device).
    const int fd = ::open(target.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return fail("cannot write");
    const bool ok = write_all(fd, data);
    const int err = errno;
    if (::close(fd) != 0 || !ok) {
      errno = ok ? errno : err;
      return fail("cannot write");
    }
    return {};
  }
  if (exists) {
    mode = st.st_mode & 07777;
  } else {
    mode = 0666 & ~current_umask();
  }
  const std::string base = target.substr(target.rfind('/') == std::string::npos ? 0 : target.rfind('/') + 1);
  std::string tmp = directory_of(target) + "/." + base + ".tmp.XXXXXX";
  const int fd = mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return fail("cannot write");
  const bool ok = fchmod(fd, mode) == 0 && write_all(fd, data);
  const int err = errno;
  const bool closed = ::close(fd) == 0;
  if (!ok || !closed) {
    ::unlink(tmp.c_str());
    if (!ok) errno = err;
    return fail("cannot write");
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    const int rerr = errno;
    ::unlink(tmp.c_str());
    errno = rerr;
    return fail("cannot write");
  }
  return {};
}

Result<void> check_output_not_input(const std::string& output, const std::vector<std::string>& inputs,
                                    std::string_view what) {
  struct stat out {};
  if (output.empty() || stat(output.c_str(), &out) != 0) return {};
  for (const std::string& in : inputs) {
    struct stat st {};
    if (in.empty() || stat(in.c_str(), &st) != 0) continue;
    if (st.st_dev == out.st_dev && st.st_ino == out.st_ino)
      return Error{fmt::format("{} {}: is the input {} too; refusing to overwrite it", what, output, in)};
  }
  return {};
}

Result<void> flush_stdout() {
  std::cout.flush();
  int err = 0;
  if (std::cout.bad()) {
    // The failed write's errno is long gone; one more byte says why.
    err = ::write(STDOUT_FILENO, "\n", 1) < 0 ? errno : EIO;
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) err = err ? err : errno ? errno : EIO;
  if (err) return Error{fmt::format("write error: {}", std::strerror(err))};
  return {};
}

}  // namespace vma
