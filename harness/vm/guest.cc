#include "guest.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "child_process.h"
#include "fd.h"

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

/// QEMU in a process group of its own, its console (stdout) and its own
/// messages (stderr) on pipes; the destructor kills the group and reaps it
/// when it has not been reaped yet, then closes the pipes.
class QemuProcess {
 public:
  /// Starts argv with stdout (the serial console) on a pipe (fd()), stderr
  /// (QEMU's own messages) on another (err_fd()), stdin /dev/null, or
  /// `input` through a pipe when given.
  Result<void> start(const std::vector<std::string>& argv, const std::string* input = nullptr) {
    auto out = os::make_pipe();
    if (!out) return out.error();
    auto err = os::make_pipe();
    if (!err) return err.error();
    auto in = input ? os::make_pipe() : Result<os::Pipe>(Error{});
    if (input && !in) return in.error();
    auto null = input ? Result<os::Fd>(os::Fd()) : os::Fd::open("/dev/null", O_RDONLY);
    if (!null) return null.error();
    const int stdin_fd = input ? in->read_end.get() : null->get();
    os::SpawnOptions o;
    o.argv = argv;
    o.fds = {{stdin_fd, 0}, {out->write_end.get(), 1}, {err->write_end.get(), 2}};
    auto child = os::ChildProcess::spawn(o);
    if (!child) return child.error();
    child_ = std::move(*child);
    out_ = std::move(out->read_end);
    err_ = std::move(err->read_end);
    // A few bytes: the pipe buffer takes them without blocking.
    if (input) (void)!write(in->write_end.get(), input->data(), input->size());
    if (const auto& f = child_.start_failure()) {
      wait();
      return Error{argv[0] + ": " + std::strerror(f->err) +
                   (f->err == ENOENT ? " (install QEMU: Debian package qemu-system-x86 or qemu-system-arm)" : "")};
    }
    return {};
  }

  int fd() const { return out_.get(); }
  int err_fd() const { return err_.get(); }

  /// Kills the group (QEMU and anything it started).
  void kill_group() { child_.kill_group(); }

  /// Reaps QEMU: how it ended.
  os::WaitStatus wait() {
    if (child_.end_status()) return *child_.end_status();
    os::WaitStatus s;
    do s = child_.wait();
    while (!s.ended());
    return s;
  }

 private:
  os::Fd out_, err_;
  os::ChildProcess child_;  // last: killed and reaped before the pipes close
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
    fd_.reset(signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK));
  }
  StopSignalFd(const StopSignalFd&) = delete;
  StopSignalFd& operator=(const StopSignalFd&) = delete;
  ~StopSignalFd() {
    fd_.reset();
    sigprocmask(SIG_SETMASK, &old_, nullptr);
  }
  int fd() const { return fd_.get(); }
  /// The signal read, kept for stop_signal(); 0 when none was there.
  int take() {
    signalfd_siginfo si{};
    if (!fd_ || read(fd_.get(), &si, sizeof si) != sizeof si) return 0;
    g_stop_signal = static_cast<int>(si.ssi_signo);
    return g_stop_signal;
  }

 private:
  sigset_t old_;
  os::Fd fd_;
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
  return q.wait().exit_code() == 0;
}

namespace {

using Clock = std::chrono::steady_clock;

Clock::duration seconds(double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); }

/// One QEMU run watched until the guest reports, QEMU exits or a limit
/// passes: the console parsed as it comes, QEMU's stderr kept apart.
class GuestWatch {
 public:
  GuestWatch(const GuestLimits& limits, const std::function<void(const std::string&)>& on_console)
      : limits_(limits), on_console_(on_console), t0_(Clock::now()),
        deadline_(t0_ + seconds(limits.deadline)), progress_deadline_(t0_ + seconds(limits.progress)) {}

  QemuProcess& qemu() { return qemu_; }
  /// Watches until the report is complete, QEMU exits, a limit passes or
  /// `sig` reads a signal; then kills and reaps QEMU.
  void run(StopSignalFd& sig);
  /// The report, or what happened and the last console lines.
  GuestOutcome outcome();

 private:
  bool limit_passed(Clock::time_point now);
  bool step(StopSignalFd& sig, Clock::time_point now);
  void read_stderr();
  bool read_console();
  void flush();
  void finish();

  const GuestLimits& limits_;
  const std::function<void(const std::string&)>& on_console_;
  const Clock::time_point t0_, deadline_, progress_deadline_;
  QemuProcess qemu_;
  ConsoleParser parser_;
  bool err_open_ = true;
  std::string qemu_err_;  // QEMU's own messages: kept apart from the guest's output
  std::string why_;       // why the watch ended early; empty when it did not
  GuestFailure failure_ = GuestFailure::error;
  os::WaitStatus status_;
};

void GuestWatch::run(StopSignalFd& sig) {
  for (;;) {
    const auto now = Clock::now();
    if (limit_passed(now) || !step(sig, now)) break;
  }
  qemu_.kill_group();
  status_ = qemu_.wait();
  finish();
}

/// Sets why_ when the progress limit or the deadline passed.
bool GuestWatch::limit_passed(Clock::time_point now) {
  if (limits_.progress > 0 && !parser_.reached_init() && now >= progress_deadline_) {
    failure_ = GuestFailure::no_progress;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", limits_.progress);
    why_ = std::string("the guest made no progress: it did not reach init within ") + buf + " s; QEMU killed";
    return true;
  }
  if (now < deadline_) return false;
  if (!parser_.reached_init()) failure_ = GuestFailure::no_progress;
  why_ = "no report within " + std::to_string(static_cast<int>(limits_.deadline)) + " s " +
         (parser_.reached_init() ? "after init (the command hung?)" : "(the kernel never reached init)") +
         "; QEMU killed";
  return true;
}

/// One poll: a signal, QEMU's stderr, the console. False when the watch
/// ends (why_ says why when it ended early).
bool GuestWatch::step(StopSignalFd& sig, Clock::time_point now) {
  auto until = deadline_;
  if (limits_.progress > 0 && !parser_.reached_init()) until = std::min(until, progress_deadline_);
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count();
  pollfd fds[3] = {{qemu_.fd(), POLLIN, 0}, {sig.fd(), POLLIN, 0}, {err_open_ ? qemu_.err_fd() : -1, POLLIN, 0}};
  const int n = poll(fds, 3, static_cast<int>(std::clamp<long long>(left, 0, 1000)));
  if (n < 0 && errno != EINTR) {
    why_ = std::string("poll: ") + std::strerror(errno);
    return false;
  }
  if (n <= 0) return true;
  if ((fds[1].revents & POLLIN) && sig.take()) {
    failure_ = GuestFailure::interrupted;
    why_ = std::string("interrupted by ") + strsignal(stop_signal()) + "; QEMU killed";
    return false;
  }
  if (fds[2].revents & (POLLIN | POLLHUP)) read_stderr();
  if (fds[0].revents & (POLLIN | POLLHUP)) return read_console();
  return true;
}

void GuestWatch::read_stderr() {
  char buf[4096];
  const ssize_t got = read(qemu_.err_fd(), buf, sizeof buf);
  if (got <= 0) err_open_ = false;
  else qemu_err_.append(buf, static_cast<std::size_t>(got));
}

/// False at EOF (QEMU exited) or once the report is complete: no need to
/// wait for the power-off.
bool GuestWatch::read_console() {
  char buf[65536];
  const ssize_t got = read(qemu_.fd(), buf, sizeof buf);
  if (got < 0 && errno == EINTR) return true;
  if (got <= 0) return false;
  parser_.feed(std::string_view(buf, static_cast<std::size_t>(got)));
  flush();
  return !parser_.exit_status();
}

void GuestWatch::flush() {
  for (auto& l : parser_.take_console())
    if (on_console_) on_console_(l);
}

/// The console's last line, and QEMU's last words (a KVM "emulation
/// failure" dump may still be in its stderr pipe) ending the lines an error
/// shows (an unknown CPU model, a missing file).
void GuestWatch::finish() {
  while (err_open_) read_stderr();
  parser_.finish();
  flush();
  for (std::size_t p = 0; p < qemu_err_.size();) {
    std::size_t nl = qemu_err_.find('\n', p);
    if (nl == std::string::npos) nl = qemu_err_.size();
    if (nl > p) parser_.note(qemu_err_.substr(p, nl - p));
    p = nl + 1;
  }
}

GuestOutcome GuestWatch::outcome() {
  GuestOutcome out;
  out.failure = failure_;
  if (!why_.empty()) {
    out.error = why_ + last_lines_text(parser_);
    return out;
  }
  if (!parser_.exit_status()) {
    std::string how = status_.exit_code() ? "QEMU exited with status " + std::to_string(*status_.exit_code())
                                          : std::string("QEMU died of ") + strsignal(status_.term_signal().value_or(0));
    if (!parser_.reached_init()) out.failure = GuestFailure::no_progress;
    out.error = (parser_.reached_init() ? "the guest stopped before its report (" + how + ")"
                                        : "the kernel never reached init (" + how + ")") +
                last_lines_text(parser_);
    return out;
  }
  GuestResult r;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
  r.exit_status = *parser_.exit_status();
  r.output = parser_.output();
  out.result = std::move(r);
  return out;
}

}  // namespace

GuestOutcome run_guest(const std::vector<std::string>& argv, const GuestLimits& limits,
                       const std::function<void(const std::string&)>& on_console) {
  // SIGINT and SIGTERM arrive on a signalfd: QEMU is killed before we go.
  StopSignalFd sig;
  GuestWatch watch(limits, on_console);
  GuestOutcome out;
  if (stop_signal() || sig.take()) {
    out.failure = GuestFailure::interrupted;
    out.error = std::string("interrupted by ") + strsignal(stop_signal()) + " before QEMU started";
    return out;
  }
  if (auto r = watch.qemu().start(argv); !r) {
    out.error = r.error().message;
    return out;
  }
  watch.run(sig);
  return watch.outcome();
}

}  // namespace vma::harness::vm
