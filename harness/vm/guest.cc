#include "guest.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace vma::harness::vm {
namespace {

constexpr std::string_view kInit = "@@vmakit init@@";
constexpr std::string_view kOut = "@@vmakit out@@";
constexpr std::string_view kEnd = "@@vmakit end ";
constexpr std::string_view kFail = "@@vmakit fail@@";
constexpr std::size_t kLastLines = 25;

}  // namespace

std::string sh_quote(std::string_view s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

namespace {

/// What every /init does first: busybox's applets, /proc /sys /dev /tmp.
/// Then only emergencies on the console: neither the report nor a shell
/// session is interleaved with kernel messages.
std::string init_prelude() {
  return "#!/bin/busybox sh\n"
         "/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /mnt\n"
         "/bin/busybox --install -s\n"
         "mount -t proc proc /proc\n"
         "mount -t sysfs sysfs /sys\n"
         "mount -t devtmpfs devtmpfs /dev 2>/dev/null\n"
         "mount -t tmpfs tmpfs /tmp\n"
         "echo '1 4 1 7' >/proc/sys/kernel/printk\n";
}

}  // namespace

std::string shell_init_script(const GuestCommand& c) {
  std::string s = init_prelude();
  for (const auto& m : c.modules) s += "insmod " + sh_quote(m) + " || echo 'vmakit init: insmod failed: '" + sh_quote(m) + "\n";
  for (const auto& e : c.env) s += "export " + sh_quote(e) + "\n";
  s += "export PATH=/vmakit/bin:/bin:/sbin:/usr/bin:/usr/sbin\n"
       "export PS1=" + sh_quote(kShellPrompt) + "\n"
       "cd /\n"
       "echo 'vmakit: vma-harness is on PATH (vma-harness run --with-audit)'\n"
       // A shell on the console's own tty (job control, ^C); /init stays
       // PID 1, so leaving the shell starts another instead of a panic.
       "while :; do setsid cttyhack sh; done\n";
  return s;
}

std::string init_script(const GuestCommand& c) {
  std::string s = init_prelude() +
      "echo '" + std::string(kInit) + "'\n"
      "fail() { echo \"vmakit init: $*\"; echo '" + std::string(kFail) + "'; poweroff -f; sleep 5; }\n";
  for (const auto& m : c.modules) s += "insmod " + sh_quote(m) + " || fail insmod " + sh_quote(m) + "\n";
  std::string env;
  for (const auto& e : c.env) env += " " + sh_quote(e);
  std::string argv;
  for (const auto& a : c.argv) argv += " " + sh_quote(a);
  if (c.host_root) {
    s += "mkdir -p /mnt/lower /mnt/rw /mnt/root\n"
         "mount -t 9p -o trans=virtio,version=9p2000.L,ro hostroot /mnt/lower || fail mount 9p hostroot\n"
         "mount -t tmpfs tmpfs /mnt/rw && mkdir -p /mnt/rw/upper /mnt/rw/work\n"
         "mount -t overlay overlay -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work /mnt/root"
         " || fail mount overlay\n"
         "for d in proc sys dev tmp; do mkdir -p /mnt/root/$d; done\n"
         "mount -t proc proc /mnt/root/proc && mount -t sysfs sysfs /mnt/root/sys &&"
         " mount -t devtmpfs devtmpfs /mnt/root/dev && mount -t tmpfs tmpfs /mnt/root/tmp || fail mount /proc /sys /dev /tmp\n"
         "mkdir -p /mnt/root/dev/pts /mnt/root/dev/shm && mount -t devpts devpts /mnt/root/dev/pts &&"
         " mount -t tmpfs tmpfs /mnt/root/dev/shm\n"
         "run() { env" + env + " chroot /mnt/root /bin/sh -c 'cd \"$0\" && exec \"$@\"' " +
         sh_quote(c.cwd.empty() ? "/" : c.cwd) + argv + "; }\n";
  } else {
    s += "cd /tmp\nrun() { env" + env + argv + "; }\n";
  }
  // stderr through a pipe: not a terminal, so no progress bars on the console.
  s += "( run >/tmp/vmakit.out; echo $? >/tmp/vmakit.rc ) 2>&1 | cat\n"
       "rc=$(cat /tmp/vmakit.rc)\n"
       "echo '" + std::string(kOut) + "'\n"
       "cat /tmp/vmakit.out\n"
       "echo\n"
       "echo \"" + std::string(kEnd) + "$rc@@\"\n"
       "poweroff -f\n";
  return s;
}

void ConsoleParser::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (c == '\n') {
      line(std::move(partial_));
      partial_.clear();
    } else {
      partial_ += c;
    }
  }
}

void ConsoleParser::finish() {
  if (!partial_.empty()) line(std::move(partial_));
  partial_.clear();
}

void ConsoleParser::note(std::string l) {
  last_.push_back(std::move(l));
  if (last_.size() > kLastLines) last_.pop_front();
}

std::vector<std::string> ConsoleParser::take_console() { return std::exchange(console_, {}); }

void ConsoleParser::line(std::string l) {
  while (!l.empty() && l.back() == '\r') l.pop_back();
  if (rc_) return;
  // A marker is what a terminal would show: the text after the last CR.
  std::string_view shown(l);
  if (auto cr = shown.rfind('\r'); cr != std::string_view::npos) shown.remove_prefix(cr + 1);
  if (shown.starts_with("\033[K")) shown.remove_prefix(3);
  if (!in_out_ && (shown == kInit || shown == kOut || shown == kFail)) l = std::string(shown);
  if (in_out_) {
    if (l.starts_with(kEnd) && l.ends_with("@@")) {
      const std::string n = l.substr(kEnd.size(), l.size() - kEnd.size() - 2);
      try {
        rc_ = std::stoi(n);
      } catch (...) {
        rc_ = 2;
      }
      in_out_ = false;
      // Lines between the markers were joined with '\n'; the script's echo
      // added the last one (see the protocol in guest.h).
      if (!out_.empty()) out_.pop_back();
      return;
    }
    out_ += l;
    out_ += '\n';
    return;
  }
  if (l == kInit) {
    init_ = true;
    return;
  }
  if (init_ && l == kOut) {
    in_out_ = true;
    return;
  }
  if (l == kFail) return;
  if (init_) console_.push_back(l);
  last_.push_back(l);
  if (last_.size() > kLastLines) last_.pop_front();
}

namespace {

/// QEMU in a process group of its own; the destructor kills the group and
/// reaps it when it has not been reaped yet.
class QemuProcess {
 public:
  QemuProcess() = default;
  QemuProcess(const QemuProcess&) = delete;
  QemuProcess& operator=(const QemuProcess&) = delete;
  ~QemuProcess() {
    if (pid_ > 0) {
      kill(-pid_, SIGKILL);
      wait();
    }
    if (fd_ >= 0) close(fd_);
    if (err_fd_ >= 0) close(err_fd_);
  }

  /// Starts argv with stdout (the serial console) on a pipe (fd()), stderr
  /// (QEMU's own messages) on another (err_fd()), stdin /dev/null, or
  /// `input` through a pipe when given.
  Result<void> start(const std::vector<std::string>& argv, const std::string* input = nullptr) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return Error{std::string("pipe: ") + std::strerror(errno)};
    // An exec failure is reported through a second pipe.
    int e[2];
    if (pipe2(e, O_CLOEXEC) != 0) {
      close(p[0]);
      close(p[1]);
      return Error{std::string("pipe: ") + std::strerror(errno)};
    }
    int in[2] = {-1, -1};
    if (input && pipe2(in, O_CLOEXEC) != 0) return Error{std::string("pipe: ") + std::strerror(errno)};
    int q[2];
    if (pipe2(q, O_CLOEXEC) != 0) return Error{std::string("pipe: ") + std::strerror(errno)};
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) return Error{std::string("fork: ") + std::strerror(errno)};
    if (pid == 0) {
      setpgid(0, 0);
      // QEMU dies with us even when we are killed with SIGKILL.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      const int null = input ? in[0] : open("/dev/null", O_RDONLY);
      dup2(null, 0);
      dup2(p[1], 1);
      dup2(q[1], 2);
      execvp(args[0], args.data());
      const int err = errno;
      (void)!write(e[1], &err, sizeof err);
      _exit(127);
    }
    setpgid(pid, pid);  // also here: no race with a kill before the child ran
    pid_ = pid;
    close(p[1]);
    close(e[1]);
    close(q[1]);
    fd_ = p[0];
    err_fd_ = q[0];
    if (input) {
      close(in[0]);
      // A few bytes: the pipe buffer takes them without blocking.
      (void)!write(in[1], input->data(), input->size());
      close(in[1]);
    }
    int err = 0;
    const ssize_t n = read(e[0], &err, sizeof err);
    close(e[0]);
    if (n == sizeof err) {
      wait();
      return Error{argv[0] + ": " + std::strerror(err) +
                   (err == ENOENT ? " (install QEMU: Debian package qemu-system-x86 or qemu-system-arm)" : "")};
    }
    return {};
  }

  int fd() const { return fd_; }
  int err_fd() const { return err_fd_; }

  /// Kills the group (QEMU and anything it started).
  void kill_group() {
    if (pid_ > 0) kill(-pid_, SIGKILL);
  }

  /// Reaps QEMU; its wait status.
  int wait() {
    int status = 0;
    while (pid_ > 0 && waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1, err_fd_ = -1;
};

std::string last_lines_text(const ConsoleParser& p) {
  if (p.last_lines().empty()) return "\n  (the console printed nothing)";
  std::string s = "\n  last console lines:";
  for (const auto& l : p.last_lines()) s += "\n  | " + l;
  return s;
}

}  // namespace

namespace {

std::atomic<int> g_stop_signal{0};

sigset_t stop_set() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  return stop;
}

/// A signalfd for SIGINT and SIGTERM, blocked while it lives (the caller
/// usually blocked them already: one that arrived earlier is still pending
/// and reads at once).
class StopSignalFd {
 public:
  StopSignalFd() {
    const sigset_t stop = stop_set();
    sigprocmask(SIG_BLOCK, &stop, &old_);
    fd_ = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
  }
  StopSignalFd(const StopSignalFd&) = delete;
  StopSignalFd& operator=(const StopSignalFd&) = delete;
  ~StopSignalFd() {
    if (fd_ >= 0) close(fd_);
    sigprocmask(SIG_SETMASK, &old_, nullptr);
  }
  int fd() const { return fd_; }
  /// The signal read, kept for stop_signal(); 0 when none was there.
  int take() {
    signalfd_siginfo si{};
    if (fd_ < 0 || read(fd_, &si, sizeof si) != sizeof si) return 0;
    g_stop_signal = static_cast<int>(si.ssi_signo);
    return g_stop_signal;
  }

 private:
  sigset_t old_;
  int fd_ = -1;
};

}  // namespace

int stop_signal() { return g_stop_signal; }

int pending_stop() {
  if (g_stop_signal) return g_stop_signal;
  sigset_t pending;
  sigpending(&pending);
  if (!sigismember(&pending, SIGINT) && !sigismember(&pending, SIGTERM)) return 0;
  StopSignalFd s;
  return s.take();
}

bool qemu_runs(const std::vector<std::string>& argv, double deadline_s) {
  StopSignalFd sig;
  QemuProcess q;
  const std::string quit = "quit\n";
  if (!q.start(argv, &quit)) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(deadline_s);
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;  // the destructor kills it
    pollfd fds[2] = {{q.fd(), POLLIN, 0}, {sig.fd(), POLLIN, 0}};
    if (poll(fds, 2, static_cast<int>(left)) <= 0) continue;
    if ((fds[1].revents & POLLIN) && sig.take()) return false;
    if ((fds[0].revents & (POLLIN | POLLHUP)) && read(q.fd(), buf, sizeof buf) <= 0) break;
  }
  const int status = q.wait();
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

GuestOutcome run_guest(const std::vector<std::string>& argv, const GuestLimits& limits,
                       const std::function<void(const std::string&)>& on_console) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  const auto deadline = t0 + std::chrono::duration<double>(limits.deadline);
  const auto progress_deadline = t0 + std::chrono::duration<double>(limits.progress);
  // SIGINT and SIGTERM arrive on a signalfd: QEMU is killed before we go.
  StopSignalFd sig;
  GuestOutcome out;
  if (stop_signal() || sig.take()) {
    out.failure = GuestFailure::interrupted;
    out.error = std::string("interrupted by ") + strsignal(stop_signal()) + " before QEMU started";
    return out;
  }

  QemuProcess qemu;
  if (auto r = qemu.start(argv); !r) {
    out.error = r.error().message;
    return out;
  }
  ConsoleParser parser;
  bool err_open = true;
  std::string qemu_err;  // QEMU's own messages: kept apart from the guest's output
  auto flush = [&] {
    for (auto& l : parser.take_console())
      if (on_console) on_console(l);
  };
  std::string why;
  for (;;) {
    const auto now = clock::now();
    if (limits.progress > 0 && !parser.reached_init() && now >= progress_deadline) {
      out.failure = GuestFailure::no_progress;
      char buf[64];
      std::snprintf(buf, sizeof buf, "%g", limits.progress);
      why = std::string("the guest made no progress: it did not reach init within ") + buf + " s; QEMU killed";
      break;
    }
    auto until = deadline;
    if (limits.progress > 0 && !parser.reached_init()) until = std::min(until, progress_deadline);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count();
    if (now >= deadline) {
      if (!parser.reached_init()) out.failure = GuestFailure::no_progress;
      why = "no report within " + std::to_string(static_cast<int>(limits.deadline)) + " s " +
            (parser.reached_init() ? "after init (the command hung?)" : "(the kernel never reached init)") +
            "; QEMU killed";
      break;
    }
    pollfd fds[3] = {{qemu.fd(), POLLIN, 0}, {sig.fd(), POLLIN, 0}, {err_open ? qemu.err_fd() : -1, POLLIN, 0}};
    const int n = poll(fds, 3, static_cast<int>(std::clamp<long long>(left, 0, 1000)));
    if (n < 0 && errno != EINTR) {
      why = std::string("poll: ") + std::strerror(errno);
      break;
    }
    if (n <= 0) continue;
    if ((fds[1].revents & POLLIN) && sig.take()) {
      out.failure = GuestFailure::interrupted;
      why = std::string("interrupted by ") + strsignal(stop_signal()) + "; QEMU killed";
      break;
    }
    if (fds[2].revents & (POLLIN | POLLHUP)) {
      char buf[4096];
      const ssize_t got = read(qemu.err_fd(), buf, sizeof buf);
      if (got <= 0) err_open = false;
      else qemu_err.append(buf, static_cast<std::size_t>(got));
    }
    if (fds[0].revents & (POLLIN | POLLHUP)) {
      char buf[65536];
      const ssize_t got = read(qemu.fd(), buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;  // EOF: QEMU exited
      parser.feed(std::string_view(buf, static_cast<std::size_t>(got)));
      flush();
      // The report is complete: no need to wait for the power-off.
      if (parser.exit_status()) break;
    }
  }
  qemu.kill_group();
  const int status = qemu.wait();
  // QEMU's last words (a KVM "emulation failure" dump) may still be in
  // its stderr pipe.
  if (err_open) {
    char buf[4096];
    for (ssize_t got; (got = read(qemu.err_fd(), buf, sizeof buf)) > 0;) qemu_err.append(buf, static_cast<std::size_t>(got));
  }
  parser.finish();
  flush();
  // What QEMU said (an unknown CPU model, a missing file) ends the console
  // lines an error shows.
  for (std::size_t p = 0; p < qemu_err.size();) {
    std::size_t nl = qemu_err.find('\n', p);
    if (nl == std::string::npos) nl = qemu_err.size();
    if (nl > p) parser.note(qemu_err.substr(p, nl - p));
    p = nl + 1;
  }
  if (!why.empty()) {
    out.error = why + last_lines_text(parser);
    return out;
  }
  if (!parser.exit_status()) {
    std::string how = WIFEXITED(status) ? "QEMU exited with status " + std::to_string(WEXITSTATUS(status))
                                        : std::string("QEMU died of ") + strsignal(WTERMSIG(status));
    if (!parser.reached_init()) out.failure = GuestFailure::no_progress;
    out.error = (parser.reached_init() ? "the guest stopped before its report (" + how + ")"
                                       : "the kernel never reached init (" + how + ")") +
                last_lines_text(parser);
    return out;
  }
  GuestResult r;
  r.seconds = std::chrono::duration<double>(clock::now() - t0).count();
  r.exit_status = *parser.exit_status();
  r.output = parser.output();
  out.result = std::move(r);
  return out;
}

}  // namespace vma::harness::vm
