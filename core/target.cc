#include "target.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace vma {

namespace {

bool cpu_has_flag(std::string_view flag) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("flags")) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string w;
    while (words >> w)
      if (w == flag) return true;
    return false;  // the first CPU's flags are enough
  }
  return false;
}

struct SubArea {
  Addr start, last;  // inclusive, as mm.rst prints them
  const char* name;
  const char* note;
};

// Documentation/arch/x86/x86_64/mm.rst, "4-level page tables".
constexpr SubArea kX86Kernel4[] = {
    {0xffff800000000000, 0xffff87ffffffffff, "guard hole", "reserved for the hypervisor"},
    {0xffff880000000000, 0xffff887fffffffff, "LDT remap", "for page-table isolation"},
    {0xffff888000000000, 0xffffc87fffffffff, "direct map", "all physical memory (page_offset_base; KASLR moves it)"},
    {0xffffc88000000000, 0xffffc8ffffffffff, "unused hole", ""},
    {0xffffc90000000000, 0xffffe8ffffffffff, "vmalloc", "vmalloc/ioremap space (vmalloc_base; KASLR moves it)"},
    {0xffffe90000000000, 0xffffe9ffffffffff, "unused hole", ""},
    {0xffffea0000000000, 0xffffeaffffffffff, "vmemmap", "struct page array (vmemmap_base; KASLR moves it)"},
    {0xffffeb0000000000, 0xffffebffffffffff, "unused hole", ""},
    {0xffffec0000000000, 0xfffffbffffffffff, "KASAN shadow", ""},
};
// Documentation/arch/x86/x86_64/mm.rst, "5-level page tables".
constexpr SubArea kX86Kernel5[] = {
    {0xff00000000000000, 0xff0fffffffffffff, "guard hole", "reserved for the hypervisor"},
    {0xff10000000000000, 0xff10ffffffffffff, "LDT remap", "for page-table isolation"},
    {0xff11000000000000, 0xff90ffffffffffff, "direct map", "all physical memory (page_offset_base; KASLR moves it)"},
    {0xff91000000000000, 0xff9fffffffffffff, "unused hole", ""},
    {0xffa0000000000000, 0xffd1ffffffffffff, "vmalloc", "vmalloc/ioremap space (vmalloc_base; KASLR moves it)"},
    {0xffd2000000000000, 0xffd3ffffffffffff, "unused hole", ""},
    {0xffd4000000000000, 0xffd5ffffffffffff, "vmemmap", "struct page array (vmemmap_base; KASLR moves it)"},
    {0xffd6000000000000, 0xffdeffffffffffff, "unused hole", ""},
    {0xffdf000000000000, 0xfffffbffffffffff, "KASAN shadow", ""},
};
// The top 4 TiB are the same for both.
constexpr SubArea kX86KernelTop[] = {
    {0xfffffc0000000000, 0xfffffdffffffffff, "unused hole", ""},
    {0xfffffe0000000000, 0xfffffe7fffffffff, "cpu entry area", ""},
    {0xfffffe8000000000, 0xfffffeffffffffff, "unused hole", ""},
    {0xffffff0000000000, 0xffffff7fffffffff, "espfix stacks", "%esp fixup stacks"},
    {0xffffff8000000000, 0xffffffeeffffffff, "unused hole", ""},
    {0xffffffef00000000, 0xfffffffeffffffff, "EFI runtime", "EFI region mapping space"},
    {0xffffffff00000000, 0xffffffff7fffffff, "unused hole", ""},
    {0xffffffff80000000, 0xffffffff9fffffff, "kernel text", "kernel image (KASLR moves it within 1 GiB)"},
    {0xffffffffa0000000, 0xfffffffffeffffff, "modules", "module mapping space"},
    {0xffffffffff000000, 0xffffffffff5fffff, "fixmap", "kernel-internal fixmap range"},
    {0xffffffffff600000, 0xffffffffff600fff, "vsyscall", "legacy vsyscall page (not mapped in this process)"},
    {0xffffffffff601000, 0xffffffffffffffff, "unused hole", ""},
};

}  // namespace

Target Target::host() {
  Target t;
  struct utsname u {};
  if (uname(&u) == 0 && std::string_view(u.machine) == "aarch64") {
    t.arch = Arch::aarch64;
    t.va_bits = 48;
  } else {
    t.arch = Arch::x86_64;
    // The kernel clears X86_FEATURE_LA57 when it runs with 4-level tables
    // (arch/x86/kernel/cpu/common.c), so the flag means 5-level is in use.
    t.va_bits = cpu_has_flag("la57") ? 56 : 47;
  }
  std::ifstream min("/proc/sys/vm/mmap_min_addr");
  unsigned long long v = 0;
  if (min >> v) t.mmap_min_addr = v;
  long ps = sysconf(_SC_PAGESIZE);
  if (ps > 0) t.page_size = static_cast<std::uint64_t>(ps);
  return t;
}

Result<Target> Target::parse(std::string_view name) {
  Target t = host();
  if (name == "x86_64") {
    t.arch = Arch::x86_64;
    t.va_bits = 47;
  } else if (name == "x86_64-la57") {
    t.arch = Arch::x86_64;
    t.va_bits = 56;
  } else if (name == "aarch64") {
    t.arch = Arch::aarch64;
    t.va_bits = 48;
  } else if (name == "aarch64-52") {
    t.arch = Arch::aarch64;
    t.va_bits = 52;
  } else {
    return Error{fmt::format("unknown architecture \"{}\" (expected x86_64, x86_64-la57, aarch64 or aarch64-52)", name)};
  }
  return t;
}

std::string Target::name() const {
  if (arch == Arch::x86_64) return va_bits == 56 ? "x86_64-la57" : "x86_64";
  return va_bits == 52 ? "aarch64-52" : "aarch64";
}

std::optional<Target> Target::other_reading() const {
  if (va_bits_known) return std::nullopt;
  Target t = *this;
  t.va_bits = arch == Arch::x86_64 ? 56 : 52;
  t.va_bits_known = true;
  if (t.va_bits == va_bits) return std::nullopt;
  return t;
}

Addr Target::user_end() const { return Addr{1} << (arch == Arch::x86_64 ? va_bits : va_bits); }

Addr Target::kernel_start() const {
  if (arch == Arch::x86_64) return ~Addr{0} << va_bits;  // sign extension of bit va_bits
  return ~Addr{0} << va_bits;                            // TTBR1: top va_bits bits all ones
}

Untagged strip_tag(const Target& t, Addr a) {
  if (t.arch != Arch::aarch64) return {a, std::nullopt};
  // Top-byte-ignore applies to user addresses (bit 55 clear selects TTBR0).
  if (a & (Addr{1} << 55)) return {a, std::nullopt};
  auto tag = static_cast<std::uint8_t>(a >> 56);
  if (tag == 0) return {a, std::nullopt};
  return {a & ((Addr{1} << 56) - 1), tag};
}

OutsideInfo classify_outside(const Target& t, Addr a) {
  OutsideInfo out{OutsideInfo::Where::user_gap, {}, {}};
  if (a < t.mmap_min_addr || a < t.page_size) {
    out.where = OutsideInfo::Where::null_page;
    return out;
  }
  if (a < t.user_end()) return out;
  if (a < t.kernel_start()) {
    out.where = OutsideInfo::Where::non_canonical;
    return out;
  }
  out.where = OutsideInfo::Where::kernel;
  if (t.arch != Arch::x86_64) return out;  // arm64's kernel layout depends on config
  auto search = [&](auto const& table) {
    for (const SubArea& s : table)
      if (a >= s.start && a <= s.last) {
        out.sub_area = s.name;
        out.note = s.note;
        return true;
      }
    return false;
  };
  if (!search(kX86KernelTop)) {
    if (t.va_bits == 56) search(kX86Kernel5);
    else search(kX86Kernel4);
  }
  return out;
}

}  // namespace vma
