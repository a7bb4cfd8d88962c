#pragma once
/// \file
/// The classification rules: which kind each VMA of a Snapshot is. Internal
/// to core; front ends use AddressMap::build.

#include <vector>

#include "address_map.h"

namespace vma {

/// One Region per mapping of `s`, in order. Rules look at a mapping, its
/// adjacent neighbours (two each side at most), the threads' stack pointers
/// and the ELF file behind it, so a window around an address (a snapshot
/// from RegionSource::around) classifies that address as the whole map does.
/// The mappings move into the regions: `s.mappings` is left empty.
std::vector<Region> classify(Snapshot& s, ElfCache& elf_cache);

}  // namespace vma
