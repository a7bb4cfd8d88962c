#pragma once
/// \file
/// Address-space layout randomisation, measured: the regions a program sees
/// (one enum, one table) and how many bits of randomness a set of sampled
/// addresses shows. The samples come from fresh execs (a fork inherits its
/// parent's layout); collecting them is the front end's job
/// (harness/aslr.h), judging them is this file's.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace vma {

/// The regions `vma-harness aslr` reports, in report order. The names are a
/// contract (issue 6).
enum class AslrRegion {
  stack,         ///< a local of main: stack top plus arch_align_stack's sub-page shift
  pie,           ///< main of a PIE executable: its load bias
  heap,          ///< first brk allocation of a PIE executable
  heap_exec,     ///< first brk allocation of an ET_EXEC (-no-pie) executable
  mmap,          ///< a small anonymous mmap: mmap_base
  mmap_big,      ///< a 2 MiB anonymous mmap: mmap_base, THP-aligned
  shlib,         ///< a libc function
  vdso,          ///< the vDSO (AT_SYSINFO_EHDR)
  arg,           ///< argv[0]'s string, at the top of the stack
  thread_stack,  ///< a local of a pthread: an mmap'd stack
  shlib_delta,   ///< libc function minus main: what a leak of one gives of the other
};

struct AslrRegionInfo {
  AslrRegion region;
  std::string_view name;     ///< "heap-exec", "shlib-delta"
  std::string_view meaning;  ///< one line for the report
};

/// Every region, in enum order.
std::span<const AslrRegionInfo> aslr_regions();
const AslrRegionInfo& info(AslrRegion r);
std::string_view to_string(AslrRegion r);
std::optional<AslrRegion> parse_aslr_region(std::string_view name);

/// paxtest's "quality bits" (randbody.c, paxtest 0.9.15): the bits that
/// differ between samples, less those among them set in at most 35 % or at
/// least 65 % of the samples (integer thresholds N*35/100 and N*65/100, as
/// paxtest computes them). Counts every bit of the 64, sub-page ones too.
/// 0 for fewer than two samples or when all are equal.
unsigned paxtest_bits(std::span<const std::uint64_t> samples);

/// A stricter estimate: the Shannon entropy of the page number
/// (address / page_size, less the lowest sampled page number), as the sum
/// over its bits of each bit's binary entropy H(p) = -p log2 p - (1-p)
/// log2 (1-p), p the share of samples with the bit set. Entropy does not
/// change under a shift; subtracting the lowest page removes the carries a
/// uniform offset makes into the bits above it when added to an unaligned
/// base (PIE: 0x555555554000 + offset), which would otherwise count as
/// extra, correlated bits.
///
/// Stricter than paxtest_bits because the offset inside the page does not
/// count (the stack's 16-byte-aligned sub-page shift, malloc's header) and
/// a biased bit counts for its entropy, not 0 or 1. Why per bit and not the
/// entropy of whole page numbers: with N samples the plug-in entropy of the
/// values can never exceed log2 N (10.6 bits at 1,500), so it rates a 28-bit
/// and a 13-bit region alike; a bit's share needs far fewer samples (at
/// 1,500, within +-2.6 % at 95 % confidence). The sum is exact when the
/// bits are independent, as they are for the kernel's uniform page offsets
/// (get_random_long() masked to mmap_rnd_bits, shifted by PAGE_SHIFT); for
/// correlated bits it is an upper bound. Bits whose share is 0 or 1 add 0.
/// `page_size` must be a power of two.
double page_entropy_bits(std::span<const std::uint64_t> samples, std::uint64_t page_size);

}  // namespace vma
