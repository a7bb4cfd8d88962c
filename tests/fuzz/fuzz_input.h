#pragma once
/// \file
/// Helpers shared by the fuzz targets: an in-memory file for APIs that take a
/// path (CoreSource::open, ElfImage::open, the harness's TOML readers).

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace vma::fuzz {

/// A memfd holding the fuzz input, named by `/proc/self/fd/N`. The
/// descriptor is closed on destruction. Aborts when memfd_create or write
/// fails: that is the environment, not a finding.
class MemFile {
 public:
  MemFile(const std::uint8_t* data, std::size_t size) {
    fd_ = memfd_create("vmakit-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) std::abort();
    std::size_t done = 0;
    while (done < size) {
      ssize_t n = ::write(fd_, data + done, size - done);
      if (n <= 0) std::abort();
      done += static_cast<std::size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  ~MemFile() { ::close(fd_); }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace vma::fuzz
