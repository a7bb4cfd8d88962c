#pragma once
/// \file
/// A file descriptor owned by one object: closed when the owner goes, moved
/// (never copied) to hand it on.

#include <sys/types.h>

#include <string>
#include <utility>

#include "result.h"

namespace vma::os {

/// Owns one file descriptor (or none: -1). Move-only; the destructor closes.
class Fd {
 public:
  Fd() = default;
  /// Takes ownership of `fd` (-1: none).
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  /// open(2) with O_CLOEXEC added. Errors: "PATH: No such file or directory".
  static Result<Fd> open(const std::string& path, int flags, mode_t mode = 0);

  /// The descriptor, still owned; -1 when none.
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  /// Gives the descriptor up without closing it.
  int release() { return std::exchange(fd_, -1); }
  /// Closes the descriptor held, then owns `fd`.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

/// Both ends of a pipe, close-on-exec.
struct Pipe {
  Fd read_end;
  Fd write_end;
};

/// pipe2(O_CLOEXEC | extra_flags). Errors: "pipe: EMFILE (Too many open files)".
Result<Pipe> make_pipe(int extra_flags = 0);

}  // namespace vma::os
