#include "address_map.h"

#include <algorithm>

#include "classifier.h"

namespace vma {

AddressMap AddressMap::build(Snapshot s, ElfCache& elf_cache) {
  AddressMap map;
  map.regions_ = classify(s, elf_cache);
  map.snapshot_ = std::move(s);
  return map;
}

const Region* AddressMap::find(Addr a) const {
  auto it = std::upper_bound(regions_.begin(), regions_.end(), a,
                             [](Addr v, const Region& r) { return v < r.mapping.range.start; });
  if (it == regions_.begin()) return nullptr;
  --it;
  return it->mapping.range.contains(a) ? &*it : nullptr;
}

Neighbour AddressMap::below(Addr a) const {
  auto it = std::upper_bound(regions_.begin(), regions_.end(), a,
                             [](Addr v, const Region& r) { return v < r.mapping.range.start; });
  while (it != regions_.begin()) {
    --it;
    if (it->mapping.range.end <= a) return {&*it, a - it->mapping.range.end};
  }
  return {};
}

Neighbour AddressMap::above(Addr a) const {
  auto it = std::upper_bound(regions_.begin(), regions_.end(), a,
                             [](Addr v, const Region& r) { return v < r.mapping.range.start; });
  if (it == regions_.end()) return {};
  return {&*it, it->mapping.range.start - a};
}

std::optional<AddressRange> AddressMap::guard_page(Addr a) const {
  const auto& g = snapshot_.guard_pages;  // sorted, disjoint
  auto it = std::upper_bound(g.begin(), g.end(), a, [](Addr v, const AddressRange& r) { return v < r.start; });
  if (it == g.begin()) return std::nullopt;
  --it;
  if (it->contains(a)) return *it;
  return std::nullopt;
}

}  // namespace vma
