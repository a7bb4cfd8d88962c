// Where `vma map --pid PID` spends its time, phase by phase, inside one
// process (issue 8: find out why a target is missed). Used by bench/run.py:
//
//   vma-bench-map-phases PID REPS
//
// Prints JSON: for each phase a list of REPS durations in seconds:
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

#include <chrono>
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

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: vma-bench-map-phases PID REPS\n");
    return 2;
  }
  const int pid = std::atoi(argv[1]);
  const int reps = std::atoi(argv[2]);
  std::vector<double> t_read, t_parse, t_snap, t_snap_noguard, t_build, t_render, t_json;
  std::size_t regions = 0, text_bytes = 0, out_bytes = 0;
  vma::ElfCache cache;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    std::string text = read_maps(pid);
    t_read.push_back(since(t0));
    text_bytes = text.size();
    t0 = Clock::now();
    auto parsed = vma::parse_maps(text, "maps");
    t_parse.push_back(since(t0));
    if (!parsed) {
      std::fprintf(stderr, "vma-bench-map-phases: %s\n", parsed.error().message.c_str());
      return 1;
    }
    auto src = vma::ProcSource::open(pid);
    if (!src) {
      std::fprintf(stderr, "vma-bench-map-phases: %s\n", src.error().message.c_str());
      return 1;
    }
    t0 = Clock::now();
    auto snap = (*src)->snapshot();
    t_snap.push_back(since(t0));
    if (!snap) {
      std::fprintf(stderr, "vma-bench-map-phases: %s\n", snap.error().message.c_str());
      return 1;
    }
    {
      vma::ProcOptions no_guard;
      no_guard.scan_guard_pages = false;
      auto src2 = vma::ProcSource::open(pid, no_guard);
      if (!src2) return 1;
      t0 = Clock::now();
      auto snap2 = (*src2)->snapshot();
      t_snap_noguard.push_back(since(t0));
    }
    t0 = Clock::now();
    vma::AddressMap map = vma::AddressMap::build(std::move(snap).value(), cache);
    t_build.push_back(since(t0));
    regions = map.regions().size();
    t0 = Clock::now();
    std::string out = vma::map_text(map, {}, {});
    t_render.push_back(since(t0));
    out_bytes = out.size();
    t0 = Clock::now();
    std::string js = vma::map_json(map, {}).dump(2);
    t_json.push_back(since(t0));
  }
  auto list = [](const std::vector<double>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
  };
  std::printf(
      "{\"regions\": %zu, \"maps_bytes\": %zu, \"text_bytes\": %zu, \"read\": %s, \"parse\": %s, \"snapshot\": %s, "
      "\"snapshot_noguard\": %s, \"build\": %s, \"render\": %s, \"json\": %s}\n",
      regions, text_bytes, out_bytes, list(t_read).c_str(), list(t_parse).c_str(), list(t_snap).c_str(), list(t_snap_noguard).c_str(),
      list(t_build).c_str(), list(t_render).c_str(), list(t_json).c_str());
  return 0;
}
