// The drawing (`vma map --draw`, `--svg`): size limits, log heights,
// folding, marks, on synthetic maps.
#include <regex>
#include <sstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "draw.h"
#include "region_source.h"
#include "synthetic_maps.h"

using namespace vma;

namespace {

Target x86() {
  auto t = Target::parse("x86_64");
  REQUIRE(t);
  t->mmap_min_addr = 4096;
  t->page_size = 4096;
  return *t;
}

/// The first thread is the main thread.
AddressMap map_of(std::string text, std::vector<ThreadInfo> threads = {}, std::vector<AddressRange> guards = {}) {
  TextSource src(std::move(text), "synthetic", x86());
  if (!threads.empty()) {
    int main_tid = threads.front().tid;
    src.set_threads(std::move(threads), main_tid);
  }
  auto s = src.snapshot();
  if (!s) FAIL(s.error().message);
  s->guard_pages = std::move(guards);
  static ElfCache cache;
  return AddressMap::build(std::move(s).value(), cache);
}

// A small process: its text, a brk heap, an rwx JIT page, a thread's 8 MiB
// stack with its 4 KiB PROT_NONE guard below, an anon VMA with a MADV
// guard page, the main stack (128 TiB of gap below it on the way down from
// the vDSO), the vDSO, vsyscall.
const char* kSmall =
    "555555554000-555555555000 r--p 00000000 fd:01 99                         /bin/prog\n"
    "555555555000-555555556000 r-xp 00001000 fd:01 99                         /bin/prog\n"
    "555555560000-555555581000 rw-p 00000000 00:00 0                          [heap]\n"
    "7f0000000000-7f0000001000 rwxp 00000000 00:00 0 \n"
    "7f0000100000-7f0000101000 ---p 00000000 00:00 0 \n"
    "7f0000101000-7f0000901000 rw-p 00000000 00:00 0 \n"
    "7f0001000000-7f0001005000 rw-p 00000000 00:00 0 \n"
    "7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]\n"
    "7ffc00106000-7ffc00108000 r-xp 00000000 00:00 0                          [vdso]\n"
    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

AddressMap small_map() {
  return map_of(kSmall, {{100, 0x7ffc00020000}, {4242, 0x7f0000900000}}, {{0x7f0001001000, 0x7f0001002000}});
}

std::string strip_ansi(const std::string& s) { return std::regex_replace(s, std::regex("\x1b\\[[0-9;]*m"), ""); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::size_t cells(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

const Band* band_at(const Layout& l, Addr a) {
  for (const Band& b : l.bands)
    if (b.first <= a && a <= b.last) return &b;
  return nullptr;
}

void check_fits(const AddressMap& map, int columns, int rows, std::optional<Addr> mark = {}) {
  CAPTURE(columns, rows);
  DrawOptions o;
  o.columns = columns;
  o.rows = rows;
  o.mark = mark;
  Layout l = layout_map(map, o);
  for (bool color : {false, true}) {
    auto lines = lines_of(draw_text(l, color));
    CHECK(lines.size() <= static_cast<std::size_t>(rows));
    CHECK(!lines.empty());
    for (const std::string& line : lines) {
      CAPTURE(line);
      CHECK(cells(strip_ansi(line)) <= static_cast<std::size_t>(columns));
    }
  }
}

AddressMap big_map() {
  // 60,000 VMAs, a rwx page, a MADV guard page, a stack and the vDSO on top.
  std::string text = bench::synthetic_maps(60000);
  text +=
      "7f0000000000-7f0000001000 rwxp 00000000 00:00 0 \n"
      "7f0000100000-7f0000101000 ---p 00000000 00:00 0 \n"
      "7f0000101000-7f0000901000 rw-p 00000000 00:00 0 \n"
      "7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]\n"
      "7ffc00106000-7ffc00108000 r-xp 00000000 00:00 0                          [vdso]\n";
  return map_of(text, {{100, 0x7ffc00020000}, {4242, 0x7f0000900000}}, {{0x10000005000, 0x10000006000}});
}

}  // namespace

TEST_CASE("draw: the text never exceeds the size it is given", "[draw]") {
  AddressMap small = small_map();
  for (auto [c, r] : std::vector<std::pair<int, int>>{{80, 40}, {80, 24}, {120, 60}, {200, 100}, {60, 12},
                                                      {40, 10}, {30, 6}, {20, 4}, {10, 2}, {1, 1}})
    check_fits(small, c, r, 0x555555560010);
}

TEST_CASE("draw: a 60,000-VMA map fits in 80x40 by folding, and says so", "[draw]") {
  AddressMap big = big_map();
  REQUIRE(big.regions().size() == 60005);
  check_fits(big, 80, 40, 0x7f0000000010);
  check_fits(big, 200, 60);
  DrawOptions o;
  o.mark = 0x10000000010;  // inside the first synthetic library's headers
  Layout l = layout_map(big, o);
  CHECK(l.folded_bands > 0);
  std::string text = draw_text(l, false);
  CHECK(text.find("folded") != std::string::npos);
  // Landmarks survive folding: W+X, the PROT_NONE guard, the MADV guard page,
  // the thread stack with its TID, the stack, the vDSO, the mark.
  const Band* wx = band_at(l, 0x7f0000000000);
  REQUIRE(wx);
  CHECK(wx->wx);
  CHECK(band_at(l, 0x7f0000100000)->kind == RegionKind::guard);
  CHECK(band_at(l, 0x10000005000)->guard);
  CHECK(band_at(l, 0x7f0000101000)->tid == 4242);
  CHECK(band_at(l, 0x7ffc00000000)->kind == RegionKind::stack);
  CHECK(band_at(l, 0x7ffc00106000)->kind == RegionKind::vdso);
  CHECK(band_at(l, 0x10000000010)->mark_row);
  // Folded bands say what they hold.
  std::size_t folded = 0;
  for (const Band& b : l.bands)
    if (b.folded()) {
      ++folded;
      CHECK((b.note.find(" VMA") != std::string::npos || b.note.ends_with(" gaps")));
    }
  CHECK(folded == l.folded_bands);
}

TEST_CASE("draw: a 4 KiB guard stays visible beside an 8 MiB stack and a 128 TiB gap", "[draw]") {
  // The gap below the guard is 0x7f0000100000 - 0x1000 bytes: ~127 TiB, and
  // nothing else is mapped there.
  AddressMap map = map_of(
      "7f0000100000-7f0000101000 ---p 00000000 00:00 0 \n"
      "7f0000101000-7f0000901000 rw-p 00000000 00:00 0 \n",
      {{1, std::nullopt}, {7, 0x7f0000900000}});
  Layout l = layout_map(map, {});
  const Band* gap = band_at(l, 0x1000);
  const Band* guard = band_at(l, 0x7f0000100000);
  const Band* stack = band_at(l, 0x7f0000101000);
  REQUIRE(gap);
  REQUIRE(guard);
  REQUIRE(stack);
  CHECK(gap->kind == RegionKind::unmapped);
  CHECK(gap->size() > (127ull << 40));
  CHECK(guard->kind == RegionKind::guard);
  CHECK(guard->size() == 4096);
  CHECK(stack->kind == RegionKind::thread_stack);
  CHECK(stack->size() == (8ull << 20));
  CHECK(guard->rows >= 1);
  CHECK(stack->rows > guard->rows);
  CHECK(gap->rows > stack->rows);
  std::string text = draw_text(l, false);
  CHECK(text.find("|thread-stack") != std::string::npos);
  CHECK(text.find("|guardxxxxxxxxx|") != std::string::npos);
  CHECK(text.find("0x00007f0000100000 |guard") != std::string::npos);
}

TEST_CASE("draw: the kernel half and the non-canonical hole are labelled bands", "[draw]") {
  Layout l = layout_map(small_map(), {});
  REQUIRE(l.bands.size() >= 3);
  CHECK(l.bands.front().kind == RegionKind::kernel);
  CHECK(l.bands.front().last == ~Addr{0});
  CHECK(band_at(l, 0x800000000000)->kind == RegionKind::non_canonical);
  CHECK(band_at(l, 0)->kind == RegionKind::null_page);
  CHECK(band_at(l, 0xffffffffff600000)->kind == RegionKind::vsyscall);
  // Bands cover every address once, in order.
  for (std::size_t i = 1; i < l.bands.size(); ++i) CHECK(l.bands[i].last + 1 == l.bands[i - 1].first);
  CHECK(l.bands.back().first == 0);
  std::string text = draw_text(l, false);
  CHECK(text.find("|kernel") != std::string::npos);
  CHECK(text.find("|non-canonical") != std::string::npos);
}

TEST_CASE("draw: the mark points at the band holding the address", "[draw]") {
  AddressMap map = small_map();
  struct Case {
    Addr mark;
    RegionKind kind;
  };
  for (Case c : {Case{0x555555560010, RegionKind::heap}, Case{0x7f0000100010, RegionKind::guard},
                 Case{0x7f0001001000, RegionKind::guard}, Case{0x7ffc00106000, RegionKind::vdso},
                 Case{0x600000000000, RegionKind::unmapped}, Case{0xffffffff81000000, RegionKind::kernel}}) {
    CAPTURE(c.mark);
    DrawOptions o;
    o.mark = c.mark;
    o.mark_label = "fault";
    Layout l = layout_map(map, o);
    std::size_t marked = 0;
    for (const Band& b : l.bands)
      if (b.mark_row) {
        ++marked;
        CHECK(b.kind == c.kind);
        CHECK(b.first <= c.mark);
        CHECK(c.mark <= b.last);
      }
    CHECK(marked == 1);
    // In the text, the arrow's row is a row of that band.
    auto lines = lines_of(draw_text(l, false));
    std::size_t row = 0, arrow_line = 0;
    int found = 0;
    for (std::size_t i = 0; i < lines.size(); ++i)
      if (lines[i].starts_with("==>")) ++found, arrow_line = i;
    REQUIRE(found == 1);
    CHECK(lines[arrow_line].find(fmt::format("<== fault {:#x}", c.mark)) != std::string::npos);
    row = 1;  // the header
    for (const Band& b : l.bands) {
      if (b.mark_row) {
        CHECK(arrow_line == row + static_cast<std::size_t>(*b.mark_row));
        // The band's kind is written on its top row.
        CHECK(lines[row].find((c.kind == RegionKind::unmapped ? ":" : "|") + std::string(to_string(c.kind))) !=
              std::string::npos);
      }
      row += static_cast<std::size_t>(b.rows);
    }
  }
}

TEST_CASE("draw: W+X regions and guard pages are marked", "[draw]") {
  Layout l = layout_map(small_map(), {});
  const Band* wx = band_at(l, 0x7f0000000000);
  REQUIRE(wx);
  CHECK(wx->wx);
  CHECK(wx->perms == "rwxp");
  const Band* madv = band_at(l, 0x7f0001001000);
  REQUIRE(madv);
  CHECK(madv->guard);
  CHECK(madv->note == "MADV guard page");
  CHECK(madv->size() == 4096);
  // The MADV guard page splits its VMA: anon below and above it.
  CHECK(band_at(l, 0x7f0001000000)->kind == RegionKind::anon);
  CHECK(band_at(l, 0x7f0001002000)->kind == RegionKind::anon);
  std::string text = draw_text(l, false);
  CHECK(text.find("|!!anon") != std::string::npos);
  CHECK(text.find("W+X!") != std::string::npos);
  CHECK(text.find("MADV guard page") != std::string::npos);
  // No other band is marked.
  for (const Band& b : l.bands) {
    if (&b != wx) CHECK_FALSE(b.wx);
  }
}

TEST_CASE("draw: thread stacks carry their TIDs", "[draw]") {
  Layout l = layout_map(small_map(), {});
  const Band* t = band_at(l, 0x7f0000200000);
  REQUIRE(t);
  CHECK(t->kind == RegionKind::thread_stack);
  CHECK(t->tid == 4242);
  CHECK(band_at(l, 0x7ffc00000000)->tid == 100);
  std::string text = draw_text(l, false);
  CHECK(text.find("tid 4242") != std::string::npos);
  CHECK(text.find("tid 100") != std::string::npos);
}

TEST_CASE("draw: colour only when asked, from one palette", "[draw]") {
  Layout l = layout_map(small_map(), {});
  CHECK(draw_text(l, false).find('\x1b') == std::string::npos);
  std::string c = draw_text(l, true);
  CHECK(c.find(kind_colours(RegionKind::heap).ansi_bg) != std::string::npos);
  CHECK(strip_ansi(c) == draw_text(l, false));
}

TEST_CASE("draw: SVG has a title per band and escapes names", "[draw]") {
  std::string text = kSmall;
  text.insert(text.find("ffffffffff600000"),
              "7ffd00000000-7ffd00001000 rw-p 00000000 fd:01 7                          /tmp/a<b>&\xff\"c\n");
  DrawOptions o;
  o.mark = 0x555555560010;
  Layout l = layout_map(map_of(text, {{100, 0x7ffc00020000}}), o);
  std::string svg = draw_svg(l);
  CHECK(svg.starts_with("<?xml"));
  CHECK(svg.find("<title>0x555555560000-0x555555581000 (132 KiB)  heap  rw-p  [heap]") != std::string::npos);
  CHECK(svg.find("/tmp/a&lt;b&gt;&amp;\xef\xbf\xbd&quot;c") != std::string::npos);
  CHECK(svg.find("class=\"mark\"") != std::string::npos);
  std::size_t groups = 0;
  for (std::size_t at = 0; (at = svg.find("<g class=\"band\"", at)) != std::string::npos; ++at) ++groups;
  CHECK(groups == l.bands.size());
}

TEST_CASE("terminal size: COLUMNS and LINES when not a terminal, else 80x40", "[draw]") {
  int fd = fileno(std::tmpfile());
  setenv("COLUMNS", "132", 1);
  setenv("LINES", "50", 1);
  TerminalSize s = terminal_size(fd);
  CHECK(s.columns == 132);
  CHECK(s.rows == 50);
  setenv("LINES", "x", 1);
  unsetenv("COLUMNS");
  s = terminal_size(fd);
  CHECK(s.columns == 80);
  CHECK(s.rows == 40);
  unsetenv("LINES");
}

TEST_CASE("draw: a band of one VMA folded with its gaps names the VMA once", "[draw]") {
  // The main stack 2 MiB below the top of the user half: the gap above it
  // folds into its band when rows are few.
  std::string text =
      "555555554000-555555555000 r--p 00000000 fd:01 99                         /bin/prog\n"
      "555555555000-555555556000 r-xp 00001000 fd:01 99                         /bin/prog\n"
      "555555560000-555555581000 rw-p 00000000 00:00 0                          [heap]\n"
      "7f0000101000-7f0000901000 rw-p 00000000 00:00 0 \n"
      "7fffffd00000-7fffffd02000 r-xp 00000000 00:00 0                          [vdso]\n"
      "7fffffdde000-7fffffdff000 rw-p 00000000 00:00 0                          [stack]\n"
      "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";
  AddressMap map = map_of(text, {{100, 0x7fffffdfe000}});
  DrawOptions o;
  o.columns = 120;
  o.rows = 14;
  Layout l = layout_map(map, o);
  const Band* stack = band_at(l, 0x7fffffdfe000);
  REQUIRE(stack);
  REQUIRE(stack->folded());
  REQUIRE(stack->vmas == 1);
  CHECK(stack->name == "[stack]");
  CHECK(stack->note.find("[stack]") == std::string::npos);
  std::string drawn = draw_text(l, false);
  CAPTURE(drawn);
  CHECK(drawn.find("[stack] [stack]") == std::string::npos);
  CHECK(drawn.find("[stack]") != std::string::npos);
}
