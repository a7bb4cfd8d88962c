#include "runner.h"

#include <elf.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "proc_source.h"
#include "signals.h"
#include "target.h"

extern char** environ;

namespace vma::harness {
namespace {

using Clock = std::chrono::steady_clock;

/// Child-side failure report, written to a CLOEXEC pipe before _exit(127).
struct ChildFailure {
  int stage;  // see kStage*
  int err;
};
constexpr int kStageSetgroups = 1, kStageSetgid = 2, kStageSetuid = 3, kStageTraceme = 4,
              kStageExec = 5, kStagePdeath = 6;

const char* stage_name(int stage) {
  switch (stage) {
    case kStageSetgroups: return "setgroups";
    case kStageSetgid: return "setgid";
    case kStageSetuid: return "setuid";
    case kStageTraceme: return "ptrace(PTRACE_TRACEME)";
    case kStageExec: return "execve";
    case kStagePdeath: return "prctl(PR_SET_PDEATHSIG)";
  }
  return "?";
}

std::string errno_text(int e) {
  const char* n = strerrorname_np(e);
  return std::string(n ? n : std::to_string(e).c_str()) + " (" + std::strerror(e) + ")";
}

/// Resolves argv[0] like execvp, in the parent (the child may only call
/// async-signal-safe functions).
std::string resolve_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;
}

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

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// True when `tid`'s process has a handler for `sig` (SigCgt in status).
bool catches(pid_t tid, int sig) {
  std::istringstream in(read_text("/proc/" + std::to_string(tid) + "/status"));
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("SigCgt:")) continue;
    unsigned long long mask = std::strtoull(line.c_str() + 7, nullptr, 16);
    return (mask >> (sig - 1)) & 1ULL;
  }
  return false;
}

/// The thread group of `tid`, from /proc (0 when gone).
pid_t tgid_of(pid_t tid) {
  std::istringstream in(read_text("/proc/" + std::to_string(tid) + "/status"));
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
  return list_ints(read_text("/proc/" + std::to_string(self) + "/task/" + std::to_string(self) + "/children"));
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

struct Regs {
  Addr pc = 0, sp = 0;
};

std::optional<Regs> read_regs(pid_t tid) {
  user_regs_struct regs{};
  iovec iov{&regs, sizeof regs};
  if (ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_PRSTATUS), &iov) != 0) return std::nullopt;
#if defined(__x86_64__)
  return Regs{regs.rip, regs.rsp};
#elif defined(__aarch64__)
  return Regs{regs.pc, regs.sp};
#else
  return std::nullopt;
#endif
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
  std::string env = read_text("/proc/" + std::to_string(pid) + "/environ");
  for (std::size_t i = 0; i < env.size();) {
    std::size_t end = env.find('\0', i);
    if (end == std::string::npos) end = env.size();
    std::string_view kv(env.data() + i, end - i);
    if (kv.starts_with(kTokenVar)) return std::string(kv.substr(kTokenVar.size()));
    i = end + 1;
  }
  return {};
}

/// A probe being run.
struct Active {
  std::size_t index = 0;
  pid_t pid = -1;  ///< leader and process group id
  int out_fd = -1, err_fd = -1;
  std::string out_buf, err_buf;
  Observation obs;
  Clock::time_point start, deadline;
  enum class Phase { starting, running, dying } phase = Phase::starting;
  std::set<pid_t> tids;
  bool captured = false;  ///< a fault was captured (ptrace stop or handler line)
  bool killed = false;    ///< we sent SIGKILL (timeout, capture, interrupt)
  std::string token;      ///< kTokenVar's value in the probe's environment
};

class Loop {
 public:
  Loop(const std::vector<Launch>& launches, const RunOptions& opts, ElfCache& elf,
       const std::function<void(std::size_t, Observation)>& done)
      : launches_(launches), opts_(opts), elf_(elf), done_(done) {}

  int run();

 private:
  void start(std::size_t i);
  void reap();
  void handle_status(Active& a, pid_t tid, int status);
  void on_stop(Active& a, pid_t tid, int status);
  void capture_ptrace(Active& a, pid_t tid, const siginfo_t& si);
  void annotate(Active& a, std::optional<ThreadInfo> faulting);
  void read_pipe(Active& a, int& fd, std::string& buf, bool is_stdout);
  void on_line(Active& a, std::string_view line);
  void kill_group(Active& a);
  void finish(Active& a);
  void sweep_orphans(bool final = false);
  void interrupt_all(int sig);
  Active* find(pid_t tid);

  const std::vector<Launch>& launches_;
  const RunOptions& opts_;
  ElfCache& elf_;
  const std::function<void(std::size_t, Observation)>& done_;
  std::vector<std::unique_ptr<Active>> active_;
  int devnull_ = -1;
  int interrupted_ = 0;
};

Active* Loop::find(pid_t tid) {
  for (auto& a : active_)
    if (a->pid == tid || a->tids.contains(tid)) return a.get();
  return nullptr;
}

void Loop::start(std::size_t i) {
  const Launch& l = launches_[i];
  auto a = std::make_unique<Active>();
  a->index = i;
  a->start = Clock::now();
  a->deadline = a->start + std::chrono::microseconds(static_cast<long long>(l.timeout * 1e6));
  a->obs.capture = opts_.capture == Capture::ptrace ? "ptrace" : "handler";
  const bool ptraced = opts_.capture == Capture::ptrace;

  // Everything the child needs, prepared before fork.
  std::string program = l.body ? std::string() : resolve_program(l.argv.at(0));
  std::vector<char*> argv;
  for (const auto& s : l.argv) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e)
    if (!std::string_view(*e).starts_with("VMA_PROBE_HANDLER=") && !std::string_view(*e).starts_with(kTokenVar))
      env_store.emplace_back(*e);
  if (!ptraced) env_store.emplace_back("VMA_PROBE_HANDLER=1");
  a->token = std::to_string(getpid()) + ":" + std::to_string(i);
  env_store.push_back(std::string(kTokenVar) + a->token);
  std::vector<char*> envp;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);

  int out[2], err[2], fail[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 || pipe2(fail, O_CLOEXEC) != 0) {
    a->obs.error = "pipe2: " + errno_text(errno);
    done_(i, std::move(a->obs));
    return;
  }
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    a->obs.error = "fork: " + errno_text(errno);
    for (int fd : {out[0], out[1], err[0], err[1], fail[0], fail[1]}) close(fd);
    done_(i, std::move(a->obs));
    return;
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    auto die = [&](int stage) {
      ChildFailure f{stage, errno};
      (void)!write(fail[1], &f, sizeof f);
      _exit(127);
    };
    setpgid(0, 0);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s)
      if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(devnull_, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    if (opts_.drop_to) {
      if (setgroups(0, nullptr) != 0) die(kStageSetgroups);
      if (setgid(opts_.drop_to->second) != 0) die(kStageSetgid);
      if (setuid(opts_.drop_to->first) != 0) die(kStageSetuid);
    }
    // After setuid: changing credentials clears the parent-death signal.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die(kStagePdeath);
    if (getppid() != parent) _exit(127);
    if (ptraced && ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) die(kStageTraceme);
    if (l.body) {
      if (ptraced) raise(SIGSTOP);
      _exit(l.body());
    }
    execve(program.c_str(), argv.data(), envp.data());
    die(kStageExec);
  }
  setpgid(pid, pid);  // also in the parent: no window where kill(-pid) misses
  close(out[1]);
  close(err[1]);
  close(fail[1]);
  a->pid = pid;
  a->tids.insert(pid);
  a->out_fd = out[0];
  a->err_fd = err[0];
  fcntl(a->out_fd, F_SETFL, O_NONBLOCK);
  fcntl(a->err_fd, F_SETFL, O_NONBLOCK);
  if (!l.body) {
    // EOF when execve succeeded (the pipe is CLOEXEC), a ChildFailure otherwise.
    ChildFailure f{};
    ssize_t n;
    do n = read(fail[0], &f, sizeof f);
    while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(sizeof f)) {
      std::string what = f.stage == kStageExec ? "cannot execute " + program : stage_name(f.stage);
      a->obs.error = what + ": " + errno_text(f.err);
      if (f.stage == kStageExec && f.err == EACCES && opts_.drop_to)
        *a->obs.error += " as uid " + std::to_string(opts_.drop_to->first) +
                         " (make the path readable by others, or use --as-root)";
      a->phase = Active::Phase::dying;
      a->killed = true;
    }
  }
  close(fail[0]);
  active_.push_back(std::move(a));
}

void Loop::kill_group(Active& a) {
  kill(-a.pid, SIGKILL);
  kill(a.pid, SIGKILL);
  a.killed = true;
  a.phase = Active::Phase::dying;
  // A process that does not die (stuck in D state) is given up on after 5 s.
  a.deadline = Clock::now() + std::chrono::seconds(5);
}

void Loop::annotate(Active& a, std::optional<ThreadInfo> faulting) {
  auto src = ProcSource::open(a.pid);
  if (!src) {
    a.obs.notes.push_back("could not read the probe's map: " + src.error().message);
    return;
  }
  if (faulting) {
    // The faulting thread is stopped and its SP known; the others run on.
    std::vector<ThreadInfo> threads;
    for (pid_t t : threads_of(a.pid))
      threads.push_back(t == faulting->tid ? *faulting : ThreadInfo{t, std::nullopt});
    (*src)->set_threads(std::move(threads));
  }
  auto at = [&](Addr addr) -> std::optional<Annotation> {
    auto r = whereis(**src, addr, elf_);
    if (!r) {
      a.obs.notes.push_back("whereis " + hex(addr) + ": " + r.error().message);
      return std::nullopt;
    }
    return std::move(r.value());
  };
  Observation& o = a.obs;
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

void Loop::capture_ptrace(Active& a, pid_t tid, const siginfo_t& si) {
  Observation& o = a.obs;
  o.outcome = Outcome::fault;
  o.signo = si.si_signo;
  o.code = si.si_code;
  if (has_addr(si.si_signo)) o.addr = reinterpret_cast<Addr>(si.si_addr);
  std::optional<ThreadInfo> faulting;
  if (auto regs = read_regs(tid)) {
    o.pc = regs->pc;
    faulting = ThreadInfo{tid, regs->sp};
  }
  if (tid != a.pid) o.notes.push_back("faulting thread " + std::to_string(tid));
  // Any output the probe wrote before faulting (the target line) is in the pipe.
  read_pipe(a, a.out_fd, a.out_buf, true);
  annotate(a, faulting);
  a.captured = true;
  kill_group(a);
}

void Loop::on_stop(Active& a, pid_t tid, int status) {
  const int sig = WSTOPSIG(status);
  const int event = status >> 16;
  auto cont = [&](int deliver) { ptrace(PTRACE_CONT, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(deliver))); };
  if (a.phase == Active::Phase::dying) return;  // SIGKILL is on its way
  if (event != 0) {
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

void Loop::handle_status(Active& a, pid_t tid, int status) {
  if (WIFSTOPPED(status)) {
    on_stop(a, tid, status);
    return;
  }
  if (tid != a.pid) {
    a.tids.erase(tid);
    return;
  }
  // The leader is reaped: the whole thread group is gone.
  Observation& o = a.obs;
  if (!a.captured && !a.killed) {
    if (WIFEXITED(status)) {
      o.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      // Died without a capture: handler mode without a handler, or a
      // signal ptrace never showed us (SIGKILL from outside).
      o.outcome = Outcome::fault;
      o.signo = WTERMSIG(status);
      o.term_signal = WTERMSIG(status);
      o.capture = "wait";
    }
  }
  finish(a);
}

void Loop::read_pipe(Active& a, int& fd, std::string& buf, bool is_stdout) {
  if (fd < 0) return;
  char chunk[4096];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;  // EAGAIN: nothing more now
    if (n == 0) {
      close(fd);
      fd = -1;
      break;
    }
    buf.append(chunk, static_cast<std::size_t>(n));
    if (!is_stdout) {
      if (buf.size() > 8192) buf.erase(0, buf.size() - 8192);
      continue;
    }
    std::size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      on_line(a, line);
    }
    if (buf.size() > 65536) buf.clear();  // a runaway line: drop it
  }
  if (is_stdout && !buf.empty()) {
    on_line(a, buf);
    buf.clear();
  }
}

void Loop::on_line(Active& a, std::string_view line) {
  Observation& o = a.obs;
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
  } else if (line.starts_with("fault ") && opts_.capture == Capture::handler && !a.captured &&
             a.phase != Active::Phase::dying) {
    // fault signo=<n> code=<n> addr=0x<hex> pc=0x<hex>, from the probe's handler.
    std::istringstream in{std::string(line.substr(6))};
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
    annotate(a, std::nullopt);
    a.captured = true;
    kill_group(a);
  } else if (!line.empty() && o.notes.size() < 32) {
    o.notes.push_back("stdout: " + std::string(line));
  }
}

void Loop::finish(Active& a) {
  read_pipe(a, a.out_fd, a.out_buf, true);
  read_pipe(a, a.err_fd, a.err_buf, false);
  for (int* fd : {&a.out_fd, &a.err_fd})
    if (*fd >= 0) {
      close(*fd);
      *fd = -1;
    }
  // Whatever is left of the group (children, grandchildren) dies with it.
  kill(-a.pid, SIGKILL);
  a.obs.stderr_text = a.err_buf;
  a.obs.seconds = std::chrono::duration<double>(Clock::now() - a.start).count();
  std::size_t index = a.index;
  Observation obs = std::move(a.obs);
  active_.erase(std::find_if(active_.begin(), active_.end(), [&](auto& p) { return p.get() == &a; }));
  sweep_orphans();
  done_(index, std::move(obs));
}

void Loop::sweep_orphans(bool final) {
  for (pid_t child : my_children()) {
    bool is_probe = std::any_of(active_.begin(), active_.end(), [&](auto& a) { return a->pid == child; });
    if (is_probe) continue;
    // An orphan re-parented here: spare it while the probe it came from
    // still runs (its environment names the probe), kill it otherwise.
    std::string token = probe_token_of(child);
    if (!final) {
      if (!token.empty() &&
          std::any_of(active_.begin(), active_.end(), [&](auto& a) { return a->token == token; }))
        continue;
      if (token.empty() && !active_.empty()) continue;  // cannot tell yet: at the end
    }
    kill(-child, SIGKILL);  // it may lead a group of its own (setsid)
    kill(child, SIGKILL);
  }
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
      sweep_orphans();  // an orphan died; its own children are ours now
      continue;
    }
    handle_status(*a, w, status);
  }
}

void Loop::interrupt_all(int sig) {
  interrupted_ = sig;
  for (auto& a : active_) {
    if (!a->obs.error) a->obs.error = "interrupted by " + signal_name(sig);
    kill_group(*a);
  }
}

int Loop::run() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigset_t old;
  sigprocmask(SIG_BLOCK, &mask, &old);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  devnull_ = open("/dev/null", O_RDWR | O_CLOEXEC);
  prctl(PR_SET_CHILD_SUBREAPER, 1);

  std::size_t next = 0;
  const unsigned jobs = std::max(1u, opts_.jobs);
  for (;;) {
    while (!interrupted_ && active_.size() < jobs && next < launches_.size()) start(next++);
    if (active_.empty() && (interrupted_ || next >= launches_.size())) break;

    auto now = Clock::now();
    auto soonest = Clock::time_point::max();
    for (auto& a : active_) soonest = std::min(soonest, a->deadline);
    int wait_ms = soonest <= now ? 0
                                 : static_cast<int>(std::min<long long>(
                                       std::chrono::duration_cast<std::chrono::milliseconds>(soonest - now).count() + 1,
                                       250));  // SIGCHLD taken by another thread: poll anyway
    std::vector<pollfd> fds{{sfd, POLLIN, 0}};
    std::vector<std::pair<Active*, bool>> owners{{nullptr, false}};
    for (auto& a : active_) {
      if (a->out_fd >= 0) { fds.push_back({a->out_fd, POLLIN, 0}); owners.emplace_back(a.get(), true); }
      if (a->err_fd >= 0) { fds.push_back({a->err_fd, POLLIN, 0}); owners.emplace_back(a.get(), false); }
    }
    int n = poll(fds.data(), fds.size(), wait_ms);
    if (n < 0 && errno != EINTR) break;

    if (fds[0].revents & POLLIN) {
      signalfd_siginfo ssi;
      while (read(sfd, &ssi, sizeof ssi) == static_cast<ssize_t>(sizeof ssi)) {
        int sig = static_cast<int>(ssi.ssi_signo);
        if ((sig == SIGINT || sig == SIGTERM) && !interrupted_) interrupt_all(sig);
      }
    }
    for (std::size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Active* a = owners[i].first;
      if (std::none_of(active_.begin(), active_.end(), [&](auto& p) { return p.get() == a; })) continue;
      if (owners[i].second) read_pipe(*a, a->out_fd, a->out_buf, true);
      else read_pipe(*a, a->err_fd, a->err_buf, false);
    }
    reap();

    now = Clock::now();
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

  // Nothing may outlive the run: kill and reap every orphan, for up to 2 s.
  auto give_up = Clock::now() + std::chrono::seconds(2);
  while (Clock::now() < give_up) {
    sweep_orphans(true);
    while (waitpid(-1, nullptr, WNOHANG | __WALL) > 0) {}
    if (my_children().empty()) break;
    usleep(5000);
  }
  close(sfd);
  close(devnull_);
  // SIGINT/SIGTERM stay blocked (the caller checks for late ones); SIGCHLD
  // goes back to what it was.
  if (sigismember(&old, SIGCHLD) == 0) {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &chld, nullptr);
  }
  return interrupted_;
}

}  // namespace

bool ptrace_permitted() {
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) _exit(1);
    raise(SIGSTOP);
    _exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  bool ok = WIFSTOPPED(status);
  kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  return ok;
}

int run_probes(const std::vector<Launch>& launches, const RunOptions& opts, ElfCache& elf_cache,
               const std::function<void(std::size_t, Observation)>& done) {
  Loop loop(launches, opts, elf_cache, done);
  return loop.run();
}

}  // namespace vma::harness
