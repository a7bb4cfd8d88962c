#include <catch2/catch.hpp>

#include "address.h"
#include "perms.h"

using namespace vma;

TEST_CASE("parse_address accepts hex, decimal and separators", "[address]") {
  auto [text, want] = GENERATE(table<const char*, Addr>({
      {"0x0", 0},
      {"0", 0},
      {"4096", 4096},
      {"0x7ffd1234", 0x7ffd1234},
      {"0X7FFD1234", 0x7ffd1234},
      {"0xffffffffffffffff", ~Addr{0}},
      {"0xffff_8880_0000_0000", 0xffff888000000000},
      {"18446744073709551615", ~Addr{0}},
  }));
  CAPTURE(text);
  auto a = parse_address(text);
  REQUIRE(a);
  CHECK(*a == want);
}

TEST_CASE("parse_address rejects bad text with a reason", "[address]") {
  auto [text, why] = GENERATE(table<const char*, const char*>({
      {"", "invalid address \"\": no digits"},
      {"0x", "invalid address \"0x\": expected 0x-prefixed hex or decimal"},
      {"0x1g", "invalid address \"0x1g\": expected 0x-prefixed hex or decimal"},
      {"-1", "invalid address \"-1\": expected 0x-prefixed hex or decimal"},
      {"0x10000000000000000", "invalid address \"0x10000000000000000\": does not fit in 64 bits"},
      {"18446744073709551616", "invalid address \"18446744073709551616\": does not fit in 64 bits"},
      {"$rsp", "invalid address \"$rsp\": expected 0x-prefixed hex or decimal"},
  }));
  CAPTURE(text);
  std::string msg;
  CHECK_FALSE(parse_address(text, &msg));
  CHECK(msg == why);
}

TEST_CASE("AddressRange is half open", "[address]") {
  AddressRange r{0x1000, 0x2000};
  CHECK(r.contains(0x1000));
  CHECK(r.contains(0x1fff));
  CHECK_FALSE(r.contains(0x2000));
  CHECK_FALSE(r.contains(0xfff));
  CHECK(r.size() == 0x1000);
  CHECK(r.overlaps({0x1fff, 0x3000}));
  CHECK_FALSE(r.overlaps({0x2000, 0x3000}));
  CHECK(AddressRange{1, 2} < AddressRange{2, 3});
}

TEST_CASE("human_size", "[address]") {
  CHECK(human_size(0) == "0 B");
  CHECK(human_size(4096) == "4 KiB");
  CHECK(human_size(8u << 20) == "8 MiB");
  CHECK(human_size(1536) == "1.5 KiB");
}

TEST_CASE("perms round trip", "[perms]") {
  auto text = GENERATE("r-xp", "rw-p", "---p", "rw-s", "rwxp", "r--s", "--xp");
  CAPTURE(text);
  auto p = parse_perms(text);
  REQUIRE(p);
  CHECK(to_string(*p) == text);
}

TEST_CASE("perms reject bad strings", "[perms]") {
  auto text = GENERATE("rwxq", "rw-", "rw-pp", "xwrp", "R-xp", "");
  CAPTURE(text);
  CHECK_FALSE(parse_perms(text));
}
