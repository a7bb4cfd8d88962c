#include "child_process.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "errno_name.h"
#include "fd.h"

extern char** environ;

namespace vma::os {
namespace {

/// What the child writes to its close-on-exec pipe before _exit(127).
struct ChildReport {
  SpawnStep step;
  int err;
};

/// Everything the child needs, built before fork: after it, the child may
/// only make async-signal-safe calls.
struct Prepared {
  std::string program;
  std::vector<char*> argv;
  std::vector<std::string> env_store;
  std::vector<char*> envp;
  pid_t parent = 0;
};

Prepared prepare(const SpawnOptions& o) {
  Prepared p;
  if (!o.body) p.program = find_program(o.argv.at(0));
  for (const auto& s : o.argv) p.argv.push_back(const_cast<char*>(s.c_str()));
  p.argv.push_back(nullptr);
  if (o.env) {
    p.env_store = *o.env;
    for (auto& s : p.env_store) p.envp.push_back(s.data());
  } else {
    for (char** e = environ; *e; ++e) p.envp.push_back(*e);
  }
  p.envp.push_back(nullptr);
  p.parent = getpid();
  return p;
}

[[noreturn]] void fail(int report_fd, SpawnStep step) {
  const ChildReport r{step, errno};
  (void)!write(report_fd, &r, sizeof r);
  _exit(127);
}

/// Default dispositions and an empty mask: the caller may block or handle
/// signals (SIGINT, SIGTERM, SIGCHLD) that the child must see.
void reset_signals() {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s)
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

void set_up_fds(const SpawnOptions& o) {
  for (auto [from, to] : o.fds) {
    if (from == to) fcntl(to, F_SETFD, 0);  // dup2 would leave it close-on-exec
    else dup2(from, to);
  }
  if (o.no_core_dumps) {
    rlimit none{0, 0};
    setrlimit(RLIMIT_CORE, &none);
  }
}

void drop_privileges(const SpawnOptions& o, int report_fd) {
  if (!o.drop_to) return;
  if (setgroups(0, nullptr) != 0) fail(report_fd, SpawnStep::setgroups);
  if (setgid(o.drop_to->second) != 0) fail(report_fd, SpawnStep::setgid);
  if (setuid(o.drop_to->first) != 0) fail(report_fd, SpawnStep::setuid);
}

[[noreturn]] void run_child(const SpawnOptions& o, const Prepared& p, int report_fd) {
  if (o.new_process_group) setpgid(0, 0);
  reset_signals();
  set_up_fds(o);
  drop_privileges(o, report_fd);
  // After setuid: changing credentials clears the parent-death signal.
  if (o.die_with_parent) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(report_fd, SpawnStep::die_with_parent);
    if (getppid() != p.parent) _exit(127);
  }
  if (o.trace_me && ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) fail(report_fd, SpawnStep::trace_me);
  if (o.body) {
    close(report_fd);  // before the stop: the parent waits for its end
    if (o.trace_me) raise(SIGSTOP);
    _exit(o.body());
  }
  execve(p.program.c_str(), p.argv.data(), p.envp.data());
  fail(report_fd, SpawnStep::exec);
}

/// The child's report: none at end of file (exec succeeded or the body
/// runs).
std::optional<ChildReport> read_report(int fd) {
  ChildReport r{};
  ssize_t n;
  do n = read(fd, &r, sizeof r);
  while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof r)) return std::nullopt;
  return r;
}

}  // namespace

std::string SpawnFailure::what() const {
  switch (step) {
    case SpawnStep::setgroups: return "setgroups";
    case SpawnStep::setgid: return "setgid";
    case SpawnStep::setuid: return "setuid";
    case SpawnStep::die_with_parent: return "prctl(PR_SET_PDEATHSIG)";
    case SpawnStep::trace_me: return "ptrace(PTRACE_TRACEME)";
    case SpawnStep::exec: return "cannot execute " + program;
  }
  return "?";
}

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;
}

Result<ChildProcess> ChildProcess::spawn(const SpawnOptions& opts) {
  const Prepared p = prepare(opts);
  auto report = make_pipe();
  if (!report) return report.error();
  const pid_t pid = fork();
  if (pid < 0) return Error{"fork: " + errno_text(errno)};
  if (pid == 0) run_child(opts, p, report->write_end.get());
  ChildProcess c;
  c.pid_ = pid;
  c.own_group_ = opts.new_process_group;
  if (c.own_group_) setpgid(pid, pid);  // also here: no window where kill(-pid) misses
  report->write_end.reset();
  if (auto r = read_report(report->read_end.get())) c.failure_ = SpawnFailure{r->step, r->err, p.program};
  return c;
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)), own_group_(o.own_group_), status_(std::move(o.status_)),
      failure_(std::move(o.failure_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    ChildProcess old(std::move(*this));
    pid_ = std::exchange(o.pid_, -1);
    own_group_ = o.own_group_;
    status_ = std::move(o.status_);
    failure_ = std::move(o.failure_);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ <= 0 || status_) return;
  kill_group();
  while (!wait().ended()) {
  }
}

WaitStatus ChildProcess::wait() {
  if (status_) return *status_;
  if (pid_ <= 0) return WaitStatus(0);
  int raw = 0;
  pid_t r;
  do r = waitpid(pid_, &raw, __WALL);
  while (r < 0 && errno == EINTR);
  // ECHILD: someone else reaped it; count it as gone.
  WaitStatus s(r == pid_ ? raw : 0);
  if (s.ended()) status_ = s;
  return s;
}

void ChildProcess::kill_group() const {
  if (pid_ <= 0) return;
  if (own_group_) kill(-pid_, SIGKILL);
  if (!status_) kill(pid_, SIGKILL);
}

pid_t ChildProcess::release() {
  status_.reset();
  return std::exchange(pid_, -1);
}

}  // namespace vma::os
