#pragma once
/// \file
/// Runs probes and captures how they end. The harness is a small debugger:
/// each probe runs in its own process group, traced (PTRACE_TRACEME), and at
/// its first fatal signal-delivery stop the harness reads the siginfo, the
/// registers and the map (the probe still stopped), annotates the fault with
/// core, then kills the group. Without ptrace the probe's own SA_SIGINFO
/// handler (VMA_PROBE_HANDLER=1) reports the fault on stdout and pauses.
///
/// One thread runs everything: ptrace requests must come from the tracer
/// thread, and a single poll() loop over a signalfd (SIGCHLD, SIGINT,
/// SIGTERM) and the probes' pipes handles parallel jobs and timeouts. The
/// harness is a child subreaper, so whatever a probe leaves behind (even
/// after setsid) is re-parented here, killed and reaped.

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "elf_image.h"
#include "expectation.h"

namespace vma::harness {

enum class Capture { ptrace, handler };

struct RunOptions {
  Capture capture = Capture::ptrace;
  unsigned jobs = 1;
  /// Run probes as this uid/gid (setgroups, setgid, setuid before exec).
  std::optional<std::pair<uid_t, gid_t>> drop_to;
};

/// How to start one probe.
struct Launch {
  /// argv; argv[0] without a slash is looked up in PATH.
  std::vector<std::string> argv;
  /// Instead of argv: a function run in a forked child (demos). Its return
  /// value is the exit status.
  std::function<int()> body;
  double timeout = 10;
};

/// True when this process may trace its children (a test child that calls
/// PTRACE_TRACEME and stops). False under a seccomp filter or LSM that
/// forbids ptrace.
bool ptrace_permitted();

/// Runs `launches`, at most `opts.jobs` at a time, and calls `done(i, obs)`
/// as each finishes (in completion order). Returns 0, or SIGINT/SIGTERM when
/// the run was interrupted: then every running probe was killed and reported
/// with an error, and the ones not started were not reported.
/// SIGINT and SIGTERM must be blocked by the caller (so none is lost before
/// the run starts); SIGCHLD is blocked here.
int run_probes(const std::vector<Launch>& launches, const RunOptions& opts, ElfCache& elf_cache,
               const std::function<void(std::size_t, Observation)>& done);

}  // namespace vma::harness
