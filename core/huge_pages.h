#pragma once
/// \file
/// A hint for the few big arrays core fills at once (the parsed mappings and
/// the regions of a map with tens of thousands of VMAs).

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

namespace vma {

/// Asks for transparent huge pages (MADV_HUGEPAGE) on the 2 MiB-aligned part
/// of [p, p + bytes) when it spans at least one huge page; does nothing for
/// smaller arrays. Filling 60,000 regions otherwise takes some 6,000 page
/// faults, a tenth of `vma map --pid` (bench/ANALYSIS.md). Only a hint: with
/// THP off ("never") or not available it changes nothing.
inline void advise_huge_pages(const void* p, std::size_t bytes) {
  constexpr std::uintptr_t kHuge = 2u << 20;
  const auto begin = (reinterpret_cast<std::uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace vma
