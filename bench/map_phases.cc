// Where `vma map --pid PID` spends its time, phase by phase, inside one
// process (issue 8: find out why a target is missed). Used by bench/run.py:
//
//   vma-bench-map-phases PID REPS
//
// Prints JSON: for each phase a list of REPS durations in seconds of wall
// clock, and under "cpu" the same phases in CPU seconds of the whole process
// (user + sys of every thread, CLOCK_PROCESS_CPUTIME_ID):
//   "read"    read /proc/PID/maps (the same pread loop ProcSource uses: what
//             `cat` pays, without cat's process start),
//   "parse"   core's parse_maps on that text,
//   "snapshot" ProcSource::snapshot(): read and parse overlapped, threads, and
//             the guard scan beside them (PAGEMAP_SCAN),
//   "snapshot_noguard" the same without the pagemap guard-page scan,
//   "build"   AddressMap::build (classification),
//   "render"  map_text (the CLI's text output),
//   "json"    map_json + dump (the CLI's --json output).

#include <fcntl.h>
#include <unistd.h>

#include <time.h>

#include <chrono>
#include <map>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "address_map.h"
#include "maps_parser.h"
#include "proc_source.h"
#include "render.h"

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// Wall and CPU seconds of each phase, one entry a repetition.
struct Phases {
  std::map<std::string, std::vector<double>> wall, cpu;
  Clock::time_point t0;
  double c0 = 0;
  void start() {
    t0 = Clock::now();
    c0 = cpu_now();
  }
  void stop(const std::string& name) {
    cpu[name].push_back(cpu_now() - c0);
    wall[name].push_back(since(t0));
  }
};

std::string read_maps(int pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/maps";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::perror(path.c_str());
    std::exit(1);
  }
  std::string out;
  std::size_t off = 0;
  for (;;) {
    out.resize(off + (1 << 20));
    ssize_t n = pread(fd, out.data() + off, 1 << 20, static_cast<off_t>(off));
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  out.resize(off);
  close(fd);
  return out;
}

}  // namespace

/// The JSON of one set of phases: {"read": [..], ...}.
std::string phase_json(const std::map<std::string, std::vector<double>>& m) {
  std::string s = "{";
  for (const auto& [name, v] : m) {
    s += (s.size() > 1 ? ", \"" : "\"") + name + "\": [";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    s += "]";
  }
  return s + "}";
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: vma-bench-map-phases PID REPS\n");
    return 2;
  }
  const int pid = std::atoi(argv[1]);
  const int reps = std::atoi(argv[2]);
  Phases ph;
  std::size_t regions = 0, text_bytes = 0, out_bytes = 0;
  vma::ElfCache cache;
  for (int i = 0; i < reps; ++i) {
    ph.start();
    std::string text = read_maps(pid);
    ph.stop("read");
    text_bytes = text.size();
    ph.start();
    auto parsed = vma::parse_maps(text, "maps");
    ph.stop("parse");
    if (!parsed) {
      std::fprintf(stderr, "vma-bench-map-phases: %s\n", parsed.error().message.c_str());
      return 1;
    }
    auto src = vma::ProcSource::open(pid);
    if (!src) {
      std::fprintf(stderr, "vma-bench-map-phases: %s\n", src.error().message.c_str());
      return 1;
    }
    ph.start();
    auto snap = (*src)->snapshot();
    ph.stop("snapshot");
    if (!snap) {
      std::fprintf(stderr, "vma-bench-map-phases: %s\n", snap.error().message.c_str());
      return 1;
    }
    {
      vma::ProcOptions no_guard;
      no_guard.scan_guard_pages = false;
      auto src2 = vma::ProcSource::open(pid, no_guard);
      if (!src2) return 1;
      ph.start();
      auto snap2 = (*src2)->snapshot();
      ph.stop("snapshot_noguard");
    }
    ph.start();
    vma::AddressMap map = vma::AddressMap::build(std::move(snap).value(), cache);
    ph.stop("build");
    regions = map.regions().size();
    ph.start();
    std::string out = vma::map_text(map, {}, {});
    ph.stop("render");
    out_bytes = out.size();
    ph.start();
    std::string js = vma::map_json(map, {}).dump(2);
    ph.stop("json");
  }
  std::string wall = phase_json(ph.wall);
  std::printf("{\"regions\": %zu, \"maps_bytes\": %zu, \"text_bytes\": %zu, %s, \"cpu\": %s}\n", regions, text_bytes,
              out_bytes, wall.substr(1, wall.size() - 2).c_str(), phase_json(ph.cpu).c_str());
  return 0;
}
