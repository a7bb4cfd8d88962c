#include "perms.h"

namespace vma {

std::string to_string(Perms p) {
  std::string s = "----";
  if (has(p, Perms::read)) s[0] = 'r';
  if (has(p, Perms::write)) s[1] = 'w';
  if (has(p, Perms::exec)) s[2] = 'x';
  s[3] = has(p, Perms::shared) ? 's' : 'p';
  return s;
}

std::optional<Perms> parse_perms(std::string_view s) {
  if (s.size() != 4) return std::nullopt;
  Perms p = Perms::none;
  if (s[0] == 'r') p |= Perms::read; else if (s[0] != '-') return std::nullopt;
  if (s[1] == 'w') p |= Perms::write; else if (s[1] != '-') return std::nullopt;
  if (s[2] == 'x') p |= Perms::exec; else if (s[2] != '-') return std::nullopt;
  if (s[3] == 's') p |= Perms::shared; else if (s[3] != 'p') return std::nullopt;
  return p;
}

}  // namespace vma
