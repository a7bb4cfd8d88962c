// Issue 22: outside strings (names the inspected process, file or saved
// report controls) are escaped and bounded before they reach a terminal or
// an XML document; JSON keeps their bytes as JSON escapes.
#include <csignal>
#include <string>
#include <tuple>

#include <catch2/catch.hpp>

#include "annotation.h"
#include "outside_text.h"
#include "region_source.h"
#include "render.h"
#include "signals.h"

using namespace vma;

namespace {

/// True when `s` holds a byte a terminal acts on: C0 but newline, DEL, or a
/// C1 control (as UTF-8, C2 80-9F).
bool has_raw_control(const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && c != '\n') || c == 0x7f) return true;
    if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(s[i + 1]) <= 0x9f)
      return true;
  }
  return false;
}

AddressMap hostile_map(const std::string& name) {
  auto t = Target::parse("x86_64");
  REQUIRE(t);
  t->mmap_min_addr = 4096;
  TextSource src("555555554000-555555555000 r--p 00000000 fd:01 99                          " + name + "\n" +
                     "7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]\n",
                 "hostile", *t);
  auto s = src.snapshot();
  REQUIRE(s);
  static ElfCache cache;
  return AddressMap::build(std::move(s).value(), cache);
}

}  // namespace

TEST_CASE("safe_text: controls and invalid UTF-8 become \\xNN for a terminal", "[outside]") {
  auto [in, want] = GENERATE(table<std::string, std::string>({
      {"/usr/lib/libc.so.6", "/usr/lib/libc.so.6"},
      {"\x1b[2J", "\\x1b[2J"},
      {"\x1b]0;owned\x07", "\\x1b]0;owned\\x07"},
      {"a\tb\nc\rd", "a\\x09b\\x0ac\\x0dd"},
      {"del\x7f", "del\\x7f"},
      {"c1 \xc2\x9b" "31m", "c1 \\xc2\\x9b31m"},
      {"bad \xff\xfe", "bad \\xff\\xfe"},
      {"overlong \xc0\xaf", "overlong \\xc0\\xaf"},
      {"surrogate \xed\xa0\x80", "surrogate \\xed\\xa0\\x80"},
      {"cut \xe6\x97", "cut \\xe6\\x97"},
      {"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\xa7", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\xa7"},
      {std::string("nul\0byte", 8), "nul\\x00byte"},
  }));
  CAPTURE(in);
  CHECK(safe_text(in) == want);
  std::string appended = "> ";
  append_safe_text(appended, in);
  CHECK(appended == "> " + want);
}

TEST_CASE("safe_text: bounded, never inside a character, and says how much was cut", "[outside]") {
  CHECK(safe_text(std::string(10000, 'a')) == std::string(4096, 'a') + "...[+5904 bytes]");
  CHECK(safe_text(std::string(4096, 'a')) == std::string(4096, 'a'));
  std::string e;
  for (int i = 0; i < 3000; ++i) e += "\xc3\xa9";
  std::string want;
  for (int i = 0; i < 2048; ++i) want += "\xc3\xa9";
  CHECK(safe_text(e, TextSink::terminal, 4095) == want + "...[+1904 bytes]");
  CHECK(safe_text("\x1b\x1b\x1b", TextSink::terminal, 2) == "\\x1b\\x1b...[+1 bytes]");
}

TEST_CASE("safe_text: XML keeps valid XML 1.0 characters only", "[outside]") {
  auto [in, sink, want] = GENERATE(table<std::string, TextSink, std::string>({
      {"<a href=\"x\">&", TextSink::xml, "&lt;a href=&quot;x&quot;&gt;&amp;"},
      {"it's", TextSink::xml, "it's"},
      {"bad \xff", TextSink::xml, "bad \xef\xbf\xbd"},
      {"nonchar \xef\xbf\xbf", TextSink::xml, "nonchar \xef\xbf\xbd"},
      {"esc \x1b[2J bel \x07", TextSink::xml, "esc \\x1b[2J bel \\x07"},
      {"tab\tnl\n", TextSink::xml, "tab\tnl\\x0a"},
      {"tab\tnl\ncr\r", TextSink::xml_multiline, "tab\tnl\ncr\r"},
  }));
  CAPTURE(in);
  CHECK(safe_text(in, sink) == want);
}

TEST_CASE("map and whereis text carry no raw control byte from a mapped file's name", "[outside]") {
  const std::string evil = "/tmp/\x1b[2J\x1b]0;owned\x07" "evil\x1b[31m\xc2\x9b" "1m.bin";
  AddressMap map = hostile_map(evil);
  const std::string text = map_text(map, {}, {});
  CHECK_FALSE(has_raw_control(text));
  CHECK(text.find("/tmp/\\x1b[2J\\x1b]0;owned\\x07evil\\x1b[31m\\xc2\\x9b1m.bin") != std::string::npos);
  const std::string where = whereis_text({annotate(map, 0x555555554010), annotate(map, 0x555555556000)}, {});
  CHECK_FALSE(has_raw_control(where));
  CHECK(where.find("\\x1b[2J") != std::string::npos);
  // JSON keeps the exact name (as JSON escapes: \u001b, \u0007).
  CHECK(map_json(map, {})["regions"][0]["path"] == evil);
  CHECK(to_text(map_json(map, {})).find("/tmp/\\u001b[2J\\u001b]0;owned\\u0007evil") != std::string::npos);
}

TEST_CASE("a stop that is not a memory fault says so, and annotates nothing", "[outside][signals]") {
  auto [signo, code, memory] = GENERATE(table<int, int, bool>({
      {SIGSEGV, 1, true},   // SEGV_MAPERR
      {SIGSEGV, 0x80, true},  // SI_KERNEL: #GP
      {SIGBUS, 2, true},
      {SIGILL, 2, true},
      {SIGFPE, 1, true},
      {SIGTRAP, 0, false},  // SI_USER: the entry stop of `process launch -s`
      {SIGTRAP, 0x80, false},  // SI_KERNEL: int3
      {SIGTRAP, 2, false},  // TRAP_TRACE
      {SIGSEGV, 0, false},  // kill -SEGV
      {SIGSEGV, -6, false},  // tgkill
      {SIGSTOP, 0, false},
      {SIGABRT, -6, false},
      {SIGCHLD, 1, false},
  }));
  CAPTURE(signo, code);
  CHECK(is_memory_fault(signo, code) == memory);
  Fault f;
  f.signo = SIGTRAP;
  f.code = 0;
  f.pc = 0x7ffff7fe3290;
  f.instruction = "mov rdi, rsp";
  CHECK(not_a_fault_text(f) ==
        "SIGTRAP (SI_USER): not a memory fault\n"
        "    why        a signal sent by a process (SI_USER), not raised by a faulting access: it carries no fault "
        "address\n"
        "    pc         0x7ffff7fe3290  mov rdi, rsp\n");
  const auto j = not_a_fault_json(f);
  CHECK(j["memory_fault"] == false);
  CHECK(j["at"].is_null());
  CHECK(j["addr"].is_null());
  CHECK(j["signal"] == "SIGTRAP");
  f.code = 0x80;
  CHECK(not_a_fault_text(f).starts_with("SIGTRAP (SI_KERNEL): not a memory fault\n    why        a trap (SI_KERNEL: "));
}
