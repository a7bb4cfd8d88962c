#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "target.h"

using namespace vma;

namespace {
Target t(const char* name) {
  auto r = Target::parse(name);
  REQUIRE(r);
  r->mmap_min_addr = 4096;
  return *r;
}
std::string where(const Target& tg, Addr a) {
  OutsideInfo o = classify_outside(tg, a);
  const char* w[] = {"null-page", "gap", "non-canonical", "kernel"};
  std::string s = w[static_cast<int>(o.where)];
  if (!o.sub_area.empty()) s += ": " + o.sub_area;
  return s;
}
}  // namespace

TEST_CASE("x86_64 4-level layout", "[target]") {
  Target x = t("x86_64");
  CHECK(x.user_end() == 0x800000000000);
  CHECK(x.kernel_start() == 0xffff800000000000);
  auto [addr, want] = GENERATE(table<Addr, const char*>({
      {0x0, "null-page"},
      {0xfff, "null-page"},
      {0x1000, "gap"},
      {0x7fffffffffff, "gap"},
      {0x800000000000, "non-canonical"},
      {0xffff7fffffffffff, "non-canonical"},
      {0xffff800000000000, "kernel: guard hole"},
      {0xffff880000000000, "kernel: LDT remap"},
      {0xffff888000000000, "kernel: direct map"},
      {0xffffc87fffffffff, "kernel: direct map"},
      {0xffffc90000000000, "kernel: vmalloc"},
      {0xffffea0000000000, "kernel: vmemmap"},
      {0xffffec0000000000, "kernel: KASAN shadow"},
      {0xfffffe0000000000, "kernel: cpu entry area"},
      {0xffffffff80000000, "kernel: kernel text"},
      {0xffffffff81000000, "kernel: kernel text"},
      {0xffffffffa0000000, "kernel: modules"},
      {0xffffffffff000000, "kernel: fixmap"},
      {0xffffffffff600000, "kernel: vsyscall"},
  }));
  CAPTURE(fmt::format("{:#x}", addr));
  CHECK(where(x, addr) == want);
}

TEST_CASE("x86_64 5-level layout", "[target]") {
  Target x = t("x86_64-la57");
  CHECK(x.user_end() == 0x0100000000000000);
  auto [addr, want] = GENERATE(table<Addr, const char*>({
      {0x800000000000, "gap"},
      {0x00ffffffffffffff, "gap"},
      {0x0100000000000000, "non-canonical"},
      {0xfeffffffffffffff, "non-canonical"},
      {0xff00000000000000, "kernel: guard hole"},
      {0xff11000000000000, "kernel: direct map"},
      {0xffa0000000000000, "kernel: vmalloc"},
      {0xffd4000000000000, "kernel: vmemmap"},
      {0xffffffff81000000, "kernel: kernel text"},
  }));
  CAPTURE(fmt::format("{:#x}", addr));
  CHECK(where(x, addr) == want);
}

TEST_CASE("aarch64 layouts and top-byte-ignore", "[target]") {
  Target a48 = t("aarch64");
  Target a52 = t("aarch64-52");
  CHECK(where(a48, 0x0000ffffffffffff) == "gap");
  CHECK(where(a48, 0x0001000000000000) == "non-canonical");
  CHECK(where(a48, 0xffff000000000000) == "kernel");
  CHECK(where(a52, 0x000fffffffffffff) == "gap");
  CHECK(where(a52, 0x0010000000000000) == "non-canonical");
  CHECK(where(a52, 0xfff0000000000000) == "kernel");
  Untagged u = strip_tag(a48, 0x0b007fff12345678);
  CHECK(u.address == 0x7fff12345678);
  CHECK(u.tag == 0x0b);
  CHECK_FALSE(strip_tag(a48, 0x00007fff12345678).tag);
  CHECK_FALSE(strip_tag(a48, 0xffff000000001000).tag);
  CHECK_FALSE(strip_tag(t("x86_64"), 0x0b007fff12345678).tag);
}

TEST_CASE("unknown architecture names are rejected", "[target]") {
  auto r = Target::parse("sparc");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "unknown architecture \"sparc\" (expected x86_64, x86_64-la57, aarch64 or aarch64-52)");
}

TEST_CASE("the host target is read from the system", "[target]") {
  Target h = Target::host();
  CHECK(h.page_size >= 4096);
  CHECK((h.va_bits == 47 || h.va_bits == 56 || h.va_bits == 48));
}
