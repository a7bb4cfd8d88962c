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

// Not core's code: the same lookup over a dense array of region starts (8
// bytes per region instead of one ~200-byte Region per probe), to measure
// what that layout would give AddressMap::find (see BENCHMARKS.md, item 4).
void BM_FindDenseStarts(benchmark::State& state, const vma::Snapshot& (*make)()) {
  vma::ElfCache cache;
  const vma::AddressMap map = vma::AddressMap::build(make(), cache);
  const auto& regions = map.regions();
  std::vector<vma::Addr> starts, ends;
  for (const auto& r : regions) {
    starts.push_back(r.mapping.range.start);
    ends.push_back(r.mapping.range.end);
  }
  std::mt19937_64 rng(42);
  const vma::Addr lo = starts.front(), hi = ends.back();
  std::vector<vma::Addr> addrs(1 << 16);
  for (std::size_t i = 0; i < addrs.size(); ++i) {
    if (i % 2 == 0) addrs[i] = lo + rng() % (hi - lo);
    else {
      const auto& r = regions[rng() % regions.size()].mapping.range;
      addrs[i] = r.start + rng() % r.size();
    }
  }
  auto lookup = [&](vma::Addr a) -> const vma::Region* {
    auto it = std::upper_bound(starts.begin(), starts.end(), a);
    if (it == starts.begin()) return nullptr;
    std::size_t k = static_cast<std::size_t>(it - starts.begin()) - 1;
    return a < ends[k] ? &regions[k] : nullptr;
  };
  for (vma::Addr a : addrs)
    if (lookup(a) != map.find(a)) {
      state.SkipWithError("dense lookup disagrees with AddressMap::find");
      return;
    }
  std::size_t i = 0;
  for (auto _ : state) {
    const vma::Region* r = lookup(addrs[i++ & (addrs.size() - 1)]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["regions"] = static_cast<double>(regions.size());
  state.counters["sizeof_region"] = static_cast<double>(sizeof(vma::Region));
}
BENCHMARK_CAPTURE(BM_FindDenseStarts, synthetic_100k, synthetic_snapshot);

// Not core's code either: region starts in Eytzinger (BFS) order, searched
// branch-free with the next levels prefetched; the top of the tree stays in
// cache across lookups.
void BM_FindEytzinger(benchmark::State& state, const vma::Snapshot& (*make)()) {
  vma::ElfCache cache;
  const vma::AddressMap map = vma::AddressMap::build(make(), cache);
  const auto& regions = map.regions();
  const std::size_t n = regions.size();
  std::vector<vma::Addr> tree(n + 1), ends(n);
  std::vector<std::uint32_t> index(n + 1);
  std::size_t next = 0;
  auto fill = [&](auto&& self, std::size_t k) -> void {
    if (k > n) return;
    self(self, 2 * k);
    tree[k] = regions[next].mapping.range.start;
    index[k] = static_cast<std::uint32_t>(next++);
    self(self, 2 * k + 1);
  };
  fill(fill, 1);
  for (std::size_t i = 0; i < n; ++i) ends[i] = regions[i].mapping.range.end;
  std::mt19937_64 rng(42);
  const vma::Addr lo = regions.front().mapping.range.start, hi = regions.back().mapping.range.end;
  std::vector<vma::Addr> addrs(1 << 16);
  for (std::size_t i = 0; i < addrs.size(); ++i) {
    if (i % 2 == 0) addrs[i] = lo + rng() % (hi - lo);
    else {
      const auto& r = regions[rng() % n].mapping.range;
      addrs[i] = r.start + rng() % r.size();
    }
  }
  // Largest start <= a: the Eytzinger upper bound (first start > a), minus one.
  auto lookup = [&](vma::Addr a) -> const vma::Region* {
    std::size_t k = 1;
    while (k <= n) {
      __builtin_prefetch(tree.data() + std::min(16 * k, n));
      k = 2 * k + (tree[k] <= a);
    }
    k >>= __builtin_ffsll(static_cast<long long>(~k));
    const std::size_t ub = k == 0 ? n : index[k];
    if (ub == 0) return nullptr;
    const std::size_t j = ub - 1;
    return a < ends[j] ? &regions[j] : nullptr;
  };
  for (vma::Addr a : addrs)
    if (lookup(a) != map.find(a)) {
      state.SkipWithError("Eytzinger lookup disagrees with AddressMap::find");
      return;
    }
  std::size_t i = 0;
  for (auto _ : state) {
    const vma::Region* r = lookup(addrs[i++ & (addrs.size() - 1)]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["regions"] = static_cast<double>(n);
}
BENCHMARK_CAPTURE(BM_FindEytzinger, synthetic_100k, synthetic_snapshot);

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
// `vma map` text: core's map_text, and (not core's code) the same text
// written with one fmt::format_to per line into the output buffer, no
// temporaries, and a table for the size column, checked byte for byte against
// map_text (no colour, no filter, no gaps: what `vma map --pid` prints).
std::string size_text(std::uint64_t bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (u < 6 && bytes >= (1ull << (10 * (u + 1)))) ++u;
  if (u == 0) return fmt::format("{} B", bytes);
  if (bytes % (1ull << (10 * u)) == 0) return fmt::format("{} {}", bytes >> (10 * u), units[u]);
  return vma::human_size(bytes);  // fractions: core's own rounding
}

std::string map_text_prototype(const vma::AddressMap& map) {
  const auto& rs = map.regions();
  std::string out;
  out.reserve(rs.size() * 80);
  int w = 12, kw = 12;
  for (const vma::Region& r : rs) {
    const vma::Addr e = r.mapping.range.end;
    w = std::max(w, e == 0 ? 1 : (67 - __builtin_clzll(e)) / 4);
    std::size_t k = vma::to_string(r.kind).size();
    if (r.tid && r.kind == vma::RegionKind::thread_stack) k += fmt::formatted_size(" [{}]", *r.tid);
    kw = std::max(kw, static_cast<int>(k));
  }
  auto it = std::back_inserter(out);
  fmt::format_to(it, "{:<{}}  {:<{}}  {:<4}  {:>9}  {:<{}}  {}\n", "START", w + 2, "END", w + 2, "PERM", "SIZE", "KIND",
                 kw, "NAME / NOTE");
  std::uint64_t last_size = ~0ull;
  std::string size;
  const auto& guards = map.snapshot().guard_pages;
  std::size_t g = 0;
  for (const vma::Region& r : rs) {
    const auto& m = r.mapping;
    if (m.range.size() != last_size) size = size_text(last_size = m.range.size());
    char perms[4] = {vma::has(m.perms, vma::Perms::read) ? 'r' : '-', vma::has(m.perms, vma::Perms::write) ? 'w' : '-',
                     vma::has(m.perms, vma::Perms::exec) ? 'x' : '-', vma::has(m.perms, vma::Perms::shared) ? 's' : 'p'};
    // "0x" and w zero-padded hex digits, twice, by hand: fmt's runtime width
    // parsing per field is most of the cost.
    char buf[96];
    char* p = buf;
    for (vma::Addr v : {m.range.start, m.range.end}) {
      *p++ = '0';
      *p++ = 'x';
      for (int d = w - 1; d >= 0; --d) *p++ = "0123456789abcdef"[(v >> (4 * d)) & 0xf];
      *p++ = ' ';
      *p++ = ' ';
    }
    std::memcpy(p, perms, 4);
    p += 4;
    *p++ = ' ';
    *p++ = ' ';
    for (std::size_t pad = size.size() < 9 ? 9 - size.size() : 0; pad > 0; --pad) *p++ = ' ';
    out.append(buf, static_cast<std::size_t>(p - buf));
    out += size;
    out += "  ";
    const std::size_t label_at = out.size();
    out += vma::to_string(r.kind);
    if (r.tid && r.kind == vma::RegionKind::thread_stack) fmt::format_to(it, " [{}]", *r.tid);
    out.append(static_cast<std::size_t>(kw) - std::min<std::size_t>(kw, out.size() - label_at), ' ');
    out += "  ";
    out += m.name;
    if (!r.note.empty()) {
      if (m.name.empty()) out += r.note;
      else (out += "  (") += r.note, out += ')';
    }
    out += '\n';
    while (g < guards.size() && guards[g].end <= m.range.start) ++g;
    for (std::size_t k = g; k < guards.size() && guards[k].start < m.range.end; ++k)
      fmt::format_to(it, "{:>{}}guard pages {:#x}-{:#x} (MADV_GUARD_INSTALL, {})\n", "", 2 * w + 8, guards[k].start,
                     guards[k].end, vma::human_size(guards[k].size()));
  }
  return out;
}

void BM_MapText(benchmark::State& state, const vma::Snapshot& (*make)(), bool prototype) {
  vma::ElfCache cache;
  const vma::AddressMap map = vma::AddressMap::build(make(), cache);
  const std::string want = vma::map_text(map, {}, {});
  if (prototype && map_text_prototype(map) != want) {
    state.SkipWithError("prototype output differs from map_text");
    return;
  }
  for (auto _ : state) {
    std::string out = prototype ? map_text_prototype(map) : vma::map_text(map, {}, {});
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * map.regions().size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * want.size()));
  state.counters["regions"] = static_cast<double>(map.regions().size());
}
BENCHMARK_CAPTURE(BM_MapText, core_many_vmas_100k, many_vmas_snapshot, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MapText, prototype_many_vmas_100k, many_vmas_snapshot, true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MapText, core_synthetic_100k, synthetic_snapshot, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MapText, prototype_synthetic_100k, synthetic_snapshot, true)->Unit(benchmark::kMillisecond);

BENCHMARK(BM_ParseMaps)->Arg(500000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
