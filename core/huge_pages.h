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

/// Faults [p, p + bytes) in with one madvise(MADV_POPULATE_WRITE) (Linux
/// 5.14) instead of a page fault per page as the array fills: for an array
/// about to be written whole. A hint: older kernels refuse it (EINVAL) and
/// the pages fault in as they are touched.
inline void populate_for_writing(const void* p, std::size_t bytes) {
#ifdef MADV_POPULATE_WRITE
  constexpr std::uintptr_t kPage = 4096;
  const auto begin = (reinterpret_cast<std::uintptr_t>(p) + kPage - 1) & ~(kPage - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(kPage - 1);
  if (end >= begin + 16 * kPage) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
#else
  (void)p;
  (void)bytes;
#endif
}

}  // namespace vma
