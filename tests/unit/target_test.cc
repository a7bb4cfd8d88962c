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

// ---- a VA width the source cannot tell (core files) ------------------------

#include "annotation.h"
#include "region_source.h"
#include "render.h"

namespace {
AddressMap unknown_width_map(const char* arch) {
  Target tg = t(arch);
  tg.va_bits_known = false;
  TextSource src("7f26d5100000-7f26d5101000 rw-p 00000000 00:00 0 \n", "core-like", tg);
  auto s = src.snapshot();
  REQUIRE(s);
  static ElfCache cache;
  return AddressMap::build(std::move(s).value(), cache);
}
}  // namespace

TEST_CASE("an unknown VA width answers with both readings where they differ", "[target]") {
  REQUIRE(t("x86_64").other_reading() == std::nullopt);  // known: one reading
  AddressMap map = unknown_width_map("x86_64");
  REQUIRE(map.target().other_reading());
  CHECK(map.target().other_reading()->va_bits == 56);

  // Above 47 bits: non-canonical with 4-level paging, user space with 5-level.
  Annotation a = annotate(map, 0x0000800000000000);
  REQUIRE(a.readings.size() == 2);
  CHECK(a.readings[0].target == "x86_64");
  CHECK(a.readings[0].kind == RegionKind::non_canonical);
  CHECK(a.readings[1].target == "x86_64-la57");
  CHECK(a.readings[1].kind == RegionKind::unmapped);
  CHECK(a.kind == RegionKind::non_canonical);
  CHECK(a.summary.find("(x86_64); with 56 bits of user address space (x86_64-la57): unmapped") != std::string::npos);
  auto j = to_json(a);
  CHECK(j["readings"][1]["kind"] == "unmapped");

  // The 5-level kernel half starts at 0xff00...: non-canonical with 4 levels.
  Annotation k = annotate(map, 0xff11000000000000);
  REQUIRE(k.readings.size() == 2);
  CHECK(k.readings[0].kind == RegionKind::non_canonical);
  CHECK(k.readings[1].kind == RegionKind::kernel);

  // Where both readings agree, one answer.
  for (Addr same : {Addr{0}, Addr{0x7f26d5100000}, Addr{0x10000}, Addr{0x0100000000000000}, Addr{0xffffffff81000000}}) {
    CAPTURE(fmt::format("{:#x}", same));
    CHECK(annotate(map, same).readings.empty());
    CHECK(to_json(annotate(map, same)).count("readings") == 0);
  }
}

TEST_CASE("an unknown aarch64 VA width: 48 or 52 bits", "[target]") {
  AddressMap map = unknown_width_map("aarch64");
  Annotation a = annotate(map, 0x0001000000000000);  // 2^48
  REQUIRE(a.readings.size() == 2);
  CHECK(a.readings[0].target == "aarch64");
  CHECK(a.readings[1].target == "aarch64-52");
  CHECK(a.readings[1].kind == RegionKind::unmapped);
}
