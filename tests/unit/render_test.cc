// The JSON contract (README.md): names other tools read.
#include <sstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "annotation.h"
#include "region_source.h"
#include "render.h"

using namespace vma;
using nlohmann::json;

namespace {
AddressMap small_map() {
  auto t = Target::parse("x86_64");
  REQUIRE(t);
  t->mmap_min_addr = 4096;
  TextSource src(
      "555555554000-555555555000 r-xp 00001000 fd:01 99                          /bin/prog\n"
      "555555560000-555555581000 rw-p 00000000 00:00 0                          [heap]\n"
      "7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]\n",
      "small", *t);
  src.set_threads({{42, 0x7ffc00020000}}, 42);
  auto s = src.snapshot();
  REQUIRE(s);
  static ElfCache cache;
  return AddressMap::build(std::move(s).value(), cache);
}
}  // namespace

TEST_CASE("whereis JSON has the contract's keys and hex strings", "[render]") {
  AddressMap map = small_map();
  json j = whereis_json({annotate(map, 0x555555554010), annotate(map, 0x555555556000), annotate(map, 0)});
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 3);
  const json& t = j[0];
  for (const char* key : {"address", "kind", "mapped", "region", "offset_in_region", "section", "symbol", "thread",
                          "below", "above"})
    CHECK(t.contains(key));
  CHECK(t["address"] == "0x555555554010");
  CHECK(t["kind"] == "text");
  CHECK(t["mapped"] == true);
  CHECK(t["region"]["start"] == "0x555555554000");
  CHECK(t["region"]["end"] == "0x555555555000");
  CHECK(t["region"]["perms"] == "r-xp");
  CHECK(t["region"]["offset"] == "0x1000");
  CHECK(t["region"]["dev"] == "fd:01");
  CHECK(t["region"]["inode"] == 99);
  CHECK(t["region"]["path"] == "/bin/prog");
  CHECK(t["offset_in_region"] == "0x10");
  CHECK(t["below"].is_null());

  const json& gap = j[1];
  CHECK(gap["kind"] == "unmapped");
  CHECK(gap["mapped"] == false);
  CHECK(gap["region"].is_null());
  CHECK(gap["below"]["start"] == "0x555555554000");
  CHECK(gap["below"]["kind"] == "text");
  CHECK(gap["below"]["distance"] == 0x1000);
  CHECK(gap["above"]["path"] == "[heap]");
  CHECK(j[2]["kind"] == "null-page");
}

TEST_CASE("map JSON lists every region in order, with gaps on request", "[render]") {
  AddressMap map = small_map();
  json j = map_json(map, {});
  REQUIRE(j["regions"].size() == 3);
  CHECK(j["regions"][0]["kind"] == "text");
  CHECK(j["regions"][1]["kind"] == "heap");
  CHECK(j["regions"][2]["kind"] == "stack");
  CHECK(j["regions"][2]["thread"] == 42);
  json g = map_json(map, {std::nullopt, true});
  // A gap from mmap_min_addr to the first region, and two between regions.
  REQUIRE(g["regions"].size() == 6);
  CHECK(g["regions"][0]["kind"] == "unmapped");
  CHECK(g["regions"][0]["start"] == "0x1000");
  json only = map_json(map, {RegionKind::heap, false});
  REQUIRE(only["regions"].size() == 1);
  CHECK(only["regions"][0]["path"] == "[heap]");
}

TEST_CASE("text output is aligned and colour is opt-in", "[render]") {
  AddressMap map = small_map();
  std::string plain = map_text(map, {}, {false});
  CHECK(plain.find("\x1b[") == std::string::npos);
  CHECK(plain.find("0x555555554000  0x555555555000  r-xp      4 KiB  text") != std::string::npos);
  std::string colour = map_text(map, {}, {true});
  CHECK(colour.find("\x1b[31mtext") != std::string::npos);
  std::string w = whereis_text({annotate(map, 0x7ffc00000010)}, {false});
  CHECK(w.rfind("0x00007ffc00000010  stack  on the main thread's stack (thread 42)\n", 0) == 0);
  CHECK(legend_text({false}).find("thread-stack   a thread's stack") != std::string::npos);
}

TEST_CASE("the streamed map text is the same bytes as map_text", "[render]") {
  // write_map_text hands out 256 KiB pieces: a map far bigger than that,
  // with gaps, guard pages and a legend, in one piece and streamed.
  auto t = Target::parse("x86_64");
  REQUIRE(t);
  std::string text;
  for (Addr i = 0; i < 20000; ++i)
    text += fmt::format("{:x}-{:x} rw-p 00000000 00:00 0 {}\n", 0x10000000 + i * 0x3000, 0x10001000 + i * 0x3000,
                        i % 7 ? "" : "[anon:x]");
  TextSource src(text, "big", *t);
  auto s = src.snapshot();
  REQUIRE(s);
  s->guard_pages = {{0x10000000 + 30 * 0x3000, 0x10000000 + 30 * 0x3000 + 0x1000}};
  static ElfCache cache;
  AddressMap map = AddressMap::build(std::move(s).value(), cache);
  for (bool gaps : {false, true}) {
    MapFilter f;
    f.gaps = gaps;
    TextStyle st{true, true};
    std::string whole = map_text(map, f, st);
    CHECK(whole.size() > 3 * 256 * 1024);
    CHECK(whole.find("guard pages 0x1005a000-0x1005b000") != std::string::npos);
    std::ostringstream streamed;
    write_map_text(streamed, map, f, st);
    CHECK(streamed.str() == whole);
  }
}
