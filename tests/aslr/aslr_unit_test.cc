// Unit tests for ASLR counting (core/aslr.h) and the audit's pure parts
// (harness/audit.h, kconfig.h, environment.h's cmdline_param,
// aslr_sampler.h's line parser): synthetic inputs, exact messages.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "aslr.h"
#include "aslr_sampler.h"
#include "audit.h"
#include "environment.h"
#include "kconfig.h"

using namespace vma;
using namespace vma::harness;

namespace {

/// `n` addresses base + (uniform `bits`-bit page offset << 12) + sub_page.
std::vector<std::uint64_t> uniform_pages(std::size_t n, unsigned bits, std::uint64_t base,
                                         std::uint64_t sub_page = 0, std::uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(base + ((rng() & ((1ULL << bits) - 1)) << 12) + sub_page);
  return out;
}

}  // namespace

TEST_CASE("aslr regions: names round-trip in report order") {
  REQUIRE(aslr_regions().size() == 11);
  const char* names[] = {"stack", "pie", "heap", "heap-exec", "mmap", "mmap-big",
                         "shlib", "vdso", "arg", "thread-stack", "shlib-delta"};
  for (std::size_t i = 0; i < 11; ++i) {
    CAPTURE(names[i]);
    CHECK(aslr_regions()[i].name == names[i]);
    REQUIRE(parse_aslr_region(names[i]));
    CHECK(to_string(*parse_aslr_region(names[i])) == names[i]);
  }
  CHECK_FALSE(parse_aslr_region("heap_exec"));
}

TEST_CASE("paxtest_bits: fewer than two samples or no variation is 0") {
  CHECK(paxtest_bits({}) == 0);
  std::vector<std::uint64_t> one = {0x7ffc12345000};
  CHECK(paxtest_bits(one) == 0);
  std::vector<std::uint64_t> same(100, 0x7ffc12345000);
  CHECK(paxtest_bits(same) == 0);
}

TEST_CASE("paxtest_bits: a bit counts when set in more than 35 % and fewer than 65 % of samples") {
  // 100 samples, bit 20 set in `set` of them: randbody.c's thresholds are
  // 100*35/100 = 35 and 100*65/100 = 65, both exclusive.
  auto [set, counted] = GENERATE(table<int, unsigned>({{1, 0}, {35, 0}, {36, 1}, {50, 1}, {64, 1}, {65, 0}, {99, 0}}));
  CAPTURE(set);
  std::vector<std::uint64_t> s(100, 0x1000);
  for (int i = 0; i < set; ++i) s[i] |= 1ULL << 20;
  CHECK(paxtest_bits(s) == counted);
}

TEST_CASE("paxtest_bits: uniform offsets give their width, sub-page bits included") {
  CHECK(paxtest_bits(uniform_pages(1500, 28, 0x7f0000000000)) == 28);
  // A 16-byte aligned shift below 8 KiB (arch_align_stack) adds 8 bits 4..11.
  auto s = uniform_pages(1500, 22, 0x7ff000000000);
  std::mt19937_64 rng(7);
  for (auto& a : s) a -= (rng() % 4096) & ~0xfULL;
  CHECK(paxtest_bits(s) >= 29);
}

TEST_CASE("page_entropy_bits: only page-number bits count") {
  std::vector<std::uint64_t> s;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 1000; ++i) s.push_back(0x7ffc00000000 + (rng() & 0xfff));
  CHECK(page_entropy_bits(s, 4096) == Approx(0).margin(1e-9));
  CHECK(paxtest_bits(s) == 12);
}

TEST_CASE("page_entropy_bits: an unaligned base does not add carry bits") {
  // PIE: 0x555555554000 + a 10-bit page offset. Carries into bits above 10
  // are correlated with the offset; subtracting the lowest sample removes them.
  auto s = uniform_pages(20000, 10, 0x555555554000);
  CHECK(page_entropy_bits(s, 4096) == Approx(10).margin(0.05));
  CHECK(page_entropy_bits(uniform_pages(20000, 10, 0), 4096) == Approx(10).margin(0.05));
}

TEST_CASE("page_entropy_bits: a biased bit counts for its binary entropy") {
  // Bit 12 (page bit 0) set in 30 % of samples: H(0.3) = 0.881.
  std::vector<std::uint64_t> s(1000, 0x10000);
  for (int i = 0; i < 300; ++i) s[i] += 0x1000;
  CHECK(page_entropy_bits(s, 4096) == Approx(0.8813).margin(0.001));
  CHECK(paxtest_bits(s) == 0);
}

TEST_CASE("parse_sampler_line") {
  auto ok = parse_sampler_line("mmap-big 0x7f6095200000");
  REQUIRE(ok);
  CHECK(ok->first == "mmap-big");
  CHECK(ok->second == 0x7f6095200000ULL);
  auto [line, msg] = GENERATE(table<std::string, std::string>({
      {"stack", "aslr-sampler: malformed line 'stack': expected 'region 0x...'"},
      {"stack 7ffc", "aslr-sampler: malformed address in 'stack 7ffc'"},
      {"stack 0x", "aslr-sampler: malformed address in 'stack 0x'"},
      {"stack 0x7ffg", "aslr-sampler: malformed address in 'stack 0x7ffg'"},
      {"stack 0x10000000000000000", "aslr-sampler: malformed address in 'stack 0x10000000000000000'"},
  }));
  CAPTURE(line);
  auto bad = parse_sampler_line(line);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == msg);
}

TEST_CASE("cmdline_param: last wins, quotes group, -- ends the kernel's part") {
  const std::string cmdline = "console=ttyS0 norandmaps vsyscall=emulate x=\"a b\" vsyscall=none -- vsyscall=xonly";
  CHECK(cmdline_param(cmdline, "vsyscall") == std::optional<std::string>("none"));
  CHECK(cmdline_param(cmdline, "norandmaps") == std::optional<std::string>(""));
  CHECK(cmdline_param(cmdline, "x") == std::optional<std::string>("a b"));
  CHECK_FALSE(cmdline_param(cmdline, "stack_guard_gap"));
  CHECK_FALSE(cmdline_param(cmdline, "norandmap"));
  CHECK_FALSE(cmdline_param("", "vsyscall"));
}

TEST_CASE("parse_kconfig: values, not-set lines, comments") {
  auto k = parse_kconfig("#\n# Automatically generated file\n#\nCONFIG_A=y\n# CONFIG_B is not set\n\nCONFIG_LSM=\"x,y\"\n"
                         "CONFIG_ARCH_MMAP_RND_BITS=28\nCONFIG_M=m",
                         "cfg");
  REQUIRE(k);
  CHECK(k->get("A") == std::optional<std::string>("y"));
  CHECK(k->get("B") == std::optional<std::string>("n"));
  CHECK(k->get("LSM") == std::optional<std::string>("\"x,y\""));
  CHECK(k->get("ARCH_MMAP_RND_BITS") == std::optional<std::string>("28"));
  CHECK(k->get("M") == std::optional<std::string>("m"));
  CHECK_FALSE(k->get("C"));
  CHECK(k->source == "cfg");
}

TEST_CASE("parse_kconfig: errors name the file and line") {
  auto [text, msg] = GENERATE(table<std::string, std::string>({
      {"CONFIG_A=y\nFOO=y\n", "cfg:2: expected CONFIG_NAME=value"},
      {"CONFIG_A\n", "cfg:1: expected CONFIG_NAME=value"},
      {"\n\nCONFIG_=y\n", "cfg:3: expected CONFIG_NAME=value"},
  }));
  CAPTURE(text);
  auto k = parse_kconfig(text, "cfg");
  REQUIRE_FALSE(k);
  CHECK(k.error().message == msg);
}

TEST_CASE("audit rules") {
  auto [rule, value, accepted] = GENERATE(table<std::string, std::string, bool>({
      {"2", "2", true},
      {"2", "1", false},
      {">= 4096", "4096", true},
      {">= 65536", "4096", false},
      {"<= 1", "0", true},
      {"> 1", "1", false},
      {"< 1", "0", true},
      {">= 8|not present", "16", true},
      {"xonly|none", "none", true},
      {"xonly|none", "emulate", false},
      {"any", "whatever", true},
      {"y", "n", false},
      {">= 28", "abc", false},
      {">= 0x10", "16", true},
  }));
  CAPTURE(rule, value);
  CHECK_FALSE(check_audit_rule(rule));
  CHECK(rule_accepts(rule, value) == accepted);
}

TEST_CASE("audit rules: syntax errors") {
  CHECK(check_audit_rule(">= 4k") == std::optional<std::string>("bad number in '>= 4k' (>= N, <= N, > N, < N)"));
  CHECK(check_audit_rule("") == std::optional<std::string>("empty rule"));
  CHECK(check_audit_rule("2||3") == std::optional<std::string>("empty alternative in '2||3'"));
}

TEST_CASE("judge_audit: status from reading and rule") {
  AuditFacts f;
  f.arch = "x86_64";
  f.readings["randomize_va_space"] = {Reading::State::value, "2", ""};
  f.readings["mmap_min_addr"] = {Reading::State::value, "4096", ""};
  f.readings["ptrace_scope"] = {Reading::State::absent, "not present (Yama not built in)", ""};
  f.readings["memfd_noexec"] = {Reading::State::absent, "not present (Linux < 6.3)", ""};
  f.readings["CONFIG_RANDOMIZE_BASE"] = {Reading::State::unknown, "unknown (no /proc/config.gz or /boot/config-x)", ""};
  auto e = audit_expectations("hardened", "x86_64");
  e["ptrace_scope"].expected = "any";
  AuditReport r = judge_audit(f, e, "hardened");
  REQUIRE(r.checks.size() == audit_check_names().size());
  auto check = [&](std::string_view name) {
    for (const auto& c : r.checks)
      if (c.name == name) return c;
    FAIL("no check " << name);
    return AuditCheck{};
  };
  CHECK(check("randomize_va_space").status == AuditStatus::pass);
  CHECK(check("mmap_min_addr").status == AuditStatus::fail);
  CHECK(check("mmap_min_addr").expected == ">= 65536");
  CHECK(check("ptrace_scope").status == AuditStatus::skip);
  CHECK(check("ptrace_scope").value == "not present (Yama not built in)");
  CHECK(check("memfd_noexec").status == AuditStatus::fail);
  CHECK(check("CONFIG_RANDOMIZE_BASE").status == AuditStatus::unknown);
  CHECK(check("CONFIG_RANDOMIZE_BASE").value == "unknown (no /proc/config.gz or /boot/config-x)");
  CHECK(check("cpu.nx").status == AuditStatus::unknown);  // not read at all
  CHECK(exit_status(r) == 1);
}
