// Classification of synthetic maps. The files named here do not exist (or
// their inodes differ), so image segments are classified by the fallback
// rules; tests/live checks the libelf path on real processes.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <fstream>
#include <random>

#include "address_map.h"
#include "annotation.h"
#include "maps_parser.h"
#include "region_source.h"

using namespace vma;

namespace {

const char* kSynthetic =
    "55d13427b000-55d13427c000 r--p 00000000 fd:01 999001                     /opt/app/bin/app\n"
    "55d13427c000-55d13427d000 r-xp 00001000 fd:01 999001                     /opt/app/bin/app\n"
    "55d13427d000-55d13427e000 r--p 00002000 fd:01 999001                     /opt/app/bin/app\n"
    "55d13427e000-55d13427f000 r--p 00002000 fd:01 999001                     /opt/app/bin/app\n"
    "55d13427f000-55d134280000 rw-p 00003000 fd:01 999001                     /opt/app/bin/app\n"
    "55d134280000-55d134281000 rw-p 00000000 00:00 0 \n"
    "55d1525a4000-55d1525c5000 rw-p 00000000 00:00 0                          [heap]\n"
    "7f26c8000000-7f26c8021000 rw-p 00000000 00:00 0 \n"
    "7f26c8021000-7f26cc000000 ---p 00000000 00:00 0 \n"
    "7f26d4859000-7f26d485a000 ---p 00000000 00:00 0 \n"
    "7f26d485a000-7f26d505a000 rw-p 00000000 00:00 0 \n"
    "7f26d5080000-7f26d5081000 ---p 00000000 00:00 0 \n"
    "7f26d5100000-7f26d5101000 rw-s 00000000 00:01 1234                       /memfd:buf (deleted)\n"
    "7f26d5101000-7f26d5102000 rw-s 00000000 00:01 32768                      /SYSV0000abcd (deleted)\n"
    "7f26d5102000-7f26d5103000 rw-s 00000000 00:01 5                          /dev/zero (deleted)\n"
    "7f26d5103000-7f26d5104000 rw-s 00000000 00:1a 7                          /dev/shm/foo\n"
    "7f26d5104000-7f26d5105000 r--p 00000000 fd:01 777                        /usr/share/locale/locale-archive\n"
    "7f26d5105000-7f26d5106000 rw-p 00000000 00:00 0                          [anon:my buffer]\n"
    "7f26d5106000-7f26d5107000 rw-p 00000000 00:00 0                          [anon_shmem:shm]\n"
    "7f26d5200000-7f26d5201000 rw-p 00000000 00:00 0                          [stack:4242]\n"
    "7f26d5300000-7f26d5301000 rw-p 00001000 fd:01 888                        /data/blob.bin\n"
    "7f26d5400000-7f26d5401000 r-xp 00000000 00:00 0                          [uprobes]\n"
    "7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]\n"
    "7ffc00100000-7ffc00104000 r--p 00000000 00:00 0                          [vvar]\n"
    "7ffc00104000-7ffc00106000 r--p 00000000 00:00 0                          [vvar_vclock]\n"
    "7ffc00106000-7ffc00108000 r-xp 00000000 00:00 0                          [vdso]\n"
    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

Target target(const char* arch, Addr mmap_min_addr) {
  auto t = Target::parse(arch);
  REQUIRE(t);
  t->mmap_min_addr = mmap_min_addr;
  return *t;
}

Target x86() {
  Target t = target("x86_64", 65536);
  t.page_size = 4096;
  return t;
}

/// The classified map of `src`'s snapshot, with `guards` as its MADV guard pages.
AddressMap map_of(RegionSource& src, std::vector<AddressRange> guards = {}) {
  auto s = src.snapshot();
  REQUIRE(s);
  if (!guards.empty()) s->guard_pages = std::move(guards);
  static ElfCache cache;
  return AddressMap::build(std::move(s).value(), cache);
}

AddressMap build(const char* text, std::vector<ThreadInfo> threads = {}, bool known = false) {
  TextSource src(text, "synthetic", x86());
  if (known) src.set_threads(std::move(threads), 100);
  return map_of(src);
}

}  // namespace

TEST_CASE("every region of a synthetic map gets its kind", "[classify]") {
  AddressMap map = build(kSynthetic);
  auto [addr, kind] = GENERATE(table<Addr, const char*>({
      {0x55d13427b000, "rodata"},
      {0x55d13427c000, "text"},
      {0x55d13427d000, "rodata"},
      {0x55d13427e000, "relro"},
      {0x55d13427f000, "data"},
      {0x55d134280000, "bss"},
      {0x55d1525a4000, "heap"},
      {0x7f26c8000000, "heap"},
      {0x7f26c8021000, "heap"},
      {0x7f26d4859000, "guard"},
      {0x7f26d485a000, "thread-stack"},
      {0x7f26d5080000, "guard"},
      {0x7f26d5100000, "shared"},
      {0x7f26d5101000, "shared"},
      {0x7f26d5102000, "shared"},
      {0x7f26d5103000, "shared"},
      {0x7f26d5104000, "file"},
      {0x7f26d5105000, "anon"},
      {0x7f26d5106000, "shared"},
      {0x7f26d5200000, "thread-stack"},
      {0x7f26d5300000, "file"},
      {0x7f26d5400000, "anon"},
      {0x7ffc00000000, "stack"},
      {0x7ffc00100000, "vvar"},
      {0x7ffc00104000, "vvar"},
      {0x7ffc00106000, "vdso"},
      {0xffffffffff600000, "vsyscall"},
  }));
  CAPTURE(fmt::format("{:#x}", addr));
  const Region* r = map.find(addr);
  REQUIRE(r);
  CHECK(to_string(r->kind) == kind);
}

TEST_CASE("notes say what decided", "[classify]") {
  AddressMap map = build(kSynthetic);
  CHECK(map.find(0x7f26c8021000)->note == "glibc arena heap: reserved, not yet usable (PROT_NONE)");
  CHECK(map.find(0x7f26c8000000)->note == "glibc arena heap");
  CHECK(map.find(0x7f26d485a000)->note == "inferred from its shape (rw above a guard); thread unknown");
  CHECK(map.find(0x7f26d4859000)->note == "guard below a thread stack");
  CHECK(map.find(0x7f26d5100000)->note == "memfd");
  CHECK(map.find(0x7f26d5101000)->note == "System V shared memory");
  CHECK(map.find(0x7f26d5102000)->note == "shared anonymous memory");
  CHECK(map.find(0x7f26d5103000)->note == "POSIX shared memory");
  CHECK(map.find(0x7f26d5105000)->note == "[anon:my buffer]");
  CHECK(map.find(0x55d13427c000)->note == "by permissions: the ELF file is not readable here");
  CHECK(map.find(0xffffffffff600000)->note == "vsyscall=xonly: calls emulated, reads fault");
  CHECK(map.find(0x7f26d5200000)->tid == 4242);
}

TEST_CASE("known threads name thread stacks and their guards by TID", "[classify]") {
  AddressMap map = build(kSynthetic, {{100, 0x7ffc00020000}, {101, 0x7f26d5059e00}}, true);
  const Region* st = map.find(0x7f26d485a000);
  REQUIRE(st);
  CHECK(st->kind == RegionKind::thread_stack);
  CHECK(st->tid == 101);
  CHECK(st->note.empty());
  CHECK(map.find(0x7f26d4859000)->note == "guard below thread 101's stack");
  CHECK(map.find(0x7ffc00000000)->tid == 100);
}

TEST_CASE("with threads known, an rw area above a guard is not a thread stack by shape alone", "[classify]") {
  AddressMap map = build(kSynthetic, {{100, 0x7ffc00020000}}, true);
  CHECK(map.find(0x7f26d485a000)->kind == RegionKind::anon);
  CHECK(map.find(0x7f26d4859000)->kind == RegionKind::guard);
  CHECK(map.find(0x7f26d4859000)->note == "PROT_NONE");
}

TEST_CASE("an arena heap needs the 64 MiB shape", "[classify]") {
  // Aligned, but the rw part plus tail is not 64 MiB: not an arena.
  AddressMap map = build(
      "7f26c8000000-7f26c8021000 rw-p 00000000 00:00 0 \n"
      "7f26c8021000-7f26c9000000 ---p 00000000 00:00 0 \n"
      // 64 MiB, but not 64 MiB aligned.
      "7f26d0001000-7f26d0022000 rw-p 00000000 00:00 0 \n"
      "7f26d0022000-7f26d4001000 ---p 00000000 00:00 0 \n"
      // A fully grown arena heap has no tail.
      "7f26e0000000-7f26e4000000 rw-p 00000000 00:00 0 \n");
  CHECK(map.find(0x7f26c8000000)->kind == RegionKind::anon);
  CHECK(map.find(0x7f26c8021000)->kind == RegionKind::guard);
  CHECK(map.find(0x7f26d0001000)->kind == RegionKind::anon);
  CHECK(map.find(0x7f26d0022000)->kind == RegionKind::guard);
  CHECK(map.find(0x7f26e0000000)->kind == RegionKind::heap);
}

TEST_CASE("addresses outside every region", "[classify]") {
  AddressMap map = build(kSynthetic);
  auto [addr, kind] = GENERATE(table<Addr, const char*>({
      {0x0, "null-page"},
      {0xffff, "null-page"},
      {0x10000, "unmapped"},
      {0x55d134281000, "unmapped"},
      {0x7ffffffff000, "unmapped"},
      {0x800000000000, "non-canonical"},
      {0xffff7fffffffffff, "non-canonical"},
      {0xffff800000000000, "kernel"},
      {0xffffffff81000000, "kernel"},
  }));
  CAPTURE(fmt::format("{:#x}", addr));
  Annotation a = annotate(map, addr);
  CHECK(to_string(a.kind) == kind);
  CHECK_FALSE(a.mapped);
}

TEST_CASE("a gap names its neighbours and distances", "[classify]") {
  AddressMap map = build(kSynthetic);
  Annotation a = annotate(map, 0x55d134281000 + 0x10);
  REQUIRE(a.below);
  REQUIRE(a.above);
  CHECK(a.below->mapping.range.start == 0x55d134280000);
  CHECK(a.below->kind == RegionKind::bss);
  CHECK(*a.below_distance == 0x10);
  CHECK(a.above->mapping.name == "[heap]");
  CHECK(*a.above_distance == 0x55d1525a4000 - 0x55d134281010);
}

TEST_CASE("annotation of a mapped address", "[classify]") {
  AddressMap map = build(kSynthetic);
  Annotation a = annotate(map, 0x55d13427c123);
  CHECK(a.kind == RegionKind::text);
  CHECK(a.mapped);
  CHECK(*a.offset_in_region == 0x123);
  CHECK(*a.file_offset == 0x1123);
  CHECK(a.summary == "in the text (code) of /opt/app/bin/app");
  Annotation s = annotate(map, 0x7ffc00000010);
  CHECK(s.summary == "on the main thread's stack");
}

TEST_CASE("MADV guard pages inside a VMA are guards", "[classify]") {
  TextSource src("7f0000000000-7f0000004000 rw-p 00000000 00:00 0 \n", "g", x86());
  AddressMap map = map_of(src, {{0x7f0000001000, 0x7f0000002000}});
  CHECK(annotate(map, 0x7f0000000fff).kind == RegionKind::anon);
  CHECK(annotate(map, 0x7f0000001000).kind == RegionKind::guard);
  CHECK(annotate(map, 0x7f0000001fff).kind == RegionKind::guard);
  CHECK(annotate(map, 0x7f0000002000).kind == RegionKind::anon);
}

TEST_CASE("a debugger's region list classifies without file details", "[classify]") {
  std::vector<Mapping> ms(3);
  ms[0].range = {0x400000, 0x401000};
  ms[0].perms = Perms::read | Perms::exec;
  ms[0].name = "/bin/prog";
  ms[0].file_info_known = false;
  ms[1].range = {0x600000, 0x621000};
  ms[1].perms = Perms::read | Perms::write;
  ms[1].name = "[heap]";
  ms[1].file_info_known = false;
  ms[2].range = {0x7ffc00000000, 0x7ffc00021000};
  ms[2].perms = Perms::read | Perms::write;
  ms[2].name = "[stack]";
  ms[2].file_info_known = false;
  ListSource src(ms, "debugger", x86());
  AddressMap map = map_of(src);
  CHECK(map.find(0x400000)->kind == RegionKind::text);
  CHECK(map.find(0x600000)->kind == RegionKind::heap);
  CHECK(map.find(0x7ffc00000000)->kind == RegionKind::stack);
  CHECK_FALSE(annotate(map, 0x400010).file_offset);
}

TEST_CASE("overlapping debugger regions are an error", "[classify]") {
  std::vector<Mapping> ms(2);
  ms[0].range = {0x1000, 0x3000};
  ms[1].range = {0x2000, 0x4000};
  ListSource src(ms, "debugger", x86());
  auto s = src.snapshot();
  REQUIRE_FALSE(s);
  CHECK(s.error().message == "debugger: regions 0x1000-0x3000 and 0x2000-0x4000 overlap");
}

TEST_CASE("without a [stack] name, the main thread's SP marks the main stack", "[classify]") {
  std::vector<Mapping> ms(2);
  ms[0].range = {0x7f0000000000, 0x7f0000800000};
  ms[0].perms = Perms::read | Perms::write;
  ms[1].range = {0x7ffc00000000, 0x7ffc00021000};
  ms[1].perms = Perms::read | Perms::write;
  ListSource src(ms, "debugger", x86());
  src.set_threads({{7, 0x7ffc00020000}, {8, 0x7f00007ff000}}, 7);
  AddressMap map = map_of(src);
  CHECK(map.find(0x7ffc00000000)->kind == RegionKind::stack);
  CHECK(map.find(0x7ffc00000000)->tid == 7);
  CHECK(map.find(0x7f0000000000)->kind == RegionKind::thread_stack);
  CHECK(map.find(0x7f0000000000)->tid == 8);
}

TEST_CASE("with a [stack], the main thread's SP elsewhere is an alternate stack", "[classify]") {
  AddressMap map = build(kSynthetic, {{100, 0x7f26d505a000 - 0x10}}, true);
  const Region* r = map.find(0x7f26d485a000);
  CHECK(r->kind == RegionKind::thread_stack);
  CHECK(r->note == "the main thread's SP is here (an alternate stack)");
}

TEST_CASE("a debugger's list marks memfd, SysV and /dev/shm regions shared", "[classify]") {
  std::vector<Mapping> ms(2);
  ms[0].range = {0x7f0000000000, 0x7f0000001000};
  ms[0].perms = Perms::read | Perms::write;
  ms[0].name = "/memfd:buf (deleted)";
  ms[1].range = {0x7f0000001000, 0x7f0000002000};
  ms[1].perms = Perms::read;
  ms[1].name = "/usr/share/x.dat";
  ListSource src(ms, "debugger", x86());
  AddressMap map = map_of(src);
  CHECK(map.find(0x7f0000000000)->kind == RegionKind::shared);
  CHECK(map.find(0x7f0000001000)->kind == RegionKind::file);
}

TEST_CASE("aarch64: a tagged pointer is untagged, its tag reported", "[classify][aarch64]") {
  TextSource src(
      "aaaab0a00000-aaaab0a01000 r-xp 00000000 fd:01 99                         /usr/bin/prog\n"
      "aaaab0b00000-aaaab0b21000 rw-p 00000000 00:00 0                          [heap]\n"
      "ffffe8e00000-ffffe8e21000 rw-p 00000000 00:00 0                          [stack]\n",
      "arm", target("aarch64", 4096));
  AddressMap map = map_of(src);
  Annotation a = annotate(map, 0x2d00aaaab0b00010);
  CHECK(a.kind == RegionKind::heap);
  CHECK(a.tag == 0x2d);
  CHECK(a.untagged == 0xaaaab0b00010);
  CHECK(annotate(map, 0xffffe8e20000).kind == RegionKind::stack);
  CHECK(annotate(map, 0x0001000000000000).kind == RegionKind::non_canonical);
  CHECK(annotate(map, 0xffff000000000000).kind == RegionKind::kernel);
}

TEST_CASE("5-level paging: user mappings above 47 bits, the hole starts at 2^56", "[classify][la57]") {
  TextSource src(
      "7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]\n"
      "fff000000000000-fff000000001000 rw-p 00000000 00:00 0 \n",
      "la57", target("x86_64-la57", 4096));
  AddressMap map = map_of(src);
  CHECK(annotate(map, 0x0fff000000000010).kind == RegionKind::anon);
  CHECK(annotate(map, 0x0000800000000000).kind == RegionKind::unmapped);
  CHECK(annotate(map, 0x0100000000000000).kind == RegionKind::non_canonical);
  CHECK(annotate(map, 0xff11000000000000).kind == RegionKind::kernel);
  CHECK(annotate(map, 0xff11000000000000).sub_area == "direct map");
}

TEST_CASE("the captured maps of a real process classify as it did live", "[classify][data]") {
  auto src = open_maps_file(VMAKIT_TEST_DATA "/testee-linux-6.18.maps", x86());
  REQUIRE(src);
  AddressMap map = map_of(**src);
  std::ifstream golden(VMAKIT_TEST_DATA "/testee-linux-6.18.kinds");
  std::vector<std::string> want;
  for (std::string k; golden >> k;) want.push_back(k);
  REQUIRE(map.regions().size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i, map.regions()[i].mapping.name);
    CHECK(to_string(map.regions()[i].kind) == want[i]);
  }
}

TEST_CASE("find, below and above agree with a linear scan, for every map size up to 70", "[classify][lookup]") {
  std::mt19937_64 rng(7);
  for (std::size_t n = 0; n <= 70; ++n) {
    CAPTURE(n);
    std::vector<Mapping> ms(n);
    Addr at = 0x10000;
    for (std::size_t i = 0; i < n; ++i) {
      at += (rng() % 3) * 0x1000;  // gaps of 0, 1 or 2 pages
      ms[i].range = {at, at + 0x1000 * (1 + rng() % 3)};
      ms[i].perms = Perms::read;
      at = ms[i].range.end;
    }
    ListSource src(ms, "n", x86());
    AddressMap map = map_of(src);
    for (Addr a = 0xf000; a <= at + 0x2000; a += 0x800) {
      const Region* want = nullptr;
      const Region* lo = nullptr;
      const Region* hi = nullptr;
      for (const Region& r : map.regions()) {
        if (r.mapping.range.contains(a)) want = &r;
        if (r.mapping.range.end <= a) lo = &r;
        if (!hi && r.mapping.range.start > a) hi = &r;
      }
      CAPTURE(a);
      CHECK(map.find(a) == want);
      CHECK(map.below(a).region == lo);
      CHECK(map.above(a).region == hi);
    }
  }
}
