#pragma once
/// \file
/// A classified address space: every VMA of a Snapshot with its kind, and
/// lookups by address in O(log n).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "elf_image.h"
#include "region_kind.h"
#include "snapshot.h"

namespace vma {

/// An ELF image a region belongs to.
struct ImageRef {
  std::string path;                         ///< as the target names it
  std::shared_ptr<const ElfImage> elf;      ///< null when the file could not be read
  Addr load_bias = 0;                       ///< runtime address - link-time address
  bool bias_known = false;
};

/// One VMA with its kind, or one part of a VMA that holds two things.
///
/// The kernel merges adjacent VMAs whose flags, file and anon_vma agree
/// (mm/vma.c, is_mergeable_vma): an anonymous mmap placed flush after a
/// library's .bss becomes one VMA with it, and so does the brk heap after the
/// executable's .bss when brk is not randomized (a debugger's launch). Such a
/// VMA is split at the image's end into parts, each a Region of its own with
/// `mapping.range` its part and `vma` the kernel's whole VMA.
struct Region {
  Mapping mapping;
  /// The kernel VMA this region is a part of; empty when the region is the
  /// whole VMA.
  std::optional<AddressRange> vma;
  RegionKind kind = RegionKind::anon;
  std::optional<int> tid;         ///< for thread stacks (and the main stack)
  /// What made the decision or a detail a user wants: "glibc arena heap,
  /// reserved tail", "guard below thread 1234's stack", "no ELF file: by
  /// permissions". Empty when the kind says it all.
  std::string note;
  /// For text, rodata, relro, data, bss; shared by an image's regions (a
  /// pointer keeps Region small: most regions of a big map have none).
  std::shared_ptr<const ImageRef> image;
};

/// Neighbour of an address in a gap.
struct Neighbour {
  const Region* region = nullptr;
  std::uint64_t distance = 0;  ///< bytes from the region's end to the address (below), or from the address to its start (above)
};

class AddressMap {
 public:
  /// Classifies every mapping of `s`. Parsed ELF files are kept in `elf_cache`.
  static AddressMap build(Snapshot s, ElfCache& elf_cache);

  const std::vector<Region>& regions() const { return regions_; }
  /// The snapshot the map was built from, without its mappings: they moved
  /// into regions().
  const Snapshot& snapshot() const { return snapshot_; }
  const Target& target() const { return snapshot_.target; }

  /// The region containing `a`, or nullptr.
  const Region* find(Addr a) const;
  /// The nearest regions wholly below and wholly above `a`.
  Neighbour below(Addr a) const;
  Neighbour above(Addr a) const;
  /// The MADV_GUARD_INSTALL range containing `a`, if any.
  std::optional<AddressRange> guard_page(Addr a) const;

 private:
  /// Index of the first region starting above `a` (regions_.size() if none).
  std::size_t first_above(Addr a) const;

  Snapshot snapshot_;
  std::vector<Region> regions_;
  /// The region starts in Eytzinger (breadth-first) order, 1-based, with
  /// each node's index into regions_: the search walks down an implicit tree
  /// whose top levels stay in cache, 8 bytes a step instead of a whole Region
  /// (208 bytes, a cache miss each); with the ends beside it, find() touches
  /// a Region only for its answer (bench/: 3 million lookups/s became ~18).
  std::vector<Addr> tree_;
  std::vector<std::uint32_t> tree_index_;
  std::vector<Addr> ends_;
};

}  // namespace vma
