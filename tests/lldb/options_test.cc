// Flag parsing of the `vma` LLDB commands (plugin/lldb/options.h), without
// LLDB: LLDB hands the command its argv already split, quotes removed.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "options.h"

using vma::lldb_plugin::FlagSpec;
using vma::lldb_plugin::parse_args;

namespace {
constexpr FlagSpec kMap[] = {{"--json", ""}, {"--kind", "K"}, {"--gaps", ""}};

vma::Result<vma::lldb_plugin::ParsedArgs> parse(std::vector<std::string> argv) {
  return parse_args(argv, kMap);
}
}  // namespace

TEST_CASE("flags and operands are separated") {
  auto r = parse({"--json", "$rsp", "buf + 16", "--gaps"});
  REQUIRE(r.ok());
  CHECK(r->has("--json"));
  CHECK(r->has("--gaps"));
  CHECK(r->operands == std::vector<std::string>{"$rsp", "buf + 16"});
}

TEST_CASE("a flag value, separate or after '='") {
  auto a = parse({"--kind", "thread-stack"});
  auto b = parse({"--kind=heap"});
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->flags.at("--kind") == "thread-stack");
  CHECK(b->flags.at("--kind") == "heap");
}

TEST_CASE("negative numbers and expressions are operands") {
  auto r = parse({"-1", "-0x10", "-", "*ptr"});
  REQUIRE(r.ok());
  CHECK(r->operands == std::vector<std::string>{"-1", "-0x10", "-", "*ptr"});
}

TEST_CASE("'--' ends the flags") {
  auto r = parse({"--json", "--", "--gaps", "-x"});
  REQUIRE(r.ok());
  CHECK(r->has("--json"));
  CHECK_FALSE(r->has("--gaps"));
  CHECK(r->operands == std::vector<std::string>{"--gaps", "-x"});
}

TEST_CASE("errors name the flag and list the valid ones") {
  using Row = std::tuple<std::vector<std::string>, std::string>;
  auto [argv, message] = GENERATE(table<std::vector<std::string>, std::string>({
      Row{{"--bogus"}, "unknown option '--bogus'; valid options: --json, --kind K, --gaps"},
      Row{{"-j"}, "unknown option '-j'; valid options: --json, --kind K, --gaps"},
      Row{{"--bogus=1"}, "unknown option '--bogus'; valid options: --json, --kind K, --gaps"},
      Row{{"--kind"}, "option '--kind' needs a value (--kind K)"},
      Row{{"--json=yes"}, "option '--json' takes no value"},
  }));
  CAPTURE(argv);
  auto r = parse(argv);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == message);
}

TEST_CASE("a command without flags lists none") {
  std::vector<std::string> argv{"--json"};
  auto r = parse_args(argv, std::span<const FlagSpec>{});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "unknown option '--json'; valid options: none");
}
