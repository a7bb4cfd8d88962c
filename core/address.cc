#include "address.h"

#include <charconv>

#include <fmt/format.h>

namespace vma {

std::string hex(Addr a) { return fmt::format("{:#x}", a); }

std::string human_size(std::uint64_t bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  double v = static_cast<double>(bytes);
  while (v >= 1024.0 && u < 6) {
    v /= 1024.0;
    ++u;
  }
  if (u == 0) return fmt::format("{} B", bytes);
  if (v == static_cast<double>(static_cast<std::uint64_t>(v))) return fmt::format("{:.0f} {}", v, units[u]);
  return fmt::format("{:.1f} {}", v, units[u]);
}

std::optional<Addr> parse_address(std::string_view text, std::string* why) {
  auto fail = [&](std::string msg) -> std::optional<Addr> {
    if (why) *why = std::move(msg);
    return std::nullopt;
  };
  std::string_view t = text;
  int base = 10;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    base = 16;
    t.remove_prefix(2);
  }
  std::string digits;
  digits.reserve(t.size());
  for (char c : t) {
    if (c == '_' || c == '\'') continue;
    digits.push_back(c);
  }
  if (digits.empty()) return fail(fmt::format("invalid address \"{}\": no digits", text));
  Addr value = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (ec == std::errc::result_out_of_range)
    return fail(fmt::format("invalid address \"{}\": does not fit in 64 bits", text));
  if (ec != std::errc() || p != digits.data() + digits.size())
    return fail(fmt::format("invalid address \"{}\": expected 0x-prefixed hex or decimal", text));
  return value;
}

}  // namespace vma
