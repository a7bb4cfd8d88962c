// Bad maps input the unit tests (tests/unit/maps_parser_test.cc) do not
// cover: one named case per malformed field or odd byte, with the exact
// message. What is accepted here is accepted on purpose (see the tolerance
// policy in core/maps_parser.h).
#include <catch2/catch.hpp>

#include <optional>
#include <sstream>
#include <string>

#include "address_map.h"
#include "maps_parser.h"
#include "render.h"

using namespace vma;

TEST_CASE("malformed fields: one exact message each", "[robust][maps]") {
  auto [text, want] = GENERATE(table<std::string, std::string>({
      {"00400000- r-xp 00000000 fd:01 1", "t:1: malformed maps entry: missing end address (field 1)"},
      {"0x400000-0x401000 r-xp 00000000 fd:01 1", "t:1: malformed maps entry: bad start address \"0x400000\" (field 1)"},
      {"+400000-401000 r-xp 00000000 fd:01 1", "t:1: malformed maps entry: bad start address \"+400000\" (field 1)"},
      {"400000--401000 r-xp 00000000 fd:01 1", "t:1: malformed maps entry: bad end address \"-401000\" (field 1)"},
      {"10000000000000000-10000000000000001 r-xp 00000000 fd:01 1",
       "t:1: malformed maps entry: start address \"10000000000000000\" overflows 64 bits (field 1)"},
      {"00400000-00401000 r-xpp 00000000 fd:01 1",
       "t:1: malformed maps entry: bad permissions \"r-xpp\" (expected [r-][w-][x-][ps]) (field 2)"},
      {"00400000-00401000 R-XP 00000000 fd:01 1",
       "t:1: malformed maps entry: bad permissions \"R-XP\" (expected [r-][w-][x-][ps]) (field 2)"},
      {"00400000-00401000 wr-p 00000000 fd:01 1",
       "t:1: malformed maps entry: bad permissions \"wr-p\" (expected [r-][w-][x-][ps]) (field 2)"},
      {"00400000-00401000  r-xp 00000000 fd:01 1", "t:1: malformed maps entry: missing permissions (field 2)"},
      {"00400000-00401000\tr-xp 00000000 fd:01 1", "t:1: malformed maps entry: bad end address \"00401000\tr-xp\" (field 1)"},
      {"00400000-00401000 r-xp 10000000000000000 fd:01 1",
       "t:1: malformed maps entry: offset \"10000000000000000\" overflows 64 bits (field 3)"},
      {"00400000-00401000 r-xp -1 fd:01 1", "t:1: malformed maps entry: bad offset \"-1\" (field 3)"},
      {"00400000-00401000 r-xp 00000000", "t:1: malformed maps entry: missing device (field 4)"},
      {"00400000-00401000 r-xp 00000000 :01 1", "t:1: malformed maps entry: missing device major (field 4)"},
      {"00400000-00401000 r-xp 00000000 fd: 1", "t:1: malformed maps entry: missing device minor (field 4)"},
      {"00400000-00401000 r-xp 00000000 fd:01:02 1", "t:1: malformed maps entry: bad device minor \"01:02\" (field 4)"},
      {"00400000-00401000 r-xp 00000000 100000000:01 1",
       "t:1: malformed maps entry: bad device \"100000000:01\": number too large (field 4)"},
      {"00400000-00401000 r-xp 00000000 fd:100000000 1",
       "t:1: malformed maps entry: bad device \"fd:100000000\": number too large (field 4)"},
      {"00400000-00401000 r-xp 00000000 fd:01 -1", "t:1: malformed maps entry: bad inode \"-1\" (field 5)"},
      {"00400000-00401000 r-xp 00000000 fd:01 0x10", "t:1: malformed maps entry: bad inode \"0x10\" (field 5)"},
      // CRLF line ends (a maps file saved on Windows): the CR sticks to the
      // inode of an anonymous line.
      {"00400000-00401000 rw-p 00000000 00:00 0\r\n", "t:1: malformed maps entry: bad inode \"0\r\" (field 5)"},
      {"   ", "t:1: malformed maps entry: missing dash between address range (field 1)"},
      {"\n", "t:1: malformed maps entry: empty line"},
      {"1000-2000 r--p 00000000 00:00 0\nnot a maps line at all",
       "t:2: malformed maps entry: missing dash between address range (field 1)"},
      {"1000-2000 r--p 00000000 00:00 0\n1000-2000 r--p 00000000 00:00 0",
       "t:2: malformed maps entry: range 0x1000-0x2000 overlaps or precedes the previous mapping (ends at 0x2000) (field 1)"},
      {"1000-2000 r--p 00000000 00:00 0\n\xff\xfe-2000 r--p 00000000 00:00 0",
       "t:2: malformed maps entry: bad start address \"\xff\xfe\" (field 1)"},
  }));
  CAPTURE(text);
  auto r = parse_maps(text, "t");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == want);
}

TEST_CASE("odd but accepted lines", "[robust][maps]") {
  SECTION("a name ending in a partial escape is kept as written") {
    auto r = parse_maps("1000-2000 r--p 00000000 fd:01 42 /tmp/a\\01", "t");
    REQUIRE(r);
    CHECK(r->front().name == "/tmp/a\\01");
  }
  SECTION("\\012 at the very end and twice in a row") {
    auto r = parse_maps("1000-2000 r--p 00000000 fd:01 42 /tmp/a\\012\\012", "t");
    REQUIRE(r);
    CHECK(r->front().name == "/tmp/a\n\n");
  }
  SECTION("a name that is only \\012") {
    auto r = parse_maps("1000-2000 r--p 00000000 fd:01 42 \\012", "t");
    REQUIRE(r);
    CHECK(r->front().name == "\n");
  }
  SECTION("a CR in a file name is part of the name") {
    auto r = parse_maps("1000-2000 r--p 00000000 fd:01 42 /tmp/a\r\n", "t");
    REQUIRE(r);
    CHECK(r->front().name == "/tmp/a\r");
  }
  SECTION("an empty range (start == end)") {
    auto r = parse_maps("1000-1000 r--p 00000000 00:00 0", "t");
    REQUIRE(r);
    CHECK(r->front().range.empty());
  }
  SECTION("the highest range") {
    auto r = parse_maps("fffffffffffff000-ffffffffffffffff r--p ffffffffffffffff ffffffff:ffffffff 18446744073709551615",
                        "t");
    REQUIRE(r);
    CHECK(r->front().range.end == ~0ull);
    CHECK(r->front().inode == ~0ull);
  }
  SECTION("a bare VmFlags: line and properties without a value") {
    auto r = parse_maps("1000-2000 r--p 00000000 00:00 0\nVmFlags:\nRss:\nTHPeligible:  1\n", "t");
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    CHECK(r->front().vm_flags.empty());
  }
}

TEST_CASE("non-UTF-8 names survive the parser and print as valid JSON", "[robust][maps][json]") {
  auto r = parse_maps("1000-2000 r--p 00000000 fd:01 42 /tmp/a\xff\xc3(b\n", "t");
  REQUIRE(r);
  CHECK(r->front().name == "/tmp/a\xff\xc3(b");  // bytes kept as the kernel printed them
  nlohmann::json j{{"name", r->front().name}};
  std::string text;
  REQUIRE_NOTHROW(text = to_text(j));
  // Each invalid byte becomes U+FFFD (EF BF BD).
  CHECK(text == "{\n  \"name\": \"/tmp/a\xef\xbf\xbd\xef\xbf\xbd(b\"\n}");
  CHECK_NOTHROW(nlohmann::json::parse(text));
}

TEST_CASE("a NUL byte in any field is rejected naming its line", "[robust][maps]") {
  const std::string line = "7f0000000000-7f0000001000 r-xp 00001000 fd:01 1234 /usr/lib/x.so";
  for (std::size_t i = 0; i < line.size(); ++i) {
    std::string text = "1000-2000 r--p 00000000 00:00 0\n" + line + "\n";
    text[32 + i] = '\0';
    CAPTURE(i);
    auto r = parse_maps(text, "t");
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "t:2: malformed maps entry: NUL byte in line");
  }
}

TEST_CASE("write_map_json and map_json_text give the same bytes as to_text(map_json)", "[robust][json]") {
  std::string text =
      "1000-2000 r--p 00000000 fd:01 42 /tmp/a\xff\n"
      "5000-6000 rw-p 00000000 00:00 0 \n"
      "7000-8000 ---p 00000000 00:00 0 \n"
      "8000-9000 rw-p 00000000 00:00 0                          [stack]\n"
      "VmFlags: rd wr gd\n";
  auto maps = parse_maps(text, "t");
  REQUIRE(maps);
  Snapshot s;
  s.mappings = *maps;
  s.guard_pages = {{0x5000, 0x5800}};
  ElfCache cache;
  auto map = AddressMap::build(s, cache);
  auto [gaps, kind] = GENERATE(table<bool, std::optional<RegionKind>>({
      {false, std::nullopt}, {true, std::nullopt}, {true, RegionKind::unmapped}, {false, RegionKind::heap}}));
  MapFilter filter;
  filter.gaps = gaps;
  filter.kind = kind;
  CAPTURE(gaps, kind.has_value());
  std::ostringstream out;
  write_map_json(out, map, filter);
  CHECK(out.str() == to_text(map_json(map, filter)));
  CHECK(map_json_text(map, filter) == out.str());  // what LLDB and GDB print
}
