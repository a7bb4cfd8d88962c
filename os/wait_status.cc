#include "wait_status.h"

#include <sys/wait.h>

namespace vma::os {

std::optional<int> WaitStatus::exit_code() const {
  if (WIFEXITED(raw_)) return WEXITSTATUS(raw_);
  return std::nullopt;
}

std::optional<int> WaitStatus::term_signal() const {
  if (WIFSIGNALED(raw_)) return WTERMSIG(raw_);
  return std::nullopt;
}

std::optional<int> WaitStatus::stop_signal() const {
  if (WIFSTOPPED(raw_)) return WSTOPSIG(raw_);
  return std::nullopt;
}

int WaitStatus::ptrace_event() const { return WIFSTOPPED(raw_) ? raw_ >> 16 : 0; }

}  // namespace vma::os
