#include "render.h"

#include <algorithm>
#include <ostream>

#include <fmt/format.h>

#include "draw.h"
#include "outside_text.h"

namespace vma {

using nlohmann::json;

namespace {

json opt(const std::optional<std::uint64_t>& v, bool as_hex) {
  if (!v) return nullptr;
  return as_hex ? json(hex(*v)) : json(*v);
}

json mapping_fields(const Mapping& m) {
  json j;
  j["start"] = hex(m.range.start);
  j["end"] = hex(m.range.end);
  j["perms"] = to_string(m.perms);
  if (m.file_info_known) {
    j["offset"] = hex(m.offset);
    j["dev"] = m.dev_inode_known ? json(m.dev_string()) : json(nullptr);
    j["inode"] = m.dev_inode_known ? json(m.inode) : json(nullptr);
  } else {
    j["offset"] = nullptr;
    j["dev"] = nullptr;
    j["inode"] = nullptr;
  }
  j["path"] = m.name;
  return j;
}

json neighbour(const std::optional<Region>& r, const std::optional<std::uint64_t>& d) {
  if (!r) return nullptr;
  json j = mapping_fields(r->mapping);
  j["kind"] = to_string(r->kind);
  j["distance"] = d ? *d : 0;
  return j;
}

const char* colour_of(RegionKind k) { return kind_colours(k).ansi_fg; }

std::string paint(const TextStyle& st, RegionKind k, std::string_view text) {
  const char* c = colour_of(k);
  if (!st.color || !*c) return std::string(text);
  return fmt::format("{}{}\x1b[0m", c, text);
}

std::string kind_label(const Region& r) {
  std::string s(to_string(r.kind));
  if (r.tid && r.kind == RegionKind::thread_stack) s += fmt::format(" [{}]", r.tid.value());
  return s;
}

/// The unmapped user-half gap just below region i, if any (from the first
/// mappable address for the first region; never into the non-canonical hole).
std::optional<AddressRange> gap_before(const AddressMap& map, std::size_t i) {
  const auto& rs = map.regions();
  Addr lo = i == 0 ? std::max(map.target().mmap_min_addr, map.target().page_size) : rs[i - 1].mapping.range.end;
  Addr hi = std::min(rs[i].mapping.range.start, map.target().user_end());
  if (lo >= hi) return std::nullopt;
  return AddressRange{lo, hi};
}

std::string range_text(const Mapping& m) { return fmt::format("{:#x}-{:#x}", m.range.start, m.range.end); }

}  // namespace

json to_json(const Region& r) {
  json j = mapping_fields(r.mapping);
  j["kind"] = to_string(r.kind);
  if (r.vma) j["vma"] = {{"start", hex(r.vma->start)}, {"end", hex(r.vma->end)}};
  if (r.tid) j["thread"] = *r.tid;
  if (!r.note.empty()) j["note"] = r.note;
  if (r.mapping.is_deleted()) j["deleted"] = true;
  if (!r.mapping.vm_flags.empty()) j["vm_flags"] = r.mapping.vm_flags;
  return j;
}

json to_json(const Annotation& a) {
  json j;
  j["address"] = hex(a.address);
  j["kind"] = to_string(a.kind);
  j["mapped"] = a.mapped;
  j["region"] = a.region ? to_json(*a.region) : json(nullptr);
  j["offset_in_region"] = opt(a.offset_in_region, true);
  j["file_offset"] = opt(a.file_offset, true);
  j["section"] = a.section.empty() ? json(nullptr) : json(a.section);
  j["symbol"] = a.symbol.empty() ? json(nullptr) : json(a.symbol);
  j["symbol_offset"] = opt(a.symbol_offset, true);
  j["thread"] = a.thread ? json(*a.thread) : json(nullptr);
  j["below"] = neighbour(a.below, a.below_distance);
  j["above"] = neighbour(a.above, a.above_distance);
  if (a.tag) {
    j["tag"] = fmt::format("{:#04x}", *a.tag);
    j["untagged"] = hex(a.untagged);
  }
  if (!a.sub_area.empty()) j["sub_area"] = a.sub_area;
  if (!a.readings.empty()) {
    json rs = json::array();
    for (const Reading& r : a.readings)
      rs.push_back({{"target", r.target}, {"kind", to_string(r.kind)}, {"summary", r.summary}});
    j["readings"] = std::move(rs);
  }
  if (a.page) j["page"] = {{"present", a.page->present}, {"swapped", a.page->swapped}, {"guard", a.page->guard}};
  j["summary"] = a.summary;
  return j;
}

json whereis_json(const std::vector<Annotation>& as) {
  json arr = json::array();
  for (const Annotation& a : as) arr.push_back(to_json(a));
  return arr;
}

namespace {

/// Calls `emit` with each entry of map_json()'s "regions" array, in order.
template <typename Emit>
void for_each_map_entry(const AddressMap& map, const MapFilter& filter, Emit&& emit) {
  const auto& rs = map.regions();
  for (std::size_t i = 0; i < rs.size(); ++i) {
    const Region& r = rs[i];
    if (filter.gaps && (!filter.kind || *filter.kind == RegionKind::unmapped))
      if (auto g = gap_before(map, i))
        emit(json{{"start", hex(g->start)}, {"end", hex(g->end)}, {"kind", "unmapped"}, {"size", g->size()}});
    if (filter.kind && *filter.kind != r.kind) continue;
    json j = to_json(r);
    json guards = json::array();
    for (const AddressRange& g : map.snapshot().guard_pages)
      if (r.mapping.range.overlaps(g)) guards.push_back({{"start", hex(g.start)}, {"end", hex(g.end)}});
    if (!guards.empty()) j["guard_pages"] = guards;
    emit(std::move(j));
  }
}

}  // namespace

json map_json(const AddressMap& map, const MapFilter& filter) {
  json regions = json::array();
  for_each_map_entry(map, filter, [&](json&& j) { regions.push_back(std::move(j)); });
  return {{"regions", std::move(regions)}};
}

namespace {

/// to_text(map_json(map, filter)), no final newline, handed to `put` a piece
/// at a time: a region's JSON is built, printed and dropped before the next
/// (a document of 500,000 regions takes ~3 KiB per region as a DOM).
template <typename Put>
void render_map_json(const AddressMap& map, const MapFilter& filter, Put&& put) {
  bool first = true;
  for_each_map_entry(map, filter, [&](json&& j) {
    put(first ? "{\n  \"regions\": [\n    " : ",\n    ");
    first = false;
    // Nested two levels deep: indent every line of the entry by 4 more. A
    // dumped string never holds a raw newline (it is escaped), so lines are
    // the document's own.
    std::string text = to_text(j);
    std::size_t from = 0;
    for (std::size_t nl; (nl = text.find('\n', from)) != std::string::npos; from = nl + 1) {
      put(std::string_view(text).substr(from, nl + 1 - from));
      put("    ");
    }
    put(std::string_view(text).substr(from));
  });
  put(first ? "{\n  \"regions\": []\n}" : "\n  ]\n}");
}

}  // namespace

void write_map_json(std::ostream& out, const AddressMap& map, const MapFilter& filter) {
  render_map_json(map, filter,
                  [&](std::string_view piece) { out.write(piece.data(), static_cast<std::streamsize>(piece.size())); });
}

std::string map_json_text(const AddressMap& map, const MapFilter& filter) {
  std::string out;
  render_map_json(map, filter, [&](std::string_view piece) { out += piece; });
  return out;
}

json fault_json(const Fault& f, const Annotation& at) {
  json j;
  j["signal"] = signal_name(f.signo);
  j["signo"] = f.signo;
  j["code"] = si_code_name(f.signo, f.code);
  j["si_code"] = f.code;
  j["addr"] = f.addr ? json(hex(*f.addr)) : json(nullptr);
  j["pc"] = f.pc ? json(hex(*f.pc)) : json(nullptr);
  j["instruction"] = f.instruction.empty() ? json(nullptr) : json(f.instruction);
  j["at"] = to_json(at);
  j["explanation"] = explain_fault(f, at);
  j["memory_fault"] = true;
  return j;
}

json not_a_fault_json(const Fault& f) {
  json j;
  j["signal"] = signal_name(f.signo);
  j["signo"] = f.signo;
  j["code"] = si_code_name(f.signo, f.code);
  j["si_code"] = f.code;
  j["addr"] = nullptr;
  j["pc"] = f.pc ? json(hex(*f.pc)) : json(nullptr);
  j["instruction"] = f.instruction.empty() ? json(nullptr) : json(f.instruction);
  j["at"] = nullptr;
  j["explanation"] = "not a memory fault: " + why_not_a_memory_fault(f.signo, f.code);
  j["memory_fault"] = false;
  return j;
}

std::string whereis_text(const std::vector<Annotation>& as, const TextStyle& st) {
  std::string out;
  for (const Annotation& a : as) {
    out += fmt::format("{:#018x}  {}  {}\n", a.address, paint(st, a.kind, to_string(a.kind)), safe_text(a.summary));
    auto line = [&](std::string_view key, const std::string& value) {
      out += fmt::format("    {:<10} {}\n", key, value);
    };
    if (a.tag) line("tag", fmt::format("{:#04x} (top byte ignored; untagged {:#x})", *a.tag, a.untagged));
    if (a.region) {
      const Mapping& m = a.region->mapping;
      std::string file;
      bool file_backed = m.is_file() || m.inode != 0;
      if (m.file_info_known && file_backed) file = fmt::format("  offset {:#x}", m.offset);
      if (m.file_info_known && file_backed && m.dev_inode_known) file += fmt::format("  dev {}  inode {}", m.dev_string(), m.inode);
      line("region", fmt::format("{}  {}  {}{}", range_text(m), to_string(m.perms), human_size(m.range.size()), file));
      if (a.region->vma)
        line("vma", fmt::format("{:#x}-{:#x}  {}  (the kernel's one VMA; region is its part at this address)",
                                a.region->vma->start, a.region->vma->end, human_size(a.region->vma->size())));
      if (!m.name.empty()) line("name", safe_text(m.name));
      std::string pos = fmt::format("+{:#x} into the region", *a.offset_in_region);
      if (a.file_offset) pos += fmt::format(", file offset {:#x}", *a.file_offset);
      line("position", pos);
      if (!a.section.empty()) line("section", safe_text(a.section));
      if (!a.symbol.empty()) line("symbol", fmt::format("{}+{:#x}", safe_text(a.symbol), *a.symbol_offset));
      if (a.thread) line("thread", std::to_string(*a.thread));
      if (!a.region->note.empty() && a.summary.find(a.region->note) == std::string::npos) line("note", safe_text(a.region->note));
      if (a.page)
        line("page", a.page->guard ? "guard (MADV_GUARD_INSTALL)"
                                   : a.page->present ? "present" : a.page->swapped ? "swapped out" : "not present");
    }
    auto neighbour_line = [&](std::string_view key, const std::optional<Region>& r, std::optional<std::uint64_t> d) {
      if (!r) return;
      line(key, fmt::format("{}  {}  {}  {} away{}", range_text(r->mapping), to_string(r->mapping.perms),
                            paint(st, r->kind, kind_label(*r)), human_size(d.value_or(0)),
                            r->mapping.name.empty() ? "" : "  " + safe_text(r->mapping.name)));
    };
    neighbour_line("below", a.below, a.below_distance);
    neighbour_line("above", a.above, a.above_distance);
  }
  return out;
}

namespace {

/// `0x` and `digits` zero-padded lower-case hex digits. By hand: at 100k
/// rows fmt's per-field runtime width handling was most of map_text's cost.
void append_hex(std::string& out, Addr v, int digits) {
  char buf[2 + 16];
  buf[0] = '0';
  buf[1] = 'x';
  for (int d = 0; d < digits; ++d) buf[2 + d] = "0123456789abcdef"[(v >> (4 * (digits - 1 - d))) & 0xf];
  out.append(buf, static_cast<std::size_t>(2 + digits));
}

void append_padded(std::string& out, std::string_view text, std::size_t width, bool right) {
  std::size_t pad = text.size() < width ? width - text.size() : 0;
  if (right) out.append(pad, ' ');
  out += text;
  if (!right) out.append(pad, ' ');
}

int hex_digits(Addr v) { return v == 0 ? 1 : (67 - __builtin_clzll(v)) / 4; }

/// One line of the kinds' legend: the name (coloured) and its meaning.
std::string legend_line(const TextStyle& st, const RegionKindInfo& k) {
  return fmt::format("  {}  {}\n", paint(st, k.kind, fmt::format("{:<13}", k.name)), k.meaning);
}

/// The `vma map` text, handed to `flush` in pieces of about `chunk` bytes
/// (the buffer is passed in and cleared after each call), or all at once.
template <typename Flush>
void render_map_text(const AddressMap& map, const MapFilter& filter, const TextStyle& st, std::string& out,
                     std::size_t chunk, Flush&& flush) {
  const auto& rs = map.regions();
  int w = 12;
  std::size_t kw = 12;
  for (const Region& r : rs) {
    w = std::max(w, hex_digits(r.mapping.range.end));
    kw = std::max(kw, kind_label(r).size());
  }
  out.reserve(std::min(rs.size() * 96, chunk) + 1024);
  out += fmt::format("{:<{}}  {:<{}}  {:<4}  {:>9}  {:<{}}  {}\n", "START", w + 2, "END", w + 2, "PERM", "SIZE", "KIND",
                     kw, "NAME / NOTE");
  // One row: start, end, perms, size, kind label (padded, maybe coloured), name.
  auto row = [&](Addr start, Addr end, std::string_view perms, std::string_view size, RegionKind kind,
                 std::string_view label, std::string_view name, std::string_view note) {
    append_hex(out, start, w);
    out += "  ";
    append_hex(out, end, w);
    out += "  ";
    append_padded(out, perms, 4, false);
    out += "  ";
    append_padded(out, size, 9, true);
    out += "  ";
    const char* c = colour_of(kind);
    bool paint_it = st.color && *c;
    bool last = name.empty() && note.empty();  // no trailing blanks after the label
    if (paint_it) out += c;
    append_padded(out, label, last ? 0 : kw, false);
    if (paint_it) out += "\x1b[0m";
    if (!last) {
      out += "  ";
      append_safe_text(out, name);
      if (!note.empty()) {
        if (name.empty()) {
          append_safe_text(out, note);
        } else {
          out += "  (";
          append_safe_text(out, note);
          out += ')';
        }
      }
    }
    out += '\n';
  };
  std::vector<RegionKind> seen;
  const auto& guards = map.snapshot().guard_pages;  // sorted, disjoint
  std::size_t g = 0;
  std::uint64_t last_size = ~0ull;
  std::string size;
  for (std::size_t i = 0; i < rs.size(); ++i) {
    const Region& r = rs[i];
    if (filter.gaps && (!filter.kind || *filter.kind == RegionKind::unmapped))
      if (auto gap = gap_before(map, i)) row(gap->start, gap->end, "", human_size(gap->size()), RegionKind::unmapped,
                                             "unmapped", "", "");
    if (filter.kind && *filter.kind != r.kind) continue;
    if (std::find(seen.begin(), seen.end(), r.kind) == seen.end()) seen.push_back(r.kind);
    const Mapping& m = r.mapping;
    if (m.range.size() != last_size) size = human_size(last_size = m.range.size());
    char perms[4] = {has(m.perms, Perms::read) ? 'r' : '-', has(m.perms, Perms::write) ? 'w' : '-',
                     has(m.perms, Perms::exec) ? 'x' : '-', has(m.perms, Perms::shared) ? 's' : 'p'};
    std::string label(to_string(r.kind));
    if (r.tid && r.kind == RegionKind::thread_stack) label += fmt::format(" [{}]", *r.tid);
    row(m.range.start, m.range.end, std::string_view(perms, 4), size, r.kind, label, m.name, r.note);
    while (g < guards.size() && guards[g].end <= m.range.start) ++g;
    for (std::size_t k = g; k < guards.size() && guards[k].start < m.range.end; ++k)
      out += fmt::format("{:>{}}guard pages {:#x}-{:#x} (MADV_GUARD_INSTALL, {})\n", "", 2 * w + 8, guards[k].start,
                         guards[k].end, human_size(guards[k].size()));
    if (out.size() >= chunk) {
      flush(out);
      out.clear();
    }
  }
  if (st.legend && !seen.empty()) {
    out += "\n";
    for (const RegionKindInfo& k : region_kinds())
      if (std::find(seen.begin(), seen.end(), k.kind) != seen.end()) out += legend_line(st, k);
  }
  flush(out);
  out.clear();
}

}  // namespace

std::string map_text(const AddressMap& map, const MapFilter& filter, const TextStyle& st) {
  std::string out, result;
  render_map_text(map, filter, st, out, std::size_t(-1) / 2, [&](std::string& piece) { result.swap(piece); });
  return result;
}

void write_map_text(std::ostream& os, const AddressMap& map, const MapFilter& filter, const TextStyle& st) {
  // Pieces of 256 KiB: the text of a big map (3.7 MB at 60,000 VMAs) is
  // never held whole, which saves its page faults (bench/ANALYSIS.md).
  std::string out;
  render_map_text(map, filter, st, out, 256 * 1024,
                  [&](std::string& piece) { os.write(piece.data(), static_cast<std::streamsize>(piece.size())); });
}

std::string fault_text(const Fault& f, const Annotation& at, const TextStyle& st) {
  std::string out = fmt::format("{} ({}){}\n", signal_name(f.signo), si_code_name(f.signo, f.code),
                                f.addr ? fmt::format(" at {:#x}", *f.addr) : std::string{});
  out += fmt::format("    {:<10} {}\n", "why", safe_text(explain_fault(f, at)));
  if (f.pc)
    out += fmt::format("    {:<10} {:#x}{}\n", "pc", *f.pc, f.instruction.empty() ? "" : "  " + safe_text(f.instruction));
  out += whereis_text({at}, st);
  return out;
}

std::string not_a_fault_text(const Fault& f) {
  std::string out = fmt::format("{} ({}): not a memory fault\n", signal_name(f.signo), si_code_name(f.signo, f.code));
  out += fmt::format("    {:<10} {}\n", "why", why_not_a_memory_fault(f.signo, f.code));
  if (f.pc)
    out += fmt::format("    {:<10} {:#x}{}\n", "pc", *f.pc, f.instruction.empty() ? "" : "  " + safe_text(f.instruction));
  return out;
}

std::string to_text(const nlohmann::json& j) {
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string legend_text(const TextStyle& st) {
  std::string out;
  for (const RegionKindInfo& k : region_kinds()) out += legend_line(st, k);
  return out;
}

}  // namespace vma
