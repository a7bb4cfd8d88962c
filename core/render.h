#pragma once
/// \file
/// Output, in one place so every front end prints the same: aligned text
/// (colour optional, with a legend) and JSON (the contract in README.md).
/// Addresses in JSON are "0x..." lower-case hex strings.

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "annotation.h"
#include "signals.h"

namespace vma {

struct TextStyle {
  bool color = false;
  /// map_text: end with the meaning of each kind shown.
  bool legend = false;
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
/// Writes `to_text(map_json(map, filter))` (the same bytes, no final
/// newline) a region at a time, so memory stays proportional to the map and
/// not to its JSON tree (measured: 1.5 GB for 500,000 regions as a tree).
void write_map_json(std::ostream& out, const AddressMap& map, const MapFilter& filter);
/// The same bytes as a string, for front ends that hand the debugger one
/// string: built a region at a time, never as a whole DOM.
std::string map_json_text(const AddressMap& map, const MapFilter& filter);
/// `{"signal", "signo", "code", "si_code", "addr", "pc", "instruction",
/// "at", "explanation", "memory_fault": true}`.
nlohmann::json fault_json(const Fault& f, const Annotation& at_addr);
/// A stop that is not a memory fault (!is_memory_fault): the same fields,
/// with "addr" and "at" null, "memory_fault": false and the explanation
/// saying why.
nlohmann::json not_a_fault_json(const Fault& f);
/// A JSON document as text, indented by 2. Every front end prints JSON through
/// this: names come from the target (file paths, `[anon:NAME]`) and need not
/// be UTF-8; invalid bytes become U+FFFD instead of throwing, as
/// nlohmann::json::dump() does by default (type_error 316).
std::string to_text(const nlohmann::json& j);

std::string whereis_text(const std::vector<Annotation>& as, const TextStyle& style);
std::string map_text(const AddressMap& map, const MapFilter& filter, const TextStyle& style);
/// Writes map_text() (the same bytes) a piece at a time: a big map's text is
/// never held whole.
void write_map_text(std::ostream& out, const AddressMap& map, const MapFilter& filter, const TextStyle& style);
std::string fault_text(const Fault& f, const Annotation& at_addr, const TextStyle& style);
/// "SIGTRAP (SI_USER): not a memory fault", why, and the pc with its
/// instruction when known; nothing is annotated.
std::string not_a_fault_text(const Fault& f);
/// The kinds and their meanings, for `--legend` and help texts.
std::string legend_text(const TextStyle& style);

}  // namespace vma
