#pragma once
/// \file
/// Child processes: started with fork and exec (or a function run in the
/// forked child), owned by one object that kills and reaps them.

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "result.h"
#include "wait_status.h"

namespace vma::os {

/// What a child is given before it runs.
struct SpawnOptions {
  /// argv; argv[0] without a slash is looked up in PATH (find_program).
  std::vector<std::string> argv;
  /// Instead of argv: run this in the forked child; its return value is the
  /// exit status.
  std::function<int()> body;
  /// The child's environment; nullopt: this process's.
  std::optional<std::vector<std::string>> env;
  /// {from, to}: dup2(from, to) in the child, in order.
  std::vector<std::pair<int, int>> fds;
  /// A process group of its own (pgid = pid), set in parent and child.
  bool new_process_group = true;
  /// SIGKILL when this process dies (PR_SET_PDEATHSIG), even by SIGKILL.
  bool die_with_parent = true;
  /// PTRACE_TRACEME: this thread traces the child. With `body`, the child
  /// stops itself (SIGSTOP) before running it; with argv, it stops at exec.
  bool trace_me = false;
  /// No core dumps (RLIMIT_CORE 0).
  bool no_core_dumps = false;
  /// Run as this uid/gid (setgroups, setgid, setuid), before exec.
  std::optional<std::pair<uid_t, gid_t>> drop_to;
};

/// The step in the child that failed before the program ran.
enum class SpawnStep { setgroups, setgid, setuid, die_with_parent, trace_me, exec };

/// Why a child never ran its program: the step and its errno. The child
/// exited with status 127.
struct SpawnFailure {
  SpawnStep step;
  int err;
  /// The program argv[0] resolved to.
  std::string program;
  /// "cannot execute /bin/x" for exec, else the call: "setuid",
  /// "ptrace(PTRACE_TRACEME)", "prctl(PR_SET_PDEATHSIG)".
  std::string what() const;
};

/// argv[0] resolved as execvp would, in the parent (the child may only make
/// async-signal-safe calls): `name` itself when it has a slash or is not
/// found on PATH.
std::string find_program(const std::string& name);

/// A child process this object owns. Move-only. The destructor kills it
/// (and its process group, when it has one) with SIGKILL and reaps it,
/// unless it was reaped already or released.
class ChildProcess {
 public:
  /// Starts a child. Errors are this side's (pipe, fork: "fork: EAGAIN
  /// (...)"); a failure in the child before its program ran is a
  /// ChildProcess with start_failure() set.
  static Result<ChildProcess> spawn(const SpawnOptions& opts);

  ChildProcess() = default;
  ChildProcess(ChildProcess&& o) noexcept;
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  /// The process id (and process group id, with new_process_group); -1 when
  /// none.
  pid_t pid() const { return pid_; }
  /// Set when the child failed before its program ran (argv only: a body's
  /// failures before it runs too).
  const std::optional<SpawnFailure>& start_failure() const { return failure_; }

  /// Waits for the next state change (EINTR retried): a stop of a traced
  /// child, or its end, after which it is reaped. Once reaped, the status
  /// it ended with.
  WaitStatus wait();
  /// Records that the caller reaped the child itself (waitpid(-1, ...)).
  void mark_reaped(WaitStatus status) { status_ = status; }
  /// The status it ended with, once reaped.
  const std::optional<WaitStatus>& end_status() const { return status_; }
  /// SIGKILL to the process group (when the child leads one) and to the
  /// child while it is not reaped.
  void kill_group() const;
  /// Stops owning the child: neither killed nor reaped here. Its pid.
  pid_t release();

 private:
  pid_t pid_ = -1;
  bool own_group_ = false;
  std::optional<WaitStatus> status_;
  std::optional<SpawnFailure> failure_;
};

}  // namespace vma::os
