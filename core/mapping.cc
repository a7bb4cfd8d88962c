#include "mapping.h"

#include <fmt/format.h>

namespace vma {

std::string_view Mapping::file_path() const {
  if (!is_file()) return {};
  std::string_view n = name;
  constexpr std::string_view deleted = " (deleted)";
  if (n.ends_with(deleted)) n.remove_suffix(deleted.size());
  return n;
}

bool Mapping::name_says_shared() const {
  return name.starts_with("/memfd:") || name.starts_with("/SYSV") || name.starts_with("/dev/shm/") ||
         name == "/dev/zero (deleted)";
}

std::string Mapping::dev_string() const { return fmt::format("{:02x}:{:02x}", dev_major, dev_minor); }

bool Mapping::has_vm_flag(std::string_view flag) const {
  std::string_view f = vm_flags;
  while (!f.empty()) {
    auto sp = f.find(' ');
    std::string_view tok = f.substr(0, sp);
    if (tok == flag) return true;
    if (sp == std::string_view::npos) break;
    f.remove_prefix(sp + 1);
  }
  return false;
}

}  // namespace vma
