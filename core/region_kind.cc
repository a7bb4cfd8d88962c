#include "region_kind.h"

#include <array>

namespace vma {

namespace {
constexpr std::array<RegionKindInfo, 19> kKinds = {{
    {RegionKind::text, "text", "executable code of a program or library (ELF PT_LOAD with PF_X)", true},
    {RegionKind::rodata, "rodata", "read-only data of an image: ELF headers, .rodata, .eh_frame", true},
    {RegionKind::relro, "relro", "relocated then read-only (PT_GNU_RELRO: .got, .data.rel.ro, .init_array)", true},
    {RegionKind::data, "data", "writable, file-backed data of an image (.data, the start of .bss)", true},
    {RegionKind::bss, "bss", "zero-initialised data of an image past its file contents (.bss)", true},
    {RegionKind::heap, "heap", "malloc heap: the brk heap or a glibc arena heap (with its reserved tail)", true},
    {RegionKind::stack, "stack", "the main thread's stack", true},
    {RegionKind::thread_stack, "thread-stack", "a thread's stack", true},
    {RegionKind::guard, "guard", "inaccessible guard: PROT_NONE VMA or MADV_GUARD_INSTALL page", true},
    {RegionKind::vdso, "vdso", "kernel-provided virtual shared object (fast system calls)", true},
    {RegionKind::vvar, "vvar", "kernel data read by the vDSO", true},
    {RegionKind::vsyscall, "vsyscall", "legacy fixed-address system call page", true},
    {RegionKind::anon, "anon", "private anonymous memory (mmap)", true},
    {RegionKind::file, "file", "private mapping of a file that is not part of a loaded image", true},
    {RegionKind::shared, "shared", "shared memory (MAP_SHARED): memfd, SysV, /dev/shm, shared file maps", true},
    {RegionKind::null_page, "null-page", "below vm.mmap_min_addr: never mappable by unprivileged code", false},
    {RegionKind::unmapped, "unmapped", "a gap between mappings in the user half", false},
    {RegionKind::non_canonical, "non-canonical", "not a valid address on this CPU: any access is a #GP", false},
    {RegionKind::kernel, "kernel", "the kernel half: user-mode access faults", false},
}};
}  // namespace

std::span<const RegionKindInfo> region_kinds() { return kKinds; }

const RegionKindInfo& info(RegionKind k) { return kKinds[static_cast<std::size_t>(k)]; }

std::string_view to_string(RegionKind k) { return info(k).name; }

std::optional<RegionKind> parse_region_kind(std::string_view name) {
  for (const auto& k : kKinds)
    if (k.name == name) return k.kind;
  return std::nullopt;
}

}  // namespace vma
