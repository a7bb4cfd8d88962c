// A VMA that holds two things: the kernel merges an image's anonymous .bss
// VMA with anonymous memory placed flush after it (and, when brk is not
// randomized, with the brk heap). The maps here are synthetic, but the image
// is real: the testee (64 KiB of .bss), with its own dev and inode, so the
// classifier reads its program headers through libelf as on a live process.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "address_map.h"
#include "annotation.h"
#include "render.h"
#include "region_source.h"

using namespace vma;

namespace {

constexpr Addr kBias = 0x555555554000;
constexpr Addr kPage = 4096;

Addr up(Addr a) { return (a + kPage - 1) & ~(kPage - 1); }
Addr down(Addr a) { return a & ~(kPage - 1); }

/// The testee's data segment as the kernel maps it at kBias: the file-backed
/// data VMA, where its .bss VMA starts and where the .bss ends.
struct Image {
  std::string path = VMAKIT_TESTEE;
  std::string dev;
  unsigned long inode = 0;
  Addr data_start = 0, data_end = 0, data_offset = 0, mem_end = 0, bss_end = 0;
  std::string text_line;
};

Image testee() {
  Image img;
  struct stat st {};
  REQUIRE(stat(img.path.c_str(), &st) == 0);
  img.dev = fmt::format("{:02x}:{:02x}", major(st.st_dev), minor(st.st_dev));
  img.inode = st.st_ino;
  auto elf = ElfImage::open(img.path);
  REQUIRE(elf);
  for (const ElfSegment& seg : (*elf)->loads()) {
    if (seg.x)
      img.text_line = fmt::format("{:x}-{:x} r-xp {:08x} {} {} {}\n", kBias + down(seg.vaddr),
                                  kBias + up(seg.vaddr + seg.memsz), down(seg.offset), img.dev, img.inode, img.path);
    if (!seg.w) continue;
    img.data_start = kBias + down(seg.vaddr);
    img.data_end = kBias + up(seg.vaddr + seg.filesz);
    img.data_offset = down(seg.offset);
    img.mem_end = kBias + seg.vaddr + seg.memsz;
    img.bss_end = up(img.mem_end);
  }
  REQUIRE(img.bss_end > img.data_end);  // the 64 KiB big_bss needs a VMA of its own
  return img;
}

std::string data_line(const Image& img) {
  return img.text_line + fmt::format("{:x}-{:x} rw-p {:08x} {} {} {}\n", img.data_start, img.data_end,
                                     img.data_offset, img.dev, img.inode, img.path);
}

AddressMap build(const std::string& text, std::vector<ThreadInfo> threads = {}) {
  Target t = *Target::parse("x86_64");
  t.page_size = kPage;
  t.mmap_min_addr = 65536;
  TextSource src(text, "synthetic", t);
  if (!threads.empty()) src.set_threads(std::move(threads), 100);
  auto s = src.snapshot();
  REQUIRE(s);
  static ElfCache cache;
  return AddressMap::build(std::move(s).value(), cache);
}

}  // namespace

TEST_CASE("a .bss VMA merged with the anonymous memory after it is two regions", "[classify][merge]") {
  Image img = testee();
  Addr end = img.bss_end + 2 * kPage;
  AddressMap map = build(data_line(img) + fmt::format("{:x}-{:x} rw-p 00000000 00:00 0 \n", img.data_end, end));

  const Region* bss = map.find(img.bss_end - 1);
  const Region* anon = map.find(img.bss_end);
  REQUIRE(bss);
  REQUIRE(anon);
  CHECK(bss->kind == RegionKind::bss);
  CHECK(anon->kind == RegionKind::anon);
  CHECK(bss->mapping.range == AddressRange{img.data_end, img.bss_end});
  CHECK(anon->mapping.range == AddressRange{img.bss_end, end});
  CHECK(bss->vma == AddressRange{img.data_end, end});
  CHECK(anon->vma == AddressRange{img.data_end, end});
  CHECK(bss->note == "of " + img.path + "; one kernel VMA with the anon after it");
  CHECK(anon->note == "one kernel VMA with the bss before it");
  CHECK(!map.find(img.data_start)->vma);

  // whereis: the part that holds the address, and the kernel's VMA.
  Annotation a = annotate(map, img.mem_end - 1);
  CHECK(a.kind == RegionKind::bss);
  CHECK(!a.symbol.empty());  // the last object in .bss
  CHECK(a.section == ".bss");
  Annotation b = annotate(map, img.bss_end + 8);
  CHECK(b.kind == RegionKind::anon);
  CHECK(b.offset_in_region == 8u);
  CHECK(b.symbol.empty());
  auto j = to_json(b);
  CHECK(j["region"]["start"] == hex(img.bss_end));
  CHECK(j["region"]["vma"]["start"] == hex(img.data_end));
  CHECK(j["region"]["vma"]["end"] == hex(end));
  std::string text = whereis_text({b}, {});
  CHECK(text.find(fmt::format("    vma        {:#x}-{:#x}", img.data_end, end)) != std::string::npos);

  // map: one line per part.
  std::string m = map_text(map, {}, {});
  CHECK(m.find(fmt::format("{:#014x}  {:#014x}  rw-p", img.data_end, img.bss_end)) != std::string::npos);
  CHECK(m.find(fmt::format("{:#014x}  {:#014x}  rw-p", img.bss_end, end)) != std::string::npos);
  auto mj = map_json(map, {});
  CHECK(mj["regions"].size() == 4);
}

TEST_CASE("a .bss VMA that ends at the .bss end stays one region", "[classify][merge]") {
  Image img = testee();
  AddressMap map = build(data_line(img) + fmt::format("{:x}-{:x} rw-p 00000000 00:00 0 \n", img.data_end, img.bss_end));
  const Region* bss = map.find(img.data_end);
  REQUIRE(bss);
  CHECK(bss->kind == RegionKind::bss);
  CHECK(bss->mapping.range == AddressRange{img.data_end, img.bss_end});
  CHECK(!bss->vma);
  CHECK(bss->note == "of " + img.path);
  CHECK(map.regions().size() == 3);
}

TEST_CASE("a thread stack merged after a .bss keeps its thread", "[classify][merge]") {
  Image img = testee();
  Addr end = img.bss_end + 16 * kPage;
  AddressMap map = build(data_line(img) + fmt::format("{:x}-{:x} rw-p 00000000 00:00 0 \n", img.data_end, end),
                         {{100, 0x7ffc00020000}, {101, end - 64}});
  const Region* stack = map.find(end - 64);
  REQUIRE(stack);
  CHECK(stack->kind == RegionKind::thread_stack);
  CHECK(stack->tid == 101);
  CHECK(stack->mapping.range.start == img.bss_end);
  CHECK(map.find(img.data_end)->kind == RegionKind::bss);
  CHECK(!map.find(img.data_end)->tid);
}

TEST_CASE("an unrandomized brk heap merged with the executable's .bss is two regions", "[classify][merge]") {
  Image img = testee();
  Addr end = img.bss_end + 33 * kPage;
  AddressMap map =
      build(data_line(img) + fmt::format("{:x}-{:x} rw-p 00000000 00:00 0    [heap]\n", img.data_end, end));
  const Region* bss = map.find(img.data_end);
  const Region* heap = map.find(img.bss_end);
  REQUIRE(bss);
  REQUIRE(heap);
  CHECK(bss->kind == RegionKind::bss);
  CHECK(bss->mapping.range.end == img.bss_end);
  CHECK(heap->kind == RegionKind::heap);
  CHECK(heap->note == "brk heap; one kernel VMA with the bss before it");
  CHECK(heap->vma == AddressRange{img.data_end, end});
  CHECK(annotate(map, img.bss_end + 16).summary == "in the brk heap");

  // A brk heap that does not start inside a .bss is the heap, whole.
  AddressMap apart = build(data_line(img) + fmt::format("{:x}-{:x} rw-p 00000000 00:00 0    [heap]\n",
                                                         img.bss_end + 64 * kPage, img.bss_end + 97 * kPage));
  CHECK(apart.find(img.bss_end + 64 * kPage)->kind == RegionKind::heap);
  CHECK(!apart.find(img.bss_end + 64 * kPage)->vma);
}
