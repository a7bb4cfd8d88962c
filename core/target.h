#pragma once
/// \file
/// What the target's address space looks like from outside any VMA: the null
/// guard, the user half, the non-canonical hole, the kernel half and its
/// fixed sub-areas. x86_64 with 4- or 5-level paging, aarch64 with 48- or
/// 52-bit VAs and top-byte-ignore. Facts: Documentation/arch/x86/x86_64/mm.rst,
/// Documentation/arch/arm64/memory.rst.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "address.h"
#include "result.h"

namespace vma {

enum class Arch { x86_64, aarch64 };

/// The target machine, as far as addresses are concerned.
struct Target {
  Arch arch = Arch::x86_64;
  /// Virtual-address bits of the user half: 47 (x86_64 4-level), 56 (LA57),
  /// 48 or 52 (aarch64).
  unsigned va_bits = 47;
  /// False when the source cannot tell the VA width: a core file records no
  /// paging mode, and a core with no mapping above 47 (48) bits may come from
  /// a 4-level or a 5-level (52-bit) machine. va_bits is then the narrower
  /// reading and other_reading() the wider one; front ends answer with both.
  bool va_bits_known = true;
  /// vm.mmap_min_addr; addresses below it are the null guard.
  Addr mmap_min_addr = 4096;
  std::uint64_t page_size = 4096;

  /// The machine this code runs on: uname, /proc/cpuinfo (la57),
  /// /proc/sys/vm/mmap_min_addr, sysconf(_SC_PAGESIZE).
  static Target host();
  /// Parses "x86_64", "x86_64-la57" (5-level), "aarch64", "aarch64-52".
  static Result<Target> parse(std::string_view name);
  std::string name() const;

  /// The same target with the wider VA width, when va_bits is not known.
  std::optional<Target> other_reading() const;

  /// One past the highest user address.
  Addr user_end() const;
  /// Lowest kernel-half address.
  Addr kernel_start() const;
};

/// Where an address lies when no VMA holds it.
struct OutsideInfo {
  enum class Where { null_page, user_gap, non_canonical, kernel } where;
  /// For kernel addresses on layouts that fix it: "direct map", "vmalloc",
  /// "vmemmap", "kernel text", "modules", "fixmap", "vsyscall", ...; empty
  /// where the layout does not fix it.
  std::string sub_area;
  /// Note about the sub-area ("base moves with KASLR").
  std::string note;
};

/// Classifies an address that no VMA contains.
OutsideInfo classify_outside(const Target& t, Addr a);

/// aarch64 top-byte-ignore: the tag byte of a user pointer, and the address
/// with it stripped. On x86_64 (or kernel addresses) tag is nullopt and the
/// address is returned unchanged.
struct Untagged {
  Addr address;
  std::optional<std::uint8_t> tag;
};
Untagged strip_tag(const Target& t, Addr a);

}  // namespace vma
