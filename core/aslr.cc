#include "aslr.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cmath>
#include <vector>

namespace vma {
namespace {

constexpr AslrRegionInfo kRegions[] = {
    {AslrRegion::stack, "stack", "a local variable of main"},
    {AslrRegion::pie, "pie", "main() of a PIE executable"},
    {AslrRegion::heap, "heap", "first malloc (brk) of a PIE executable"},
    {AslrRegion::heap_exec, "heap-exec", "first malloc (brk) of a non-PIE executable"},
    {AslrRegion::mmap, "mmap", "4 KiB anonymous mmap"},
    {AslrRegion::mmap_big, "mmap-big", "2 MiB anonymous mmap (THP-aligned on recent kernels)"},
    {AslrRegion::shlib, "shlib", "sprintf in libc"},
    {AslrRegion::vdso, "vdso", "vDSO base (AT_SYSINFO_EHDR)"},
    {AslrRegion::arg, "arg", "argv[0] string"},
    {AslrRegion::thread_stack, "thread-stack", "a local variable of a pthread"},
    {AslrRegion::shlib_delta, "shlib-delta", "libc sprintf minus main"},
};
static_assert(std::size(kRegions) == static_cast<std::size_t>(AslrRegion::shlib_delta) + 1);

double binary_entropy(double p) {
  if (p <= 0 || p >= 1) return 0;
  return -p * std::log2(p) - (1 - p) * std::log2(1 - p);
}

/// How many samples have each bit set.
std::array<std::size_t, 64> bit_counts(std::span<const std::uint64_t> samples, unsigned shift) {
  std::array<std::size_t, 64> counts{};
  for (std::uint64_t s : samples) {
    std::uint64_t v = s >> shift;
    while (v) {
      counts[std::countr_zero(v)]++;
      v &= v - 1;
    }
  }
  return counts;
}

}  // namespace

std::span<const AslrRegionInfo> aslr_regions() { return kRegions; }

const AslrRegionInfo& info(AslrRegion r) {
  const auto& i = kRegions[static_cast<std::size_t>(r)];
  assert(i.region == r);
  return i;
}

std::string_view to_string(AslrRegion r) { return info(r).name; }

std::optional<AslrRegion> parse_aslr_region(std::string_view name) {
  for (const auto& i : kRegions)
    if (i.name == name) return i.region;
  return std::nullopt;
}

unsigned paxtest_bits(std::span<const std::uint64_t> samples) {
  if (samples.size() < 2) return 0;
  const std::size_t n = samples.size();
  // Integer arithmetic as in randbody.c: COUNT * 35 / 100.
  const std::size_t low = n * 35 / 100, high = n * 65 / 100;
  const auto counts = bit_counts(samples, 0);
  unsigned bits = 0;
  for (std::size_t c : counts) {
    const bool varies = c != 0 && c != n;
    if (varies && c > low && c < high) ++bits;
  }
  return bits;
}

double page_entropy_bits(std::span<const std::uint64_t> samples, std::uint64_t page_size) {
  assert(std::has_single_bit(page_size));
  if (samples.size() < 2) return 0;
  const unsigned shift = static_cast<unsigned>(std::countr_zero(page_size));
  // Page numbers relative to the lowest: base + uniform offset carries into
  // bits above the offset's width; minus the lowest sample it does not.
  std::uint64_t lowest = UINT64_MAX;
  for (std::uint64_t s : samples) lowest = std::min(lowest, s >> shift);
  std::vector<std::uint64_t> pages;
  pages.reserve(samples.size());
  for (std::uint64_t s : samples) pages.push_back((s >> shift) - lowest);
  const auto counts = bit_counts(pages, 0);
  double h = 0;
  for (std::size_t c : counts) h += binary_entropy(static_cast<double>(c) / static_cast<double>(samples.size()));
  return h;
}

}  // namespace vma
