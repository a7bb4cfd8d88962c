// Parse throughput and peak memory of core's maps parser on a big file
// (issue 8, item 3). Used by bench/run.py:
//
//   vma-bench-parse generate LINES FILE   write LINES lines of synthetic maps
//   vma-bench-parse parse FILE REPS       parse FILE REPS times; print JSON
//
// `parse` prints {"bytes", "lines", "seconds": [per rep], "maxrss_kib_loaded"
// (peak RSS with the text read, before parsing), "maxrss_kib" (peak RSS after
// parsing)}. Each rep's result is freed before the next, so the peak is one
// file's text plus one parsed vector.

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "maps_parser.h"
#include "synthetic_maps.h"

namespace {

long maxrss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

int usage() {
  std::fprintf(stderr, "usage: vma-bench-parse generate LINES FILE | parse FILE REPS\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) return usage();
  const std::string cmd = argv[1];
  if (cmd == "generate") {
    const std::string text = vma::bench::synthetic_maps(std::strtoull(argv[2], nullptr, 10));
    std::ofstream out(argv[3], std::ios::binary);
    out << text;
    return out ? 0 : 1;
  }
  if (cmd != "parse") return usage();
  std::ifstream in(argv[2], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "vma-bench-parse: cannot read %s\n", argv[2]);
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = std::move(ss).str();
  const long loaded = maxrss_kib();
  const int reps = std::atoi(argv[3]);
  std::vector<double> secs;
  std::size_t lines = 0;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = vma::parse_maps(text, argv[2]);
    auto t1 = std::chrono::steady_clock::now();
    if (!r) {
      std::fprintf(stderr, "vma-bench-parse: %s\n", r.error().message.c_str());
      return 1;
    }
    lines = r->size();
    secs.push_back(std::chrono::duration<double>(t1 - t0).count());
  }
  std::printf("{\"bytes\": %zu, \"lines\": %zu, \"maxrss_kib_loaded\": %ld, \"maxrss_kib\": %ld, \"seconds\": [",
              text.size(), lines, loaded, maxrss_kib());
  for (std::size_t i = 0; i < secs.size(); ++i) std::printf("%s%.9f", i ? ", " : "", secs[i]);
  std::printf("]}\n");
  return 0;
}
