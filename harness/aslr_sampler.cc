#include "aslr_sampler.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>

#include "aslr.h"
#include "signals.h"

extern char** environ;

namespace vma::harness {
namespace {

using Clock = std::chrono::steady_clock;

/// A sampler that has not exceeded this is not hung, only slow: a loaded
/// machine can delay an exec by seconds.
constexpr auto kSamplerTimeout = std::chrono::seconds(30);

/// One running sampler. The destructor kills and reaps it.
class SamplerProcess {
 public:
  SamplerProcess(pid_t pid, int fd, bool nopie) : pid_(pid), fd_(fd), nopie_(nopie), started_(Clock::now()) {}
  SamplerProcess(SamplerProcess&& o) noexcept
      : pid_(std::exchange(o.pid_, -1)), fd_(std::exchange(o.fd_, -1)), nopie_(o.nopie_),
        started_(o.started_), out_(std::move(o.out_)) {}
  SamplerProcess& operator=(SamplerProcess&& o) noexcept {
    if (this != &o) {
      release();
      pid_ = std::exchange(o.pid_, -1);
      fd_ = std::exchange(o.fd_, -1);
      nopie_ = o.nopie_;
      started_ = o.started_;
      out_ = std::move(o.out_);
    }
    return *this;
  }
  ~SamplerProcess() { release(); }

  int fd() const { return fd_; }
  bool nopie() const { return nopie_; }
  bool overdue(Clock::time_point now) const { return now - started_ > kSamplerTimeout; }
  const std::string& output() const { return out_; }

  /// Reads what is available; true at end of file.
  bool read_some() {
    char buf[4096];
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n > 0) {
      out_.append(buf, static_cast<std::size_t>(n));
      return false;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return false;
    return true;
  }

  /// Closes the pipe and reaps the process: its wait status.
  int finish() {
    close(std::exchange(fd_, -1));
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  void release() {
    if (fd_ >= 0) close(std::exchange(fd_, -1));
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(std::exchange(pid_, -1), nullptr, 0);
    }
  }

  pid_t pid_;
  int fd_;
  bool nopie_;
  Clock::time_point started_;
  std::string out_;
};

Result<SamplerProcess> spawn_sampler(const std::string& path, bool nopie) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Error{std::string("pipe: ") + std::strerror(errno)};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  // The caller may block SIGINT/SIGTERM (the run command does): samplers
  // start with an empty mask and default dispositions.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, path.c_str(), &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return Error{path + ": cannot start: " + std::strerror(rc)};
  }
  return SamplerProcess(pid, fds[0], nopie);
}

/// SIGINT or SIGTERM pending while blocked, or 0.
int pending_stop() {
  sigset_t pending;
  sigpending(&pending);
  if (sigismember(&pending, SIGINT)) return SIGINT;
  if (sigismember(&pending, SIGTERM)) return SIGTERM;
  return 0;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by " + signal_name(WTERMSIG(status));
  return "ended with wait status " + std::to_string(status);
}

}  // namespace

Result<std::pair<std::string, std::uint64_t>> parse_sampler_line(std::string_view line) {
  const std::size_t sp = line.find(' ');
  if (sp == std::string_view::npos || sp == 0)
    return Error{"aslr-sampler: malformed line '" + std::string(line) + "': expected 'region 0x...'"};
  std::string_view hex = line.substr(sp + 1);
  if (!hex.starts_with("0x") || hex.size() < 3 || hex.size() > 18)
    return Error{"aslr-sampler: malformed address in '" + std::string(line) + "'"};
  std::uint64_t v = 0;
  for (char c : hex.substr(2)) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return Error{"aslr-sampler: malformed address in '" + std::string(line) + "'"};
    v = v << 4 | static_cast<unsigned>(d);
  }
  return std::make_pair(std::string(line.substr(0, sp)), v);
}

std::vector<std::string> aslr_warnings(const Environment& env) {
  std::vector<std::string> w;
  if (env.randomize_va_space == 0)
    w.push_back("ASLR IS OFF: kernel.randomize_va_space = 0, nothing is randomised");
  else if (env.randomize_va_space == 1)
    w.push_back("ASLR IS PARTIAL: kernel.randomize_va_space = 1, the brk heap is not randomised");
  else if (env.randomize_va_space < 0)
    w.push_back("cannot read kernel.randomize_va_space");
  if (env.norandmaps) w.push_back("ASLR IS OFF: norandmaps on the kernel command line");
  if (env.addr_no_randomize)
    w.push_back("ASLR IS OFF for this process and its children: personality ADDR_NO_RANDOMIZE "
                "(setarch -R, or started by a debugger)");
  if (env.tracer_pid != 0) {
    std::ifstream comm("/proc/" + std::to_string(env.tracer_pid) + "/comm");
    std::string name;
    std::getline(comm, name);
    w.push_back("running under a tracer (pid " + std::to_string(env.tracer_pid) + (name.empty() ? "" : ", " + name) +
                "): debuggers turn ASLR off for what they launch");
  }
  return w;
}

Result<AslrReport> measure_aslr(const AslrOptions& opts, const Environment& env) {
  AslrReport report;
  report.samples = opts.samples;
  report.warnings = aslr_warnings(env);
  const auto t0 = Clock::now();
  const bool nopie = !opts.sampler_nopie.empty();
  const unsigned total = opts.samples * (nopie ? 2 : 1);
  const unsigned jobs = std::max(1u, opts.jobs);

  std::map<AslrRegion, std::vector<std::uint64_t>> samples;
  std::vector<SamplerProcess> running;
  unsigned launched = 0, done = 0;
  while (done < total) {
    if (int sig = pending_stop()) {
      report.interrupted = sig;
      break;
    }
    while (running.size() < jobs && launched < total) {
      const bool want_nopie = nopie && launched % 2 == 1;
      auto p = spawn_sampler(want_nopie ? opts.sampler_nopie : opts.sampler, want_nopie);
      if (!p) return p.error();
      running.push_back(std::move(*p));
      ++launched;
    }
    std::vector<pollfd> pfds;
    for (const auto& p : running) pfds.push_back({p.fd(), POLLIN, 0});
    int n = poll(pfds.data(), pfds.size(), 200);
    if (n < 0 && errno != EINTR) return Error{std::string("poll: ") + std::strerror(errno)};
    const auto now = Clock::now();
    for (std::size_t i = pfds.size(); i-- > 0;) {
      SamplerProcess& p = running[i];
      if (p.overdue(now))
        return Error{std::string(p.nopie() ? opts.sampler_nopie : opts.sampler) + ": no answer in " +
                     std::to_string(kSamplerTimeout.count()) + " s"};
      if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (!p.read_some()) continue;
      const int status = p.finish();
      const std::string& path = p.nopie() ? opts.sampler_nopie : opts.sampler;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return Error{path + " " + describe_status(status)};
      std::string_view out = p.output();
      while (!out.empty()) {
        const std::size_t nl = out.find('\n');
        std::string_view line = out.substr(0, nl);
        out = nl == std::string_view::npos ? std::string_view{} : out.substr(nl + 1);
        if (line.empty()) continue;
        auto parsed = parse_sampler_line(line);
        if (!parsed) return parsed.error();
        auto region = parse_aslr_region(parsed->first);
        if (!region) return Error{path + ": unknown region '" + parsed->first + "'"};
        if (p.nopie()) {
          if (*region == AslrRegion::heap) samples[AslrRegion::heap_exec].push_back(parsed->second);
        } else if (*region != AslrRegion::heap_exec) {
          samples[*region].push_back(parsed->second);
        }
      }
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
      ++done;
      if (opts.progress) opts.progress(done, total);
    }
  }
  running.clear();  // kills and reaps what an interrupt left running

  const std::uint64_t page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  bool any_varied = false;
  for (const auto& info : aslr_regions()) {
    if (info.region == AslrRegion::heap_exec && !nopie) continue;
    const auto& s = samples[info.region];
    AslrRegionResult r;
    r.region = std::string(info.name);
    r.samples = s.size();
    r.bits = paxtest_bits(s);
    r.strict_bits = std::round(page_entropy_bits(s, page) * 10) / 10;
    any_varied = any_varied || r.bits > 0;
    report.regions.push_back(std::move(r));
  }
  if (report.interrupted)
    report.warnings.push_back("interrupted by " + signal_name(report.interrupted) + " after " +
                              std::to_string(done) + " of " + std::to_string(total) + " sampler runs");
  else if (!any_varied && opts.samples >= 2 && report.warnings.empty())
    report.warnings.push_back("ASLR IS OFF: no region varied across " + std::to_string(opts.samples) +
                              " samples, for a reason not detected here");
  for (const auto& r : report.regions)
    if (!report.interrupted && r.samples < opts.samples)
      report.warnings.push_back(r.region + ": only " + std::to_string(r.samples) + " of " +
                                std::to_string(opts.samples) + " samples reported it");
  report.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return report;
}

nlohmann::json to_json(const AslrReport& r) {
  nlohmann::json regions = nlohmann::json::array();
  for (const auto& x : r.regions)
    regions.push_back({{"region", x.region}, {"bits", x.bits}, {"strict_bits", x.strict_bits}, {"samples", x.samples}});
  return {{"regions", regions}, {"warnings", r.warnings}, {"samples", r.samples}, {"seconds", r.seconds}};
}

std::string aslr_text(const AslrReport& r, bool color) {
  const char* loud = color ? "\033[1;31m" : "";
  const char* off = color ? "\033[0m" : "";
  std::string warn;
  for (const auto& w : r.warnings) warn += std::string(loud) + "WARNING: " + w + off + "\n";
  std::string s = warn.empty() ? "" : warn + "\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-13s %5s %7s %8s  %s\n", "REGION", "BITS", "STRICT", "SAMPLES", "WHAT");
  s += line;
  for (const auto& x : r.regions) {
    auto region = parse_aslr_region(x.region);
    std::snprintf(line, sizeof line, "%-13s %5u %7.1f %8zu  %s\n", x.region.c_str(), x.bits, x.strict_bits, x.samples,
                  region ? std::string(info(*region).meaning).c_str() : "");
    s += line;
  }
  std::snprintf(line, sizeof line, "\n%u samples per region in %.2f s. BITS counted as paxtest does; STRICT is the "
                                   "entropy of the page number.\n", r.samples, r.seconds);
  s += line;
  if (!warn.empty()) s += "\n" + warn;
  return s;
}

}  // namespace vma::harness
