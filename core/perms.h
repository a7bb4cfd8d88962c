#pragma once
/// \file
/// VMA permissions as a bitmask enum, printed back as the maps' `rwxp`.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vma {

/// `shared` is the maps' `s` (MAP_SHARED); its absence is `p` (private).
enum class Perms : std::uint8_t {
  none = 0,
  read = 1,
  write = 2,
  exec = 4,
  shared = 8,
};

constexpr Perms operator|(Perms a, Perms b) {
  return static_cast<Perms>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}
constexpr Perms operator&(Perms a, Perms b) {
  return static_cast<Perms>(static_cast<std::uint8_t>(a) & static_cast<std::uint8_t>(b));
}
constexpr Perms& operator|=(Perms& a, Perms b) { return a = a | b; }
/// True when every bit of `what` is set in `p`.
constexpr bool has(Perms p, Perms what) { return (p & what) == what; }
/// True when no access at all is allowed (PROT_NONE), whatever `p`/`s`.
constexpr bool is_prot_none(Perms p) {
  return (p & (Perms::read | Perms::write | Perms::exec)) == Perms::none;
}

/// "r-xp", "rw-s", "---p".
std::string to_string(Perms p);

/// Parses exactly four characters `[r-][w-][x-][ps]`; nullopt otherwise.
std::optional<Perms> parse_perms(std::string_view s);

}  // namespace vma
