#pragma once
/// \file
/// The region kinds: one enum, one table of names and meanings. Add a kind
/// here and in region_kind.cc's table; nothing else compares kind strings.

#include <optional>
#include <span>
#include <string_view>

namespace vma {

enum class RegionKind {
  // Inside a VMA.
  text,          ///< executable segment of an ELF image
  rodata,        ///< read-only segment of an ELF image (headers, .rodata, .eh_frame)
  relro,         ///< PT_GNU_RELRO: written by the loader, then made read-only
  data,          ///< writable file-backed segment of an ELF image (.data, head of .bss)
  bss,           ///< anonymous tail of an image's writable segment (.bss)
  heap,          ///< brk heap, glibc non-main arena heaps and their reserved tails
  stack,         ///< the main thread's stack
  thread_stack,  ///< a thread's stack (TID known when the thread's SP is)
  guard,         ///< PROT_NONE guard VMA, or a MADV_GUARD_INSTALL page inside a VMA
  vdso,
  vvar,
  vsyscall,
  anon,          ///< other private anonymous memory
  file,          ///< other private file mapping
  shared,        ///< MAP_SHARED memory: memfd, SysV, /dev/shm, shared file maps
  // Outside every VMA.
  null_page,      ///< below vm.mmap_min_addr
  unmapped,       ///< a gap between VMAs in the user half
  non_canonical,  ///< not a valid address on this architecture
  kernel,         ///< the kernel half
};

struct RegionKindInfo {
  RegionKind kind;
  std::string_view name;     ///< the contract name: "thread-stack", "null-page"
  std::string_view meaning;  ///< one line for the legend
  bool mapped;               ///< true for kinds that lie inside a VMA
};

/// Every kind, in enum order.
std::span<const RegionKindInfo> region_kinds();
const RegionKindInfo& info(RegionKind k);
std::string_view to_string(RegionKind k);
/// The kind named `name` ("thread-stack"), or nullopt.
std::optional<RegionKind> parse_region_kind(std::string_view name);

}  // namespace vma
