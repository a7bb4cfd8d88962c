#include "address_map.h"

#include <algorithm>

#include "classifier.h"

namespace vma {

AddressMap AddressMap::build(Snapshot s, ElfCache& elf_cache) {
  AddressMap map;
  map.regions_ = classify(s, elf_cache);
  map.snapshot_ = std::move(s);
  map.starts_.reserve(map.regions_.size());
  for (const Region& r : map.regions_) map.starts_.push_back(r.mapping.range.start);
  return map;
}

std::size_t AddressMap::first_above(Addr a) const {
  return static_cast<std::size_t>(std::upper_bound(starts_.begin(), starts_.end(), a) - starts_.begin());
}

const Region* AddressMap::find(Addr a) const {
  std::size_t i = first_above(a);
  if (i == 0) return nullptr;
  const Region& r = regions_[i - 1];
  return a < r.mapping.range.end ? &r : nullptr;
}

Neighbour AddressMap::below(Addr a) const {
  for (std::size_t i = first_above(a); i > 0; --i) {
    const Region& r = regions_[i - 1];
    if (r.mapping.range.end <= a) return {&r, a - r.mapping.range.end};
  }
  return {};
}

Neighbour AddressMap::above(Addr a) const {
  std::size_t i = first_above(a);
  if (i == regions_.size()) return {};
  return {&regions_[i], regions_[i].mapping.range.start - a};
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
