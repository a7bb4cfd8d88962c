// The parser's tolerance policy (core/maps_parser.h), one named case each.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "maps_parser.h"

using namespace vma;

namespace {
Mapping one(std::string_view text) {
  auto r = parse_maps(text, "t");
  REQUIRE(r);
  REQUIRE(r->size() == 1);
  return r->front();
}
}  // namespace

TEST_CASE("a full line parses every field", "[parser]") {
  Mapping m = one("7f1c2a000000-7f1c2a021000 r-xp 00002000 fd:01 1835029                    /usr/lib/x.so\n");
  CHECK(m.range.start == 0x7f1c2a000000);
  CHECK(m.range.end == 0x7f1c2a021000);
  CHECK(to_string(m.perms) == "r-xp");
  CHECK(m.offset == 0x2000);
  CHECK(m.dev_major == 0xfd);
  CHECK(m.dev_minor == 0x01);
  CHECK(m.dev_string() == "fd:01");
  CHECK(m.inode == 1835029);
  CHECK(m.name == "/usr/lib/x.so");
  CHECK(m.is_file());
  CHECK_FALSE(m.is_deleted());
}

TEST_CASE("anonymous line with the kernel's trailing blank has no name", "[parser]") {
  Mapping m = one("7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n");
  CHECK(m.name.empty());
  CHECK(m.is_anonymous());
}

TEST_CASE("path with spaces is everything after the inode column", "[parser]") {
  CHECK(one("1000-2000 r--p 00000000 fd:01 42                         /tmp/my file.txt").name == "/tmp/my file.txt");
}

TEST_CASE("trailing blanks of a name are kept", "[parser]") {
  CHECK(one("1000-2000 r--p 00000000 fd:01 42 /tmp/x  ").name == "/tmp/x  ");
}

TEST_CASE("deleted suffix is kept in the name and recognised", "[parser]") {
  Mapping m = one("1000-2000 r--p 00000000 fd:01 42 /tmp/gone (deleted)");
  CHECK(m.name == "/tmp/gone (deleted)");
  CHECK(m.is_deleted());
  CHECK(m.file_path() == "/tmp/gone");
}

TEST_CASE("escaped newline \\012 is decoded", "[parser]") {
  CHECK(one("1000-2000 r--p 00000000 fd:01 42 /tmp/a\\012b").name == "/tmp/a\nb");
  CHECK(one("1000-2000 r--p 00000000 fd:01 42 /tmp/a\\b").name == "/tmp/a\\b");
}

TEST_CASE("missing final newline is accepted", "[parser]") {
  auto r = parse_maps("1000-2000 r--p 00000000 00:00 0\n3000-4000 rw-p 00000000 00:00 0", "t");
  REQUIRE(r);
  CHECK(r->size() == 2);
}

TEST_CASE("empty input is an empty map", "[parser]") {
  auto r = parse_maps("", "t");
  REQUIRE(r);
  CHECK(r->empty());
}

TEST_CASE("upper-case hex is accepted", "[parser]") {
  Mapping m = one("7F00A000-7F00B000 r-xp 0000A000 FD:0A 1 /x");
  CHECK(m.range.start == 0x7f00a000);
  CHECK(m.dev_minor == 0xa);
}

TEST_CASE("pseudo names", "[parser]") {
  auto name = GENERATE("[heap]", "[stack]", "[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]", "[uprobes]",
                       "[anon:my buffer]", "[anon_shmem:shm]", "[stack:1234]");
  CAPTURE(name);
  Mapping m = one(fmt::format("1000-2000 rw-p 00000000 00:00 0                          {}", name));
  CHECK(m.name == name);
  CHECK(m.is_pseudo());
  CHECK_FALSE(m.is_file());
}

TEST_CASE("smaps property lines are skipped and VmFlags kept", "[parser]") {
  auto r = parse_maps(
      "1000-2000 rw-p 00000000 00:00 0                          [stack]\n"
      "Size:                  4 kB\n"
      "KernelPageSize:        4 kB\n"
      "THPeligible:    0\n"
      "VmFlags: rd wr mr mw me gd ac \n"
      "3000-4000 r--p 00000000 00:00 0 \n"
      "Size:                  4 kB\n",
      "t");
  REQUIRE(r);
  REQUIRE(r->size() == 2);
  CHECK((*r)[0].vm_flags == "rd wr mr mw me gd ac");
  CHECK((*r)[0].has_vm_flag("gd"));
  CHECK_FALSE((*r)[0].has_vm_flag("g"));
  CHECK((*r)[1].vm_flags.empty());
}

TEST_CASE("malformed lines are rejected with source, line and field", "[parser]") {
  auto [text, want] = GENERATE(table<const char*, const char*>({
      {"00400000 r-xp 00000000 fd:01 1 /bin/x", "t:1: malformed maps entry: missing dash between address range (field 1)"},
      {"0040000g-00401000 r-xp 00000000 fd:01 1", "t:1: malformed maps entry: bad start address \"0040000g\" (field 1)"},
      {"-00401000 r-xp 00000000 fd:01 1", "t:1: malformed maps entry: missing start address (field 1)"},
      {"00400000-10000000000000000 r-xp 00000000 fd:01 1",
       "t:1: malformed maps entry: end address \"10000000000000000\" overflows 64 bits (field 1)"},
      {"00402000-00401000 r-xp 00000000 fd:01 1",
       "t:1: malformed maps entry: start address 0x402000 is above end address 0x401000 (field 1)"},
      {"00400000-00401000", "t:1: malformed maps entry: missing permissions (field 2)"},
      {"00400000-00401000 rwzp 00000000 fd:01 1",
       "t:1: malformed maps entry: bad permissions \"rwzp\" (expected [r-][w-][x-][ps]) (field 2)"},
      {"00400000-00401000 r-x 00000000 fd:01 1",
       "t:1: malformed maps entry: bad permissions \"r-x\" (expected [r-][w-][x-][ps]) (field 2)"},
      {"00400000-00401000 r-xp 0000zz00 fd:01 1", "t:1: malformed maps entry: bad offset \"0000zz00\" (field 3)"},
      {"00400000-00401000 r-xp", "t:1: malformed maps entry: missing offset (field 3)"},
      {"00400000-00401000 r-xp 00000000 fd01 1",
       "t:1: malformed maps entry: bad device \"fd01\" (expected hex major:minor) (field 4)"},
      {"00400000-00401000 r-xp 00000000 fd:0x 1", "t:1: malformed maps entry: bad device minor \"0x\" (field 4)"},
      {"00400000-00401000 r-xp 00000000 fd:01 12a", "t:1: malformed maps entry: bad inode \"12a\" (field 5)"},
      {"00400000-00401000 r-xp 00000000 fd:01", "t:1: malformed maps entry: missing inode (field 5)"},
      {"00400000-00401000 r-xp 00000000 fd:01 99999999999999999999",
       "t:1: malformed maps entry: inode \"99999999999999999999\" overflows 64 bits (field 5)"},
      {"Size:  4 kB\n", "t:1: malformed maps entry: smaps property line before any mapping"},
      {"1000-2000 r--p 00000000 00:00 0\n\n3000-4000 r--p 00000000 00:00 0",
       "t:2: malformed maps entry: empty line"},
      {"1000-3000 r--p 00000000 00:00 0\n2000-4000 r--p 00000000 00:00 0",
       "t:2: malformed maps entry: range 0x2000-0x4000 overlaps or precedes the previous mapping (ends at 0x3000) "
       "(field 1)"},
      {"1000-2000 r--p 00000000 00:00 0\n3000-4000 r--p 00000000 00:00 0\n5000-6000 r-p 00000000 00:00 0\n",
       "t:3: malformed maps entry: bad permissions \"r-p\" (expected [r-][w-][x-][ps]) (field 2)"},
  }));
  CAPTURE(text);
  auto r = parse_maps(text, "t");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == want);
}

TEST_CASE("a NUL byte is rejected naming its line", "[parser]") {
  std::string text = "1000-2000 r--p 00000000 00:00 0\n3000-4000 r--p 00000000 00:00 0 /a";
  text.push_back('\0');
  text += "b\n";
  auto r = parse_maps(text, "t");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "t:2: malformed maps entry: NUL byte in line");
}

TEST_CASE("a 500,000-line map parses in full", "[parser][large]") {
  std::string text;
  text.reserve(500000 * 80);
  for (std::uint64_t i = 0; i < 500000; ++i)
    text += fmt::format("{:x}-{:x} rw-p 00000000 00:00 0                          [anon:n{}]\n", 0x10000 + i * 0x2000,
                        0x11000 + i * 0x2000, i);
  auto r = parse_maps(text, "big");
  REQUIRE(r);
  CHECK(r->size() == 500000);
  CHECK(r->back().name == "[anon:n499999]");
}

TEST_CASE("a 1 MiB path parses", "[parser][large]") {
  std::string name = "/" + std::string(1 << 20, 'a');
  CHECK(one("1000-2000 r--p 00000000 fd:01 42 " + name).name == name);
}

TEST_CASE("MapsParser fed line by line gives what parse_maps gives, errors included", "[parser]") {
  // Pieces cut at every line end (what ProcSource's reader hands over):
  // same mappings, same VmFlags, same message with the same line number.
  std::string text = GENERATE(as<std::string>{},
                              "1000-2000 r-xp 00000000 fd:01 7 /bin/x\n3000-4000 rw-p 00000000 00:00 0 [heap]\n",
                              "1000-2000 r--p 00000000 00:00 0\nSize: 4 kB\nVmFlags: rd mr \n3000-4000 rw-p 00000000 "
                              "00:00 0\nVmFlags: rd wr\n",
                              "1000-2000 r--p 00000000 00:00 0\n3000-4000 r--p 00000000 00:00 0\n5000-6000 r-p "
                              "00000000 00:00 0\n",
                              "1000-3000 r--p 00000000 00:00 0\n2000-4000 r--p 00000000 00:00 0\n",
                              "1000-2000 r--p 00000000 00:00 0\n\n3000-4000 r--p 00000000 00:00 0");
  CAPTURE(text);
  auto whole = parse_maps(text, "t");
  MapsParser p("t");
  Result<void> fed;
  for (std::size_t pos = 0; pos < text.size() && fed;) {
    std::size_t nl = text.find('\n', pos);
    std::size_t end = nl == std::string::npos ? text.size() : nl + 1;
    fed = p.feed(std::string_view(text).substr(pos, end - pos));
    pos = end;
  }
  REQUIRE(bool(whole) == bool(fed));
  if (!whole) {
    CHECK(fed.error().message == whole.error().message);
    return;
  }
  std::vector<Mapping> pieces = p.take();
  REQUIRE(pieces.size() == whole->size());
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    CHECK(pieces[i].range.start == (*whole)[i].range.start);
    CHECK(pieces[i].range.end == (*whole)[i].range.end);
    CHECK(pieces[i].perms == (*whole)[i].perms);
    CHECK(pieces[i].name == (*whole)[i].name);
    CHECK(pieces[i].vm_flags == (*whole)[i].vm_flags);
  }
}

TEST_CASE("MapsParser counts lines across pieces for a NUL byte", "[parser]") {
  MapsParser p("t");
  REQUIRE(p.feed("1000-2000 r--p 00000000 00:00 0\n3000-4000 r--p 00000000 00:00 0\n"));
  std::string bad = "5000-6000 r--p 00000000 00:00 0 /a";
  bad.push_back('\0');
  auto r = p.feed(bad);
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "t:3: malformed maps entry: NUL byte in line");
}
