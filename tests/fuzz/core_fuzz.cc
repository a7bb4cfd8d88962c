// Fuzz target: the ELF core reader (CoreSource), from the ELF header to the
// note payloads, then the snapshot, the fatal fault and the classified map.
// The input is handed over as a memfd (CoreSource::open takes a path).

#include <cstddef>
#include <cstdint>
#include <memory>

#include "address_map.h"
#include "annotation.h"
#include "core_source.h"
#include "fuzz_input.h"
#include "render.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vma::fuzz::MemFile file(data, size);
  auto core = vma::CoreSource::open(file.path());
  if (!core) return 0;
  vma::CoreSource& c = **core;
  (void)c.describe();
  auto fault = c.fatal_fault();
  (void)c.fatal_tid();
  for (const vma::CoreThread& t : c.threads())
    if (t.sp) (void)c.read_memory(*t.sp, 64);
  for (const vma::CoreFileCheck& f : c.file_checks()) (void)f.describe();
  auto snap = c.snapshot();
  if (!snap) return 0;
  // The files a core names (libc...) are parsed once, not on every input;
  // a fresh cache now and then bounds the memory of paths seen.
  static auto cache = std::make_unique<vma::ElfCache>();
  static unsigned uses = 0;
  if (++uses % 256 == 0) cache = std::make_unique<vma::ElfCache>();
  auto map = vma::AddressMap::build(std::move(snap).value(), *cache);
  (void)vma::to_text(vma::map_json(map, vma::MapFilter{}));
  if (fault) {
    auto at = vma::annotate(map, fault->addr.value_or(0));
    (void)vma::to_text(vma::fault_json(*fault, at));
    (void)vma::fault_text(*fault, at, vma::TextStyle{});
  }
  return 0;
}
