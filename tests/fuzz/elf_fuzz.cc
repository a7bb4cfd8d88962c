// Fuzz target: ElfImage (program headers, PT_GNU_RELRO, sections, symbols),
// read with libelf from a memfd (ElfImage::open takes a path), then its
// lookups.

#include <cstddef>
#include <cstdint>

#include "elf_image.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vma::fuzz::MemFile file(data, size);
  auto img = vma::ElfImage::open(file.path());
  if (!img) return 0;
  const vma::ElfImage& e = **img;
  for (const vma::ElfSegment& s : e.loads()) {
    (void)e.load_for_offset(s.offset, s.w, 4096);
    (void)e.section_at(s.vaddr);
    (void)e.symbol_at(s.vaddr + s.memsz / 2);
  }
  for (const vma::ElfSection& s : e.sections()) {
    (void)e.section_at(s.addr + s.size / 2);
    (void)e.symbol_at(s.addr + s.size);
  }
  (void)e.symbol_at(0);
  (void)e.symbol_at(~0ull);
  return 0;
}
