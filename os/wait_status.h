#pragma once
/// \file
/// How a child changed state, as waitpid(2) reports it (rr's WaitStatus).

#include <optional>

namespace vma::os {

/// A waitpid status: exited, killed by a signal, or stopped.
class WaitStatus {
 public:
  explicit WaitStatus(int raw = 0) : raw_(raw) {}

  /// The exit code when the process exited normally.
  std::optional<int> exit_code() const;
  /// The signal that terminated the process.
  std::optional<int> term_signal() const;
  /// The stop signal of a stop (ptrace or job control).
  std::optional<int> stop_signal() const;
  /// The PTRACE_EVENT_* of a ptrace event stop; 0 for any other status.
  int ptrace_event() const;
  /// True when the process is gone (exited or killed): it was reaped.
  bool ended() const { return exit_code() || term_signal(); }
  /// The status as waitpid gave it.
  int raw() const { return raw_; }

 private:
  int raw_;
};

}  // namespace vma::os
