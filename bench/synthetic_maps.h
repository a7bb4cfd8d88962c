#pragma once
/// \file
/// Synthetic /proc/PID/maps text for the benchmarks: sorted, non-overlapping
/// lines in the kernel's own format (show_map_vma in fs/proc/task_mmu.c pads
/// the inode column to width 73 before a name), in a repeating pattern of ten
/// lines that looks like a big process: a shared library's four VMAs
/// (headers, text, rodata, data), its bss, and five anonymous VMAs of
/// alternating permissions.

#include <cstdint>
#include <cstdio>
#include <string>

namespace vma::bench {

/// `lines` lines of maps text starting at `base`.
inline std::string synthetic_maps(std::size_t lines, std::uint64_t base = 0x10000000000ull) {
  std::string out;
  out.reserve(lines * 64);
  std::uint64_t a = base;
  char buf[256];
  auto line = [&](std::uint64_t pages, const char* perms, std::uint64_t offset, const char* dev,
                  std::uint64_t inode, const std::string& name) {
    const std::uint64_t start = a, end = a + pages * 4096;
    int n = std::snprintf(buf, sizeof buf, "%08llx-%08llx %s %08llx %s %llu", static_cast<unsigned long long>(start),
                          static_cast<unsigned long long>(end), perms, static_cast<unsigned long long>(offset), dev,
                          static_cast<unsigned long long>(inode));
    out.append(buf, static_cast<std::size_t>(n));
    if (!name.empty()) {
      if (n < 73) out.append(static_cast<std::size_t>(73 - n), ' ');
      out.push_back(' ');
      out += name;
    } else {
      out.push_back(' ');
    }
    out.push_back('\n');
    a = end;
  };
  std::size_t i = 0;
  for (std::size_t group = 0; i < lines; ++group) {
    const std::string lib = "/usr/lib/x86_64-linux-gnu/libbench" + std::to_string(group) + ".so.1";
    const std::uint64_t inode = 1000000 + group;
    const struct {
      std::uint64_t pages;
      const char* perms;
      std::uint64_t offset;
      bool file;
    } pattern[10] = {
        {2, "r--p", 0x0, true},      {8, "r-xp", 0x2000, true}, {3, "r--p", 0xa000, true},
        {1, "rw-p", 0xd000, true},   {1, "rw-p", 0, false},     {1, "r--p", 0, false},
        {1, "rw-p", 0, false},       {1, "r--p", 0, false},     {1, "rw-p", 0, false},
        {1, "---p", 0, false},
    };
    for (const auto& p : pattern) {
      if (i == lines) break;
      ++i;
      line(p.pages, p.perms, p.offset, p.file ? "fd:01" : "00:00", p.file ? inode : 0, p.file ? lib : std::string());
    }
    a += 16 * 4096;  // a gap between groups
  }
  return out;
}

}  // namespace vma::bench
