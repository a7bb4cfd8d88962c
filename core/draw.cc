#include "draw.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <cstdlib>
#include <limits>
#include <string_view>
#include <tuple>

#include <fmt/format.h>

#include "output_file.h"
#include "outside_text.h"

namespace vma {

KindColours kind_colours(RegionKind k) {
  // By family: code, read-only, writable data, heap, stacks, forbidden,
  // kernel-provided, shared; other memory grey in the drawing only.
  switch (k) {
    case RegionKind::text: return {"\x1b[31m", "\x1b[41;97m", "#d9534f"};
    case RegionKind::rodata:
    case RegionKind::relro: return {"\x1b[34m", "\x1b[44;97m", "#4a74c9"};
    case RegionKind::data:
    case RegionKind::bss: return {"\x1b[36m", "\x1b[46;30m", "#3fb5c4"};
    case RegionKind::heap: return {"\x1b[33m", "\x1b[43;30m", "#e8b730"};
    case RegionKind::stack:
    case RegionKind::thread_stack: return {"\x1b[35m", "\x1b[45;97m", "#a05cc4"};
    case RegionKind::guard: return {"\x1b[1;31m", "\x1b[101;30m", "#ff2a2a"};
    case RegionKind::null_page:
    case RegionKind::non_canonical:
    case RegionKind::kernel: return {"\x1b[1;31m", "\x1b[100;97m", "#5a5a5a"};
    case RegionKind::vdso:
    case RegionKind::vvar:
    case RegionKind::vsyscall: return {"\x1b[32m", "\x1b[42;30m", "#4caf50"};
    case RegionKind::shared: return {"\x1b[1;34m", "\x1b[104;30m", "#7fa8ff"};
    case RegionKind::anon:
    case RegionKind::file: return {"", "\x1b[47;30m", "#c8c8c8"};
    case RegionKind::unmapped: return {"", "", "#ffffff"};
  }
  return {"", "", "#ffffff"};
}

TerminalSize terminal_size(int fd) {
  TerminalSize s;
  winsize w{};
  bool have_cols = false, have_rows = false;
  if (isatty(fd) == 1 && ioctl(fd, TIOCGWINSZ, &w) == 0) {
    if (w.ws_col > 0) s.columns = w.ws_col, have_cols = true;
    if (w.ws_row > 0) s.rows = w.ws_row, have_rows = true;
  }
  auto env = [](const char* name) -> std::optional<int> {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    if (*end != '\0' || n <= 0 || n > 100000) return std::nullopt;
    return static_cast<int>(n);
  };
  if (!have_cols)
    if (auto c = env("COLUMNS")) s.columns = *c;
  if (!have_rows)
    if (auto r = env("LINES")) s.rows = *r;
  return s;
}

namespace {

constexpr Addr kMaxAddr = ~Addr{0};
/// Gaps at least this big are part of the address space's shape (between
/// the executable, the mmap area and the stack) and are folded late.
constexpr std::uint64_t kBigGap = 1ull << 30;

/// A piece of the address space before folding: a VMA, a piece of one
/// around a MADV guard page, or a gap outside every VMA.
struct Segment {
  Addr first = 0;
  Addr last = 0;
  RegionKind kind = RegionKind::unmapped;
  const Region* region = nullptr;  ///< null outside VMAs
  bool madv_guard = false;
  int level = 0;  ///< how late it is folded (see level_of)

  std::uint64_t size() const { return last - first + 1; }
  bool wx() const {
    return region && has(region->mapping.perms, Perms::write) && has(region->mapping.perms, Perms::exec);
  }
  bool guard() const { return madv_guard || kind == RegionKind::guard; }
};

/// 0: small gaps, folded first and into anything; 1: ordinary memory; 2: the
/// address space's landmarks (code, arena heaps); 3: what the drawing is for
/// (guards, W+X, stacks, the brk heap, the kernel-provided pages, the halves,
/// the big gaps that give the address space its shape); 4: the marked
/// address.
int level_of(const Segment& s, const std::optional<Addr>& mark) {
  if (mark && s.first <= *mark && *mark <= s.last) return 4;
  if (s.guard() || s.wx()) return 3;
  switch (s.kind) {
    case RegionKind::unmapped: return s.size() >= kBigGap ? 3 : 0;
    case RegionKind::kernel:
    case RegionKind::non_canonical:
    case RegionKind::null_page:
    case RegionKind::stack:
    case RegionKind::thread_stack:
    case RegionKind::vdso:
    case RegionKind::vvar:
    case RegionKind::vsyscall: return 3;
    case RegionKind::heap: return s.region && s.region->mapping.name == "[heap]" ? 3 : 2;
    case RegionKind::text: return 2;
    default: return 1;
  }
}

/// Landmarks that are common are not landmarks: when one category of level 3
/// (guard VMAs, thread stacks with the guard below each, W+X regions, MADV
/// guard pages, ...) has more members than a quarter of the bands, its
/// members fold like ordinary memory (a process with 6,000 PROT_NONE VMAs or
/// 10,000 threads), so the rare ones stay visible.
void demote_common(std::vector<Segment>& segs, std::size_t budget) {
  const std::size_t kinds = region_kinds().size();
  const std::size_t wx = kinds, madv = kinds + 1;
  auto category = [&](std::size_t i) {
    const Segment& s = segs[i];
    if (s.wx()) return wx;
    if (s.madv_guard) return madv;
    if (s.kind == RegionKind::guard && i + 1 < segs.size() && segs[i + 1].first == s.last + 1 &&
        (segs[i + 1].kind == RegionKind::thread_stack || segs[i + 1].kind == RegionKind::stack))
      return static_cast<std::size_t>(segs[i + 1].kind);
    return static_cast<std::size_t>(s.kind);
  };
  std::vector<std::size_t> count(kinds + 2, 0);
  for (std::size_t i = 0; i < segs.size(); ++i)
    if (segs[i].level == 3) ++count[category(i)];
  for (std::size_t i = 0; i < segs.size(); ++i)
    if (segs[i].level == 3 && count[category(i)] > std::max<std::size_t>(1, budget / 4)) segs[i].level = 1;
}

/// What makes two neighbours "similar": the same file, else the same kind.
/// Small gaps (level 0) match anything.
std::string_view key_of(const Segment& s) {
  if (s.level == 0) return {};
  if (s.region && s.region->mapping.is_file()) return s.region->mapping.name;
  return to_string(s.kind);
}

/// Appends the outside-every-VMA pieces of [lo, hi] (inclusive), split where
/// the target's layout changes kind.
void add_outside(std::vector<Segment>& out, const Target& t, Addr lo, Addr hi) {
  const Addr user_end = t.user_end(), kernel_start = t.kernel_start();
  const Addr null_end = std::max<Addr>(t.mmap_min_addr, 0);
  const Addr bounds[] = {null_end, user_end, kernel_start};
  while (lo <= hi) {
    Addr piece_last = hi;
    for (Addr b : bounds)
      if (b > lo && b - 1 < piece_last) piece_last = b - 1;
    RegionKind k = lo < null_end         ? RegionKind::null_page
                   : lo < user_end       ? RegionKind::unmapped
                   : lo < kernel_start   ? RegionKind::non_canonical
                                         : RegionKind::kernel;
    out.push_back({lo, piece_last, k, nullptr, false, 0});
    if (piece_last == kMaxAddr) break;
    lo = piece_last + 1;
  }
}

std::vector<Segment> segments_of(const AddressMap& map) {
  std::vector<Segment> out;
  out.reserve(map.regions().size() * 2 + 8);
  const auto& guards = map.snapshot().guard_pages;  // sorted, disjoint
  std::size_t g = 0;
  Addr cursor = 0;  // lowest address not yet covered
  bool done = false;
  for (const Region& r : map.regions()) {
    const AddressRange& range = r.mapping.range;
    if (range.empty() || range.end - 1 < cursor) continue;  // overlapping input: skip what is covered
    Addr start = std::max(range.start, cursor);
    if (start > cursor) add_outside(out, map.target(), cursor, start - 1);
    Addr at = start;
    while (g < guards.size() && guards[g].end <= at) ++g;
    for (std::size_t k = g; k < guards.size() && guards[k].start < range.end; ++k) {
      Addr gs = std::max(guards[k].start, at), ge = std::min(guards[k].end, range.end);
      if (gs >= ge) continue;
      if (gs > at) out.push_back({at, gs - 1, r.kind, &r, false, 0});
      out.push_back({gs, ge - 1, RegionKind::guard, &r, true, 0});
      at = ge;
    }
    if (at < range.end) out.push_back({at, range.end - 1, r.kind, &r, false, 0});
    cursor = range.end;
    if (cursor == 0) done = true;  // a region ending at 2^64
  }
  if (!done) add_outside(out, map.target(), cursor, kMaxAddr);
  return out;
}

/// A run of neighbouring segments being folded into one band.
struct Group {
  std::size_t begin = 0, end = 0;  ///< segments [begin, end)
  int level = 0;
  std::string_view key;  ///< empty: matches anything (small gaps only)
  bool mixed = false;    ///< members of different keys
};

/// The class of folding two neighbours: lower folds first. The higher level
/// first (landmarks stay), then similarity, then the lower level.
int fold_class(const Group& a, const Group& b) {
  bool similar = !a.mixed && !b.mixed && (a.key.empty() || b.key.empty() || a.key == b.key);
  return std::max(a.level, b.level) * 16 + (similar ? 0 : 8) + std::min(a.level, b.level);
}

Group merged(const Group& a, const Group& b) {
  Group g = a;
  bool similar = !a.mixed && !b.mixed && (a.key.empty() || b.key.empty() || a.key == b.key);
  if (g.key.empty()) g.key = b.key;
  g.mixed = !similar || a.mixed || b.mixed;
  g.level = std::max(a.level, b.level);
  g.end = b.end;
  return g;
}

/// Folds `segs` into at most `budget` runs; returns [begin, end) per run.
/// In passes: each pass finds the cheapest class of neighbour pairs and
/// folds disjoint pairs of that class, left to right, spread evenly over
/// the map when fewer are needed; so folds stay balanced (runs grow by
/// doubling) and a pass costs one walk over the runs (a priority queue of
/// pairs cost 70% of the drawing at 100,000 VMAs).
std::vector<std::pair<std::size_t, std::size_t>> fold(const std::vector<Segment>& segs, std::size_t budget) {
  std::vector<Group> gs(segs.size());
  for (std::size_t i = 0; i < segs.size(); ++i) gs[i] = {i, i + 1, segs[i].level, key_of(segs[i]), false};
  std::vector<Group> next;
  std::vector<std::size_t> pairs;  // left index of each pair folded in this pass
  while (gs.size() > budget && gs.size() > 1) {
    int cheapest = std::numeric_limits<int>::max();
    for (std::size_t i = 0; i + 1 < gs.size(); ++i) cheapest = std::min(cheapest, fold_class(gs[i], gs[i + 1]));
    pairs.clear();
    for (std::size_t i = 0; i + 1 < gs.size(); ++i)
      if (fold_class(gs[i], gs[i + 1]) == cheapest) pairs.push_back(i++);
    const std::size_t m = pairs.size(), k = std::min(m, gs.size() - budget);
    next.clear();
    std::size_t at = 0;
    for (std::size_t j = 0; j < m; ++j) {
      if (k < m && (j * k) / m == ((j + 1) * k) / m) continue;  // not chosen: spread the k over the m
      std::size_t l = pairs[j];
      next.insert(next.end(), gs.begin() + static_cast<std::ptrdiff_t>(at), gs.begin() + static_cast<std::ptrdiff_t>(l));
      next.push_back(merged(gs[l], gs[l + 1]));
      at = l + 2;
    }
    next.insert(next.end(), gs.begin() + static_cast<std::ptrdiff_t>(at), gs.end());
    gs.swap(next);
  }
  std::vector<std::pair<std::size_t, std::size_t>> runs;
  runs.reserve(gs.size());
  for (const Group& g : gs) runs.emplace_back(g.begin, g.end);
  return runs;
}

std::string base_name(std::string_view path) {
  if (path.empty() || path.front() != '/') return std::string(path);
  std::size_t slash = path.rfind('/');
  return std::string(path.substr(slash + 1));
}

std::string perms_text(const Region& r) { return to_string(r.mapping.perms); }

Band band_of(const std::vector<Segment>& segs, std::size_t begin, std::size_t end) {
  Band b;
  b.first = segs[begin].first;
  b.last = segs[end - 1].last;
  b.segments = end - begin;
  // The dominant member, whose kind the band shows: a VMA over a gap, then
  // the highest level, then the biggest.
  auto rank = [&](std::size_t i) { return std::make_tuple(segs[i].region != nullptr, segs[i].level, segs[i].size()); };
  std::size_t dom = begin;
  for (std::size_t i = begin; i < end; ++i) {
    const Segment& s = segs[i];
    if (s.region) ++b.vmas, b.mapped += s.size();
    b.wx |= s.wx();
    b.guard |= s.guard();
    if (rank(i) > rank(dom)) dom = i;
  }
  // A band of one VMA (with the gaps folded beside it) shows that VMA.
  const Segment& d = segs[dom];
  b.kind = d.kind;
  if (d.region) {
    b.name = d.region->mapping.name;
    b.tid = d.kind == RegionKind::thread_stack || d.kind == RegionKind::stack ? d.region->tid : std::nullopt;
    b.note = d.madv_guard ? "MADV guard page" : d.region->note;
  }
  std::string perms = d.region ? perms_text(*d.region) : std::string();
  bool same_perms = true, same_name = true;
  std::vector<RegionKind> kinds;
  // The file most of the band's VMAs map, if one does (majority vote).
  std::string_view file;
  std::size_t votes = 0;
  for (std::size_t i = begin; i < end; ++i) {
    const Segment& s = segs[i];
    if (!s.region) continue;
    const std::string& name = s.region->mapping.name;
    same_perms &= perms_text(*s.region) == perms;
    same_name &= name == b.name;
    if (std::find(kinds.begin(), kinds.end(), s.kind) == kinds.end()) kinds.push_back(s.kind);
    if (votes == 0) file = name, votes = 1;
    else votes += file == name ? 1 : std::size_t(-1);
  }
  std::size_t of_file = 0;
  for (std::size_t i = begin; i < end && file.starts_with('/'); ++i) of_file += segs[i].region && segs[i].region->mapping.name == file;
  b.perms = same_perms ? perms : "mixed";
  if (b.folded()) {
    std::size_t gaps = b.segments - b.vmas;
    std::string what;
    if (b.vmas > 1 || (b.vmas == 1 && gaps > 0)) {
      what = fmt::format("{} VMA{}{}", b.vmas, b.vmas > 1 ? "s" : "", gaps ? "+gaps" : "");
      if (b.vmas == 1) {
        // The one VMA's name is shown beside the note already.
      } else if (same_name && !b.name.empty()) {
        what = base_name(b.name) + ", " + what;
      } else if (2 * of_file > b.vmas) {
        what = base_name(file) + " mostly, " + what;
      } else {
        std::string ks;
        for (RegionKind k : kinds) ks += (ks.empty() ? "" : ",") + std::string(to_string(k));
        what += ": " + ks;
      }
      if (b.vmas > 1) b.tid.reset();
    } else {
      what = fmt::format("{} gaps", gaps);
    }
    b.note = what;  // the bar's "~" says it is folded
    if (b.vmas != 1) b.name.clear();
  }
  return b;
}

/// Weight of a band's height: log2 of its size in pages, at least 0.
double log_weight(std::uint64_t size) {
  double l = std::log2(static_cast<double>(size)) - 12.0;
  return l > 0 ? l : 0;
}

/// Gives each band one row and shares `extra` rows in proportion to
/// log2(size / 4 KiB), at most kRowsPerLog2 rows per doubling.
void assign_rows(std::vector<Band>& bands, int extra) {
  constexpr double kRowsPerLog2 = 0.2;
  double total = 0;
  for (const Band& b : bands) total += log_weight(b.size());
  if (total <= 0 || extra <= 0) return;
  double per = std::min(kRowsPerLog2, extra / total);
  int given = 0;
  std::vector<std::pair<double, std::size_t>> rest;
  for (std::size_t i = 0; i < bands.size(); ++i) {
    double want = per * log_weight(bands[i].size());
    int whole = static_cast<int>(want);
    bands[i].rows += whole;
    given += whole;
    rest.emplace_back(want - whole, i);
  }
  int left = std::min(extra - given, static_cast<int>(per * total + 0.5) - given);
  std::sort(rest.begin(), rest.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (std::size_t i = 0; i < rest.size() && left > 0; ++i, --left) ++bands[rest[i].second].rows;
}

// --- text ---------------------------------------------------------------

/// Display cells of UTF-8 text (a byte that is not valid UTF-8 takes one).
std::size_t cells(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

/// `s` with control characters replaced, cut to at most `width` cells.
std::string clip(std::string_view s, std::size_t width) {
  std::string out;
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    bool starts_cell = (c & 0xc0) != 0x80;
    if (starts_cell) {
      if (n == width) break;
      ++n;
    }
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  return out;
}

constexpr int kBarWidth = 14;

/// The legend items: each kind shown, then the marks.
std::vector<std::pair<std::string, RegionKind>> legend_items(const Layout& l) {
  std::vector<std::pair<std::string, RegionKind>> items;
  for (RegionKind k : l.kinds) items.emplace_back(std::string(to_string(k)), k);
  return items;
}

/// The legend wrapped to `width` cells: lines of plain text and the colour
/// spans to paint.
std::vector<std::string> legend_lines(const Layout& l, bool color, std::size_t width) {
  std::vector<std::string> lines;
  std::string line = "kinds: ";
  std::size_t used = cells(line);
  auto add = [&](const std::string& plain, const std::string& painted) {
    std::size_t w = cells(plain) + 1;
    if (used + w > width && used > 7) {
      lines.push_back(line);
      line = "       ";  // under "kinds: "
      used = 7;
    }
    line += painted + " ";
    used += w;
  };
  for (auto& [name, k] : legend_items(l)) {
    const char* bg = kind_colours(k).ansi_bg;
    std::string cell = " " + name + " ";
    add(cell, color && *bg ? std::string(bg) + cell + "\x1b[0m" : cell);
  }
  add(" !! W+X", " !! W+X");
  add(" xx guard", " xx guard");
  add(" ==> " + l.options.mark_label, " ==> " + l.options.mark_label);
  if (!line.empty()) lines.push_back(line);
  for (auto& s : lines)
    if (!s.empty() && s.back() == ' ') s.pop_back();  // the separator after the last item
  return lines;
}

}  // namespace

Layout layout_map(const AddressMap& map, const DrawOptions& opts) {
  Layout l;
  l.options = opts;
  l.options.columns = std::max(opts.columns, 1);
  l.options.rows = std::max(opts.rows, 1);
  l.vmas = map.regions().size();
  l.source = map.snapshot().source;

  std::vector<Segment> segs = segments_of(map);
  for (Segment& s : segs) s.level = level_of(s, opts.mark);

  // Rows: a header, the bands, a line saying what was folded, the legend.
  // Kinds are known only after folding; the legend gets two rows (three when
  // narrow) and gives back what it does not use.
  const int rows = l.options.rows;
  int legend = rows >= 12 ? (l.options.columns < 100 ? 3 : 2) : 0;
  int header = rows >= 4 ? 1 : 0;
  int fold_line = segs.size() > static_cast<std::size_t>(std::max(1, rows - header - legend)) && rows >= 6 ? 1 : 0;
  // When folding, a fifth of the rows is kept for the heights, so sizes
  // still show.
  int budget = std::max(1, rows - header - legend - fold_line);
  if (fold_line) budget = std::max(1, budget * 4 / 5);
  if (segs.size() > static_cast<std::size_t>(budget)) demote_common(segs, static_cast<std::size_t>(budget));
  auto runs = fold(segs, static_cast<std::size_t>(budget));

  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    l.bands.push_back(band_of(segs, it->first, it->second));
    if (l.bands.back().folded()) {
      ++l.folded_bands;
      l.folded_segments += l.bands.back().segments;
    }
  }
  for (const RegionKindInfo& k : region_kinds())
    for (const Band& b : l.bands)
      if (b.kind == k.kind) {
        l.kinds.push_back(k.kind);
        break;
      }
  if (legend > 0) {
    int used = static_cast<int>(legend_lines(l, false, static_cast<std::size_t>(l.options.columns)).size());
    legend = std::min(legend, used);
  }
  l.legend_rows = legend;
  int band_rows = rows - header - legend - (l.folded_bands ? fold_line : 0);
  int extra = band_rows - static_cast<int>(l.bands.size());
  // The marked band gets a second row, so the pointer does not hide the
  // band's label (it goes below the top row).
  Band* marked = nullptr;
  if (opts.mark)
    for (Band& b : l.bands)
      if (b.first <= *opts.mark && *opts.mark <= b.last) marked = &b;
  if (marked && extra > 0) {
    ++marked->rows;
    --extra;
  }
  assign_rows(l.bands, extra);
  if (marked) {
    // Linear within the band, top row = highest address.
    double from_top = static_cast<double>(marked->last - *opts.mark) / static_cast<double>(marked->size());
    int row = std::min(marked->rows - 1, static_cast<int>(from_top * marked->rows));
    marked->mark_row = marked->rows > 1 ? std::max(1, row) : 0;
  }
  return l;
}

std::string draw_text(const Layout& l, bool color) {
  const std::size_t width = static_cast<std::size_t>(l.options.columns);
  const std::size_t max_lines = static_cast<std::size_t>(l.options.rows);
  std::vector<std::string> lines;  // final text, each within `width` cells
  auto plain_line = [&](const std::string& s) { lines.push_back(clip(s, width)); };

  if (max_lines >= 4) {
    plain_line(fmt::format("{}: {} VMAs, high addresses at the top, row height ~ log2(size)", safe_text(l.source),
                           l.vmas));
  }
  for (const Band& b : l.bands) {
    const KindColours kc = kind_colours(b.kind);
    for (int row = 0; row < b.rows; ++row) {
      const bool bottom = row == b.rows - 1;
      std::string line;
      std::size_t used = 0;
      auto put = [&](const std::string& s) {
        line += s;
        used += cells(s);
      };
      bool marked = b.mark_row && *b.mark_row == row;
      put(marked ? "==>" : "   ");
      put(bottom ? fmt::format("{:#018x}", b.first) : std::string(18, ' '));
      put(" ");
      // The bar: the kind's name on the top row, W+X and guard marks.
      std::string bar;
      char fill = b.kind == RegionKind::unmapped ? ' ' : b.guard ? 'x' : ' ';
      std::string name = row == 0 ? std::string(to_string(b.kind)) : "";
      if (row == 0 && b.folded()) name = "~" + name;
      if (b.wx) name = (row == 0 ? "!!" + name : "!!");
      std::string edge = b.kind == RegionKind::unmapped ? ":" : "|";
      bar = name;
      while (cells(bar) < static_cast<std::size_t>(kBarWidth)) bar += fill;
      bar = clip(bar, kBarWidth);
      const char* bg = kc.ansi_bg;
      if (color && *bg) {
        line += edge + std::string(bg) + bar + "\x1b[0m" + edge;
        used += kBarWidth + 2;
      } else {
        put(edge + bar + edge);
      }
      // Columns after the bar, on the top row: perms, size, name and note.
      std::string rest;
      if (marked) rest = fmt::format("<== {} {:#x}  ", l.options.mark_label, *l.options.mark);
      if (row == 0) {
        rest = fmt::format(" {:<5}{:>9}  ", b.perms == "mixed" ? "mix" : b.perms, human_size(b.shown_size())) + rest;
        std::string label;
        if (b.wx) label += "W+X! ";
        if (b.tid) label += fmt::format("tid {} ", *b.tid);
        if (!b.name.empty()) label += safe_text(base_name(b.name)) + " ";
        if (!b.note.empty()) label += safe_text(b.note);
        while (!label.empty() && label.back() == ' ') label.pop_back();
        rest += label;
      } else if (marked) {
        rest = " " + rest;
      }
      std::string clipped = clip(rest, width > used ? width - used : 0);
      while (!clipped.empty() && clipped.back() == ' ') clipped.pop_back();
      if (used > width) {
        // Too narrow for the bar: drop colours and clip the plain line.
        std::string plain = (marked ? "==>" : "   ") +
                            (bottom ? fmt::format("{:#018x}", b.first) : std::string(18, ' ')) + " " + edge + bar +
                            edge;
        lines.push_back(clip(plain, width));
      } else {
        lines.push_back(line + clipped);
      }
    }
  }
  if (l.folded_bands && max_lines >= 6)
    plain_line(fmt::format("~ folded: {} bands hold {} similar VMAs and gaps (`vma map` lists them all)",
                           l.folded_bands, l.folded_segments));
  std::vector<std::string> legend = legend_lines(l, color, width);
  legend.resize(std::min(legend.size(), static_cast<std::size_t>(l.legend_rows)));
  lines.insert(lines.end(), legend.begin(), legend.end());
  if (lines.size() > max_lines) lines.resize(max_lines);
  std::string out;
  for (const std::string& s : lines) (out += s) += '\n';
  return out;
}

std::string xml_text(std::string_view s) { return safe_text(s, TextSink::xml); }

std::string draw_svg(const Layout& l) {
  constexpr int kRow = 18, kTop = 40, kBarX = 340, kBarW = 190, kTextX = kBarX + kBarW + 14, kWidth = 1200;
  int total_rows = 0;
  for (const Band& b : l.bands) total_rows += b.rows;
  const int legend_y = kTop + total_rows * kRow + 30;
  const int height = legend_y + 60;
  std::string out;
  out += fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"DejaVu Sans Mono, monospace\" font-size=\"12\">\n",
      kWidth, height);
  out += fmt::format("<title>address space of {}</title>\n", xml_text(l.source));
  out +=
      "<defs>\n"
      "<pattern id=\"guard\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\">"
      "<path d=\"M0,0 L8,8 M8,0 L0,8\" stroke=\"#000\" stroke-width=\"1.2\"/></pattern>\n"
      "<pattern id=\"wx\" width=\"10\" height=\"10\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
      "<rect width=\"5\" height=\"10\" fill=\"#ffe000\"/></pattern>\n"
      "</defs>\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  out += fmt::format("<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}: {} VMAs, high addresses at "
                     "the top, height ~ log2(size)</text>\n",
                     xml_text(l.source), l.vmas);
  int y = kTop;
  for (const Band& b : l.bands) {
    const int h = b.rows * kRow;
    const KindColours kc = kind_colours(b.kind);
    std::string title = fmt::format("{:#x}-{:#x} ({})  {}  {}", b.first, b.last == kMaxAddr ? 0 : b.last + 1,
                                    human_size(b.size()), to_string(b.kind), b.perms.empty() ? "unmapped" : b.perms);
    if (b.vmas && b.mapped != b.size()) title += fmt::format("  ({} in VMAs)", human_size(b.mapped));
    if (b.wx) title += "  W+X";
    if (b.tid) title += fmt::format("  tid {}", *b.tid);
    if (!b.name.empty()) title += "  " + b.name;
    if (!b.note.empty()) title += "  (" + b.note + ")";
    out += fmt::format("<g class=\"band\" data-kind=\"{}\" data-first=\"{:#x}\" data-last=\"{:#x}\">\n<title>{}</title>\n",
                       to_string(b.kind), b.first, b.last, xml_text(title));
    const bool gap = b.kind == RegionKind::unmapped;
    out += fmt::format("<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"#333\" "
                       "stroke-width=\"0.5\"{}/>\n",
                       kBarX, y, kBarW, h, kc.css, gap ? " stroke-dasharray=\"3,3\"" : "");
    if (b.guard)
      out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"url(#guard)\"/>\n", kBarX, y, kBarW, h);
    if (b.wx)
      out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"url(#wx)\" stroke=\"#ff0000\" "
                         "stroke-width=\"3\"/>\n",
                         kBarX, y, kBarW, h);
    const int ty = y + 13;
    out += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"{}\" stroke=\"#fff\" stroke-width=\"3\" "
                       "paint-order=\"stroke\">{}{}</text>\n",
                       kBarX + 6, ty,
                       gap ? "#777" : "#000", b.folded() ? "~" : "", to_string(b.kind));
    out += fmt::format("<text x=\"10\" y=\"{}\" fill=\"#444\">{:#018x}</text>\n", y + h - 4, b.first);
    std::string label = fmt::format("{:<5} {:>9}  ", b.perms == "mixed" ? "mix" : b.perms, human_size(b.shown_size()));
    if (b.wx) label += "W+X! ";
    if (b.tid) label += fmt::format("tid {} ", *b.tid);
    if (!b.name.empty()) label += b.name + " ";
    label += b.note;
    out += fmt::format("<text class=\"label\" x=\"{}\" y=\"{}\" xml:space=\"preserve\">{}</text>\n", kTextX, ty,
                       xml_text(label));
    if (b.mark_row) {
      int my = y + *b.mark_row * kRow + kRow / 2;
      out += fmt::format("<g class=\"mark\"><polygon points=\"{},{} {},{} {},{}\" fill=\"#d00000\"/>"
                         "<text x=\"{}\" y=\"{}\" fill=\"#d00000\" font-weight=\"bold\" text-anchor=\"end\">{} "
                         "{:#x}</text></g>\n",
                         kBarX - 2, my, kBarX - 14, my - 7, kBarX - 14, my + 7, kBarX - 18, my + 4,
                         xml_text(l.options.mark_label), *l.options.mark);
    }
    out += "</g>\n";
    y += h;
  }
  if (l.folded_bands)
    out += fmt::format("<text x=\"10\" y=\"{}\">~ folded: {} bands hold {} similar VMAs and gaps</text>\n",
                       legend_y - 10, l.folded_bands, l.folded_segments);
  int x = 10;
  int ly = legend_y + 10;
  for (RegionKind k : l.kinds) {
    std::string name(to_string(k));
    int w = static_cast<int>(name.size()) * 8 + 30;
    if (x + w > kWidth) x = 10, ly += 20;
    out += fmt::format("<g class=\"legend\"><rect x=\"{}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{}\" "
                       "stroke=\"#333\"/><text x=\"{}\" y=\"{}\">{}</text></g>\n",
                       x, ly, kind_colours(k).css, x + 18, ly + 11, name);
    x += w;
  }
  out += "</svg>\n";
  return out;
}

std::string draw_map_text(const AddressMap& map, const TerminalSize& size, bool color, std::optional<Addr> mark,
                          const std::string& mark_label) {
  DrawOptions o;
  o.columns = size.columns;
  o.rows = size.rows;
  o.mark = mark;
  o.mark_label = mark_label;
  return draw_text(layout_map(map, o), color);
}

Result<void> save_svg(const AddressMap& map, const std::string& path, std::optional<Addr> mark,
                      const std::string& mark_label, const std::vector<std::string>& inputs) {
  DrawOptions o;
  o.columns = 120;
  o.rows = kSvgRows;
  o.mark = mark;
  o.mark_label = mark_label;
  if (auto r = check_output_not_input(path, inputs, "--svg"); !r) return r;
  return write_output_file(path, draw_svg(layout_map(map, o)), "--svg");
}

}  // namespace vma
