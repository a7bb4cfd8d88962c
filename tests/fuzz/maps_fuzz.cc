// Fuzz target: the maps/smaps parser, and everything downstream of a parsed
// map that a saved maps file reaches (classification, lookups, text and JSON
// output). No file is read: the snapshot's resolver finds no file.

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string_view>

#include "address_map.h"
#include "annotation.h"
#include "maps_parser.h"
#include "render.h"

namespace {

class NoFiles : public vma::FileResolver {
 public:
  std::optional<std::string> host_path(const vma::Mapping&) const override { return std::nullopt; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto maps = vma::parse_maps(text, "fuzz.maps");
  // Classification and output are linear in the map; small maps reach every
  // rule, and keep the target fast (the parser alone sees every input).
  if (!maps || maps->size() > 48) return 0;

  vma::Snapshot s;
  s.mappings = std::move(maps).value();
  s.files = std::make_shared<NoFiles>();
  s.source = "fuzz.maps";
  // Two threads whose SPs lie in the first writable mappings, so the stack
  // and guard rules run too.
  int tid = 100;
  for (const vma::Mapping& m : s.mappings) {
    if (!vma::has(m.perms, vma::Perms::write) || m.range.empty()) continue;
    s.threads.push_back({tid++, m.range.start + m.range.size() / 2});
    if (s.threads.size() == 2) break;
  }
  if (!s.threads.empty()) {
    s.threads_known = true;
    s.main_tid = s.threads.front().tid;
  }
  vma::ElfCache cache;
  auto map = vma::AddressMap::build(std::move(s), cache);

  vma::MapFilter gaps;
  gaps.gaps = true;
  std::ostringstream streamed;
  vma::write_map_json(streamed, map, gaps);
  if (streamed.str() != vma::to_text(vma::map_json(map, gaps))) __builtin_trap();
  (void)vma::map_text(map, gaps, vma::TextStyle{true});
  std::vector<vma::Annotation> as;
  for (const vma::Region& r : map.regions()) {
    for (vma::Addr a : {r.mapping.range.start, r.mapping.range.end, r.mapping.range.start - 1}) {
      (void)map.below(a);
      (void)map.above(a);
      as.push_back(vma::annotate(map, a));
    }
    if (as.size() >= 24) break;
  }
  (void)vma::to_text(vma::whereis_json(as));
  (void)vma::whereis_text(as, vma::TextStyle{false});
  return 0;
}
