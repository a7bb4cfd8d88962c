#include "address_map.h"

#include <algorithm>

#include "classifier.h"
#include "huge_pages.h"

namespace vma {

AddressMap AddressMap::build(Snapshot s, ElfCache& elf_cache) {
  AddressMap map;
  map.regions_ = classify(s, elf_cache);
  map.snapshot_ = std::move(s);
  const std::size_t n = map.regions_.size();
  map.tree_.reserve(n + 1);
  map.tree_index_.reserve(n + 1);
  map.ends_.reserve(n);
  populate_for_writing(map.tree_.data(), (n + 1) * sizeof(Addr));
  populate_for_writing(map.tree_index_.data(), (n + 1) * sizeof(std::uint32_t));
  populate_for_writing(map.ends_.data(), n * sizeof(Addr));
  map.tree_.assign(n + 1, 0);
  map.tree_index_.assign(n + 1, 0);
  for (const Region& r : map.regions_) map.ends_.push_back(r.mapping.range.end);
  // In-order walk of the implicit tree (children of k: 2k, 2k+1) hands out
  // the sorted starts; iterative, with an explicit stack of depth log2(n).
  std::size_t next = 0;
  std::vector<std::size_t> stack;
  std::size_t k = 1;
  while (k <= n || !stack.empty()) {
    for (; k <= n; k *= 2) stack.push_back(k);
    k = stack.back();
    stack.pop_back();
    map.tree_[k] = map.regions_[next].mapping.range.start;
    map.tree_index_[k] = static_cast<std::uint32_t>(next++);
    k = 2 * k + 1;
  }
  return map;
}

std::size_t AddressMap::first_above(Addr a) const {
  const std::size_t n = regions_.size();
  std::size_t k = 1;
  while (k <= n) {
    __builtin_prefetch(tree_.data() + std::min(16 * k, n));
    k = 2 * k + (tree_[k] <= a);
  }
  // The last left turn is the answer: drop the trailing right turns (1 bits)
  // and that left turn. k == 0: every start is <= a.
  k >>= __builtin_ffsll(static_cast<long long>(~k));
  return k == 0 ? n : tree_index_[k];
}

const Region* AddressMap::find(Addr a) const {
  std::size_t i = first_above(a);
  if (i == 0 || a >= ends_[i - 1]) return nullptr;
  return &regions_[i - 1];
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
