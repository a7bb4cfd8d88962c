#include "runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <dirent.h>
#include <memory>
#include <set>
#include <sstream>

#include "child_process.h"
#include "errno_name.h"
#include "fd.h"
#include "proc_source.h"
#include "read_file.h"
#include "registers.h"
#include "signals.h"
#include "target.h"

extern char** environ;

namespace vma::harness {
namespace {

using Clock = std::chrono::steady_clock;

bool is_stop_signal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}
bool is_ignored_by_default(int sig) {
  return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT;
}
bool is_fault_signal(int sig) {
  return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP ||
         sig == SIGSYS;
}
/// Signals whose siginfo carries si_addr.
bool has_addr(int sig) {
  return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP;
}

/// A /proc file of a process that may be gone: "" then.
std::string proc_text(pid_t pid, const std::string& rest) {
  return os::read_file("/proc/" + std::to_string(pid) + "/" + rest).value_or("");
}

/// True when `tid`'s process has a handler for `sig` (SigCgt in status).
bool catches(pid_t tid, int sig) {
  std::istringstream in(proc_text(tid, "status"));
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("SigCgt:")) continue;
    unsigned long long mask = std::strtoull(line.c_str() + 7, nullptr, 16);
    return (mask >> (sig - 1)) & 1ULL;
  }
  return false;
}

/// The thread group of `tid`, from /proc (0 when gone).
pid_t tgid_of(pid_t tid) {
  std::istringstream in(proc_text(tid, "status"));
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("Tgid:")) return static_cast<pid_t>(std::atoi(line.c_str() + 5));
  return 0;
}

std::vector<pid_t> list_ints(const std::string& text) {
  std::vector<pid_t> out;
  std::istringstream in(text);
  for (long v; in >> v;) out.push_back(static_cast<pid_t>(v));
  return out;
}

/// This process's children, re-parented orphans included.
std::vector<pid_t> my_children() {
  pid_t self = getpid();
  return list_ints(proc_text(self, "task/" + std::to_string(self) + "/children"));
}

std::vector<pid_t> threads_of(pid_t pid) {
  std::vector<pid_t> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] >= '0' && e->d_name[0] <= '9') out.push_back(std::atoi(e->d_name));
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// "0x1234" -> 0x1234.
std::optional<Addr> parse_hex(std::string_view s) {
  if (!s.starts_with("0x")) return std::nullopt;
  return parse_address(s);
}

/// Every probe's environment carries kTokenVar=<harness pid>:<index>, and so
/// do its descendants unless they clear it: an orphan re-parented to the
/// harness is traced back to its probe by it.
constexpr std::string_view kTokenVar = "VMA_HARNESS_PROBE=";

std::string probe_token_of(pid_t pid) {
  std::string env = proc_text(pid, "environ");
  for (std::size_t i = 0; i < env.size();) {
    std::size_t end = env.find('\0', i);
    if (end == std::string::npos) end = env.size();
    std::string_view kv(env.data() + i, end - i);
    if (kv.starts_with(kTokenVar)) return std::string(kv.substr(kTokenVar.size()));
    i = end + 1;
  }
  return {};
}

/// This process's environment for probe `token`: without the handler
/// switch and any older token, with VMA_PROBE_HANDLER=1 unless `ptraced`.
std::vector<std::string> probe_environment(const std::string& token, bool ptraced) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (!std::string_view(*e).starts_with("VMA_PROBE_HANDLER=") && !std::string_view(*e).starts_with(kTokenVar))
      env.emplace_back(*e);
  if (!ptraced) env.emplace_back("VMA_PROBE_HANDLER=1");
  env.push_back(std::string(kTokenVar) + token);
  return env;
}

/// Annotates the fault in `o` (its address, the probe's target when the
/// address is hidden, the pc) with probe `pid`'s map and explains it.
/// `faulting`: the stopped faulting thread and its SP, when known.
void annotate(Observation& o, pid_t pid, std::optional<ThreadInfo> faulting, ElfCache& elf) {
  auto src = ProcSource::open(pid);
  if (!src) {
    o.notes.push_back("could not read the probe's map: " + src.error().message);
    return;
  }
  if (faulting) {
    // The faulting thread is stopped and its SP known; the others run on.
    std::vector<ThreadInfo> threads;
    for (pid_t t : threads_of(pid)) threads.push_back(t == faulting->tid ? *faulting : ThreadInfo{t, std::nullopt});
    (*src)->set_threads(std::move(threads));
  }
  auto at = [&](Addr addr) -> std::optional<Annotation> {
    auto r = whereis(**src, addr, elf);
    if (!r) {
      o.notes.push_back("whereis " + hex(addr) + ": " + r.error().message);
      return std::nullopt;
    }
    return std::move(r.value());
  };
  if (o.addr) o.at_addr = at(*o.addr);
  // A #GP reports si_addr 0: the address that matters is the probe's target.
  if (o.signo && o.code && fault_address_hidden(*o.signo, *o.code) && o.addr.value_or(0) == 0 && o.target)
    o.at_target = at(*o.target);
  if (o.pc) o.at_pc = at(*o.pc);
  if (const Annotation* ann = o.region_annotation()) {
    Fault f;
    f.signo = o.signo.value_or(0);
    f.code = o.code.value_or(0);
    f.addr = o.addr;
    f.pc = o.pc;
    o.explanation = explain_fault(f, *ann);
  }
}

/// "fault signo=<n> code=<n> addr=0x<hex> pc=0x<hex>" (after "fault "),
/// from the probe's own handler, into `o`.
void parse_fault_fields(Observation& o, std::string_view fields) {
  std::istringstream in{std::string(fields)};
  for (std::string field; in >> field;) {
    auto eq = field.find('=');
    if (eq == std::string::npos) continue;
    std::string key = field.substr(0, eq), val = field.substr(eq + 1);
    if (key == "signo") o.signo = std::atoi(val.c_str());
    if (key == "code") o.code = std::atoi(val.c_str());
    if (key == "addr") o.addr = parse_hex(val);
    if (key == "pc") o.pc = parse_hex(val);
  }
  o.outcome = Outcome::fault;
  if (o.signo && !has_addr(*o.signo)) o.addr.reset();
}

/// One line of a probe's stdout protocol (target, refused, allowed, skip,
/// note) into `o`; other lines are kept as notes. A "fault" line is not
/// handled here: true for it.
bool apply_line(Observation& o, std::string_view line) {
  auto rest = [&](std::string_view word) { return line.substr(word.size()); };
  if (line.starts_with("target ")) {
    o.target = parse_hex(rest("target "));
    o.target_untagged.reset();
    static const Target host = Target::host();
    if (o.target) {
      if (Untagged u = strip_tag(host, *o.target); u.tag) o.target_untagged = u.address;
    }
  } else if (line.starts_with("refused ")) {
    o.outcome = Outcome::refused;
    o.errno_name = std::string(rest("refused "));
  } else if (line == "allowed") {
    o.outcome = Outcome::allowed;
  } else if (line.starts_with("skip")) {
    o.skipped = std::string(line.size() > 5 ? rest("skip ") : "");
  } else if (line.starts_with("note ")) {
    std::string_view text = rest("note ");
    if (text.starts_with("jump-insn ")) o.jump_insn = parse_hex(text.substr(10));
    if (o.notes.size() < 32) o.notes.emplace_back(text);
  } else if (line.starts_with("fault ")) {
    return true;
  } else if (!line.empty() && o.notes.size() < 32) {
    o.notes.push_back("stdout: " + std::string(line));
  }
  return false;
}

/// A probe's stdout or stderr: a non-blocking pipe and what was read of it.
struct ProbePipe {
  os::Fd fd;
  std::string buf;
};

/// Reads what is ready on `p` (non-blocking). Stdout goes to `on_line` a
/// line at a time (a last line without newline at EOF too); of stderr the
/// last 8 KiB are kept. The descriptor is closed at EOF.
void read_probe_pipe(ProbePipe& p, bool is_stdout, const std::function<void(std::string_view)>& on_line) {
  if (!p.fd) return;
  char chunk[4096];
  for (;;) {
    ssize_t n = read(p.fd.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;  // EAGAIN: nothing more now
    if (n == 0) {
      p.fd.reset();
      break;
    }
    p.buf.append(chunk, static_cast<std::size_t>(n));
    if (!is_stdout) {
      if (p.buf.size() > 8192) p.buf.erase(0, p.buf.size() - 8192);
      continue;
    }
    std::size_t nl;
    while ((nl = p.buf.find('\n')) != std::string::npos) {
      std::string line = p.buf.substr(0, nl);
      p.buf.erase(0, nl + 1);
      on_line(line);
    }
    if (p.buf.size() > 65536) p.buf.clear();  // a runaway line: drop it
  }
  if (is_stdout && !p.buf.empty()) {
    on_line(p.buf);
    p.buf.clear();
  }
}

/// A probe being run.
struct Active {
  std::size_t index = 0;
  os::ChildProcess child;
  pid_t pid = -1;  ///< leader and process group id
  ProbePipe out, err;
  Observation obs;
  Clock::time_point start, deadline;
  enum class Phase { starting, running, dying } phase = Phase::starting;
  std::set<pid_t> tids;
  bool captured = false;  ///< a fault was captured (ptrace stop or handler line)
  bool killed = false;    ///< we sent SIGKILL (timeout, capture, interrupt)
  std::string token;      ///< kTokenVar's value in the probe's environment
};

/// Kills this process's children that are not running probes: orphans
/// re-parented here. An orphan whose environment names a probe still
/// running is spared, and one without a name while probes run (it cannot
/// be told yet); `final` spares none.
void sweep_orphans(const std::vector<std::unique_ptr<Active>>& active, bool final = false) {
  for (pid_t child : my_children()) {
    bool is_probe = std::any_of(active.begin(), active.end(), [&](auto& a) { return a->pid == child; });
    if (is_probe) continue;
    std::string token = probe_token_of(child);
    if (!final) {
      if (!token.empty() && std::any_of(active.begin(), active.end(), [&](auto& a) { return a->token == token; }))
        continue;
      if (token.empty() && !active.empty()) continue;  // cannot tell yet: at the end
    }
    kill(-child, SIGKILL);  // it may lead a group of its own (setsid)
    kill(child, SIGKILL);
  }
}

/// Nothing may outlive the run: kills and reaps every orphan, for up to 2 s.
void final_sweep() {
  auto give_up = Clock::now() + std::chrono::seconds(2);
  while (Clock::now() < give_up) {
    sweep_orphans({}, true);
    while (waitpid(-1, nullptr, WNOHANG | __WALL) > 0) {}
    if (my_children().empty()) break;
    usleep(5000);
  }
}

/// SIGCHLD, SIGINT and SIGTERM on a signalfd while it lives, and this
/// process a child subreaper. SIGINT/SIGTERM stay blocked afterwards (the
/// caller checks for late ones); SIGCHLD goes back to what it was.
class RunSignals {
 public:
  RunSignals() {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, &old_);
    fd_.reset(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    prctl(PR_SET_CHILD_SUBREAPER, 1);
  }
  RunSignals(const RunSignals&) = delete;
  RunSignals& operator=(const RunSignals&) = delete;
  ~RunSignals() {
    if (sigismember(&old_, SIGCHLD) != 0) return;
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &chld, nullptr);
  }
  int fd() const { return fd_.get(); }
  /// SIGINT or SIGTERM when one was read, else 0 (SIGCHLD is only a wakeup).
  int take_stop() {
    int stop = 0;
    signalfd_siginfo ssi;
    while (read(fd_.get(), &ssi, sizeof ssi) == static_cast<ssize_t>(sizeof ssi)) {
      const int sig = static_cast<int>(ssi.ssi_signo);
      if ((sig == SIGINT || sig == SIGTERM) && !stop) stop = sig;
    }
    return stop;
  }

 private:
  sigset_t old_;
  os::Fd fd_;
};

class Loop {
 public:
  Loop(const std::vector<Launch>& launches, const RunOptions& opts, ElfCache& elf,
       const std::function<void(std::size_t, Observation)>& done)
      : launches_(launches), opts_(opts), elf_(elf), done_(done) {}

  int run();

 private:
  void start(std::size_t i);
  void note_start_failure(Active& a, const os::SpawnFailure& f);
  bool poll_once(RunSignals& signals);
  void expire();
  void reap();
  void handle_status(Active& a, pid_t tid, os::WaitStatus status);
  void on_stop(Active& a, pid_t tid, os::WaitStatus status);
  void capture_ptrace(Active& a, pid_t tid, const siginfo_t& si);
  void read_pipe(Active& a, ProbePipe& p, bool is_stdout) {
    read_probe_pipe(p, is_stdout, [&](std::string_view line) { on_line(a, line); });
  }
  void on_line(Active& a, std::string_view line);
  void kill_group(Active& a);
  void finish(Active& a);
  void interrupt_all(int sig);
  Active* find(pid_t tid);
  bool is_active(const Active* a) const;

  const std::vector<Launch>& launches_;
  const RunOptions& opts_;
  ElfCache& elf_;
  const std::function<void(std::size_t, Observation)>& done_;
  std::vector<std::unique_ptr<Active>> active_;
  os::Fd devnull_;
  int interrupted_ = 0;
};

Active* Loop::find(pid_t tid) {
  for (auto& a : active_)
    if (a->pid == tid || a->tids.contains(tid)) return a.get();
  return nullptr;
}

bool Loop::is_active(const Active* a) const {
  return std::any_of(active_.begin(), active_.end(), [&](auto& p) { return p.get() == a; });
}

void Loop::start(std::size_t i) {
  const Launch& l = launches_[i];
  auto a = std::make_unique<Active>();
  a->index = i;
  a->start = Clock::now();
  a->deadline = a->start + std::chrono::microseconds(static_cast<long long>(l.timeout * 1e6));
  const bool ptraced = opts_.capture == Capture::ptrace;
  a->obs.capture = ptraced ? "ptrace" : "handler";
  a->token = std::to_string(getpid()) + ":" + std::to_string(i);

  auto out = os::make_pipe();
  auto err = out ? os::make_pipe() : Result<os::Pipe>(out.error());
  if (!err) {
    a->obs.error = err.error().message;
    done_(i, std::move(a->obs));
    return;
  }
  os::SpawnOptions o;
  o.argv = l.argv;
  o.body = l.body;
  o.env = probe_environment(a->token, ptraced);
  o.fds = {{devnull_.get(), 0}, {out->write_end.get(), 1}, {err->write_end.get(), 2}};
  o.trace_me = ptraced;
  o.no_core_dumps = true;
  o.drop_to = opts_.drop_to;
  auto child = os::ChildProcess::spawn(o);
  if (!child) {
    a->obs.error = child.error().message;
    done_(i, std::move(a->obs));
    return;
  }
  a->child = std::move(*child);
  a->pid = a->child.pid();
  a->tids.insert(a->pid);
  a->out.fd = std::move(out->read_end);
  a->err.fd = std::move(err->read_end);
  fcntl(a->out.fd.get(), F_SETFL, O_NONBLOCK);  // the probe's own ends stay blocking
  fcntl(a->err.fd.get(), F_SETFL, O_NONBLOCK);
  if (const auto& f = a->child.start_failure()) note_start_failure(*a, *f);
  active_.push_back(std::move(a));
}

/// The probe never ran its program: it exits 127, reaped as any other.
void Loop::note_start_failure(Active& a, const os::SpawnFailure& f) {
  a.obs.error = f.what() + ": " + os::errno_text(f.err);
  if (f.step == os::SpawnStep::exec && f.err == EACCES && opts_.drop_to)
    *a.obs.error += " as uid " + std::to_string(opts_.drop_to->first) +
                    " (make the path readable by others, or use --as-root)";
  a.phase = Active::Phase::dying;
  a.killed = true;
}

void Loop::kill_group(Active& a) {
  a.child.kill_group();
  a.killed = true;
  a.phase = Active::Phase::dying;
  // A process that does not die (stuck in D state) is given up on after 5 s.
  a.deadline = Clock::now() + std::chrono::seconds(5);
}

void Loop::capture_ptrace(Active& a, pid_t tid, const siginfo_t& si) {
  Observation& o = a.obs;
  o.outcome = Outcome::fault;
  o.signo = si.si_signo;
  o.code = si.si_code;
  if (has_addr(si.si_signo)) o.addr = reinterpret_cast<Addr>(si.si_addr);
  std::optional<ThreadInfo> faulting;
  if (auto regs = os::read_registers(tid)) {
    o.pc = regs->pc;
    faulting = ThreadInfo{tid, regs->sp};
  }
  if (tid != a.pid) o.notes.push_back("faulting thread " + std::to_string(tid));
  // Any output the probe wrote before faulting (the target line) is in the pipe.
  read_pipe(a, a.out, true);
  annotate(a.obs, a.pid, faulting, elf_);
  a.captured = true;
  kill_group(a);
}

void Loop::on_stop(Active& a, pid_t tid, os::WaitStatus status) {
  const int sig = *status.stop_signal();
  auto cont = [&](int deliver) { ptrace(PTRACE_CONT, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(deliver))); };
  if (a.phase == Active::Phase::dying) return;  // SIGKILL is on its way
  if (const int event = status.ptrace_event(); event != 0) {
    if (event == PTRACE_EVENT_CLONE) {
      unsigned long new_tid = 0;
      if (ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &new_tid) == 0) a.tids.insert(static_cast<pid_t>(new_tid));
    }
    cont(0);
    return;
  }
  if (a.phase == Active::Phase::starting && tid == a.pid) {
    // The stop after execve (SIGTRAP) or the body's raise(SIGSTOP).
    ptrace(PTRACE_SETOPTIONS, tid, nullptr,
           reinterpret_cast<void*>(PTRACE_O_EXITKILL | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC));
    a.phase = Active::Phase::running;
    cont(0);
    return;
  }
  siginfo_t si{};
  if (ptrace(PTRACE_GETSIGINFO, tid, nullptr, &si) != 0) {
    cont(0);  // a group-stop, not a signal-delivery stop
    return;
  }
  if (is_stop_signal(sig)) return cont(0);  // new threads' SIGSTOP; probes stopping themselves
  if (is_ignored_by_default(sig)) return cont(sig);
  // A signal the probe sent itself (or got from a peer) and handles: let it
  // run. A kernel-generated fault is the observation, handler or not.
  const bool from_kernel = si.si_code > 0;
  if (!(from_kernel && is_fault_signal(sig)) && catches(tid, sig)) return cont(sig);
  capture_ptrace(a, tid, si);
}

void Loop::handle_status(Active& a, pid_t tid, os::WaitStatus status) {
  if (status.stop_signal()) {
    on_stop(a, tid, status);
    return;
  }
  if (tid != a.pid) {
    a.tids.erase(tid);
    return;
  }
  // The leader is reaped: the whole thread group is gone.
  a.child.mark_reaped(status);
  Observation& o = a.obs;
  if (!a.captured && !a.killed) {
    if (status.exit_code()) {
      o.exit_code = status.exit_code();
    } else if (status.term_signal()) {
      // Died without a capture: handler mode without a handler, or a
      // signal ptrace never showed us (SIGKILL from outside).
      o.outcome = Outcome::fault;
      o.signo = status.term_signal();
      o.term_signal = status.term_signal();
      o.capture = "wait";
    }
  }
  finish(a);
}

void Loop::on_line(Active& a, std::string_view line) {
  if (!apply_line(a.obs, line)) return;
  // A fault line counts from the probe's own handler only, and only once.
  if (opts_.capture != Capture::handler || a.captured || a.phase == Active::Phase::dying) {
    if (a.obs.notes.size() < 32) a.obs.notes.push_back("stdout: " + std::string(line));
    return;
  }
  parse_fault_fields(a.obs, line.substr(6));
  annotate(a.obs, a.pid, std::nullopt, elf_);
  a.captured = true;
  kill_group(a);
}

void Loop::finish(Active& a) {
  read_pipe(a, a.out, true);
  read_pipe(a, a.err, false);
  a.out.fd.reset();
  a.err.fd.reset();
  // Whatever is left of the group (children, grandchildren) dies with it.
  a.child.kill_group();
  a.obs.stderr_text = a.err.buf;
  a.obs.seconds = std::chrono::duration<double>(Clock::now() - a.start).count();
  // A leader that did not die after SIGKILL is left to the final sweep.
  if (!a.child.end_status()) a.child.release();
  std::size_t index = a.index;
  Observation obs = std::move(a.obs);
  active_.erase(std::find_if(active_.begin(), active_.end(), [&](auto& p) { return p.get() == &a; }));
  sweep_orphans(active_);
  done_(index, std::move(obs));
}

void Loop::reap() {
  for (;;) {
    int status = 0;
    pid_t w = waitpid(-1, &status, WNOHANG | __WALL);
    if (w <= 0) return;
    Active* a = find(w);
    if (!a && WIFSTOPPED(status)) {
      // A new thread's first stop can come before its creator's clone event.
      a = find(tgid_of(w));
      if (a) a->tids.insert(w);
      else kill(w, SIGKILL);
    }
    if (!a) {
      sweep_orphans(active_);  // an orphan died; its own children are ours now
      continue;
    }
    handle_status(*a, w, os::WaitStatus(status));
  }
}

void Loop::interrupt_all(int sig) {
  interrupted_ = sig;
  for (auto& a : active_) {
    if (!a->obs.error) a->obs.error = "interrupted by " + signal_name(sig);
    kill_group(*a);
  }
}

/// Waits for a signal, probe output or the soonest deadline, and handles
/// what came: output read, stops and exits reaped. False when poll fails.
bool Loop::poll_once(RunSignals& signals) {
  auto now = Clock::now();
  auto soonest = Clock::time_point::max();
  for (auto& a : active_) soonest = std::min(soonest, a->deadline);
  int wait_ms = soonest <= now ? 0
                               : static_cast<int>(std::min<long long>(
                                     std::chrono::duration_cast<std::chrono::milliseconds>(soonest - now).count() + 1,
                                     250));  // SIGCHLD taken by another thread: poll anyway
  std::vector<pollfd> fds{{signals.fd(), POLLIN, 0}};
  std::vector<std::pair<Active*, bool>> owners{{nullptr, false}};
  for (auto& a : active_) {
    if (a->out.fd) { fds.push_back({a->out.fd.get(), POLLIN, 0}); owners.emplace_back(a.get(), true); }
    if (a->err.fd) { fds.push_back({a->err.fd.get(), POLLIN, 0}); owners.emplace_back(a.get(), false); }
  }
  int n = poll(fds.data(), fds.size(), wait_ms);
  if (n < 0 && errno != EINTR) return false;

  if (fds[0].revents & POLLIN) {
    if (const int stop = signals.take_stop(); stop && !interrupted_) interrupt_all(stop);
  }
  for (std::size_t i = 1; i < fds.size(); ++i) {
    if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    Active* a = owners[i].first;
    if (!is_active(a)) continue;
    if (owners[i].second) read_pipe(*a, a->out, true);
    else read_pipe(*a, a->err, false);
  }
  reap();
  return true;
}

/// Probes past their deadline: killed, or given up on when SIGKILL did not
/// end them.
void Loop::expire() {
  const auto now = Clock::now();
  std::vector<Active*> expired;
  for (auto& a : active_)
    if (a->deadline <= now) expired.push_back(a.get());
  for (Active* a : expired) {
    if (a->phase != Active::Phase::dying) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "timeout after %gs", launches_[a->index].timeout);
      a->obs.error = buf;
      kill_group(*a);
    } else {
      a->obs.error = a->obs.error.value_or("") + " (the probe did not die after SIGKILL)";
      finish(*a);
    }
  }
}

int Loop::run() {
  RunSignals signals;
  devnull_ = os::Fd::open("/dev/null", O_RDWR).value_or(os::Fd());
  std::size_t next = 0;
  const unsigned jobs = std::max(1u, opts_.jobs);
  for (;;) {
    while (!interrupted_ && active_.size() < jobs && next < launches_.size()) start(next++);
    if (active_.empty() && (interrupted_ || next >= launches_.size())) break;
    if (!poll_once(signals)) break;
    expire();
  }
  final_sweep();
  return interrupted_;
}

}  // namespace

bool ptrace_permitted() {
  os::SpawnOptions o;
  o.body = [] { return 0; };
  o.trace_me = true;
  auto child = os::ChildProcess::spawn(o);
  if (!child || child->start_failure()) return false;
  return child->wait().stop_signal().has_value();
}

int run_probes(const std::vector<Launch>& launches, const RunOptions& opts, ElfCache& elf_cache,
               const std::function<void(std::size_t, Observation)>& done) {
  Loop loop(launches, opts, elf_cache, done);
  return loop.run();
}

}  // namespace vma::harness
