#include "thread_sps.h"

#include <sys/ptrace.h>
#include <sys/wait.h>

#include <cerrno>
#include <csignal>

#include "registers.h"
#include "wait_status.h"

namespace {

/// Detaches on destruction, passing on a signal the stop swallowed.
struct Attached {
  pid_t tid;
  int pending_signal = 0;
  ~Attached() { ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(pending_signal))); }
};

}  // namespace

std::vector<vma::ThreadInfo> fill_running_sps(std::vector<vma::ThreadInfo> threads) {
  for (vma::ThreadInfo& t : threads) {
    if (t.sp) continue;
    // PTRACE_SEIZE does not stop the thread and sends no SIGSTOP; INTERRUPT
    // then stops it in a PTRACE_EVENT_STOP we can tell from a signal stop.
    if (ptrace(PTRACE_SEIZE, t.tid, nullptr, nullptr) != 0) continue;
    Attached guard{t.tid};
    if (ptrace(PTRACE_INTERRUPT, t.tid, nullptr, nullptr) != 0) continue;
    int raw = 0;
    pid_t r;
    do r = waitpid(t.tid, &raw, __WALL);
    while (r < 0 && errno == EINTR);
    const vma::os::WaitStatus status(raw);
    if (r != t.tid || !status.stop_signal()) {
      guard.tid = -1;  // it exited: nothing to detach
      continue;
    }
    // A signal-delivery stop: hand the signal back.
    if (status.ptrace_event() != PTRACE_EVENT_STOP) guard.pending_signal = *status.stop_signal();
    if (auto regs = vma::os::read_registers(t.tid)) t.sp = regs->sp;
  }
  return threads;
}
