#pragma once
/// \file
/// Everything vmakit says about one address.

#include <optional>
#include <string>

#include "address_map.h"
#include "region_source.h"

namespace vma {

/// One reading of an address whose answer depends on what the source cannot
/// tell (the VA width of a core file's machine).
struct Reading {
  std::string target;  ///< Target::name() of this reading: "x86_64", "x86_64-la57"
  RegionKind kind = RegionKind::unmapped;
  std::string summary;
};

struct Annotation {
  Addr address = 0;              ///< as asked (with any aarch64 tag)
  Addr untagged = 0;             ///< tag stripped
  std::optional<std::uint8_t> tag;
  RegionKind kind = RegionKind::unmapped;
  bool mapped = false;
  std::optional<Region> region;  ///< the VMA holding the address
  std::optional<std::uint64_t> offset_in_region;
  std::optional<std::uint64_t> file_offset;
  std::string section;           ///< ".text", empty when unknown
  std::string symbol;            ///< "main", empty when unknown
  std::optional<std::uint64_t> symbol_offset;
  std::optional<int> thread;     ///< TID for thread stacks and the main stack
  /// For addresses in a gap: the nearest VMAs (with their kinds).
  std::optional<Region> below, above;
  std::optional<std::uint64_t> below_distance, above_distance;
  std::string sub_area;          ///< kernel sub-area, when fixed by the layout
  std::optional<PageState> page; ///< live sources only
  /// Both readings, when the target's VA width is unknown and they disagree
  /// here (an address above 47 bits in a core: non-canonical with 4-level
  /// paging, user space with 5-level). kind and summary are then the
  /// narrower reading's, and the summary names both.
  std::vector<Reading> readings;
  /// One line for people: "in the text segment of /usr/bin/cat (.text, main+0x19)".
  std::string summary;
};

/// Annotates `a` with what `map` knows.
Annotation annotate(const AddressMap& map, Addr a);

/// Reads what `source` needs for `a` (around(), page state) and annotates.
/// `elf_cache` keeps parsed ELF files between calls.
Result<Annotation> whereis(RegionSource& source, Addr a, ElfCache& elf_cache);

}  // namespace vma
