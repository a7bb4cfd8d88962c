#include "errno_name.h"

#include <cstring>

namespace vma::os {

std::string errno_name(int e) {
  const char* n = strerrorname_np(e);
  return n ? std::string(n) : std::to_string(e);
}

std::optional<int> errno_from_name(std::string_view name) {
  for (int e = 1; e < 4096; ++e) {
    const char* n = strerrorname_np(e);
    if (n != nullptr && name == n) return e;
  }
  return std::nullopt;
}

std::string errno_text(int e) { return errno_name(e) + " (" + std::strerror(e) + ")"; }

}  // namespace vma::os
