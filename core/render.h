#pragma once
/// \file
/// Output, in one place so every front end prints the same: aligned text
/// (colour optional, with a legend) and JSON (the contract in README.md).
/// Addresses in JSON are "0x..." lower-case hex strings.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "annotation.h"
#include "signals.h"

namespace vma {

struct TextStyle {
  bool color = false;
};

struct MapFilter {
  std::optional<RegionKind> kind;  ///< only regions of this kind
  bool gaps = false;               ///< show unmapped gaps between regions
};

nlohmann::json to_json(const Annotation& a);
nlohmann::json to_json(const Region& r);
/// `[annotation, ...]`
nlohmann::json whereis_json(const std::vector<Annotation>& as);
/// `{"regions": [...]}`, filtered, with `{"kind": "unmapped", ...}` gap
/// entries when `filter.gaps`.
nlohmann::json map_json(const AddressMap& map, const MapFilter& filter);
nlohmann::json fault_json(const Fault& f, const Annotation& at_addr);

std::string whereis_text(const std::vector<Annotation>& as, const TextStyle& style);
std::string map_text(const AddressMap& map, const MapFilter& filter, const TextStyle& style);
std::string fault_text(const Fault& f, const Annotation& at_addr, const TextStyle& style);
/// The kinds and their meanings, for `--legend` and help texts.
std::string legend_text(const TextStyle& style);

}  // namespace vma
