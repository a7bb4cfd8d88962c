#include "thread_sps.h"

#include <elf.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <optional>

namespace {

/// Detaches on destruction, passing on a signal the stop swallowed.
struct Attached {
  pid_t tid;
  int pending_signal = 0;
  ~Attached() { ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(pending_signal))); }
};

std::optional<vma::Addr> read_sp(pid_t tid) {
#if defined(__x86_64__)
  user_regs_struct regs {};
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &regs) != 0) return std::nullopt;
  return regs.rsp;
#elif defined(__aarch64__)
  user_regs_struct regs {};
  iovec iov{&regs, sizeof regs};
  if (ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_PRSTATUS), &iov) != 0) return std::nullopt;
  return regs.sp;
#else
  (void)tid;
  return std::nullopt;
#endif
}

}  // namespace

std::vector<vma::ThreadInfo> fill_running_sps(std::vector<vma::ThreadInfo> threads) {
  for (vma::ThreadInfo& t : threads) {
    if (t.sp) continue;
    // PTRACE_SEIZE does not stop the thread and sends no SIGSTOP; INTERRUPT
    // then stops it in a PTRACE_EVENT_STOP we can tell from a signal stop.
    if (ptrace(PTRACE_SEIZE, t.tid, nullptr, nullptr) != 0) continue;
    Attached guard{t.tid};
    if (ptrace(PTRACE_INTERRUPT, t.tid, nullptr, nullptr) != 0) continue;
    int status = 0;
    pid_t r;
    do r = waitpid(t.tid, &status, __WALL);
    while (r < 0 && errno == EINTR);
    if (r != t.tid || !WIFSTOPPED(status)) {
      guard.tid = -1;  // it exited: nothing to detach
      continue;
    }
    bool event_stop = (status >> 16) == PTRACE_EVENT_STOP;
    if (!event_stop) guard.pending_signal = WSTOPSIG(status);  // a signal-delivery stop: hand it back
    t.sp = read_sp(t.tid);
  }
  return threads;
}
