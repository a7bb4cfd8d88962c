// Micro-benchmarks of core/ (issue 8, item 4 and the parser half of item 3):
// AddressMap::find on a 100k-region map, AddressMap::build (classification)
// of 100k regions, parse_maps throughput. Google Benchmark; bench/run.py runs
// it with --benchmark_format=json.

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "address_map.h"
#include "draw.h"
#include "maps_parser.h"
#include "render.h"
#include "synthetic_maps.h"

namespace {

constexpr std::size_t kRegions = 100000;

vma::Snapshot snapshot_of(std::vector<vma::Mapping> mappings) {
  vma::Snapshot s;
  s.mappings = std::move(mappings);
  s.target = vma::Target::host();
  s.source = "bench";
  return s;
}

std::vector<vma::Mapping> parse_or_die(const std::string& text, const char* what) {
  auto r = vma::parse_maps(text, what);
  if (!r) {
    std::fprintf(stderr, "core_bench: %s\n", r.error().message.c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

/// 100k regions shaped like a big shared-library-heavy process: 10k libraries
/// (paths that do not exist here, so classification goes by permissions).
const vma::Snapshot& synthetic_snapshot() {
  static const vma::Snapshot s = snapshot_of(parse_or_die(vma::bench::synthetic_maps(kRegions), "synthetic"));
  return s;
}

/// This process's own map (real ELF files: the executable, libc, libstdc++)
/// plus alternating anonymous pages up to 100k regions, as
/// bench/many_vmas.c makes them: what `vma map --pid` sees at 100k VMAs.
const vma::Snapshot& many_vmas_snapshot() {
  static const vma::Snapshot s = [] {
    std::ifstream f("/proc/self/maps");
    std::stringstream ss;
    ss << f.rdbuf();
    std::vector<vma::Mapping> own = parse_or_die(ss.str(), "/proc/self/maps");
    std::vector<vma::Mapping> out;
    // The anonymous block goes below everything else in the map.
    vma::Addr a = 0x10000000;
    const std::size_t n = kRegions > own.size() ? kRegions - own.size() : 0;
    for (std::size_t i = 0; i < n; ++i) {
      vma::Mapping m;
      m.range = {a, a + 4096};
      m.perms = (i % 2 == 0) ? (vma::Perms::read | vma::Perms::write) : vma::Perms::read;
      out.push_back(m);
      a += 4096;
    }
    for (auto& m : own) out.push_back(std::move(m));
    return snapshot_of(std::move(out));
  }();
  return s;
}

void BM_Find(benchmark::State& state, const vma::Snapshot& (*make)()) {
  vma::ElfCache cache;
  const vma::AddressMap map = vma::AddressMap::build(make(), cache);
  const auto& regions = map.regions();
  // Addresses spread over the whole mapped span (mostly hits, some gaps).
  std::mt19937_64 rng(42);
  const vma::Addr lo = regions.front().mapping.range.start;
  const vma::Addr hi = regions.back().mapping.range.end;
  std::vector<vma::Addr> addrs(1 << 16);
  for (std::size_t i = 0; i < addrs.size(); ++i) {
    // Half uniform over the span (which is dominated by the big gaps), half a
    // random region's interior.
    if (i % 2 == 0) addrs[i] = lo + rng() % (hi - lo);
    else {
      const auto& r = regions[rng() % regions.size()].mapping.range;
      addrs[i] = r.start + rng() % r.size();
    }
  }
  std::size_t i = 0, hits = 0;
  for (auto _ : state) {
    const vma::Region* r = map.find(addrs[i++ & (addrs.size() - 1)]);
    hits += r != nullptr;
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["regions"] = static_cast<double>(regions.size());
  state.counters["hit_ratio"] = static_cast<double>(hits) / static_cast<double>(std::max<std::size_t>(1, i));
}
BENCHMARK_CAPTURE(BM_Find, synthetic_100k, synthetic_snapshot);
BENCHMARK_CAPTURE(BM_Find, many_vmas_100k, many_vmas_snapshot);

void BM_Build(benchmark::State& state, const vma::Snapshot& (*make)()) {
  const vma::Snapshot& snap = make();
  vma::ElfCache cache;  // shared across iterations: ELF files parsed once, as in a session
  std::size_t n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    vma::Snapshot copy = snap;
    state.ResumeTiming();
    vma::AddressMap map = vma::AddressMap::build(std::move(copy), cache);
    n = map.regions().size();
    benchmark::DoNotOptimize(map);
    state.PauseTiming();
    { vma::AddressMap drop = std::move(map); }  // destruction is not classification
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.counters["regions"] = static_cast<double>(n);
}
BENCHMARK_CAPTURE(BM_Build, synthetic_100k, synthetic_snapshot)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Build, many_vmas_100k, many_vmas_snapshot)->Unit(benchmark::kMillisecond);

void BM_ParseMaps(benchmark::State& state) {
  const std::string text = vma::bench::synthetic_maps(static_cast<std::size_t>(state.range(0)));
  std::size_t n = 0;
  for (auto _ : state) {
    auto r = vma::parse_maps(text, "synthetic");
    n = r ? r->size() : 0;
    benchmark::DoNotOptimize(r);
  }
  if (n != static_cast<std::size_t>(state.range(0))) state.SkipWithError("parse_maps failed or lost lines");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
// `vma map` text: core's map_text (no colour, no filter, no gaps: what
// `vma map --pid` prints).
void BM_MapText(benchmark::State& state, const vma::Snapshot& (*make)()) {
  vma::ElfCache cache;
  const vma::AddressMap map = vma::AddressMap::build(make(), cache);
  const std::string want = vma::map_text(map, {}, {});
  for (auto _ : state) {
    std::string out = vma::map_text(map, {}, {});
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * map.regions().size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * want.size()));
  state.counters["regions"] = static_cast<double>(map.regions().size());
}
BENCHMARK_CAPTURE(BM_MapText, many_vmas_100k, many_vmas_snapshot)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MapText, synthetic_100k, synthetic_snapshot)->Unit(benchmark::kMillisecond);

// `vma map --draw` at 80x40: layout (segments, folding, rows) and text.
void BM_Draw(benchmark::State& state, const vma::Snapshot& (*make)()) {
  vma::ElfCache cache;
  const vma::AddressMap map = vma::AddressMap::build(make(), cache);
  vma::DrawOptions o;  // 80x40
  for (auto _ : state) {
    std::string out = vma::draw_text(vma::layout_map(map, o), false);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * map.regions().size()));
  state.counters["regions"] = static_cast<double>(map.regions().size());
}
BENCHMARK_CAPTURE(BM_Draw, many_vmas_100k, many_vmas_snapshot)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Draw, synthetic_100k, synthetic_snapshot)->Unit(benchmark::kMillisecond);

BENCHMARK(BM_ParseMaps)->Arg(500000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
